# bpfleet: build, test and run the exporters.
#
#   make run        build kernel_exporter and run it as root on :10061
#   make test       install what the tests need, then run every test
#   make generate   regenerate vmlinux-based BPF objects and tables (needs clang)
#   make bench      benchmarks (see BENCHMARKS.md)

SHELL       := /usr/bin/env bash
GO          ?= go
VERSION     := $(shell cat VERSION)
REVISION    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH      := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
               -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=bpfleet \
               -X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
EXPORTERS   := kernel_exporter dns_exporter cri_exporter cni_exporter systemd_exporter etcd_exporter kubeapi_exporter kubelet_exporter
PACKAGES    := ./internal/... $(addsuffix /...,$(addprefix ./,$(EXPORTERS))) ./mixins/... ./deploy/...
# Debian packages the tests use: prometheus and promtool (metrics lint, rule
# tests, live mixin tests), iproute2 (network namespaces, veth), nftables
# (packet loss for retransmit tests), containerd, runc, the CNI plugins and
# busybox (real pods through the CRI API).
GEN_DEBS    := clang llvm libbpf-dev bpftool
# The compiler flags of every BPF object, once: bpf2go reads them from its
# environment and adds -O2 -g itself. Run `make generate`, not go generate.
export BPF2GO_CFLAGS := -Wall -Werror
# -p 1: one package at a time. Some tests assert exact host-wide counts
# (network namespaces created, resets sent for no socket) that another
# package's tests running at the same moment would disturb.
TEST_FLAGS  ?= -count=1 -timeout 60m -p 1
# Where test components built from the module proxy are cached, outside the
# checkout (tests read it from the environment too).
export BPFLEET_CACHE ?= /var/cache/bpfleet

.PHONY: all build run test test-deps gen-deps generate check-generated vmlinux lint bench clean

all: build

build:
	@mkdir -p bin
	$(foreach e,$(EXPORTERS),$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/$(e) ./$(e) &&) true

# Runs kernel_exporter in the foreground as root (through sudo when needed).
run: build
	@echo "kernel_exporter: metrics at http://localhost:10061/metrics (Ctrl-C stops it)"
	@if [ "$$(id -u)" = 0 ]; then ./bin/kernel_exporter $(ARGS); else sudo ./bin/kernel_exporter $(ARGS); fi

# Installs the Debian packages the tests need when a command is missing.
test-deps:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v containerd >/dev/null || missing="$$missing containerd"; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	[ -x /usr/lib/cni/bridge ] || missing="$$missing containernetworking-plugins"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@# Each exporter's own needs (a systemd root file system, etcd and
	@# kube-apiserver built from the module proxy), built once into
	@# $(BPFLEET_CACHE), keyed by version.
	@for s in scripts/test-deps.d/*.sh; do [ -e "$$s" ] || continue; BPFLEET_CACHE=$(BPFLEET_CACHE) bash "$$s" || exit 1; done

test: test-deps lint
	@set -o pipefail; $(GO) test $(TEST_FLAGS) -v $(PACKAGES) 2>&1 | tee test.log; \
	status=$$?; \
	echo "summary: $$(grep -c -- '--- PASS' test.log) passed, $$(grep -c -- '--- FAIL' test.log) failed, $$(grep -c -- '--- SKIP' test.log) skipped"; \
	exit $$status

gen-deps:
	@command -v clang >/dev/null && command -v bpftool >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ] || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(GEN_DEBS))

# Regenerates histogram tables and every bpf2go binding and object.
generate: gen-deps
	cd internal && $(GO) generate ./...
	$(foreach e,$(EXPORTERS),cd $(e) && $(GO) generate ./... && cd .. &&) true

# Fails when the committed generated files differ from what the sources give.
check-generated: generate
	@git diff --exit-code --stat -- '*.o' '*_bpfel.go' internal/histogram/table.go bpf/include/bpfleet/histogram_table.h \
		|| (echo "generated files are stale: run make generate and commit them"; exit 1)

# Regenerates bpf/include/vmlinux.h from the running kernel's BTF.
vmlinux: gen-deps
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h

# Formats the mixins' Jsonnet and renders every mixin (mixins/<exporter>/)
# into its alerts.yaml, rules.yaml and dashboards/*.json; the mixins tests
# fail when these are stale.
.PHONY: mixins
mixins:
	cd mixins && $(GO) run ./cmd/render

lint:
	@out=$$(gofmt -l internal $(EXPORTERS) mixins deploy); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet $(PACKAGES)

# Benchmarks, 6 runs each (benchstat's minimum for a confidence interval),
# summarised by benchstat, then the idle exporter's memory. See BENCHMARKS.md.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PACKAGES) | tee bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt
	scripts/idle-memory.sh

clean:
	rm -rf bin test.log

# Deployment (deploy/README.md). `make images` writes one reproducible OCI
# image layout tarball per exporter into bin/images/ (no Docker daemon);
# `make manifests` copies the rendered mixins into the Helm chart and
# regenerates deploy/manifests/ from it; `make check-manifests` fails when
# either is stale.
.PHONY: images manifests check-manifests
images:
	$(GO) run ./deploy/cmd/images -out bin/images -version $(VERSION) -revision $(REVISION)

manifests:
	$(GO) run ./deploy/cmd/manifests

check-manifests:
	$(GO) run ./deploy/cmd/manifests -check

# The deployment tests alone, the real node's included (root; make test runs
# them too).
.PHONY: test-deploy
test-deploy: test-deps
	$(GO) test -count=1 -p 1 -v ./deploy/...
