#!/usr/bin/env bash
# Test dependencies of kubeapi_exporter: a real etcd v3.7.3 and kube-apiserver v1.37.2,
# built from the Go module proxy ONCE into $BPFLEET_CACHE (never into the checkout).
# Idempotent: each binary is built only when missing; builds go to a temp file and are
# renamed into place, so a concurrent helper building the same etcd never sees half a file.
set -euo pipefail

CACHE="${BPFLEET_CACHE:-/var/cache/bpfleet}"
ETCD_VERSION=v3.7.3
KUBE_VERSION=v1.37.2
STAGING_VERSION=v0.37.2

ETCD_DIR="$CACHE/etcd-$ETCD_VERSION"
KAPI_DIR="$CACHE/kube-apiserver-$KUBE_VERSION"
mkdir -p "$ETCD_DIR" "$KAPI_DIR"

export GOFLAGS=-mod=mod
export GOWORK=off

build_etcd() {
	if [ -x "$ETCD_DIR/etcd" ]; then
		echo "etcd $ETCD_VERSION: cached at $ETCD_DIR/etcd"
		return
	fi
	local work start
	work="$(mktemp -d)"
	start=$(date +%s)
	(
		cd "$work"
		go mod init bpfleet-etcd-build >/dev/null 2>&1
		go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
		go build -o "$ETCD_DIR/etcd.tmp.$$" go.etcd.io/etcd/server/v3
	)
	mv -f "$ETCD_DIR/etcd.tmp.$$" "$ETCD_DIR/etcd"
	rm -rf "$work"
	echo "etcd $ETCD_VERSION: built in $(($(date +%s) - start)) s into $ETCD_DIR/etcd"
}

build_kube_apiserver() {
	if [ -x "$KAPI_DIR/kube-apiserver" ]; then
		echo "kube-apiserver $KUBE_VERSION: cached at $KAPI_DIR/kube-apiserver"
		return
	fi
	local work start gomod
	work="$(mktemp -d)"
	start=$(date +%s)
	(
		cd "$work"
		go mod init bpfleet-kube-apiserver-build >/dev/null 2>&1
		gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
		[ -f "$gomod" ] || { echo "kube-apiserver: go.mod of k8s.io/kubernetes@$KUBE_VERSION not found" >&2; exit 1; }
		# every staging module k8s.io/kubernetes requires at v0.0.0 → the published module at the matching release
		awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u > staging.txt
		[ -s staging.txt ] || { echo "kube-apiserver: no staging modules found in $gomod" >&2; exit 1; }
		go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
		while read -r m; do go mod edit -replace="$m=$m@$STAGING_VERSION"; done < staging.txt
		echo "kube-apiserver: $(wc -l < staging.txt) staging modules replaced at $STAGING_VERSION"
		cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
		go mod tidy >/dev/null 2>&1 || true
		go build -o "$KAPI_DIR/kube-apiserver.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv -f "$KAPI_DIR/kube-apiserver.tmp.$$" "$KAPI_DIR/kube-apiserver"
	rm -rf "$work"
	echo "kube-apiserver $KUBE_VERSION: built in $(($(date +%s) - start)) s into $KAPI_DIR/kube-apiserver"
}

build_etcd
build_kube_apiserver
