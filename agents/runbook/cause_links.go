package runbook

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
)

// Links from a cause to the object that carries it, followed after the cause's category is
// known: the pull Secret a registry refuses, and what keeps such a Secret fresh.

// linkCause follows the cause c, found for finding f, one step further where its category
// names a kind of object the workload references: a registry's refusal names the pod's pull
// Secret (and the CronJob that refreshes it, when that has stopped).
func (inv *investigation) linkCause(c *contract.Cause, f contract.Finding) {
	if c.Category == contract.RegistryAuth {
		inv.pullSecret(c, f)
	}
	if strings.HasPrefix(c.Object, "persistentvolume/") {
		inv.claimOf(c)
	}
}

// claimOf names the claim a PersistentVolume at fault is bound to (its spec.claimRef) as the
// object: the claim is what the workload names and a person changes; the volume stays in the
// summary.
func (inv *investigation) claimOf(c *contract.Cause) {
	pv := strings.TrimPrefix(c.Object, "persistentvolume/")
	var o contract.ObjectYAML
	if _, ok := inv.where["resource_get"]; !ok || !inv.callData("resource_get", map[string]any{"kind": "persistentvolume", "name": pv}, &o) {
		return
	}
	var v struct {
		Spec struct {
			ClaimRef *struct {
				Namespace string `yaml:"namespace"`
				Name      string `yaml:"name"`
			} `yaml:"claimRef"`
		} `yaml:"spec"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &v) != nil || v.Spec.ClaimRef == nil || v.Spec.ClaimRef.Name == "" {
		return
	}
	ref := v.Spec.ClaimRef
	c.Object = fmt.Sprintf("persistentvolumeclaim/%s/%s", ref.Namespace, ref.Name)
	c.Summary = clip(fmt.Sprintf("%s (volume %s is claim %s's)", c.Summary, pv, ref.Name), 1000)
	c.Evidence = append(c.Evidence, fmt.Sprintf("persistentvolume/%s is bound to claim %s/%s", pv, ref.Namespace, ref.Name))
}

// pullSecret names the Secrets the failing pod pulls its image with (spec.imagePullSecrets);
// with exactly one, it becomes the object at fault, and a CronJob of the namespace that writes
// it (an ECR or GCR token refresher) is checked: suspended, or not run lately, it is why the
// credentials went stale.
func (inv *investigation) pullSecret(c *contract.Cause, f contract.Finding) {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 {
		return
	}
	ns := parts[1]
	var spec struct {
		ImagePullSecrets []struct {
			Name string `yaml:"name"`
		} `yaml:"imagePullSecrets"`
		ServiceAccountName string `yaml:"serviceAccountName"`
	}
	text := inv.specText(parts[0], ns, parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return
	}
	var names []string
	for _, s := range spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		c.Summary += "; the pod has no imagePullSecrets"
		return
	}
	c.Summary += fmt.Sprintf("; the pod pulls with imagePullSecrets %s", strings.Join(names, ", "))
	c.Evidence = append(c.Evidence, "spec.imagePullSecrets: "+strings.Join(names, ", "))
	if len(names) != 1 {
		return
	}
	c.Object, c.Field = fmt.Sprintf("secret/%s/%s", ns, names[0]), "data"
	if w := inv.writerOf(ns, names[0]); w != "" {
		c.Summary += "; " + w
	}
}

// writerOf looks for a CronJob of namespace ns whose job template names the object name (a
// Secret it refreshes) and says when it has stopped doing so: it is suspended. "" when none
// names it or it is not suspended.
func (inv *investigation) writerOf(ns, name string) string {
	var list contract.ResourceList
	if !inv.callData("resources_list", map[string]any{"kind": "cronjobs", "namespace": ns, "limit": 20}, &list) {
		return ""
	}
	for _, it := range list.Items {
		var o contract.ObjectYAML
		if !inv.callData("resource_get", map[string]any{"kind": "cronjob", "namespace": ns, "name": it.Name}, &o) {
			continue
		}
		var cj struct {
			Spec struct {
				Suspend     bool `yaml:"suspend"`
				JobTemplate any  `yaml:"jobTemplate"`
			} `yaml:"spec"`
			Status struct {
				LastSuccessfulTime string `yaml:"lastSuccessfulTime"`
			} `yaml:"status"`
		}
		if yaml.Unmarshal([]byte(o.YAML), &cj) != nil {
			continue
		}
		tmpl, err := yaml.Marshal(cj.Spec.JobTemplate)
		if err != nil || !mentions(string(tmpl), name) {
			continue
		}
		last := cj.Status.LastSuccessfulTime
		if last == "" {
			last = "never"
		}
		if cj.Spec.Suspend {
			return fmt.Sprintf("CronJob %s, which refreshes %s, is suspended (spec.suspend: true; last successful run: %s), so the credentials expired", it.Name, name, last)
		}
	}
	return ""
}

// podInCause reads "pod NAMESPACE/NAME [on node N]: container C ..." in a cause's words: a
// failing pod that a check of another object named (a device plugin's pod on the node that
// advertises nothing, an operator's pod).
var podInCause = regexp.MustCompile(`\bpod ([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9.-]*)(?: on node [^\s:]+)?: container ([a-z0-9][a-z0-9-]*) `)

// failingPodLog makes a cause that names a failing pod say why that pod fails when its
// termination says nothing (an exit 1 with an empty message is most programs' way): the line
// of the pod's log that a runbook's signature matches, else its last error line, is quoted in
// the summary and added to the evidence. more are other words that came with the cause (a
// scheduler's verdict and its evidence).
func (inv *investigation) failingPodLog(c *contract.Cause, more ...string) {
	if c == nil || strings.Contains(c.Summary, "its log says") {
		return
	}
	for _, e := range append(append([]string{c.Summary}, c.Evidence...), more...) {
		m := podInCause.FindStringSubmatch(e)
		if m == nil {
			continue
		}
		g := contract.Finding{Object: "pod/" + m[1] + "/" + m[2], Container: m[3], Category: diagnosis.CrashLoopBackOff}
		logged := inv.logLines(g, true)
		if len(logged) == 0 {
			logged = inv.logLines(g, false)
		}
		line := ""
		if h, ok := inv.e.book.Match(logged, inv.contextOf(g)); ok {
			line = h.Line
		} else if errs := crashLines(logged); len(errs) > 0 {
			line = errs[len(errs)-1]
		}
		if line == "" || strings.Contains(c.Summary, line) {
			return
		}
		c.Summary = clip(fmt.Sprintf("%s; pod %s/%s's log says: %s", c.Summary, m[1], m[2], line), 1000)
		c.Evidence = append(c.Evidence, fmt.Sprintf("pod %s/%s: container %s log: %s", m[1], m[2], m[3], line))
		return
	}
}

// oomLimit reads the memory limit an OOMKilled finding quotes: "spec.containers[C].resources.limits.memory: 64Mi".
var oomLimit = regexp.MustCompile(`^spec\.(containers|initContainers)\[([^\]]+)\]\.resources\.limits\.memory: ([0-9][0-9A-Za-z.]*)$`)

// memoryLimitCause is the cause of an OOMKilled finding that nothing more precise explains (no
// heap flag, no memory-backed volume, no LimitRange): the container's own memory limit, which
// its use outgrew — named for the container that is killed, which may be a sidecar, not the
// application. Nil when the finding quotes no limit (the node ran out of memory).
func memoryLimitCause(f contract.Finding) *contract.Cause {
	if f.Category != diagnosis.OOMKilled {
		return nil
	}
	for _, e := range f.Evidence {
		m := oomLimit.FindStringSubmatch(e)
		if m == nil {
			continue
		}
		owner := ownerOf(f)
		prefix := "spec.template.spec."
		if strings.HasPrefix(owner, "pod/") {
			prefix = "spec."
		}
		return &contract.Cause{
			Category: contract.MemoryLimit, Object: owner, Field: fmt.Sprintf("%s%s[%s].resources.limits.memory", prefix, m[1], m[2]),
			Summary:  fmt.Sprintf("container %s is killed (OOMKilled, exit 137) each time its memory use outgrows its limit of %s: the limit is below what it uses at peak (or it leaks)", m[2], m[3]),
			Evidence: []string{e},
		}
	}
	return nil
}
