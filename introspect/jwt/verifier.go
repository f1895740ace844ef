package jwt

import (
	"bytes"
	"cmp"
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspect"
)

// The reasons a token is refused once its claims are read.
var (
	errNoExp        = invalid(`token has no "exp"`)
	errExpired      = invalid("token has expired")
	errNotYetValid  = invalid(`token is not valid yet ("nbf")`)
	errIssuedLater  = invalid(`token is issued in the future ("iat")`)
	errIssuer       = invalid("token is from an issuer that is not accepted")
	errAudience     = invalid("token is not meant for this audience")
	errUnknownKID   = invalid("token names a key the issuer does not publish")
	errKeyMismatch  = invalid("token's key does not fit its algorithm")
	errNoFittingKey = invalid(`token names no key ("kid") and no key of the key set fits its algorithm`)
	errAmbiguousKey = invalid(`token names no key ("kid") and several keys of the key set fit its algorithm`)
	errSignature    = invalid("token signature is invalid")
	errHighS        = invalid("token's ECDSA signature is not low-s (s > n/2): it has a second form, so it is refused (Config.RequireLowS)")
)

// The largest s of a low-s ECDSA signature, n/2, for each ES algorithm,
// big-endian in the curve's size: the size of r and of s in a JWS
// signature (RFC 7518 §3.4).
var (
	halfP256 = halfOrder(elliptic.P256())
	halfP384 = halfOrder(elliptic.P384())
	halfP521 = halfOrder(elliptic.P521())
)

func halfOrder(c elliptic.Curve) []byte {
	p := c.Params()
	return new(big.Int).Rsh(p.N, 1).FillBytes(make([]byte, (p.BitSize+7)/8))
}

// checkLowS refuses an ECDSA signature (r||s) whose s is above n/2:
// (r, n-s) verifies as well, so without this one token would have two
// strings. Other algorithms pass; go-jose checks the rest.
func checkLowS(alg string, sig []byte) error {
	var half []byte
	switch alg {
	case "ES256":
		half = halfP256
	case "ES384":
		half = halfP384
	case "ES512":
		half = halfP521
	default:
		return nil
	}
	if len(sig) != 2*len(half) {
		return errSignature
	}
	if bytes.Compare(sig[len(half):], half) > 0 {
		return errHighS
	}
	return nil
}

// asymmetric are the algorithms a Verifier can accept, and its default.
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// rfc9068Claims are the claims RFC 9068 §2.2 requires.
var rfc9068Claims = []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}

// Verifier is an [introspect.Verifier] that validates JWT access tokens
// locally, with the keys the issuer publishes. See the package
// documentation for what it checks.
//
// A Verifier is safe for concurrent use. Close it when done, to stop its
// key set refreshes.
type Verifier struct {
	keys        *keySet
	algs        []jose.SignatureAlgorithm
	audiences   []string
	skipAud     bool
	allowHighS  bool
	rfc9068     bool
	scopeClaims [3]bool
	leeway      time.Duration
	maxBytes    int
	now         func() time.Time
}

// New returns a Verifier, or an error when cfg is unusable. It starts
// fetching the key set in the background and does not wait: until the
// keys are loaded, Verify fails at once, without waiting for a fetch,
// with an [*introspect.UnavailableError]. [Verifier.WaitReady] waits for
// the first keys.
func New(cfg Config) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	v.keys.runLoop()
	return v, nil
}

