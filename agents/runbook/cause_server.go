package runbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
)

// The other side of a refusal: a dependency that rejects a workload's credentials says why in
// its own log, in words the client never sees ("Could not find user \"x\" for db \"y\"", "no
// pg_hba.conf entry for host"). The server runbooks (server: true) read those lines.

// serverSays follows a workload whose own line says a dependency rejects its credentials to the
// Services its settings name (env values, arguments, the values of the ConfigMaps it takes its
// environment from), reads their pods' logs, and, when a server runbook matches a line there,
// makes that the cause: the server's word, quoted, and the workload's setting it points at (the
// user or database in a connection string, in a ConfigMap's key).
//
// A dependency that does not serve the workload (DependencyUnreachable: a Redis that refuses
// writes, a server that answers errors) is read the same way, with the runbooks of its own
// failures: what its log says of itself ("Read-only file system", "No space left on device") is
// added to the cause, which stays the dependency.
func (inv *investigation) serverSays(c *contract.Cause, f contract.Finding) {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if (c.Category != contract.CredentialsRejected && c.Category != contract.DependencyUnreachable) || len(parts) != 3 {
		return
	}
	ns := parts[1]
	var services []string
	if c.Category == contract.DependencyUnreachable {
		dep := strings.Split(c.Object, "/")
		if len(dep) != 3 || dep[0] != "service" || dep[1] != ns {
			return // a failing neighbour, or a cause behind the Service, says more already
		}
		services = []string{dep[2]}
	} else {
		services = inv.servicesNamed(ns, inv.settingsText(f))
	}
	for _, svc := range services {
		for _, pod := range inv.servicePods(ns, svc) {
			lines := inv.logLines(contract.Finding{Object: "pod/" + ns + "/" + pod}, false)
			if c.Category == contract.DependencyUnreachable {
				depCtx := knowledge.Context{Symptom: diagnosis.CrashLoopBackOff, Namespace: ns, Pod: pod, Owner: "pod/" + ns + "/" + pod, Object: "pod/" + ns + "/" + pod}
				hit, ok := inv.e.book.Match(lines, depCtx)
				if !ok || hit.Cause().Category == contract.DependencyUnreachable {
					continue
				}
				c.Summary = clip(fmt.Sprintf("%s; behind it: Service %s's pod %s logs: %s", c.Summary, svc, pod, hit.Line), 1000)
				c.Evidence = append(c.Evidence, fmt.Sprintf("pod %s/%s (Service %s) log: %s", ns, pod, svc, hit.Line))
				return
			}
			hit, ok := inv.e.book.MatchServer(lines, inv.contextOf(f))
			if !ok {
				continue
			}
			nc := hit.Cause()
			if nc.Object == "" {
				nc.Object = owner
			}
			nc.Summary = clip(fmt.Sprintf("%s (Service %s's pod %s logs: %s)", nc.Summary, svc, pod, hit.Line), 1000)
			nc.Evidence = append([]string{fmt.Sprintf("pod %s/%s (Service %s) log: %s", ns, pod, svc, hit.Line)}, c.Evidence...)
			inv.settingOf(&nc, f, hit.Setting(), nil)
			inv.note("runbook %s: Service %s's pod %s says why it refuses the workload", hit.Runbook.Name, svc, pod)
			*c = nc
			return
		}
	}
}

// settingsText is the failing workload's settings as one text: its containers' env values and
// arguments, and the values of the ConfigMaps they take their environment from. A Secret's
// values are never read.
func (inv *investigation) settingsText(f contract.Finding) string {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 {
		return ""
	}
	type container struct {
		Command []string   `yaml:"command"`
		Args    []string   `yaml:"args"`
		Env     []envEntry `yaml:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		} `yaml:"envFrom"`
	}
	var spec struct {
		Containers     []container `yaml:"containers"`
		InitContainers []container `yaml:"initContainers"`
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return ""
	}
	var b strings.Builder
	var maps_ []string
	for _, ct := range slices.Concat(spec.Containers, spec.InitContainers) {
		for _, s := range slices.Concat(ct.Command, ct.Args) {
			b.WriteString(s + "\n")
		}
		for _, e := range ct.Env {
			b.WriteString(e.Value + "\n")
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				maps_ = append(maps_, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef != nil {
				maps_ = append(maps_, ef.ConfigMapRef.Name)
			}
		}
	}
	slices.Sort(maps_)
	for _, name := range slices.Compact(maps_) {
		data, _ := inv.configMapData(parts[1], name)
		for _, k := range slices.Sorted(maps.Keys(data)) {
			b.WriteString(data[k] + "\n")
		}
	}
	return b.String()
}

// hostWord is a host as settings write it: a DNS name, bounded by what cannot be part of one.
var hostWord = regexp.MustCompile(`[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`)

// servicesNamed are the Services of namespace ns (at most 3, in the order text names them)
// whose name text carries as a host: "catalog-mongo" in
// mongodb://user@catalog-mongo:27017/catalog, "orders-db.shop.svc" in a DSN.
func (inv *investigation) servicesNamed(ns, text string) []string {
	if text == "" {
		return nil
	}
	var list contract.ResourceList
	if !inv.callData("resources_list", map[string]any{"kind": "services", "namespace": ns, "limit": 200}, &list) {
		return nil
	}
	have := map[string]bool{}
	for _, it := range list.Items {
		have[it.Name] = true
	}
	var out []string
	for _, w := range hostWord.FindAllString(strings.ToLower(text), -1) {
		name, rest, _ := strings.Cut(w, ".")
		if rest != "" && rest != ns && !strings.HasPrefix(rest, ns+".") {
			continue // another namespace's, or outside the cluster
		}
		if have[name] && !slices.Contains(out, name) {
			out = append(out, name)
			if len(out) == 3 {
				break
			}
		}
	}
	return out
}

// servicePods are the names of the pods Service svc selects (at most 2).
func (inv *investigation) servicePods(ns, svc string) []string {
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": "service", "namespace": ns, "name": svc}, &o) {
		return nil
	}
	var s struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &s) != nil {
		return nil
	}
	return inv.podsSelected(ns, s.Spec.Selector)
}

// podsSelected are the names of the pods of namespace ns that labels select (at most 2; none
// for an empty selector).
func (inv *investigation) podsSelected(ns string, labels map[string]string) []string {
	if len(labels) == 0 {
		return nil
	}
	var sel []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		sel = append(sel, k+"="+labels[k])
	}
	var list contract.ResourceList
	if !inv.callData("resources_list", map[string]any{"kind": "pods", "namespace": ns, "labelSelector": strings.Join(sel, ","), "limit": 2}, &list) {
		return nil
	}
	var out []string
	for _, it := range list.Items {
		out = append(out, it.Name)
	}
	return out
}
