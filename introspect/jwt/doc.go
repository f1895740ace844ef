// Package jwt validates JWT access tokens locally, with the keys their
// issuer publishes, for issuers without introspection (Region Halland's
// ADFS), for Entra ID, and for any RFC 9068 authorization server.
//
// A [Verifier] is an [introspect.Verifier]: wrap it in an [introspect.Cache]
// so that a token's signature is checked once, and use [WithFallback] where
// both JWTs and opaque tokens arrive. Its errors match
// [introspect.ErrInvalidToken] (answer 401) or are an
// [*introspect.UnavailableError] (the key set cannot be had: answer 503,
// never 401).
//
// The claims map to [introspect.TokenInfo] as an introspection answer
// would: "scope", "scp" and "roles" (see [Config.ScopeClaims]) into
// Scopes; "client_id", else "azp", else "appid" into ClientID; "sub",
// "iss", "aud", "exp", "iat" and "nbf" into their fields; every other
// claim, "scp" and "roles" included (and "scope" when ScopeClaims leaves
// it out), into Claims, so the Flemish "vo_*" claims and
// [introspect.TokenInfo.VO] work unchanged.
//
// # Region Halland (ADFS)
//
// ADFS signs access tokens RS256 with "aud" the resource id, and an "iss"
// that is its discovery document's "access_token_issuer", not its
// "issuer". Give the issuer and the resource id, and the rest is read
// from the discovery document:
//
//	v, err := jwt.New(jwt.Config{
//		Issuer:    "https://adfs.example.se/adfs",
//		Audiences: []string{"api://exempelapi"},
//	})
//
// # Entra ID
//
// Entra ID's v1 tokens carry iss https://sts.windows.net/{tenant}/, v2's
// https://login.microsoftonline.com/{tenant}/v2.0; [EntraIssuers] lists
// both for the tenants an application serves, and multi-tenant
// applications use [EntraCommonJWKSURL]. Delegated permissions arrive in
// "scp", application roles in "roles".
//
// # Security
//
// What is checked, in this order, so that a token refused by a cheap check
// costs no signature check and triggers no fetch:
//
//   - size (at most [Config.MaxTokenBytes], 4096 bytes by default, before
//     any parsing) and shape: three base64url segments and a signature,
//     each in its one canonical encoding (unpadded, the unused bits of the
//     last character zero), so that a token has exactly one accepted
//     string; a JWE is refused;
//   - the header: a JSON object naming each member once, "alg" on the
//     allow-list ([Config.Algorithms], by default the RSA, RSA-PSS, ECDSA
//     and EdDSA families; "none" and HMAC can never be allowed), no
//     "crit" (no extension is supported), no "b64", "zip" or "enc", even
//     with a null value, and in RFC 9068 mode a "typ" of "at+jwt";
//   - the claims: "exp" required and not past, "nbf" and "iat" not in the
//     future, each give or take [Config.Leeway] (30 s by default, as the
//     Introspector); "aud" naming one of [Config.Audiences] unless
//     [Config.InsecureSkipAudienceCheck]; "iss" exactly one of the accepted
//     issuers; registered claims of the right JSON type; in RFC 9068 mode
//     iss, exp, aud, sub, client_id, iat and jti present;
//   - the signature, with the key the header's "kid" names, which must fit
//     the algorithm: its type (RSA of 2048 bits or more, the alg's EC curve,
//     Ed25519) and its own "alg" and "use" must agree with the header, so a
//     token cannot choose how a key is read (no algorithm confusion). An
//     ECDSA signature (r, s) has a second valid form, (r, n-s), with the
//     same claims: key a deny list on "jti", not on the token string, or
//     set [Config.RequireLowS] for an issuer that signs low-s.
//
// Keys come only from the configured key set ([Config.JWKSURL], or the
// "jwks_uri" of the issuer's metadata), fetched over https (http only to
// loopback addresses), never following a redirect, reading at most 1 MiB
// and [MaxKeys] keys, with a timeout on every call. The "jku", "x5u",
// "jwk" and "x5c" headers never select a key. Symmetric and private keys
// in a key set are ignored.
//
// The key set is refreshed in the background at three quarters of its
// lifetime (its Cache-Control max-age, bounded to [MinKeySetLifetime] to
// [MaxKeySetLifetime], [DefaultKeySetLifetime] without one). A token with
// an unknown "kid" that passed every cheap check triggers one shared
// refresh, sent with Cache-Control: no-cache (a scheduled fetch in flight
// is made to send it, or followed by one that does), at most once per
// [Config.RefreshCooldown]; that request waits for it. Within the
// cooldown nothing is fetched and no request waits, so random kids cannot
// make the verifier flood the issuer or queue requests, and the answer
// for an unknown kid is:
//
//   - unavailable when the last fetch failed: the key set is down, and
//     Retry-After is the time until the next attempt;
//   - invalid when the keys held were fetched at least [Config.Leeway]
//     and a second after the token's "iat": the issuer publishes a key
//     before it signs with it, so a key set seen after the token was
//     issued would hold its key (a cache's Age counts against the fetch
//     time);
//   - otherwise unavailable, with Retry-After the time left in the
//     cooldown (or until a scheduled refresh, if that comes first; a
//     second while a fetch is in flight, which may bring the key): the
//     kid may be a key published since the last refresh, and the
//     verifier may not look yet. A client holding a good token is
//     never told it is invalid for that, and an [introspect.Cache] stores
//     no answer (it stores no failure), so the token is accepted once the
//     cooldown ends. A token without "iat" is always answered so.
//
// So a token with a random kid costs a 503 and no fetch; it cannot get a
// rotated key's tokens refused. A failed refresh keeps the known keys.
//
// A token without a "kid" is verified with the set's one key that fits
// its algorithm; with none, or with several (as while an issuer publishes
// its next key beside the current one), it is invalid. Nothing in it says
// that the issuer has rotated, so no refresh is started for it: an issuer
// that rotates must name its keys, as ADFS, Entra ID and most others do.
//
// While no key set has loaded, Verify is unavailable at once (no request
// waits for the fetch in flight) and the key set is asked for again within
// the cooldown; [Verifier.WaitReady] waits for the first keys.
//
// A locally validated JWT is accepted until it expires: revocation at the
// issuer is not seen. An application that must end a token sooner (at
// logout, say) calls [introspect.Cache.Invalidate] — which forgets a
// cached result, so the token is validated again, and accepted again
// unless the application keeps its own deny list — or keeps token
// lifetimes short.
package jwt
