#!/usr/bin/env bash
# Test dependencies of deploy/ (the Helm chart's tests against a real
# kube-apiserver): the Prometheus Operator's PodMonitor and PrometheusRule
# CRDs, taken from that module's zip on the Go module proxy
# (example/prometheus-operator-crd/), copied ONCE into $BPFLEET_CACHE.
# etcd and kube-apiserver come from kubeapi.sh. Idempotent; the directory is
# filled in a temp dir and renamed into place.
set -euo pipefail

CACHE="${BPFLEET_CACHE:-/var/cache/bpfleet}"
PO_VERSION=v0.85.0
DIR="$CACHE/prometheus-operator-crds-$PO_VERSION"

if [ -f "$DIR/monitoring.coreos.com_podmonitors.yaml" ] && [ -f "$DIR/monitoring.coreos.com_prometheusrules.yaml" ]; then
	echo "prometheus-operator CRDs $PO_VERSION: cached at $DIR"
	exit 0
fi
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
src="$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/prometheus-operator/prometheus-operator@$PO_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src/example/prometheus-operator-crd" ]; then
	echo "prometheus-operator $PO_VERSION: no example/prometheus-operator-crd in the module" >&2
	exit 1
fi
mkdir -p "$CACHE" "$work/out"
cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml" \
	"$src/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$work/out/"
chmod 0755 "$work/out"
rm -rf "$DIR.tmp.$$"
mv "$work/out" "$DIR.tmp.$$"
mv -T "$DIR.tmp.$$" "$DIR" 2>/dev/null || { rm -rf "$DIR.tmp.$$"; [ -d "$DIR" ]; }
echo "prometheus-operator CRDs $PO_VERSION: copied in $(($(date +%s) - start)) s into $DIR"
