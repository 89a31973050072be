{{/* Every exporter the chart knows, in the order it renders them. */}}
{{- define "bpfleet.names" -}}
kernel dns cni cri systemd kubelet kubeapi etcd
{{- end -}}
