// Package collector holds etcd_exporter's collectors and its metric table:
// keyspace (a paged pass over the keyspace and a watch of every change,
// per key prefix) and lease (the lease count).
package collector

import (
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

// metrics is the exporter's metric table: every metric once.
var metrics catalog.Catalog

// Catalog returns every metric of the exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

// Specs returns the exporter's collectors.
func Specs() []exporter.Spec { return []exporter.Spec{KeyspaceSpec, LeaseSpec, SyncSpec} }

var prefixKey = []string{"prefix"}

var (
	keyspaceKeys = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_keys",
		Help:      "Keys under the prefix at the revision of the last keyspace pass.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceValueBytes = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_value_bytes",
		Help:      "Sum of the value sizes of the keys under the prefix at the revision of the last keyspace pass.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceLargestValue = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_largest_value_bytes",
		Help:      "Size of the largest value under the prefix at the revision of the last keyspace pass.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceScanTimestamp = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_scan_timestamp_seconds",
		Help:      "Unix time at which the last complete keyspace pass finished.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
	})
	keyspaceScanDuration = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_scan_duration_seconds",
		Help:      "How long the last complete keyspace pass took.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
	})
	keyspaceScanRevision = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_scan_revision",
		Help:      "etcd revision at which the last complete keyspace pass read the keyspace.",
		Type:      catalog.Gauge,
		Collector: "keyspace",
	})
	keyspacePuts = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_puts_total",
		Help:      "Puts of keys under the prefix seen by the exporter's watch since it started.",
		Type:      catalog.Counter,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceDeletes = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_deletes_total",
		Help:      "Deletions of keys under the prefix seen by the exporter's watch since it started.",
		Type:      catalog.Counter,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceValueSize = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_value_size_bytes",
		Help:      "Size of every value put under the prefix, seen by the exporter's watch.",
		Type:      catalog.Histogram,
		Collector: "keyspace",
		Key:       prefixKey,
	})
	keyspaceWatchRestarts = metrics.Add(catalog.Metric{
		Name:      "etcd_keyspace_watch_restarts_total",
		Help:      "Restarts of the exporter's keyspace watch, by reason: compacted (its revision was compacted; the changes in between are not counted), error (etcd unreachable or the watch failed), leader_lost (the member lost its leader).",
		Type:      catalog.Counter,
		Collector: "keyspace",
		Labels:    []string{"reason"},
	})
	leases = metrics.Add(catalog.Metric{
		Name:      "etcd_leases",
		Help:      "Leases granted and not yet expired or revoked.",
		Type:      catalog.Gauge,
		Collector: "lease",
	})
)

var (
	syncDuration = metrics.Add(catalog.Metric{
		Name:      "etcd_process_sync_duration_seconds",
		Help:      "Time the etcd process spent in fsync, fdatasync and sync_file_range calls, by syscall, measured in the kernel.",
		Type:      catalog.Histogram,
		Collector: "sync",
		Labels:    []string{"syscall"},
	})
	syncProcesses = metrics.Add(catalog.Metric{
		Name:      "etcd_process_sync_processes",
		Help:      "etcd processes whose sync calls the sync collector measures (0: none found).",
		Type:      catalog.Gauge,
		Collector: "sync",
	})
)

var writeBytes = metrics.Add(catalog.Metric{
	Name:      "etcd_process_write_bytes_total",
	Help:      "Bytes the etcd process wrote (write, pwrite64, writev, pwritev, pwritev2), by the file written: wal, snap, db or other, counted in the kernel.",
	Type:      catalog.Counter,
	Collector: "sync",
	Labels:    []string{"file"},
})
