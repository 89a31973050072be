#!/usr/bin/env bash
# Test dependency of the mixins' live tests: a real Prometheus 3 server, built from the Go
# module proxy ONCE into $BPFLEET_CACHE (never into the checkout). Debian's prometheus 2.42
# (apt) stays the other server the live tests run against.
# Prometheus 3.X.Y is the Go module github.com/prometheus/prometheus v0.3XX.Y; the build has
# no UI assets, which the tests do not need (they use the HTTP API only). ~9 min cold on
# 2 cores, 147 MB.
# Idempotent: built only when missing; the build goes to a temp file renamed into place.
set -euo pipefail

CACHE="${BPFLEET_CACHE:-/var/cache/bpfleet}"
PROM_VERSION=v3.16.0
MODULE_VERSION=v0.316.0
DIR="$CACHE/prometheus-$PROM_VERSION"
mkdir -p "$DIR"

export GOFLAGS=-mod=mod
export GOWORK=off

if [ -x "$DIR/prometheus" ]; then
	echo "prometheus $PROM_VERSION: cached at $DIR/prometheus"
	exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
(
	cd "$work"
	go mod init bpfleet-prometheus3-build >/dev/null 2>&1
	go get "github.com/prometheus/prometheus@$MODULE_VERSION" >/dev/null 2>&1
	cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
GO
	go mod tidy >/dev/null 2>&1 || true
	# The module's VERSION file names its release: it must be the one the tests expect.
	moddir="$(go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)"
	if [ "$(cat "$moddir/VERSION")" != "${PROM_VERSION#v}" ]; then
		echo "prometheus: module $MODULE_VERSION is Prometheus $(cat "$moddir/VERSION"), not $PROM_VERSION" >&2
		exit 1
	fi
	# promu sets the version this way in release builds.
	go build -ldflags "-X github.com/prometheus/common/version.Version=${PROM_VERSION#v}" \
		-o "$DIR/prometheus.tmp.$$" github.com/prometheus/prometheus/cmd/prometheus
)
mv -f "$DIR/prometheus.tmp.$$" "$DIR/prometheus"
echo "prometheus $PROM_VERSION: built in $(($(date +%s) - start)) s into $DIR/prometheus"
