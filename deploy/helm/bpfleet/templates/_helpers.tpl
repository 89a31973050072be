{{/* The facts of exporter .name (see _exporters.tpl) as a dict. */}}
{{- define "bpfleet.facts" -}}
{{- $all := fromYaml (include "bpfleet.exporters" .root) -}}
{{- toYaml (get $all .name) -}}
{{- end -}}

{{/* Namespace of exporter .name: by its Pod Security level. */}}
{{- define "bpfleet.namespace" -}}
{{- $f := fromYaml (include "bpfleet.facts" .) -}}
{{- if eq $f.level "privileged" -}}
{{- .root.Values.namespaces.privileged -}}
{{- else -}}
{{- .root.Values.namespaces.restricted -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of exporter .name (and of shard .shard, when set). */}}
{{- define "bpfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}-exporter
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if hasKey . "shard" }}
bpfleet.dev/shard: {{ .shard | quote }}
{{- end }}
{{- end -}}

{{/* Labels of every object of exporter .name. */}}
{{- define "bpfleet.labels" -}}
{{ include "bpfleet.selectorLabels" . }}
app.kubernetes.io/part-of: bpfleet
app.kubernetes.io/component: {{ .name }}-exporter
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Image of exporter .name. */}}
{{- define "bpfleet.image" -}}
{{- $i := .root.Values.image -}}
{{- $tag := $i.tag | default .root.Chart.AppVersion -}}
{{- if $i.registry -}}
{{- printf "%s/%s/%s_exporter:%s" $i.registry $i.repository .name $tag -}}
{{- else -}}
{{- printf "%s/%s_exporter:%s" $i.repository .name $tag -}}
{{- end -}}
{{- end -}}

