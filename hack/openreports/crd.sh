#!/usr/bin/env bash
# Print the directory of the OpenReports CRD manifests, at the version pinned in go.mod
# (checked against go.sum), fetched from the Go module proxy into the module cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null || { echo "error: Go is needed to fetch the OpenReports CRDs" >&2; exit 1; }
dir=$(cd "$here" && go mod download -json github.com/openreports/reports-api \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -f "$dir/config/crd/openreports.io_reports.yaml" ] || {
  echo "error: no config/crd/openreports.io_reports.yaml in $dir" >&2; exit 1; }
echo "$dir/config/crd"
