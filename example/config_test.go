package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/middleware"
)

func TestParseSources(t *testing.T) {
	tests := []struct {
		in      string
		want    middleware.Sources
		wantErr string
	}{
		{"header", middleware.FromHeader, ""},
		{"header,form,query", middleware.FromHeader | middleware.FromForm | middleware.FromQuery, ""},
		{" Query , header ", middleware.FromHeader | middleware.FromQuery, ""},
		{"", 0, "no token source given"},
		{",", 0, "no token source given"},
		{"cookie", 0, `unknown token source "cookie"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSources(tt.in)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
