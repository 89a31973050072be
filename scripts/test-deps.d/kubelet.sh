#!/usr/bin/env bash
# Test dependencies of kubelet_exporter and deploy: a real kubelet, kube-controller-manager and kube-scheduler
# v1.37.2 built from the Go module proxy ONCE each into $BPFLEET_CACHE/<name>-v1.37.2/ (never into the checkout), and Debian's containerd,
# runc, the CNI plugins and busybox-static from apt (the node's runtime and network, and the test pods' image). The node's
# API server and etcd come from kubeapi.sh. Idempotent: each binary is built only when missing,
# into a temp file renamed into place.
set -euo pipefail

CACHE="${BPFLEET_CACHE:-/var/cache/bpfleet}"
KUBE_VERSION=v1.37.2
STAGING_VERSION=v0.37.2

export GOFLAGS=-mod=mod
export GOWORK=off

install_apt() {
	local missing=()
	# what internal/testenv.StartContainerd needs (testenv.ContainerdPackages)
	for p in containerd runc containernetworking-plugins busybox-static; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# build_kube NAME: builds k8s.io/kubernetes/cmd/NAME at $KUBE_VERSION into $CACHE/NAME-$KUBE_VERSION/NAME,
# only when missing (the kubelet, and the kube-controller-manager and kube-scheduler that make the node's
# DaemonSets real: deploy/node_test.go).
build_kube() {
	local name="$1"
	local dir="$CACHE/$name-$KUBE_VERSION"
	mkdir -p "$dir"
	if [ -x "$dir/$name" ]; then
		echo "$name $KUBE_VERSION: cached at $dir/$name"
		return
	fi
	local work start gomod
	work="$(mktemp -d)"
	start=$(date +%s)
	(
		cd "$work"
		go mod init "bpfleet-$name-build" >/dev/null 2>&1
		gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
		[ -f "$gomod" ] || { echo "$name: go.mod of k8s.io/kubernetes@$KUBE_VERSION not found" >&2; exit 1; }
		# every staging module k8s.io/kubernetes requires at v0.0.0 → the published module at the matching release
		awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u > staging.txt
		[ -s staging.txt ] || { echo "$name: no staging modules found in $gomod" >&2; exit 1; }
		go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
		while read -r m; do go mod edit -replace="$m=$m@$STAGING_VERSION"; done < staging.txt
		echo "$name: $(wc -l < staging.txt) staging modules replaced at $STAGING_VERSION"
		cat > tools.go <<GO
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/$name"
GO
		go mod tidy >/dev/null 2>&1 || true
		go build -o "$dir/$name.tmp.$$" "k8s.io/kubernetes/cmd/$name"
	)
	mv -f "$dir/$name.tmp.$$" "$dir/$name"
	rm -rf "$work"
	echo "$name $KUBE_VERSION: built in $(($(date +%s) - start)) s into $dir/$name"
}

install_apt
for c in kubelet kube-controller-manager kube-scheduler; do build_kube "$c"; done
