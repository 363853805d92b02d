package runbook

import (
	"fmt"
	"strings"
)

// subject is a parsed Question.Subject.
type subject struct{ kind, namespace, name string }

func (s subject) String() string {
	if s.namespace == "" {
		return s.kind + "/" + s.name
	}
	return s.kind + "/" + s.namespace + "/" + s.name
}

// kinds the engine knows by their short and plural names.
var kindNames = map[string]string{
	"pod": "pod", "pods": "pod", "po": "pod",
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
	"job": "job", "jobs": "job",
	"service": "service", "services": "service", "svc": "service",
	"persistentvolumeclaim": "persistentvolumeclaim", "pvc": "persistentvolumeclaim", "persistentvolumeclaims": "persistentvolumeclaim",
	"node": "node", "nodes": "node", "no": "node",
	"horizontalpodautoscaler": "horizontalpodautoscaler", "hpa": "horizontalpodautoscaler",
	"resourcequota": "resourcequota", "quota": "resourcequota",
	"workload": "workload", "workloads": "workload",
}

// ParseSubject reads kind/namespace/name (or kind/name for a node, or kind/name in defaultNS).
func ParseSubject(s, defaultNS string) (kind, namespace, name string, err error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	k, ok := kindNames[strings.ToLower(parts[0])]
	if !ok {
		return "", "", "", fmt.Errorf("subject %q: unknown kind %q; use pod, deployment, statefulset, daemonset, job, service, pvc, node, hpa, resourcequota or workload (kueue)", s, parts[0])
	}
	switch {
	case len(parts) == 2 && k == "node":
		return k, "", parts[1], nil
	case len(parts) == 2 && defaultNS != "":
		return k, defaultNS, parts[1], nil
	case len(parts) == 3 && k != "node":
		return k, parts[1], parts[2], nil
	}
	return "", "", "", fmt.Errorf("subject %q: write kind/namespace/name (or node/name)", s)
}
