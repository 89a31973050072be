// Package collector holds systemd_exporter's collectors, its D-Bus
// component and its metric table.
package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

var metrics catalog.Catalog

// Catalog returns every metric of systemd_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

// Specs returns the exporter's collectors.
func Specs() []exporter.Spec { return []exporter.Spec{unitSpec, oomSpec, processSpec, journalSpec} }

var (
	unitState = metrics.Add(catalog.Metric{
		Name: "systemd_unit_state", Type: catalog.Gauge, Collector: "unit",
		Help: "Unit's ActiveState: one series per state, 1 on the current one.",
		Key:  []string{"name"}, Labels: []string{"type", "state"},
	})
	unitInfo = metrics.Add(catalog.Metric{
		Name: "systemd_unit_info", Type: catalog.Gauge, Collector: "unit",
		Help: "Mostly static metadata of a unit; always 1.",
		Key:  []string{"name"}, Labels: []string{"type", "mount_type", "service_type"},
	})
	unitStartTime = metrics.Add(catalog.Metric{
		Name: "systemd_unit_start_time_seconds", Type: catalog.Gauge, Collector: "unit",
		Help: "When the unit last entered the active state, in seconds since the epoch.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitTasksCurrent = metrics.Add(catalog.Metric{
		Name: "systemd_unit_tasks_current", Type: catalog.Gauge, Collector: "unit",
		Help: "Tasks (processes and threads) of the service.",
		Key:  []string{"name"},
	})
	unitTasksMax = metrics.Add(catalog.Metric{
		Name: "systemd_unit_tasks_max", Type: catalog.Gauge, Collector: "unit",
		Help: "Most tasks the service may have.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	serviceRestarts = metrics.Add(catalog.Metric{
		Name: "systemd_service_restart_total", Type: catalog.Counter, Collector: "unit",
		Help: "Automatic restarts of the service (NRestarts).",
		Key:  []string{"name"},
	})
	timerLastTrigger = metrics.Add(catalog.Metric{
		Name: "systemd_timer_last_trigger_seconds", Type: catalog.Gauge, Collector: "unit",
		Help: "When the timer last elapsed, in seconds since the epoch.",
		Key:  []string{"name"},
	})
	socketAccepted = metrics.Add(catalog.Metric{
		Name: "systemd_socket_accepted_connections_total", Type: catalog.Counter, Collector: "unit",
		Help: "Connections the socket accepted (NAccepted).",
		Key:  []string{"name"},
	})
	socketCurrent = metrics.Add(catalog.Metric{
		Name: "systemd_socket_current_connections", Type: catalog.Gauge, Collector: "unit",
		Help: "Open connections of the socket (NConnections).",
		Key:  []string{"name"},
	})
	socketRefused = metrics.Add(catalog.Metric{
		Name: "systemd_socket_refused_connections_total", Type: catalog.Counter, Collector: "unit",
		Help: "Connections the socket refused (NRefused).",
		Key:  []string{"name"},
	})
	systemRunning = metrics.Add(catalog.Metric{
		Name: "systemd_system_running", Type: catalog.Gauge, Collector: "unit",
		Help: "1 when systemd's SystemState is running, else 0.",
	})
	unitsByState = metrics.Add(catalog.Metric{
		Name: "systemd_units", Type: catalog.Gauge, Collector: "unit",
		Help:   "Units by ActiveState.",
		Labels: []string{"state"},
	})
	unitMemory = metrics.Add(catalog.Metric{
		Name: "systemd_unit_memory_bytes", Type: catalog.Gauge, Collector: "unit",
		Help: "Memory of the service's cgroup (MemoryCurrent), where memory accounting is on.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitMemoryPeak = metrics.Add(catalog.Metric{
		Name: "systemd_unit_memory_peak_bytes", Type: catalog.Gauge, Collector: "unit",
		Help: "Peak memory of the service's cgroup (MemoryPeak, systemd 255+), where memory accounting is on.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitCPU = metrics.Add(catalog.Metric{
		Name: "systemd_unit_cpu_seconds_total", Type: catalog.Counter, Collector: "unit",
		Help: "CPU time of the service's cgroup (CPUUsageNSec), where CPU accounting is on.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitIORead = metrics.Add(catalog.Metric{
		Name: "systemd_unit_io_read_bytes_total", Type: catalog.Counter, Collector: "unit",
		Help: "Bytes the service's cgroup read (IOReadBytes), where IO accounting is on.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitIOWrite = metrics.Add(catalog.Metric{
		Name: "systemd_unit_io_write_bytes_total", Type: catalog.Counter, Collector: "unit",
		Help: "Bytes the service's cgroup wrote (IOWriteBytes), where IO accounting is on.",
		Key:  []string{"name"}, Labels: []string{"type"},
	})
	unitTransitions = metrics.Add(catalog.Metric{
		Name: "systemd_unit_state_transitions_total", Type: catalog.Counter, Collector: "unit",
		Help: "Changes of the unit's ActiveState that systemd signalled, by the state entered, since the exporter started.",
		Key:  []string{"name"}, Labels: []string{"type", "state"},
	})
	serviceFailures = metrics.Add(catalog.Metric{
		Name: "systemd_service_failures_total", Type: catalog.Counter, Collector: "unit",
		Help: "Runs of the service that ended unsuccessfully, by systemd's Result, whether or not systemd restarted it.",
		Key:  []string{"name"}, Labels: []string{"result"},
	})
	unitOOMKills = metrics.Add(catalog.Metric{
		Name: "systemd_unit_oom_kills_total", Type: catalog.Counter, Collector: "oom",
		Help: "Processes of the unit chosen as victims by the OOM killer, seen in the kernel: also children of a unit that keeps running.",
		Key:  []string{"name"},
	})
	unitProcessExits = metrics.Add(catalog.Metric{
		Name: "systemd_unit_process_exits_total", Type: catalog.Counter, Collector: "process",
		Help: "Whole-process exits in the unit's cgroups, seen in the kernel, by outcome: success (exit code 0), failure (another code) or signal (killed by a signal).",
		Key:  []string{"name"}, Labels: []string{"outcome"},
	})
	journalMessages = metrics.Add(catalog.Metric{
		Name: "systemd_journal_messages_total", Type: catalog.Counter, Collector: "journal",
		Help: "Journal messages of the unit (_SYSTEMD_UNIT) by priority (PRIORITY: emerg, alert, crit, err, warning, notice, info, debug), written since the exporter started following the journal.",
		Key:  []string{"name"}, Labels: []string{"priority"},
	})
	dbusRequestDuration = metrics.Add(catalog.Metric{
		Name: "systemd_dbus_request_duration_seconds", Type: catalog.Histogram, Collector: "unit",
		Help:   "Time systemd took to answer the exporter's own D-Bus calls, by method.",
		Labels: []string{"method"},
	})
)

// descs are the metrics' descriptors, made once, after every metric is
// in the table.
var descs = sync.OnceValue(func() map[*catalog.Metric]*prometheus.Desc {
	d := map[*catalog.Metric]*prometheus.Desc{}
	for _, m := range metrics.Metrics() {
		d[m] = m.Desc()
	}
	return d
})

// desc returns m's descriptor.
func desc(m *catalog.Metric) *prometheus.Desc { return descs()[m] }
