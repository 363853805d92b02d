{{/*
The rules every opsmesh tool server reads with (the same as controller/toolserver's readRules):
workloads, pods and logs, events, nodes, networking, storage, autoscaling, Kueue, Volcano and
opsmesh's own kinds; RBAC objects and SubjectAccessReviews, for access_check (why a workload's
ServiceAccount is refused: a review changes nothing). Never Secrets.
*/}}
{{- define "opsmesh.toolReadRules" -}}
- apiGroups: [""]
  resources: [pods, pods/log, events, nodes, services, endpoints, configmaps, persistentvolumeclaims, persistentvolumes, namespaces, replicationcontrollers, resourcequotas, limitranges, serviceaccounts]
  verbs: [get, list, watch]
- apiGroups: [apps, batch, autoscaling, policy, events.k8s.io, discovery.k8s.io, networking.k8s.io, storage.k8s.io, scheduling.k8s.io, node.k8s.io, kueue.x-k8s.io, scheduling.volcano.sh, batch.volcano.sh, metrics.k8s.io, apiextensions.k8s.io, opsmesh.dev]
  resources: ["*"]
  verbs: [get, list, watch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings, clusterroles, clusterrolebindings]
  verbs: [get, list, watch]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end -}}

{{/* What the builtin write tools change (controller/toolserver's writeRules): remediation actions run in process. */}}
{{- define "opsmesh.toolWriteRules" -}}
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets, replicasets, deployments/scale, statefulsets/scale]
  verbs: [create, update, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [delete]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [""]
  resources: [nodes]
  verbs: [patch, update]
- apiGroups: [""]
  resources: [services, configmaps, persistentvolumeclaims]
  verbs: [create, update, patch, delete]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [create, update, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [create, update, patch, delete]
- apiGroups: [kueue.x-k8s.io]
  resources: [clusterqueues, localqueues, workloads]
  verbs: [create, update, patch, delete]
- apiGroups: [scheduling.volcano.sh, batch.volcano.sh]
  resources: ["*"]
  verbs: [create, update, patch, delete]
{{- end -}}
