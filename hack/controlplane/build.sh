#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and etcd from the pinned Go
# modules into a cache folder outside the work tree, keyed by the pins and this
# script: a second run is a no-op, a fresh clone on the same machine reuses it.
# Prints the bin directory.
# The first build compiles most of Kubernetes: many minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" || ($1 == "require" && $2 == "k8s.io/kubernetes") {print $NF; exit}' "$here/apiserver/go.mod")
[ -n "$k8s_version" ] || { echo "error: no k8s.io/kubernetes version in apiserver/go.mod" >&2; exit 1; }
minor=$(echo "$k8s_version" | cut -d. -f2)
key=$(cat "$here/build.sh" "$here/apiserver/go.mod" "$here/apiserver/go.sum" \
          "$here/etcd/go.mod" "$here/etcd/go.sum" | sha256sum | cut -c1-16)
root=${HOSTNS_CONTROLPLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hostns-operator/controlplane}
bin="$root/$key/bin"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] && [ -x "$bin/etcd" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build the control plane" >&2; exit 1; }
mkdir -p "$bin.tmp"
export CGO_ENABLED=0
start=$(date +%s)
echo "building kube-apiserver and kube-controller-manager ${k8s_version} (first build: many minutes on 2 cores)..." >&2
(cd "$here/apiserver" && go build -trimpath -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=${k8s_version} \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=${minor} \
  -X k8s.io/component-base/version.gitTreeState=clean" \
  -o "$bin.tmp/" ./cmd/kube-apiserver ./cmd/kube-controller-manager)
echo "building etcd..." >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" ./cmd/etcd)
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
