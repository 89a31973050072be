#!/usr/bin/env bash
# bench-ebpf-exporter.sh builds Cloudflare's ebpf_exporter and three of its
# programs outside the checkout, then runs kernel_exporter's side-by-side
# benchmarks (kernel_exporter/collector/peer_bench_test.go) against it. Run
# as root from the repository root:
#
#   scripts/bench-ebpf-exporter.sh [build|bench|labels|all]   (default: all)
#
#   build   install clang and libelf from apt, build libbpf (static) and
#           ebpf_exporter, compile biolatency and the programs of
#           kernel_exporter/collector/testdata/ebpf_exporter into
#           $BPFLEET_CACHE/ebpf_exporter-<version>/configs
#   bench   go test -bench Peer: ours, theirs and empty on the same hooks,
#           interleaved, medians of 6 rounds; output kept in that directory
#   labels  start ebpf_exporter, exec in a fresh cgroup, print its series
#
# Sources. ebpf_exporter v2 links libbpf through libbpfgo (cgo) and needs
# libbpf >= 1.5 (Debian 12's 1.1.2 fails: "could not determine what
# C.bpf_map_get_info_by_fd refers to"), so libbpf is built from source, as
# ebpf_exporter's own Makefile.libbpf does. ebpf_exporter comes from the Go
# module proxy when it serves it, else from a git repository
# ($EBPF_EXPORTER_GIT); libbpf, which is no Go module, from a git repository
# ($LIBBPF_GIT). Either may also be given as an unpacked tree
# ($EBPF_EXPORTER_SRC, $LIBBPF_SRC).
set -euo pipefail

version=${EBPF_EXPORTER_VERSION:-v2.5.1}
cache=${BPFLEET_CACHE:-/var/cache/bpfleet}/ebpf_exporter-$version
ee_git=${EBPF_EXPORTER_GIT:-}
libbpf_git=${LIBBPF_GIT:-}
benchtime=${BENCHTIME:-30000x}
repo=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
testdata=$repo/kernel_exporter/collector/testdata/ebpf_exporter
configs=(runqlat biolatency cgroup-exec)

