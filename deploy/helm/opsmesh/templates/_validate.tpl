{{/*
validate fails the render with a message that says what to fix, for the rules that span several
values (values.schema.json checks each value on its own, and runs first).
*/}}
{{- define "opsmesh.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.nats.mode "external") (not $v.nats.external.url) -}}
{{- fail "nats.mode is external but nats.external.url is empty: set it to your NATS server (nats://nats.nats.svc:4222), or use nats.mode=embedded" -}}
{{- end -}}
{{- if and (eq $v.nats.mode "embedded") (gt (int $v.controller.replicas) 1) -}}
{{- fail (printf "controller.replicas is %d but the embedded NATS server lives in one controller pod: use controller.replicas=1, or nats.mode=external with a NATS cluster for more replicas" (int $v.controller.replicas)) -}}
{{- end -}}
{{- if and $v.webhook.enabled (not $v.webhook.existingSecret) -}}
{{- fail "webhook.enabled needs webhook.existingSecret: create a Secret with Alertmanager's bearer token (kubectl create secret generic opsmesh-webhook --from-literal=token=...) and name it there" -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.gateway.existingSecret) -}}
{{- fail "gateway.enabled needs gateway.existingSecret: create a Secret with the token MCP clients send (kubectl create secret generic opsmesh-gateway --from-literal=token=...) and name it there" -}}
{{- end -}}
{{- if and (eq $v.nats.mode "embedded") (or $v.nats.external.credentialsSecret.name $v.nats.external.tlsSecret.name) -}}
{{- fail "nats.external.credentialsSecret and nats.external.tlsSecret are for nats.mode=external; the embedded server uses neither" -}}
{{- end -}}
{{- end -}}
