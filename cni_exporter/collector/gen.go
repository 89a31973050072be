package collector

// One bpf2go run per collector; the generated bindings and objects are
// committed so that building needs no clang. `make generate` reruns these.
//go:generate go tool bpf2go -tags linux -target bpfel -type plugin_dir -type plugin_event_kind -type plugin_event_header -type plugin_exec_event -type plugin_exit_event plugin ../../bpf/cni/plugin.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel netns ../../bpf/cni/netns.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel drops ../../bpf/cni/drops.bpf.c -- -I../../bpf/include
