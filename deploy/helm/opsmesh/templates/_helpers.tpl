{{/* The release's base name: the release name, or <release>-opsmesh when it does not say opsmesh. */}}
{{- define "opsmesh.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "opsmesh.labels" -}}
app.kubernetes.io/name: opsmesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector COMPONENT: the labels a component's pods are selected by. */}}
{{- define "opsmesh.selector" -}}
app.kubernetes.io/name: opsmesh
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "opsmesh.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The URL of the NATS every component uses (the controller itself uses the embedded one in process). */}}
{{- define "opsmesh.natsURL" -}}
{{- if eq .Values.nats.mode "external" -}}
{{- .Values.nats.external.url -}}
{{- else -}}
{{- printf "nats://%s-nats.%s.svc:%d" (include "opsmesh.fullname" .) .Release.Namespace (int .Values.nats.embedded.port) -}}
{{- end -}}
{{- end -}}

{{/* Whether anything besides the controller connects to the embedded NATS server. */}}
{{- define "opsmesh.natsShared" -}}
{{- if or (eq .Values.mode "split") .Values.gpuNodeAgent.enabled .Values.gateway.enabled -}}true{{- end -}}
{{- end -}}

{{/* natsArgs: the NATS client flags for an external server (--nats-url, --nats-creds, TLS). */}}
{{- define "opsmesh.natsClientArgs" -}}
- --nats-url={{ include "opsmesh.natsURL" . }}
{{- if and (eq .Values.nats.mode "external") .Values.nats.external.credentialsSecret.name }}
- --nats-creds=/etc/opsmesh/nats-creds/{{ .Values.nats.external.credentialsSecret.key }}
{{- end }}
{{- end -}}

{{/* TLS flags (opsmesh controller and runtime only; the node agent and gateway take creds only). */}}
{{- define "opsmesh.natsTLSArgs" -}}
{{- if and (eq .Values.nats.mode "external") .Values.nats.external.tlsSecret.name }}
- --nats-tls-ca=/etc/opsmesh/nats-tls/ca.crt
{{- if .Values.nats.external.tlsSecret.mutual }}
- --nats-tls-cert=/etc/opsmesh/nats-tls/tls.crt
- --nats-tls-key=/etc/opsmesh/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* natsVolumeMounts (dict "root" . "tls" BOOL): the external NATS Secrets, mounted. */}}
{{- define "opsmesh.natsVolumeMounts" -}}
{{- if and (eq .root.Values.nats.mode "external") .root.Values.nats.external.credentialsSecret.name }}
- name: nats-creds
  mountPath: /etc/opsmesh/nats-creds
  readOnly: true
{{- end }}
{{- if and .tls (eq .root.Values.nats.mode "external") .root.Values.nats.external.tlsSecret.name }}
- name: nats-tls
  mountPath: /etc/opsmesh/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "opsmesh.natsVolumes" -}}
{{- if and (eq .root.Values.nats.mode "external") .root.Values.nats.external.credentialsSecret.name }}
- name: nats-creds
  secret:
    secretName: {{ .root.Values.nats.external.credentialsSecret.name }}
    items:
    - key: {{ .root.Values.nats.external.credentialsSecret.key }}
      path: {{ .root.Values.nats.external.credentialsSecret.key }}
{{- end }}
{{- if and .tls (eq .root.Values.nats.mode "external") .root.Values.nats.external.tlsSecret.name }}
- name: nats-tls
  secret:
    secretName: {{ .root.Values.nats.external.tlsSecret.name }}
{{- end }}
{{- end -}}

{{- define "opsmesh.namespacesArg" -}}
{{- if .Values.watchNamespaces }}
- --namespace={{ join "," .Values.watchNamespaces }}
{{- end }}
{{- end -}}

{{- define "opsmesh.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}
