// Pins a Go module that carries the official SARIF 2.1.0 JSON schema (OASIS,
// sarif-schema-2.1.0.json, in gosec's report/sarif/testdata), for the tests that
// validate `hostns scan -o sarif`. Nothing is built: schema.sh fetches this exact
// version from the Go module proxy (checked against go.sum) and prints the schema's path.
module hostns.io/tools/sarif

go 1.24

require github.com/securego/gosec/v2 v2.30.0
