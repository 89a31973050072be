// Package mixins renders and checks bpfleet's monitoring mixins
// (mixins/<exporter>/mixin.libsonnet) with go-jsonnet.
package mixins
