#!/usr/bin/env bash
# Regenerate apiserver/go.mod for a Kubernetes release: k8s.io/kubernetes replaces
# its staging modules with ./staging paths, which `go install` refuses; we require
# it and replace each staging module with its published v0.X.Y instead.
# Usage: hack/controlplane/gen-replaces.sh v1.34.4
set -euo pipefail
version=${1:?usage: $0 vX.Y.Z}
staging="v0.${version#v1.}"
cd "$(dirname "$0")/apiserver"
gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
  echo "module hostns.io/controlplane/apiserver"
  echo
  echo "go $(sed -n 's/^go //p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes ${version}"
  echo
  echo "replace ("
  grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk -v v="$staging" '{print "\t"$1" => "$1" "v}'
  echo ")"
} > go.mod
go mod tidy
