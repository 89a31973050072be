//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * types: no program, only the shapes of bpfleet/maps.h, so that bpf2go
 * generates their Go side (internal/maps) and a test pins the shared Go
 * types to them. The unused pointers make clang emit the types' BTF.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/maps.h"

const struct counter_key *unused_counter_key __attribute__((unused));
const struct hist_key *unused_hist_key __attribute__((unused));
const struct hist_value *unused_hist_value __attribute__((unused));
const enum lost_reason *unused_lost_reason __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