// newVerifier builds a Verifier without starting its schedule: tests
// drive the schedule with keySet.refreshIfDue and their clock.
func newVerifier(cfg Config) (*Verifier, error) {
	if cfg.Timeout < 0 || cfg.RefreshCooldown < 0 || cfg.MaxTokenBytes < 0 {
		return nil, errors.New("jwt: negative Timeout, RefreshCooldown or MaxTokenBytes in Config")
	}
	v := &Verifier{
		audiences:  slices.Clone(cfg.Audiences),
		skipAud:    cfg.InsecureSkipAudienceCheck,
		allowHighS: !cfg.RequireLowS,
		rfc9068:    cfg.RFC9068,
		leeway:     max(cmp.Or(cfg.Leeway, introspect.DefaultLeeway), 0),
		maxBytes:   cmp.Or(cfg.MaxTokenBytes, DefaultMaxTokenBytes),
		now:        cfg.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if len(v.audiences) == 0 && !v.skipAud {
		return nil, errors.New("jwt: Audiences is required (or, loudly, InsecureSkipAudienceCheck)")
	}
	if slices.Contains(v.audiences, "") {
		return nil, errors.New("jwt: Audiences holds an empty audience")
	}

	v.algs = asymmetric
	if cfg.Algorithms != nil {
		if len(cfg.Algorithms) == 0 {
			return nil, errors.New("jwt: Algorithms is empty")
		}
		v.algs = make([]jose.SignatureAlgorithm, len(cfg.Algorithms))
		for i, alg := range cfg.Algorithms {
			if !slices.Contains(asymmetric, jose.SignatureAlgorithm(alg)) {
				return nil, fmt.Errorf("jwt: algorithm %q is not allowed: only RS*, PS*, ES* and EdDSA; never none or HMAC with published keys", alg)
			}
			v.algs[i] = jose.SignatureAlgorithm(alg)
		}
	}

	switch {
	case cfg.ScopeClaims == nil:
		v.scopeClaims = [3]bool{true, true, true}
	case len(cfg.ScopeClaims) == 0:
		return nil, errors.New("jwt: ScopeClaims is empty: no token would have a scope (nil means all three)")
	}
	for _, name := range cfg.ScopeClaims {
		i := slices.Index(scopeNames[:], name)
		if i < 0 {
			return nil, fmt.Errorf("jwt: ScopeClaims: %q is not one of scope, scp and roles", name)
		}
		v.scopeClaims[i] = true
	}

	src := &source{issuer: cfg.Issuer}
	if slices.Contains(cfg.Issuers, "") {
		return nil, errors.New("jwt: Issuers holds an empty issuer")
	}
	switch {
	case cfg.JWKSURL != "":
		u, err := checkURL("JWKS", cfg.JWKSURL)
		if err != nil {
			return nil, err
		}
		src.jwksURL = u.String()
		src.issuers = slices.Clone(cfg.Issuers)
		if len(src.issuers) == 0 && cfg.Issuer != "" {
			src.issuers = []string{cfg.Issuer}
		}
		if len(src.issuers) == 0 {
			return nil, errors.New("jwt: Issuers (or Issuer) is required with a JWKSURL")
		}
	case cfg.Issuer != "":
		u, err := metadataURL(cfg.Issuer, cfg.Metadata)
		if err != nil {
			return nil, err
		}
		src.metadataURL = u
		if len(cfg.Issuers) > 0 {
			src.issuers = slices.Clone(cfg.Issuers)
		}
	default:
		return nil, errors.New("jwt: a JWKSURL or an Issuer is required")
	}

	client := newHTTPClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, introspect.DefaultTimeout), cfg.Now)
	v.keys = newKeySet(src, client, v.now, cmp.Or(cfg.RefreshCooldown, DefaultRefreshCooldown), cfg.Hooks)
	return v, nil
}

// WaitReady waits until the Verifier's key set has loaded, ctx is done, or
// the Verifier is closed, and returns nil once it has loaded: before, every
// Verify is unavailable. It starts no fetch (the schedule [New] starts
// does), so an application can use it for a readiness probe or to hold
// back traffic at start. Its error is an [*introspect.UnavailableError]
// that gives the latest failure, if any, and unwraps to ctx's error.
func (v *Verifier) WaitReady(ctx context.Context) error { return v.keys.waitReady(ctx) }

// Ready reports whether the Verifier has keys to check tokens with,
// without waiting: nil once the first key set is loaded (a failed refresh
// keeps the keys), and otherwise the unavailable error every token gets
// now. While no keys are loaded it starts a fetch when the next attempt
// is due, as a token would. It makes the Verifier an
// [introspect.ReadyChecker].
func (v *Verifier) Ready(context.Context) error {
	_, err := v.keys.loaded(false)
	return err
}

// VerifiesLocally reports true: Verify honours [introspect.NoWait], which
// makes the Verifier an [introspect.LocalVerifier], whose checks an
// [introspect.Cache] without a shared tier makes on the caller's
// goroutine when a slot is free.
func (v *Verifier) VerifiesLocally() bool { return true }

// BackendName returns "jwt", the Verifier's name in metrics and spans.
func (v *Verifier) BackendName() string { return "jwt" }

// AnswerScope returns what, besides the token and the issuer's keys, the
// Verifier's answers depend on: where its keys come from, the issuers,
// audiences and algorithms it accepts, the claims it counts as scopes, its
// profile, leeway and size limit. An [introspect.Cache] with a shared tier
// shares answers only with Caches whose Verifiers have the same one (see
// [introspect.AnswerScoper]).
func (v *Verifier) AnswerScope() string {
	src := v.keys.src
	scope, err := json.Marshal(struct {
		JWKSURL, MetadataURL string
		Issuer               string
		Issuers              []string
		Audiences            []string
		AnyAudience          bool
		Algorithms           []jose.SignatureAlgorithm
		HighS, RFC9068       bool
		ScopeClaims          [3]bool
		Leeway               time.Duration
		MaxBytes             int
	}{
		src.jwksURL, src.metadataURL, src.issuer, set(src.issuers), set(v.audiences), v.skipAud,
		set(v.algs), v.allowHighS, v.rfc9068, v.scopeClaims, v.leeway, v.maxBytes,
	})
	if err != nil { // cannot happen: the fields are strings, bools and numbers
		panic(err)
	}
	return "jwt " + string(scope)
}

