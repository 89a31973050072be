{{/*
Least RBAC per exporter: bpfleet.rules.<name> lists the ClusterRole rules of
exporter <name>; empty: no ClusterRole, no binding. The deploy tests pin
these rules and forbid nodes/proxy, secrets and "*".
*/}}
{{- define "bpfleet.rules.kernel" -}}{{- end -}}
{{- define "bpfleet.rules.dns" -}}{{- end -}}
{{- define "bpfleet.rules.cni" -}}{{- end -}}
{{- define "bpfleet.rules.cri" -}}{{- end -}}
{{- define "bpfleet.rules.systemd" -}}{{- end -}}
{{- define "bpfleet.rules.etcd" -}}{{- end -}}

{{/* kubelet_exporter/rbac.yaml: the kubelet's summary API (nodes/stats);
its /pods (nodes/pods) only with podLimits (--kubelet.pods). Never
nodes/proxy: that is every kubelet endpoint, exec included. */}}
{{- define "bpfleet.rules.kubelet" -}}
- apiGroups: [""]
  resources: {{ if .root.Values.exporters.kubelet.podLimits }}["nodes/stats", "nodes/pods"]{{ else }}["nodes/stats"]{{ end }}
  verbs: ["get"]
{{- end -}}

{{/* kubeapi_exporter's default collectors: list and watch of exactly the
resources they watch (kubeapi_exporter/rbac.yaml). With
--collector.writes.resources changed in extraArgs, change these too. */}}
{{- define "bpfleet.rules.kubeapi" -}}
- apiGroups: [""]
  resources: ["events", "pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
  verbs: ["list", "watch"]
{{- end -}}
