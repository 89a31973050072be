package collector

// One bpf2go run per collector; the generated bindings and objects are
// committed so that building needs no clang. `make generate` reruns these.
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" -type counter_key process ../../bpf/kernel/process.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" oom ../../bpf/kernel/oom.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" -type hist_key -type hist_value sched ../../bpf/kernel/sched.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" tcp ../../bpf/kernel/tcp.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" block ../../bpf/kernel/block.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" empty ../../bpf/kernel/empty.bpf.c -- -I../../bpf/include
