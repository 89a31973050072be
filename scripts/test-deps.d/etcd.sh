#!/usr/bin/env bash
# Builds a real etcd v3.7.3 server from the Go module proxy, once, into
# "${BPFLEET_CACHE:-/var/cache/bpfleet}/etcd-v3.7.3/etcd" (~45 s cold on 2 cores).
# etcd_exporter's tests start it as a separate process on loopback.
set -euo pipefail
version=v3.7.3
cache="${BPFLEET_CACHE:-/var/cache/bpfleet}/etcd-${version}"
if [ -x "${cache}/etcd" ] && "${cache}/etcd" --version >/dev/null 2>&1; then
	exit 0
fi
mkdir -p "${cache}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${work}"
export GOWORK=off GOFLAGS=-mod=mod
go mod init bpfleet.test/etcdbuild >/dev/null 2>&1
go get "go.etcd.io/etcd/server/v3@${version}" >/dev/null
CGO_ENABLED=0 go build -trimpath -o "${cache}/etcd.tmp" go.etcd.io/etcd/server/v3
mv "${cache}/etcd.tmp" "${cache}/etcd"
"${cache}/etcd" --version
