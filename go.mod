module github.com/tokengate/tokengate

go 1.25.0

require (
	github.com/dgraph-io/ristretto/v2 v2.4.2
	github.com/stretchr/testify v1.12.1
	golang.org/x/sync v0.20.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.36.0 // indirect
)
