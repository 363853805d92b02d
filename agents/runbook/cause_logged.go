package runbook

import (
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// loggedFailure is the last look before "no problem found": the subject's pods run and no
// analyzer sees anything wrong, yet someone asks why it is broken (or an alert fires), and its
// pods' current logs may say what fails — a write the search cluster refuses, a header the
// proxy cannot buffer, a dependency that answers errors. The first failure line a runbook
// knows (at most two pods, the last 20 lines each) is the symptom, Unknown, and followed to its
// cause as any finding is; the diagnosis says it came from the log of a running pod. With
// nothing in the logs, a dependency the subject's spec names that fails next to it is the
// cause. It reports whether it named one.
func (inv *investigation) loggedFailure(sub *subject) bool {
	if sub == nil || sub.namespace == "" {
		return false
	}
	if _, ok := inv.where["pod_logs"]; !ok {
		return false
	}
	pods, owner := inv.podsOf(sub)
	for _, p := range pods {
		// each container's log (an init container, a sidecar, a proxy in front of the
		// application), at most four
		containers := inv.containersOf(sub.namespace, p)
		if len(containers) == 0 {
			containers = []string{""}
		}
		var f contract.Finding
		var hit knowledge.Hit
		found := false
		for _, ct := range containers[:min(len(containers), 4)] {
			f = contract.Finding{Severity: "warning", Category: diagnosis.Unknown, Object: "pod/" + sub.namespace + "/" + p, Owner: owner, Container: ct}
			var failures []string
			for _, l := range inv.logLines(f, false) {
				if !knowledge.InfoLine(l) {
					failures = append(failures, l)
				}
			}
			if len(failures) == 0 {
				continue
			}
			if hit, found = inv.e.book.Match(failures, inv.contextOf(f)); found {
				break
			}
		}
		if !found {
			continue
		}
		f.Evidence = []string{"log: " + hit.Line}
		inv.findings = append(inv.findings, f)
		inv.d.Findings = append(inv.d.Findings, inv.reported(f))
		inv.fromFinding([]contract.Finding{f}, sub)
		inv.d.RootCause.Confidence = opsv1.ConfidenceMedium
		inv.note("no analyzer found %s broken (its pods run); the cause is read from the log of its pod %s", sub, p)
		return true
	}
	if len(pods) > 0 {
		// nothing in its own log: a dependency its spec names that fails next to it
		f := contract.Finding{Severity: "warning", Category: diagnosis.Unknown, Object: "pod/" + sub.namespace + "/" + pods[0], Owner: owner,
			Evidence: []string{"its pods run and their log names no failure"}}
		if dep := inv.failingNeighbour(f, sub); dep != nil {
			inv.findings = append(inv.findings, f)
			inv.fromFinding([]contract.Finding{f}, sub)
			inv.d.RootCause.Confidence = opsv1.ConfidenceMedium
			inv.note("no analyzer found %s broken (its pods run); a dependency it names fails next to it", sub)
			return true
		}
	}
	return false
}

// podsOf are the names of the subject's pods (at most 2) and the workload that owns them ("" for
// a pod or a Service's pods, which are their own subject): a pod itself; a workload's pods by
// its selector; a Service's by its own.
func (inv *investigation) podsOf(sub *subject) ([]string, string) {
	switch sub.kind {
	case "pod":
		return []string{sub.name}, ""
	case "service":
		return inv.servicePods(sub.namespace, sub.name), ""
	case "ingress":
		// the pods behind its backends: what answers its errors
		var out []string
		for _, svc := range inv.ingressBackends(sub.namespace, sub.name) {
			out = append(out, inv.servicePods(sub.namespace, svc)...)
			if len(out) >= 2 {
				break
			}
		}
		return out[:min(len(out), 2)], ""
	case "deployment", "statefulset", "daemonset", "replicaset", "job":
	default:
		return nil, ""
	}
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": sub.kind, "namespace": sub.namespace, "name": sub.name}, &o) {
		return nil, ""
	}
	var w struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &w) != nil {
		return nil, ""
	}
	return inv.podsSelected(sub.namespace, w.Spec.Selector.MatchLabels), sub.String()
}

// containersOf are the names of pod ns/name's init containers, then its containers, in its
// spec's order: an init container that waits forever for a dependency keeps the others from
// starting, and only its log says what it waits for.
func (inv *investigation) containersOf(ns, name string) []string {
	spec, ok := inv.containersSpec([]string{"pod", ns, name})
	if !ok {
		return nil
	}
	var out []string
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		out = append(out, c.Name)
	}
	return out
}

// ingressBackends are the Services Ingress ns/name routes to (its rules' paths, then its default
// backend), once each, at most three.
func (inv *investigation) ingressBackends(ns, name string) []string {
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": "ingress", "namespace": ns, "name": name}, &o) {
		return nil
	}
	type backend struct {
		Service *struct {
			Name string `yaml:"name"`
		} `yaml:"service"`
	}
	var ing struct {
		Spec struct {
			DefaultBackend *backend `yaml:"defaultBackend"`
			Rules          []struct {
				HTTP *struct {
					Paths []struct {
						Backend backend `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &ing) != nil {
		return nil
	}
	var out []string
	add := func(b *backend) {
		if b != nil && b.Service != nil && b.Service.Name != "" && !slices.Contains(out, b.Service.Name) && len(out) < 3 {
			out = append(out, b.Service.Name)
		}
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	add(ing.Spec.DefaultBackend)
	return out
}
