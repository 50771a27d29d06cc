#!/usr/bin/env bash
# Print the path of the official SARIF 2.1.0 schema from the pinned module (see go.mod),
# after checking that it is the file this project validated against (its sha256).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
expected=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e
command -v go >/dev/null || { echo "error: Go is needed to fetch the SARIF schema" >&2; exit 1; }
dir=$(cd "$here" && go mod download -json github.com/securego/gosec/v2 \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
schema="$dir/report/sarif/testdata/sarif-schema-2.1.0.json"
[ -f "$schema" ] || { echo "error: no SARIF schema at $schema" >&2; exit 1; }
actual=$(sha256sum "$schema" | cut -d' ' -f1)
[ "$actual" = "$expected" ] || { echo "error: $schema has sha256 $actual, not $expected" >&2; exit 1; }
echo "$schema"
