{{/*
What each exporter needs, measured in real pods with every capability
dropped first (deploy/README.md, "Requirements"). Not a value: a values file
cannot widen it. The tests in deploy/ pin it (capabilities, host paths,
hostPID, Pod Security level) against deploy/README.md's table.

  port          the exporter's default port
  kind          DaemonSet (one per node) or Deployment
  level         Pod Security level of its namespace: privileged or restricted
  capabilities  added to a container that drops ALL
  hostPID       sees other processes' /proc/<pid>/ns/net (cni only)
  api           talks to the Kubernetes API with its service account token
  cri           mounts the CRI socket (when criSocket is set)
  mounts        host paths, mounted read-only at the same path
*/}}
{{- define "bpfleet.exporters" -}}
kernel:
  port: 10061
  kind: DaemonSet
  level: privileged
  capabilities: [BPF, PERFMON, DAC_READ_SEARCH]
  cri: true
  mounts:
  - {name: cgroup, path: /sys/fs/cgroup, type: Directory}
  - {name: btf, path: /sys/kernel/btf, type: Directory}
  - {name: tracing, path: /sys/kernel/tracing, type: Directory}
dns:
  port: 10062
  kind: DaemonSet
  level: privileged
  capabilities: [BPF, PERFMON, NET_ADMIN, DAC_READ_SEARCH]
  cri: true
  mounts:
  - {name: cgroup, path: /sys/fs/cgroup, type: Directory}
  - {name: btf, path: /sys/kernel/btf, type: Directory}
cni:
  port: 10063
  kind: DaemonSet
  level: privileged
  capabilities: [BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH]
  hostPID: true
  cri: true
  mounts:
  - {name: btf, path: /sys/kernel/btf, type: Directory}
  - {name: tracing, path: /sys/kernel/tracing, type: Directory}
  - {name: cni-bin, path: "{{ .Values.exporters.cni.binDir }}", type: Directory}
  - {name: cni-conf, path: "{{ .Values.exporters.cni.confDir }}", type: DirectoryOrCreate}
  - {name: cni-ipam, path: "{{ .Values.exporters.cni.ipamDataDir }}", type: DirectoryOrCreate}
  - {name: netns, path: /run/netns, type: DirectoryOrCreate, propagation: HostToContainer}
cri:
  port: 10064
  kind: DaemonSet
  level: privileged
  capabilities: [BPF, PERFMON, DAC_READ_SEARCH]
  cri: true
  mounts:
  - {name: cgroup, path: /sys/fs/cgroup, type: Directory}
  - {name: btf, path: /sys/kernel/btf, type: Directory}
  - {name: tracing, path: /sys/kernel/tracing, type: Directory}
systemd:
  port: 10065
  kind: DaemonSet
  level: privileged
  capabilities: [BPF, PERFMON, DAC_READ_SEARCH]
  mounts:
  - {name: dbus, path: /run/dbus, type: Directory}
  - {name: run-systemd, path: /run/systemd, type: Directory}
  - {name: cgroup, path: /sys/fs/cgroup, type: Directory}
  - {name: btf, path: /sys/kernel/btf, type: Directory}
  - {name: tracing, path: /sys/kernel/tracing, type: Directory}
etcd:
  port: 10066
  kind: Deployment
  level: restricted
  capabilities: []
kubelet:
  port: 10067
  kind: DaemonSet
  level: restricted
  capabilities: []
  api: true
kubeapi:
  port: 10068
  kind: Deployment
  level: restricted
  capabilities: []
  api: true
{{- end -}}