die() { echo "bench-ebpf-exporter: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (loads BPF programs)"

install_tools() {
	local missing=()
	for p in clang llvm libelf-dev zlib1g-dev pkg-config make curl; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
	fi
}

# unpack <dest> <src dir or ""> <git dir> <tag>: a tree into dest.
unpack() {
	local dest=$1 src=$2 git_dir=$3 tag=$4
	mkdir -p "$dest"
	if [ -n "$src" ]; then
		cp -a "$src"/. "$dest"/
	elif git --git-dir="$git_dir" rev-parse -q --verify "$tag^{commit}" >/dev/null 2>&1; then
		git --git-dir="$git_dir" archive "$tag" | tar -x -C "$dest"
	else
		rm -rf "$dest"
		die "no source for $tag: set a git repository or an unpacked tree (see the header of $0)"
	fi
}

fetch_ebpf_exporter() {
	[ -f "$cache/src/go.mod" ] && return
	local dir=""
	if [ -z "${EBPF_EXPORTER_SRC:-}" ]; then
		dir=$(cd /tmp && go mod download -json "github.com/cloudflare/ebpf_exporter/v2@$version" 2>/dev/null |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
		[ -n "$dir" ] || echo "ebpf_exporter $version: not served by the Go module proxy; using EBPF_EXPORTER_GIT=$ee_git" >&2
	fi
	unpack "$cache/src" "${EBPF_EXPORTER_SRC:-$dir}" "$ee_git" "$version"
	chmod -R u+w "$cache/src"
}

build_libbpf() {
	[ -f "$cache/libbpf/usr/lib/libbpf.a" ] && return
	local v
	v=$(sed -n 's/^LIBBPF_VERSION := //p' "$cache/src/Makefile.libbpf")
	[ -n "$v" ] || die "no LIBBPF_VERSION in $cache/src/Makefile.libbpf"
	rm -rf "$cache/libbpf-src"
	unpack "$cache/libbpf-src" "${LIBBPF_SRC:-}" "$libbpf_git" "v$v"
	make -C "$cache/libbpf-src/src" -j"$(nproc)" BUILD_STATIC_ONLY=1 LIBSUBDIR=lib \
		DESTDIR="$cache/libbpf" install install_uapi_headers >"$cache/libbpf-build.log" 2>&1 ||
		{ tail -20 "$cache/libbpf-build.log" >&2; die "building libbpf $v failed"; }
}

build_exporter() {
	[ -x "$cache/ebpf_exporter" ] && return
	(cd "$cache/src" &&
		CGO_CFLAGS="-I$cache/libbpf/usr/include" \
			CGO_LDFLAGS="-L$cache/libbpf/usr/lib -Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz" \
			go build -o "$cache/ebpf_exporter" \
			-ldflags "-X github.com/prometheus/common/version.Version=$version" ./cmd/ebpf_exporter)
}

build_configs() {
	cp "$testdata"/*.bpf.c "$testdata"/*.yaml "$cache/src/examples/"
	local objs=()
	for c in "${configs[@]}"; do objs+=("$c.bpf.o"); done
	make -C "$cache/src/examples" BUILD_LIBBPF=0 LIBBPF_CFLAGS="-I$cache/libbpf/usr/include" "${objs[@]}"
	mkdir -p "$cache/configs"
	for c in "${configs[@]}"; do
		cp "$cache/src/examples/$c.yaml" "$cache/src/examples/$c.bpf.o" "$cache/configs/"
	done
}

build() {
	install_tools
	mkdir -p "$cache"
	fetch_ebpf_exporter
	build_libbpf
	build_exporter
	build_configs
	echo "built: $cache/ebpf_exporter ($("$cache/ebpf_exporter" --version 2>&1 | grep -m1 "version ")), configs: ${configs[*]}"
}

bench() {
	local out
	out=$cache/peer-$(date -u +%Y%m%dT%H%M%SZ).txt
	{
		echo "# $(uname -r), $(go version), ebpf_exporter $version"
		echo "# tree: $(git -C "$repo" rev-parse --short HEAD) + $(git -C "$repo" diff --shortstat | sed 's/^ *//')"
	} | tee "$out"
	(cd "$repo" && go test -c -o "$cache/collector.test" ./kernel_exporter/collector)
	(cd "$repo/kernel_exporter/collector" &&
		BPFLEET_EBPF_EXPORTER_DIR=$cache "$cache/collector.test" -test.run '^$' -test.bench 'Peer' \
			-test.benchtime "$benchtime") | tee -a "$out"
	echo "saved: $out"
}

labels() {
	log="" cg="" pid="" addr=127.0.0.1:${EBPF_EXPORTER_PORT:-19435}
	log=$(mktemp)
	cg=$(mount -t cgroup2 | awk 'NR==1 {print $3}')/bpfleet-ebpf-exporter-labels
	OTEL_TRACES_EXPORTER=none "$cache/ebpf_exporter" --config.dir="$cache/configs" \
		--config.names="$(IFS=,; echo "${configs[*]}")" --web.listen-address="$addr" 2>"$log" &
	pid=$!
	trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rmdir "$cg" 2>/dev/null; rm -f "$log"' EXIT
	for _ in $(seq 100); do
		grep -q 'Listening on' "$log" && break
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "ebpf_exporter stopped"; }
		sleep 0.1
	done
	mkdir -p "$cg"
	sh -c "echo \$\$ > $cg/cgroup.procs && /bin/true && /bin/true && dd if=/dev/zero of=$cache/labels.dat bs=4k count=4 oflag=direct status=none"
	rm -f "$cache/labels.dat"
	sleep 1
	curl -sf "http://$addr/metrics" | grep -E '^ebpf_exporter_(run_queue_latency_seconds_count|bio_latency_seconds_count|cgroup_execs_total)'
}

case ${1:-all} in
build) build ;;
bench) bench ;;
labels) labels ;;
all) build && bench && labels ;;
*) die "unknown step $1 (build, bench, labels or all)" ;;
esac
