package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// keptScript exits 3 processes with code 1, makes a fifo and says so
// (2 successes), waits on the fifo (a builtin read), then exits 4 more
// with code 1 and says so (1 success), and stays up.
const keptScript = `#!/bin/sh
for i in 1 2 3; do /bin/false; done
mkfifo /var/tmp/kept.fifo
touch /var/tmp/kept.first
read x < /var/tmp/kept.fifo
for i in 1 2 3 4; do /bin/false; done
touch /var/tmp/kept.done
exec /bin/sleep infinity
`

// TestExitsOfFullMapFolded: with process_counts sized to 256 rows, a unit
// counts 3 failed exits and 2 successful ones; then 384 new cgroups (no
// unit's) each see one failed exit between two scrapes, so the map is full
// and at least 384 - 256 of them are folded into its overflow companion;
// then the unit, whose row is in the map, counts 4 more failures and one
// success. The overflow series {name="__overflow__",outcome="failure"}
// rises by at least 128 (exits of other processes on the host may fold
// too, and fill the map sooner: hence at least), the unit's series stays
// exact (7 failures, 3 successes), and the map's fill gauges count its own
// rows only.
func TestExitsOfFullMapFolded(t *testing.T) {
	const rows, cgroups = 256, 384
	sys := sdtest.Boot(t)
	sys.WriteFile(t, "/usr/local/bin/kept", keptScript, 0o755)
	sys.AddUnit(t, "kept.service", "[Service]\nExecStart=/usr/local/bin/kept\n")
	p := startExporter(t, sys, fmt.Sprintf("--bpf.map-max-entries=process_counts=%d", rows))
	sys.Systemctl(t, "start", "kept.service")
	exportertest.Eventually(t, func() error {
		_, err := readFile(sys.Root + "/var/tmp/kept.first")
		return err
	})
	const metric = "systemd_unit_process_exits_total"
	var before float64
	exportertest.Eventually(t, func() error {
		fams := scrape(t, p)
		before = seriesOf(fams, metric, "__overflow__")["outcome=failure"]
		want := map[string]float64{"outcome=failure": 3, "outcome=success": 2}
		if got := seriesOf(fams, metric, "kept.service"); !mapsEqual(got, want) {
			return errorf("%s of kept.service = %v, want %v", metric, got, want)
		}
		return nil
	})

	// One failed exit in each of the new cgroups, made by a shell in this
	// test's cgroup (its own exits count under one row).
	base := fmt.Sprintf("/sys/fs/cgroup/unified/bpfleet-fold-%d", os.Getpid())
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 1; i <= cgroups; i++ {
			os.Remove(filepath.Join(base, fmt.Sprint("c", i)))
		}
		if err := os.Remove(base); err != nil {
			t.Error(err)
		}
	})
	fill := exec.Command("/bin/sh", "-c", `i=1; while [ $i -le $1 ]; do
		d=$0/c$i; mkdir $d || exit 1
		/bin/sh -c 'echo $$ > $0/cgroup.procs || exit 2; exec /bin/false' $d
		[ $? -eq 1 ] || exit 1
		i=$((i + 1))
	done`, base, fmt.Sprint(cgroups))
	if out, err := fill.CombinedOutput(); err != nil {
		t.Fatalf("filling the map: %v\n%s", err, out)
	}
	if err := os.WriteFile(sys.Root+"/var/tmp/kept.fifo", []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	exportertest.Eventually(t, func() error {
		_, err := readFile(sys.Root + "/var/tmp/kept.done")
		return err
	})

	exportertest.Eventually(t, func() error {
		fams := scrape(t, p)
		want := map[string]float64{"outcome=failure": 7, "outcome=success": 3}
		if got := seriesOf(fams, metric, "kept.service"); !mapsEqual(got, want) {
			return errorf("%s of kept.service = %v, want %v", metric, got, want)
		}
		if got := seriesOf(fams, metric, "__overflow__")["outcome=failure"] - before; got < cgroups-rows {
			return errorf("%s{name=\"__overflow__\",outcome=\"failure\"} rose by %v, want at least %d", metric, got, cgroups-rows)
		}
		if n, _ := value(fams, "systemd_exporter_bpf_map_max_entries", map[string]string{"map": "process_counts"}); n != rows {
			t.Errorf("systemd_exporter_bpf_map_max_entries{map=\"process_counts\"} = %v, want %d", n, rows)
		}
		if n, ok := value(fams, "systemd_exporter_bpf_map_entries", map[string]string{"map": "process_counts"}); !ok || n > rows {
			t.Errorf("systemd_exporter_bpf_map_entries{map=\"process_counts\"} = %v (served: %v), want at most %d", n, ok, rows)
		}
		return nil
	})
}