// set returns the values of s sorted, each once: lists that differ only in
// order accept the same tokens.
func set[S ~[]E, E cmp.Ordered](s S) S { return slices.Compact(slices.Sorted(slices.Values(s))) }

// Leeway returns the clock skew the Verifier tolerates past a token's
// "exp"; an [introspect.Cache] in front of it keeps a result that much
// past "exp" too, so the two agree. It is [introspect.DefaultLeeway] when
// [Config.Leeway] is zero, and 0 when that is negative.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

// Close stops the key set's refreshes, waits for a fetch in flight to end,
// and closes the idle connections of the Verifier's own HTTP client. Keys
// already loaded keep working; a refresh a token asks for after Close
// fails as unavailable. Close is safe to call more than once.
func (v *Verifier) Close() { v.keys.close() }

// Verify validates token: its shape, header, claims and signature, in that
// order, so that a token refused by the cheap checks costs no signature
// check and triggers no key set refresh. The error matches
// [introspect.ErrInvalidToken] for a bad token and is an
// [*introspect.UnavailableError] when the key set cannot be had.
//
// Verify waits only for a token naming a key the key set lacks, when a
// refresh may be asked for: it fetches the key set and waits for it.
// Given a ctx from [introspect.NoWait] it answers
// [introspect.ErrWouldWait] instead, fetching nothing.
func (v *Verifier) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	mayWait := introspect.MayWait(ctx)
	jws, h, err := parse(token, v.maxBytes, v.algs)
	if err != nil {
		return nil, err
	}
	if v.rfc9068 && !isATJWT(h.typ) {
		return nil, errTyp
	}
	// go-jose takes either s of an ECDSA signature: the other form is
	// refused here, before any key is asked for.
	if !v.allowHighS {
		if err := checkLowS(h.alg, jws.Signatures[0].Signature); err != nil {
			return nil, err
		}
	}
	// The claims are read before the signature is checked, so that a
	// token they refuse costs no key lookup; none of them is given out
	// unless jws.Verify accepts this very payload.
	c, err := parseClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}

	// The issuer is checked before the keys are asked for, unless the
	// accepted issuers come from metadata not read yet.
	issuers := v.keys.src.acceptedIssuers()
	if issuers != nil && !slices.Contains(issuers, c.iss) {
		return nil, errIssuer
	}
	ks, err := v.keys.loaded(true)
	if err != nil {
		return nil, err
	}
	if issuers == nil && !slices.Contains(v.keys.src.acceptedIssuers(), c.iss) {
		return nil, errIssuer
	}

	key, known := ks.find(h.kid, h.alg)
	if !known {
		var issued time.Time
		if c.hasIAT {
			issued = c.iat
		}
		if ks, err = v.keys.unknownKID(ctx, h.kid, h.alg, issued, v.leeway, mayWait); err != nil {
			return nil, err
		}
		key, _ = ks.find(h.kid, h.alg)
	}
	if key == nil {
		switch {
		case h.kid != "":
			return nil, errKeyMismatch
		case ks.fitting(h.alg) == 0:
			return nil, errNoFittingKey
		}
		return nil, errAmbiguousKey
	}

	if _, err := jws.Verify(key.key); err != nil {
		return nil, errSignature
	}
	return c.tokenInfo(v.scopeClaims), nil
}

// checkClaims checks the claims that need no key: times, audience and
// RFC 9068's required claims. The issuer is checked by the caller, once
// the accepted issuers are known.
func (v *Verifier) checkClaims(c *claims) error {
	now := v.now()
	switch {
	case c.exp.IsZero():
		return errNoExp
	case !now.Before(c.exp.Add(v.leeway)):
		return errExpired
	case !c.nbf.IsZero() && now.Before(c.nbf.Add(-v.leeway)):
		return errNotYetValid
	case c.hasIAT && now.Before(c.iat.Add(-v.leeway)):
		return errIssuedLater
	}
	if v.rfc9068 {
		for _, name := range rfc9068Claims {
			if _, ok := c.all[name]; !ok {
				return invalid(`token lacks the claim "` + name + `" that RFC 9068 requires`)
			}
		}
	}
	if !v.skipAud && !slices.ContainsFunc(c.aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return errAudience
	}
	return nil
}
