package jwt

import (
	"context"
	"crypto"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetadataADFS: keys from ADFS's discovery document; with no issuer
// list, its access_token_issuer is the accepted iss, not its issuer.
func TestMetadataADFS(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.issuerID = is.srv.URL + "/adfs"
	is.accessTokenIssuer = "http://adfs.example.se/adfs/services/trust"
	clock := newClock()
	v := newTestVerifier(t, Config{Issuer: is.issuerID, Audiences: []string{audience}, Now: clock.Now})

	// Keys not loaded, issuers not known: the first token starts loading
	// both, without waiting.
	tok := rs256(is, clock.Now(), map[string]any{"iss": is.accessTokenIssuer})
	_, err := v.Verify(context.Background(), tok)
	isUnavailable(t, err)
	settle(v)
	_, err = v.Verify(context.Background(), tok)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"iss": is.issuerID}))
	assert.Equal(t, errIssuer, err, "ADFS's issuer is not its tokens' iss")
	assert.EqualValues(t, 1, is.metadata.Load())
	assert.EqualValues(t, 1, is.fetches.Load())
}

func TestMetadataOIDCIssuer(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	clock := newClock()
	v := newTestVerifier(t, Config{Issuer: is.issuerID, Audiences: []string{audience}, Now: clock.Now})
	require.NoError(t, refresh(t, v))
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err)
}

func TestMetadataRFC8414(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.issuerID = is.srv.URL + "/as"
	clock := newClock()
	v := newTestVerifier(t, Config{Issuer: is.issuerID, Metadata: OAuthMetadata, Audiences: []string{audience}, Now: clock.Now})
	require.NoError(t, refresh(t, v))
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err)
	assert.EqualValues(t, 1, is.metadata.Load())
}

// TestMetadataIssuersOverride: a configured list wins over the document.
func TestMetadataIssuersOverride(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.accessTokenIssuer = "https://other.example"
	clock := newClock()
	v := newTestVerifier(t, Config{Issuer: is.issuerID, Issuers: []string{is.issuerID}, Audiences: []string{audience}, Now: clock.Now})
	require.NoError(t, refresh(t, v))
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err)
}

func TestMetadataImpostor(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.issuerID = "https://impostor.example"
	clock := newClock()
	v := newTestVerifier(t, Config{Issuer: is.srv.URL, Audiences: []string{audience}, Now: clock.Now})
	ue := isUnavailable(t, refresh(t, v))
	assert.Contains(t, ue.Reason, "another issuer")
	assert.Zero(t, is.fetches.Load())
}

func TestMetadataURL(t *testing.T) {
	for _, tt := range []struct {
		issuer string
		m      Metadata
		want   string
	}{
		{"https://adfs.example.se/adfs", OpenIDDiscovery, "https://adfs.example.se/adfs/.well-known/openid-configuration"},
		{"https://login.microsoftonline.com/t/v2.0", OpenIDDiscovery, "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration"},
		{"https://sts.windows.net/t/", OpenIDDiscovery, "https://sts.windows.net/t/.well-known/openid-configuration"},
		{"https://as.example/tenant/1", OAuthMetadata, "https://as.example/.well-known/oauth-authorization-server/tenant/1"},
		{"https://as.example", OAuthMetadata, "https://as.example/.well-known/oauth-authorization-server"},
	} {
		got, err := metadataURL(tt.issuer, tt.m)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
	_, err := metadataURL("https://as.example?x=1", OpenIDDiscovery)
	assert.Error(t, err)
}
