#!/usr/bin/env bash
# idle-memory.sh reports the resident memory of an idle exporter and the
# kernel memory of its BPF maps. Run as root from the repository root after
# `make build`:
#
#   scripts/idle-memory.sh [bin/kernel_exporter] [settle seconds] [exporter flags...]
#
# It starts the exporter on a free loopback port, waits for /readyz, scrapes
# /metrics every 2 s for the settle time (5 s by default; the exporter drops
# its start-up pages once its collectors are up and again a minute later, so
# 75 s shows both), prints VmRSS, VmHWM, RssAnon and RssFile from
# /proc/<pid>/status, the CPU time it used while it was scraped (user and
# system, from /proc/<pid>/stat) and the memlock of every BPF map the
# exporter holds (/proc/<pid>/fdinfo), then stops it: the resident memory of
# an exporter that keeps serving scrapes.
set -euo pipefail

bin=${1:-bin/kernel_exporter}
settle=${2:-5}
shift 2 || shift $#
log=$(mktemp)
"$bin" --web.listen-address=127.0.0.1:0 "$@" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT

addr=""
for _ in $(seq 100); do
	addr=$(grep -o 'msg="Listening on" address=[^ ]*' "$log" | head -n1 | sed 's/.*address=//') || true
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { echo "no \"Listening on\" line:" >&2; cat "$log" >&2; exit 1; }
for _ in $(seq 300); do
	curl -sf "http://$addr/readyz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://$addr/readyz" >/dev/null || { echo "not ready after 30s" >&2; exit 1; }
# utime + stime, in clock ticks.
cputicks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"; }
cpu0=$(cputicks)
series=$(curl -sf "http://$addr/metrics" | grep -vc '^#')
scrapes=1
end=$((SECONDS + settle))
while [ "$SECONDS" -lt "$end" ]; do
	sleep 2
	curl -sf -o /dev/null "http://$addr/metrics" && scrapes=$((scrapes + 1))
done
sleep 1

echo "series served: $series, scrapes: $scrapes"
awk -v t="$(($(cputicks) - cpu0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "cpu while scraped: %.2f s\n", t / hz }'
# RssAnon is the process's own memory (Go heap, stacks); RssFile is mostly
# the executable's pages, shared page cache that the kernel can reclaim.
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile):' "/proc/$pid/status"
# Each BPF map descriptor's fdinfo names the map and the memory it charges;
# a map held by several descriptors counts once. A descriptor closed while
# it is read (a connection) is skipped.
for f in /proc/"$pid"/fdinfo/*; do
	awk '/^map_id:/ { id = $2 } /^memlock:/ { mem = $2 } END { if (id != "") print id, mem }' "$f" 2>/dev/null || true
done | sort -u | awk '{ n++; total += $2 }
	END { printf "bpf maps: %d, memlock: %.1f MiB\n", n, total / 1048576 }'
