#!/usr/bin/env bash
# Build a developer tool from its pinned Go module into a cache folder outside the
# work tree, keyed by the pins and this script: a second run is a no-op, a fresh clone
# on the same machine reuses it. Prints the binary's path. No prebuilt binary is ever
# downloaded: the sources come from the Go module proxy and are checked against go.sum.
#
#   bash hack/tools/build.sh helm
#
# Each tool is a wrapper module hack/tools/<tool>/ whose go.mod names the command with
# a `tool` directive (Go 1.24+), so go.sum covers every package the build needs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=${1:?usage: build.sh TOOL (helm, actionlint, promtool)}
mod="$here/$tool"
[ -f "$mod/go.mod" ] || { echo "error: no wrapper module hack/tools/$tool" >&2; exit 1; }

case "$tool" in
  helm)
    version=$(awk '$1 == "helm.sh/helm/v4" {print $2; exit}' "$mod/go.mod")
    pkg=helm.sh/helm/v4/cmd/helm
    # What upstream's Makefile stamps for a tagged release, so `helm version` reports
    # the pin (the module zip carries no git commit to stamp).
    ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${version} \
      -X helm.sh/helm/v4/internal/version.metadata= \
      -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
    ;;
  actionlint)
    version=$(awk '$1 == "github.com/rhysd/actionlint" {print $2; exit}' "$mod/go.mod")
    pkg=github.com/rhysd/actionlint/cmd/actionlint
    ldflags="-s -w -X github.com/rhysd/actionlint.version=${version}"
    ;;
  promtool)
    # Prometheus 3.x publishes its Go module as v0.3MM.P for release 3.MM.P.
    version=$(awk '$1 == "github.com/prometheus/prometheus" {print $2; exit}' "$mod/go.mod")
    pkg=github.com/prometheus/prometheus/cmd/promtool
    release=$(echo "$version" | sed -E 's/^v0\.3([0-9]{2})\.([0-9]+)$/3.\1.\2/; s/^3\.0([0-9])/3.\1/')
    # What upstream's .promu.yml stamps, so `promtool --version` reports the release.
    ldflags="-s -w -X github.com/prometheus/common/version.Version=${release}"
    ;;
  *)
    echo "error: unknown tool $tool" >&2; exit 1 ;;
esac
[ -n "$version" ] || { echo "error: no version of $tool in hack/tools/$tool/go.mod" >&2; exit 1; }

key=$( { echo "$tool"; cat "$here/build.sh" "$mod/go.mod" "$mod/go.sum"; } | sha256sum | cut -c1-16)
root=${HOSTNS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hostns-operator/tools}
out="$root/$key/$tool"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build $tool" >&2; exit 1; }
mkdir -p "$root/$key"
start=$(date +%s)
echo "building $tool $version from the Go module proxy..." >&2
# Built into a temporary name and renamed: an interrupted build never leaves a
# half-written binary that the check above would take for a finished one.
(cd "$mod" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" \
  -o "$out.tmp" "$pkg")
mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
