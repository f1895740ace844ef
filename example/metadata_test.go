package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metadataURL is the RFC 9728 document's URL for the default -resource,
// the example's own base URL.
func (ex *example) metadataURL() string { return ex.base + "/.well-known/oauth-protected-resource" }

// metadataDoc is the RFC 9728 §2 document the example serves.
type metadataDoc struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
}

func getMetadata(t *testing.T, ex *example, path string) metadataDoc {
	t.Helper()
	r := ex.do(t, "GET", path, nil, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	var doc metadataDoc
	require.NoError(t, json.Unmarshal([]byte(r.body), &doc), r.body)
	return doc
}

var wantScopes = []string{"MapRequest", "gipod_pdo_read", "gipod_pdo_write"}

func TestResourceMetadata(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw+"/default", func(t *testing.T) {
			f := newFixture(t, acmBackend)
			ex := start(t, f.args(fw, "-token-from", "header,query")...)
			doc := getMetadata(t, ex, "/.well-known/oauth-protected-resource")
			assert.Equal(t, ex.base, doc.Resource, "the base URL as bound")
			assert.Equal(t, []string{f.as.Issuer()}, doc.AuthorizationServers)
			assert.Equal(t, wantScopes, doc.ScopesSupported)
			assert.Equal(t, []string{"header", "query"}, doc.BearerMethodsSupported)
			assert.NotEmpty(t, doc.ResourceName)

			r := ex.do(t, "GET", "/v1/maps", nil, "")
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)
			r = ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "")
			assert.Equal(t, http.StatusForbidden, r.status)
			assert.Equal(t, `Bearer realm="example", error="insufficient_scope", error_description="the access token does not grant what this request needs", `+
				`scope="MapRequest", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)
		})
		t.Run(fw+"/path resource", func(t *testing.T) {
			f := newFixture(t, geosecureBackend)
			ex := start(t, f.args(fw, "-resource", "https://api.example/gipod")...)
			want := "https://api.example/.well-known/oauth-protected-resource/gipod"
			doc := getMetadata(t, ex, "/.well-known/oauth-protected-resource/gipod")
			assert.Equal(t, "https://api.example/gipod", doc.Resource)
			verify, err := url.Parse(f.as.VerifyURL())
			require.NoError(t, err)
			assert.Equal(t, []string{"http://" + verify.Host}, doc.AuthorizationServers, "Geosecure: the verify URL's origin")
			assert.Equal(t, wantScopes, doc.ScopesSupported)
			assert.Equal(t, []string{"header"}, doc.BearerMethodsSupported)
			assert.Equal(t, http.StatusNotFound, ex.do(t, "GET", "/.well-known/oauth-protected-resource", nil, "").status)

			r := ex.do(t, "GET", "/v1/occupations", nil, "")
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Contains(t, r.challenge, `resource_metadata="`+want+`"`)
			r = ex.do(t, "GET", "/v1/occupations", bearer(f.mapTok), "")
			assert.Equal(t, http.StatusForbidden, r.status)
			assert.Contains(t, r.challenge, `error="insufficient_scope"`)
			assert.Contains(t, r.challenge, `resource_metadata="`+want+`"`)
		})
	}
}
