package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What the latest revision of a workload changed, said as evidence of the finding a rollback
// would fix: "the latest revision (2) changed container edge-collector: image
// ghcr.io/acme/edge-collector:0.13.2 → ghcr.io/acme/edge-collector:0.14.0". A crash that began
// with a revision is most often its change; naming the change is what lets a reader (and the
// rollback's reviewer) see it, rather than only "roll back".

// revisionChangePrefix starts the evidence line that says what the latest revision changed.
const revisionChangePrefix = "the latest revision"

// revisionChange says what the revision pod p runs changed against the revision before it, in
// the container named (and the pod spec around it); "" when there is no previous revision, or
// nothing of what is compared changed.
func (s *snapshot) revisionChange(p *corev1.Pod, w *ownerWorkload, container string, init bool) string {
	prev, cur, rev := s.previousSpec(p, w), (*corev1.PodSpec)(nil), ""
	switch {
	case prev != nil:
		if rs, ok := s.rsByName[types.NamespacedName{Namespace: p.Namespace, Name: firstVia(w)}]; ok {
			cur, rev = &rs.Spec.Template.Spec, rs.Annotations[revisionAnnotation]
		}
	case w != nil && (w.Kind == "statefulset" || w.Kind == "daemonset"):
		cur, prev, rev = s.controllerRevisionSpecs(p, w)
	}
	if cur == nil || prev == nil {
		return ""
	}
	var changes []string
	a, b := previousContainer(prev, container, init), previousContainer(cur, container, init)
	if a != nil && b != nil {
		changes = containerChanges(a, b)
	}
	if prev.ServiceAccountName != cur.ServiceAccountName {
		changes = append(changes, fmt.Sprintf("serviceAccountName %s → %s", orNone(prev.ServiceAccountName), orNone(cur.ServiceAccountName)))
	}
	if prev.HostNetwork != cur.HostNetwork {
		changes = append(changes, fmt.Sprintf("hostNetwork %t → %t", prev.HostNetwork, cur.HostNetwork))
	}
	if prev.DNSPolicy != cur.DNSPolicy {
		changes = append(changes, fmt.Sprintf("dnsPolicy %s → %s", orNone(string(prev.DNSPolicy)), orNone(string(cur.DNSPolicy))))
	}
	if len(changes) == 0 {
		return ""
	}
	if len(changes) > 6 {
		changes = append(changes[:6], fmt.Sprintf("and %d more changes", len(changes)-6))
	}
	what := revisionChangePrefix
	if rev != "" {
		what += " (" + rev + ")"
	}
	return oneLine(fmt.Sprintf("%s changed container %s: %s", what, container, strings.Join(changes, "; ")), 600)
}