{{/* The exporter's own flags, from the chart's values, as a YAML list. */}}
{{- define "bpfleet.args" -}}
{{- $v := .root.Values -}}
{{- $e := get $v.exporters .name -}}
{{- $f := fromYaml (include "bpfleet.facts" .) -}}
{{- if $f.cri }}
- --cri.endpoint={{ if $v.criSocket }}unix://{{ $v.criSocket }}{{ end }}
{{- end }}
{{- if eq .name "dns" }}
- --collector.dns.ports={{ join "," $e.ports }}
{{- else if eq .name "cni" }}
- --collector.plugins.bin-dir={{ $e.binDir }}
- --collector.ipam.config-dir={{ $e.confDir }}
- --collector.ipam.data-dir={{ $e.ipamDataDir }}
{{- else if eq .name "kubelet" }}
- --kubelet.address=https://$(HOST_IP):{{ $e.port }}
{{- if $e.caConfigMap }}
- --kubelet.ca-file=/etc/bpfleet/kubelet-ca/{{ $e.caKey }}
{{- end }}
{{- if $e.podLimits }}
- --kubelet.pods
{{- end }}
{{- else if eq .name "kubeapi" }}
- --shard={{ .shard }}
- --total-shards={{ $e.shards }}
{{- else if eq .name "etcd" }}
- --etcd.endpoints={{ $e.endpoints }}
{{- if $e.tlsSecret }}
- --etcd.cacert=/etc/bpfleet/etcd/ca.crt
- --etcd.cert=/etc/bpfleet/etcd/tls.crt
- --etcd.key=/etc/bpfleet/etcd/tls.key
{{- end }}
- --no-collector.sync
{{- end }}
{{- range $e.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The one pod template of every exporter: .root (the chart's root context),
.name (kernel, dns, ...), .shard (kubeapi only).
*/}}
{{- define "bpfleet.podTemplate" -}}
{{- $v := .root.Values -}}
{{- $e := get $v.exporters .name -}}
{{- $f := fromYaml (include "bpfleet.facts" .) -}}
{{- $privileged := eq $f.level "privileged" -}}
{{- $caps := $f.capabilities | default list -}}
{{- if and $privileged $e.oldKernel -}}
{{- $caps = append $caps "SYS_RESOURCE" -}}
{{- end -}}
{{- $cri := and $f.cri $v.criSocket -}}
metadata:
  labels:
    {{- include "bpfleet.labels" . | nindent 4 }}
spec:
  serviceAccountName: {{ .name }}-exporter
  automountServiceAccountToken: {{ $f.api | default false }}
  enableServiceLinks: false
  {{- if $f.hostPID }}
  hostPID: true
  {{- end }}
  securityContext:
    seccompProfile:
      type: RuntimeDefault
    {{- if $privileged }}
    # bpf() needs root in the init user namespace: capabilities of a non-root
    # container user are not effective in Kubernetes (kubernetes#56374).
    runAsUser: 0
    runAsGroup: 0
    {{- else }}
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    {{- end }}
  {{- with ($e.priorityClassName | default $v.priorityClassName) }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with ($e.nodeSelector | default $v.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tol := $e.tolerations -}}
  {{- if and (not $tol) (eq $f.kind "DaemonSet") }}{{ $tol = $v.tolerations }}{{ end }}
  {{- with $tol }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.image.pullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
  - name: {{ .name }}-exporter
    image: {{ include "bpfleet.image" . }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    {{- with (include "bpfleet.args" . | trim) }}
    args:
      {{- . | nindent 6 }}
    {{- end }}
    {{- if eq .name "kubelet" }}
    env:
    - name: HOST_IP
      valueFrom:
        fieldRef:
          fieldPath: status.hostIP
    {{- end }}
    ports:
    - name: metrics
      containerPort: {{ $f.port }}
      protocol: TCP
    readinessProbe:
      httpGet: {path: /readyz, port: metrics}
      periodSeconds: 10
    livenessProbe:
      httpGet: {path: /healthz, port: metrics}
      initialDelaySeconds: 10
      periodSeconds: 20
    resources:
      {{- toYaml $e.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
        {{- with $caps }}
        add: {{ toJson . }}
        {{- end }}
    {{- if or $f.mounts $cri (and (eq .name "etcd") $e.tlsSecret) (and (eq .name "kubelet") $e.caConfigMap) }}
    volumeMounts:
    {{- range $f.mounts }}
    - name: {{ .name }}
      mountPath: {{ .path }}
      readOnly: true
      {{- with .propagation }}
      mountPropagation: {{ . }}
      {{- end }}
    {{- end }}
    {{- if $cri }}
    - name: cri
      mountPath: {{ $v.criSocket }}
      readOnly: true
    {{- end }}
    {{- if and (eq .name "etcd") $e.tlsSecret }}
    - name: etcd-tls
      mountPath: /etc/bpfleet/etcd
      readOnly: true
    {{- end }}
    {{- if and (eq .name "kubelet") $e.caConfigMap }}
    - name: kubelet-ca
      mountPath: /etc/bpfleet/kubelet-ca
      readOnly: true
    {{- end }}
    {{- end }}
  {{- if or $f.mounts $cri (and (eq .name "etcd") $e.tlsSecret) (and (eq .name "kubelet") $e.caConfigMap) }}
  volumes:
  {{- range $f.mounts }}
  - name: {{ .name }}
    hostPath:
      path: {{ .path }}
      type: {{ .type }}
  {{- end }}
  {{- if $cri }}
  - name: cri
    hostPath:
      path: {{ $v.criSocket }}
      type: Socket
  {{- end }}
  {{- if and (eq .name "etcd") $e.tlsSecret }}
  - name: etcd-tls
    secret:
      secretName: {{ $e.tlsSecret }}
      defaultMode: 0440
  {{- end }}
  {{- if and (eq .name "kubelet") $e.caConfigMap }}
  - name: kubelet-ca
    configMap:
      name: {{ $e.caConfigMap }}
  {{- end }}
  {{- end }}
{{- end -}}
