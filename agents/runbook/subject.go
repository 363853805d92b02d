package runbook

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// subject is a parsed Question.Subject.
type subject struct{ kind, namespace, name string }

func (s subject) String() string {
	if s.namespace == "" {
		return s.kind + "/" + s.name
	}
	return s.kind + "/" + s.namespace + "/" + s.name
}

// Kinds resolves a kind as people write it — deploy, po, pvc, hpa, a CRD's short name — as
// kubectl does, from the cluster's discovery; kubeaccess.Shared is one. Whether it is namespaced
// comes with it.
type Kinds interface {
	ResolveKind(ctx context.Context, kind string) (schema.GroupVersionKind, schema.GroupVersionResource, bool, error)
}

// ParseSubject reads the syntax of a subject: kind/namespace/name, kind/name in defaultNS, or
// node/name. The kind is as written, in lower case: Canonical resolves it.
func ParseSubject(s, defaultNS string) (kind, namespace, name string, err error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return "", "", "", fmt.Errorf("subject %q: write kind/namespace/name (or node/name)", s)
		}
	}
	k := strings.ToLower(parts[0])
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

// Canonical is subject s with its kind resolved by kinds: the kind's name in lower case
// (deploy/shop/web → deployment/shop/web, hpa → horizontalpodautoscaler, no → node), without a
// namespace for a cluster-scoped kind. With kinds nil, the kind stays as written (lower case).
// The error says what to fix: an unknown kind, or a namespaced kind without a namespace.
func Canonical(ctx context.Context, kinds Kinds, s, defaultNS string) (string, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if kinds == nil || parts[0] == "" {
		k, ns, n, err := ParseSubject(s, defaultNS)
		if err != nil {
			return "", err
		}
		return subject{k, ns, n}.String(), nil
	}
	gvk, _, namespaced, err := kinds.ResolveKind(ctx, parts[0])
	if meta.IsNoMatchError(err) {
		return "", fmt.Errorf("subject %q: unknown kind %q: this cluster serves no such resource (kubectl api-resources lists the kinds it serves)", s, parts[0])
	}
	if err != nil {
		return "", fmt.Errorf("subject %q: %w", s, err)
	}
	kind := strings.ToLower(gvk.Kind)
	switch {
	case !namespaced && len(parts) == 2:
		return kind + "/" + parts[1], nil
	case !namespaced:
		return "", fmt.Errorf("subject %q: a %s is cluster-scoped: write %s/name", s, gvk.Kind, kind)
	}
	k, ns, n, err := ParseSubject(kind+"/"+strings.Join(parts[1:], "/"), defaultNS)
	if err != nil {
		return "", fmt.Errorf("subject %q: write kind/namespace/name (or node/name)", s)
	}
	return subject{k, ns, n}.String(), nil
}