// containerChanges lists what differs between a container's two revisions: its image, command,
// arguments, environment values, resources and probes.
func containerChanges(a, b *corev1.Container) []string {
	var out []string
	if a.Image != b.Image {
		out = append(out, fmt.Sprintf("image %s → %s", a.Image, b.Image))
	}
	if !slices.Equal(a.Command, b.Command) {
		out = append(out, fmt.Sprintf("command %q → %q", a.Command, b.Command))
	}
	if !slices.Equal(a.Args, b.Args) {
		out = append(out, fmt.Sprintf("args %q → %q", a.Args, b.Args))
	}
	before := map[string]string{}
	for _, e := range a.Env {
		before[e.Name] = envText(e)
	}
	seen := map[string]bool{}
	for _, e := range b.Env {
		seen[e.Name] = true
		switch old, ok := before[e.Name]; {
		case !ok:
			out = append(out, fmt.Sprintf("env %s added (%s)", e.Name, envText(e)))
		case old != envText(e):
			out = append(out, fmt.Sprintf("env %s: %s → %s", e.Name, old, envText(e)))
		}
	}
	var removed []string
	for name := range before {
		if !seen[name] {
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	for _, name := range removed {
		out = append(out, fmt.Sprintf("env %s removed", name))
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceCPU} {
		x, y := a.Resources.Limits[r], b.Resources.Limits[r]
		if x.Cmp(y) != 0 {
			out = append(out, fmt.Sprintf("limits.%s %s → %s", r, quantityText(x), quantityText(y)))
		}
	}
	for _, pr := range []struct {
		name string
		a, b *corev1.Probe
	}{{"livenessProbe", a.LivenessProbe, b.LivenessProbe}, {"readinessProbe", a.ReadinessProbe, b.ReadinessProbe}, {"startupProbe", a.StartupProbe, b.StartupProbe}} {
		x, _ := json.Marshal(pr.a)
		y, _ := json.Marshal(pr.b)
		if string(x) != string(y) {
			out = append(out, pr.name+" changed")
		}
	}
	return out
}

// envText is an env entry's value, or where it comes from; a Secret's value is never read here.
func envText(e corev1.EnvVar) string {
	switch {
	case e.ValueFrom == nil:
		return fmt.Sprintf("%q", clipTo(e.Value, 120))
	case e.ValueFrom.SecretKeyRef != nil:
		return fmt.Sprintf("from Secret %s key %s", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
	case e.ValueFrom.ConfigMapKeyRef != nil:
		return fmt.Sprintf("from ConfigMap %s key %s", e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
	case e.ValueFrom.FieldRef != nil:
		return "from field " + e.ValueFrom.FieldRef.FieldPath
	}
	return "from a reference"
}

func clipTo(s string, n int) string { return oneLine(s, n) }

func quantityText(q apiresource.Quantity) string {
	if s := q.String(); s != "0" {
		return s
	}
	return "none"
}

func firstVia(w *ownerWorkload) string {
	if w == nil || len(w.via) == 0 {
		return ""
	}
	return w.via[0].Name
}

// controllerRevisionSpecs are the pod specs of the revision a StatefulSet's or DaemonSet's pod
// runs (its controller-revision-hash) and of the revision before it, from the workload's
// ControllerRevisions, with the current revision's number.
func (s *snapshot) controllerRevisionSpecs(p *corev1.Pod, w *ownerWorkload) (cur, prev *corev1.PodSpec, rev string) {
	hash := p.Labels[appsv1.ControllerRevisionHashLabelKey]
	if hash == "" || !s.hasPreviousRevision(w) {
		return nil, nil, ""
	}
	revs, err := listIn(s, "controllerrevisions", &appsv1.ControllerRevisionList{}, func(l *appsv1.ControllerRevisionList) []appsv1.ControllerRevision { return l.Items })
	if err != nil {
		return nil, nil, ""
	}
	var mine []*appsv1.ControllerRevision
	var current *appsv1.ControllerRevision
	for i := range revs {
		r := &revs[i]
		if c := metav1.GetControllerOfNoCopy(r); c == nil || c.UID != w.uid || r.Namespace != p.Namespace {
			continue
		}
		mine = append(mine, r)
		if r.Name == hash || strings.HasSuffix(r.Name, "-"+hash) || r.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			current = r
		}
	}
	if current == nil {
		return nil, nil, ""
	}
	var before *appsv1.ControllerRevision
	for _, r := range mine {
		if r.Revision < current.Revision && (before == nil || r.Revision > before.Revision) {
			before = r
		}
	}
	if before == nil {
		return nil, nil, ""
	}
	cur, prev = revisionSpec(current), revisionSpec(before)
	return cur, prev, fmt.Sprint(current.Revision)
}

// revisionSpec decodes the pod template a ControllerRevision holds (its data is the patch the
// StatefulSet and DaemonSet controllers write: {"spec":{"template":{...}}}); nil when it holds
// none.
func revisionSpec(r *appsv1.ControllerRevision) *corev1.PodSpec {
	raw := r.Data.Raw
	if len(raw) == 0 {
		return nil
	}
	var d struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Spec.Template == nil {
		return nil
	}
	return &d.Spec.Template.Spec
}

// noteRevisionChange adds what the latest revision changed to a finding whose fix is a rollback.
func (s *snapshot) noteRevisionChange(f *finding, p *corev1.Pod, w *ownerWorkload, container string, init bool) {
	if c := s.revisionChange(p, w, container, init); c != "" {
		f.evidence = append(f.evidence, c)
	}
}
