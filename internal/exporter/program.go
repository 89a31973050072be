package exporter

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"

	"github.com/bpfleet/bpfleet/internal/retry"
)

// Program describes one exporter binary.
type Program struct {
	Name        string // "kernel_exporter"
	Namespace   string // "kernel"
	Description string // one line for --help and the landing page
	DefaultPort int    // 10061
	Collectors  []Spec
	// Components are the exporter-wide parts the collectors share, in the
	// order they are constructed (a component may use those before it) and
	// the reverse of the order they are closed in.
	Components []ComponentSpec
	// Retry tunes the backoff between attempts to construct a collector or
	// component, or to rerun a Runner; nil means retry's defaults (1s
	// initial wait, 60s cap, forever).
	Retry []retry.Option
}

// GCPercent is the garbage collector's target (GOGC) of an exporter binary
// whose environment sets no GOGC. An idle exporter's heap is about 2 MiB,
// below the runtime's 4 MiB minimum heap at GOGC=100, so the heap it keeps
// is that minimum; at 50 the minimum is 2 MiB, and a larger heap grows to
// 1.5 times what is live instead of twice. It trades CPU for memory:
// 1.2-1.8 MiB less resident memory idle, for three times as many
// collections, 2-5 ms more CPU per scrape (BENCHMARKS.md, "Idle memory").
// GOGC in the environment wins.
const GCPercent = 50

// Main runs the exporter described by p with the command-line arguments args
// (without the program name) until SIGINT or SIGTERM, and returns the process
// exit code: 0 after a clean shutdown or --help/--version, 2 for a bad flag, 1
// when the exporter cannot start or serve. Unless the environment sets GOGC,
// it sets the garbage collector's target to GCPercent first.
func Main(p Program, args []string, stdout, stderr io.Writer) int {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, p, args, stdout, stderr)
}

// MainContext is Main, stopped by the end of ctx instead of a signal: it then
// shuts down gracefully and returns 0. Tests run exporters in-process with it.
func MainContext(ctx context.Context, p Program, args []string, stdout, stderr io.Writer) int {
	cfg, code, exit := parseFlags(p, args, stdout, stderr)
	if exit {
		return code
	}
	cfg.log.Writer = stderr
	logger := promslog.New(&cfg.log)
	logger.Info("Starting "+p.Name, "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())
	e, err := start(p, cfg, logger)
	if err != nil {
		logger.Error("Cannot start "+p.Name, "err", err)
		return 1
	}
	return e.serve(ctx)
}
