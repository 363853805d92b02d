package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The analyze tool runs deterministic analyzers over one namespace, the namespaces the server is
// confined to, or the whole cluster, and reports findings with evidence and a suggested write
// tool. Everything it reads comes from the informer cache in one pass (see snapshot); the few
// direct reads (a referenced ConfigMap, Secret or StorageClass) happen only for failing objects.

func (t *tools) analyzeTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "analyze",
			Description: "Find what is wrong in a namespace (or the whole cluster): crash loops, image pull failures, OOM kills, " +
				"missing ConfigMaps/Secrets, failing probes, unschedulable pods, Services without endpoints, Ingress backends that are missing or down, " +
				"pending PVCs, node trouble, cordoned nodes a PodDisruptionBudget keeps from draining, DaemonSets kept off nodes by taints, " +
				"containers the kubelet does not set up (a hostPath of the wrong type, a non-root policy the image breaks, a subPath), " +
				"stuck rollouts, failed Jobs and CronJobs, Jobs a sidecar container keeps from completing, pods more than one PodDisruptionBudget covers (which no drain can evict), HPAs unable to scale or whose target is missing, exceeded quotas, " +
				"pods the API server refuses (a failing admission webhook, a LimitRange's bound, a RuntimeClass, ServiceAccount or PriorityClass that does not exist), " +
				"Ingresses no IngressClass serves, evicted pods, pods the kubelet refused to admit (OutOf<resource>). Each finding names the object, " +
				"its evidence, the cause behind the symptom when it can follow it there, and a suggested write tool with arguments " +
				"(dryRun true, to preview). Critical findings come first.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Description("namespace to analyze; empty analyzes every namespace the server may see (and nodes, when not confined)"), mcp.MaxLength(63)),
				mcp.WithString("kind", mcp.Description("focus on one kind: pod, deployment, statefulset, daemonset, replicaset, job, cronjob, service, ingress, pvc, node, hpa or resourcequota (short names work)"), mcp.MaxLength(253)),
				mcp.WithString("name", mcp.Description("with kind, focus on this object: its own findings and those of the pods it owns"), mcp.MaxLength(253)),
				mcp.WithString("output", mcp.Description("text (default, for people and models) or json (the same findings for programs, such as opsmesh's runbook engine)"), mcp.Enum("text", "json")),
			},
		}, t.analyze),
	}
}

type analyzeArgs struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Output    string `json:"output,omitempty"`
}

func (a *analyzeArgs) Validate() error {
	a.Namespace, a.Kind, a.Name = strings.TrimSpace(a.Namespace), strings.TrimSpace(a.Kind), strings.TrimSpace(a.Name)
	if a.Name != "" && a.Kind == "" {
		return errors.New(`argument "name" needs "kind" as well, such as kind "deployment" with name "web"`)
	}
	return nil
}

// severity orders findings: critical before warning.
type severity int

const (
	critical severity = iota
	warning
)

func (s severity) String() string {
	if s == critical {
		return "critical"
	}
	return "warning"
}

// ref names an object; Kind is lower case, as kubectl writes it (deployment/web).
type ref struct{ Kind, Namespace, Name string }

func (r ref) String() string { return objectRef(r.Kind, r.Namespace, r.Name) }

// finding is one problem an analyzer found.
type finding struct {
	severity severity
	category string
	object   ref
	// owner is the workload that controls object (a pod's Deployment, StatefulSet, ...), if any.
	// Findings of the same category on pods of one owner and container are reported once.
	owner     *ref
	container string
	evidence  []string
	fix       fix
	// related are more refs a focus on kind/name matches (a ReplicaSet between pod and Deployment).
	related []ref
	// more are the names of further objects with the same finding, after grouping.
	more []string
	// cause is what the analyzer established behind the symptom, when it followed it to the
	// object at fault.
	cause *contract.Cause
	rank  int    // the analyzer's place in the registry, for ordering
	key   string // object.String(), computed once for sorting
}

// fix is a suggested write tool call, or, without a tool, what a person should do.
type fix struct {
	tool string
	args []arg
	note string
}

type arg struct {
	key string
	val any
}

func (f fix) String() string {
	if f.tool == "" {
		return "no automatic fix: " + f.note
	}
	var b strings.Builder
	b.WriteString(f.tool)
	b.WriteString(" {")
	for i, a := range f.args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonText(a.key))
		b.WriteByte(':')
		b.WriteString(jsonText(a.val))
	}
	b.WriteString(`,"dryRun":true}`)
	if f.note != "" {
		b.WriteString(" — ")
		b.WriteString(f.note)
	}
	return b.String()
}

// jsonText encodes v as JSON without HTML escaping, so that "<" stays readable.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "null"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// noFix is a fix that a person must make.
func noFix(format string, a ...any) fix { return fix{note: fmt.Sprintf(format, a...)} }

// analyzer is one check. Adding an analyzer is one line in analyzers.
type analyzer struct {
	category string
	// clusterOnly analyzers (nodes) run only over the whole cluster on an unconfined server.
	clusterOnly bool
	// refines: its findings may name a narrower category than its own (InsufficientGPU for
	// InsufficientResources), which they keep
	refines bool
	run     func(s *snapshot) []finding
}

var analyzers = []analyzer{
	{category: "CrashLoopBackOff", run: crashLoopBackOff},
	{category: "ImagePullBackOff", run: imagePullBackOff},
	{category: "OOMKilled", run: oomKilled},
	{category: "CreateContainerConfigError", run: createContainerConfigError},
	{category: "NodeNotReady", clusterOnly: true, run: nodeNotReady},
	{category: "RolloutStuck", run: rolloutStuck},
	{category: "ServiceNoEndpoints", run: serviceNoEndpoints},
	{category: "ServiceNoEndpoints", run: ingressBackends},
	{category: "JobFailed", run: jobFailed},
	{category: "QuotaExceeded", run: quotaExceeded},
	{category: "Unschedulable", run: unschedulable},
	{category: "SchedulingConstraint", run: daemonSetTaints},
	{category: "ProbeFailing", run: probeFailing},
	{category: "PVCPending", run: pvcPending},
	{category: "NodePressure", clusterOnly: true, run: nodePressure},
	{category: "NodeCordoned", run: cordonedNodeBlocked},
	{category: "ReplicasUnavailable", run: replicasUnavailable},
	{category: "HPAUnableToScale", run: hpaUnableToScale},
	{category: "QuotaFull", run: quotaFull},
	{category: "ReplicasUnavailable", run: workloadRefused},
	{category: "NodePressure", run: evictedPods},
	{category: "InsufficientResources", refines: true, run: admissionRejected},
	// an Ingress's class or TLS Secret: no symptom category fits (its Service may be fine)
	{category: "Unknown", run: ingressReferences},
	{category: "JobFailed", run: jobSidecarOutlives},
	{category: "NodeCordoned", run: multipleBudgets},
}

// focusKinds are the kinds analyze can focus on, by API group and kind, with the name refs use.
var focusKinds = map[schema.GroupKind]string{
	{Group: "", Kind: "Pod"}:                                "pod",
	{Group: "apps", Kind: "Deployment"}:                     "deployment",
	{Group: "apps", Kind: "StatefulSet"}:                    "statefulset",
	{Group: "apps", Kind: "DaemonSet"}:                      "daemonset",
	{Group: "apps", Kind: "ReplicaSet"}:                     "replicaset",
	{Group: "batch", Kind: "Job"}:                           "job",
	{Group: "batch", Kind: "CronJob"}:                       "cronjob",
	{Group: "networking.k8s.io", Kind: "Ingress"}:           "ingress",
	{Group: "", Kind: "Service"}:                            "service",
	{Group: "", Kind: "PersistentVolumeClaim"}:              "persistentvolumeclaim",
	{Group: "", Kind: "Node"}:                               "node",
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: "horizontalpodautoscaler",
	{Group: "", Kind: "ResourceQuota"}:                      "resourcequota",
}

// focus narrows the findings to one kind, or one object of it.
type focus struct {
	kind      string // ref kind
	namespace string
	name      string
}

func (f *focus) matches(fd *finding) bool {
	if f == nil {
		return true
	}
	match := func(r ref) bool {
		return r.Kind == f.kind && (f.name == "" || (r.Name == f.name && r.Namespace == f.namespace))
	}
	if match(fd.object) || (fd.owner != nil && match(*fd.owner)) {
		return true
	}
	for _, r := range fd.related {
		if match(r) {
			return true
		}
	}
	return false
}

// gpuPods are, for a focus on one object, the pods it is or controls that are bound to a node
// and request GPUs (nvidia.com/gpu, nvidia.com/gpu.shared, nvidia.com/mig-*), at most 50.
func (f *focus) gpuPods(s *snapshot) []contract.GPUPod {
	if f == nil || f.name == "" {
		return nil
	}
	var out []contract.GPUPod
	for i := range s.pods {
		p := &s.pods[i]
		if len(out) == 50 {
			break
		}
		if p.Spec.NodeName == "" || p.Namespace != f.namespace || podTerminated(p) {
			continue
		}
		mine := f.kind == "pod" && p.Name == f.name
		w := s.owner(p)
		if !mine && w != nil {
			mine = w.Kind == f.kind && w.Name == f.name
		}
		if !mine {
			continue
		}
		gpus := map[string]int64{}
		for r, n := range gpuview.PodGPUs(p) {
			gpus[string(r)] = n
		}
		if len(gpus) > 0 {
			gp := contract.GPUPod{Pod: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Resources: gpus}
			if w != nil {
				gp.Owner = w.ref.String()
			}
			out = append(out, gp)
		}
	}
	return out
}

// behindService is, for a focus on one Service, the pods its selector picks and the workloads
// that own them: their findings explain the Service's (a Service has no ready endpoints because
// its pods crash), so a focus on the Service includes them.
func (f *focus) behindService(s *snapshot) map[ref]bool {
	if f == nil || f.kind != "service" || f.name == "" {
		return nil
	}
	out := map[ref]bool{}
	for i := range s.services {
		svc := &s.services[i]
		if svc.Namespace != f.namespace || svc.Name != f.name || len(svc.Spec.Selector) == 0 {
			continue
		}
		for _, p := range s.podsMatching(svc.Namespace, svc.Spec.Selector) {
			out[ref{Kind: "pod", Namespace: p.Namespace, Name: p.Name}] = true
			if w := s.owner(p); w != nil {
				out[w.ref] = true
			}
		}
	}
	return out
}

// unscaled reports whether the focus is one Deployment or StatefulSet that no HPA targets: the
// namespace's HPAs whose target does not exist are then likely meant for it ("why does it not
// scale out?"), so the focus includes them.
func (f *focus) unscaled(s *snapshot) bool {
	if f == nil || f.name == "" || (f.kind != "deployment" && f.kind != "statefulset") {
		return false
	}
	return !s.autoscaled(f.kind, f.namespace, f.name)
}

func (t *tools) analyze(ctx context.Context, a analyzeArgs) (contract.Analysis, string, error) {
	var none contract.Analysis
	if a.Namespace != "" {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return none, "", err
		}
	}
	cluster := a.Namespace == "" && !t.k.confined()
	foc, err := t.analyzeFocus(ctx, a, cluster)
	if err != nil {
		return none, "", err
	}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return none, "", err
	}
	s, err := loadSnapshot(ctx, reader, t.k.Direct, t.k.namespaces(a.Namespace), cluster)
	if err != nil {
		return none, "", err
	}
	s.nodesAllowed = !t.k.confined()
	behind := foc.behindService(s)
	unscaled := foc.unscaled(s)
	var found []finding
	for rank, an := range analyzers {
		if an.clusterOnly && !cluster {
			continue
		}
		for _, f := range an.run(s) {
			if !foc.matches(&f) && !behind[f.object] && (f.owner == nil || !behind[*f.owner]) &&
				!(unscaled && f.object.Namespace == foc.namespace && danglingAutoscaler(&f)) {
				continue
			}
			f.rank = rank
			if !an.refines || f.category == "" {
				f.category = an.category
			}
			found = append(found, f)
		}
	}
	found = groupFindings(found)
	sortFindings(found)

	where := "namespace " + a.Namespace
	switch {
	case foc != nil && foc.name != "":
		where = objectRef(foc.kind, foc.namespace, foc.name)
	case a.Namespace == "" && t.k.confined():
		where = "namespaces " + strings.Join(t.k.Allow, ", ")
	case a.Namespace == "":
		where = "the cluster"
	}
	if foc != nil && foc.name == "" {
		where = foc.kind + "s in " + where
	}
	if a.Output == "json" {
		out := findingsJSON(found, where, s, foc.gpuPods(s), t.maxBytes)
		return out, t.k.secrets.Scrub(jsonText(out) + "\n"), nil
	}
	text, n := renderFindings(found, where, s, t.maxBytes)
	out := analysisOf(found[:n], where, s, foc.gpuPods(s))
	out.Truncated = len(found) - n
	return out, t.k.secrets.Scrub(text), nil
}

// analyzeFocus checks the kind and name arguments, and that the named object exists.
func (t *tools) analyzeFocus(ctx context.Context, a analyzeArgs, cluster bool) (*focus, error) {
	if a.Kind == "" {
		return nil, nil
	}
	r, err := t.k.resolve(a.Kind)
	if err != nil {
		return nil, err
	}
	kind, ok := focusKinds[r.gvk.GroupKind()]
	if !ok {
		return nil, fmt.Errorf("analyze has no analyzers for %s; focus on one of pod, deployment, statefulset, daemonset, replicaset, job, cronjob, service, ingress, pvc, node, hpa or resourcequota, or leave kind empty", r.gvr.Resource)
	}
	f := &focus{kind: kind, name: a.Name}
	if !r.namespaced {
		if a.Namespace != "" {
			return nil, fmt.Errorf("%s are cluster-scoped: call analyze for them without a namespace", r.gvr.Resource)
		}
		if !cluster {
			return nil, fmt.Errorf("%s is cluster-scoped, and this server is confined to namespaces %s (--allow-namespaces)", r.gvr.Resource, strings.Join(t.k.Allow, ", "))
		}
	} else {
		f.namespace = a.Namespace
		if a.Name != "" && a.Namespace == "" {
			return nil, fmt.Errorf(`%s is namespaced: argument "namespace" is required with "name"`, r.gvr.Resource)
		}
	}
	if a.Name != "" {
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(r.gvk)
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: a.Name}, obj); err != nil {
			return nil, apiError(err, "get", objectRef(kind, f.namespace, a.Name))
		}
	}
	return f, nil
}

// groupFindings reports findings of one category on pods of one owner and container once,
// naming the other pods.
func groupFindings(found []finding) []finding {
	for i := range found {
		found[i].key = found[i].object.String()
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].key < found[j].key })
	type key struct {
		rank      int
		owner     ref
		container string
	}
	first := map[key]int{}
	out := found[:0]
	for _, f := range found {
		if f.owner == nil || f.object.Kind != "pod" {
			out = append(out, f)
			continue
		}
		k := key{f.rank, *f.owner, f.container}
		if i, ok := first[k]; ok {
			out[i].more = append(out[i].more, f.object.Name)
			continue
		}
		first[k] = len(out)
		out = append(out, f)
	}
	return out
}

func sortFindings(found []finding) {
	sort.SliceStable(found, func(i, j int) bool {
		a, b := &found[i], &found[j]
		if a.severity != b.severity {
			return a.severity < b.severity
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.key < b.key
	})
}

// renderFindings writes the summary line and then each finding, critical first, in at most max
// bytes; findings that do not fit are counted in a last line. It returns the text and how many
// findings it shows.
func renderFindings(found []finding, where string, s *snapshot, max int) (string, int) {
	var crit, warn int
	for _, f := range found {
		if f.severity == critical {
			crit++
		} else {
			warn++
		}
	}
	var b strings.Builder
	if len(found) == 0 {
		fmt.Fprintf(&b, "no findings in %s (checked %s)\n", where, s.checked())
	} else {
		fmt.Fprintf(&b, "%d %s in %s: %d critical, %d warning (checked %s)\n", len(found), plural(len(found), "finding"), where, crit, warn, s.checked())
		var cats []string
		for i := 0; i < len(found); {
			j := i
			for j < len(found) && found[j].category == found[i].category {
				j++
			}
			cats = append(cats, fmt.Sprintf("%s %d", found[i].category, j-i))
			i = j
		}
		fmt.Fprintf(&b, "by category: %s\n", strings.Join(cats, ", "))
		b.WriteString("Suggested fixes are shown with dryRun true: call them as shown to preview, then with dryRun false to apply.\n")
	}
	for _, note := range s.skipped {
		fmt.Fprintf(&b, "not analyzed: %s\n", note)
	}
	const markerRoom = 160
	for i, f := range found {
		var one strings.Builder
		fmt.Fprintf(&one, "\n[%s] %s %s", f.severity, f.category, f.object)
		if f.owner != nil {
			fmt.Fprintf(&one, " (owner %s", f.owner)
			if len(f.more) > 0 {
				fmt.Fprintf(&one, "; %d more pods: %s", len(f.more), examples(f.more, 3))
			}
			one.WriteByte(')')
		}
		one.WriteByte('\n')
		for _, e := range f.evidence {
			fmt.Fprintf(&one, "  evidence: %s\n", e)
		}
		if c := f.cause; c != nil {
			fmt.Fprintf(&one, "  cause: %s %s", c.Category, c.Object)
			if c.Field != "" {
				fmt.Fprintf(&one, " (%s)", c.Field)
			}
			fmt.Fprintf(&one, ": %s\n", c.Summary)
		}
		fmt.Fprintf(&one, "  fix: %s\n", f.fix)
		if b.Len()+one.Len()+markerRoom > max {
			c, w := 0, 0
			for _, rest := range found[i:] {
				if rest.severity == critical {
					c++
				} else {
					w++
				}
			}
			fmt.Fprintf(&b, "\n… truncated: %d more %s (%d critical, %d warning); narrow with namespace, kind and name\n", len(found)-i, plural(len(found)-i, "finding"), c, w)
			return b.String(), i
		}
		b.WriteString(one.String())
	}
	return b.String(), len(found)
}

// analysisOf is found as the contract's Analysis, every finding included.
func analysisOf(found []finding, where string, s *snapshot, gpuPods []contract.GPUPod) contract.Analysis {
	out := contract.Analysis{Where: where, Checked: s.checked(), Findings: make([]contract.Finding, 0, len(found)), Skipped: s.skipped, GPUPods: gpuPods}
	for _, f := range found {
		out.Findings = append(out.Findings, f.contract())
	}
	return out
}

// contract is the finding as the contract has it.
func (f finding) contract() contract.Finding {
	fc := contract.Finding{Severity: f.severity.String(), Category: f.category, Object: f.object.String(), Container: f.container, More: f.more,
		Evidence: f.evidence, Fix: f.fix.contract(), Cause: f.cause}
	if fc.Evidence == nil {
		fc.Evidence = []string{}
	}
	if f.owner != nil {
		fc.Owner = f.owner.String()
	}
	return fc
}

// contract is the fix as the contract has it: its note as the text (what the tool call does,
// when there is one), and the tool call's arguments without dryRun.
func (f fix) contract() contract.Fix {
	out := contract.Fix{Text: f.note, Tool: f.tool}
	if f.tool == "" {
		return out
	}
	if out.Text == "" {
		out.Text = "call " + f.tool + " as suggested (preview it with dryRun true first)"
	}
	out.Arguments = map[string]any{}
	for _, a := range f.args {
		out.Arguments[a.key] = a.val
	}
	return out
}

// findingsJSON is found as the contract's Analysis in at most max bytes of JSON, critical
// findings first; those that do not fit are counted in Truncated.
func findingsJSON(found []finding, where string, s *snapshot, gpuPods []contract.GPUPod, max int) contract.Analysis {
	out := analysisOf(nil, where, s, gpuPods)
	size := 256
	for _, g := range gpuPods {
		size += len(g.Pod) + len(g.Node) + len(g.Owner) + 64
	}
	for i, f := range found {
		fc := f.contract()
		b, _ := json.Marshal(fc)
		if size+len(b) > max {
			out.Truncated = len(found) - i
			break
		}
		size += len(b) + 1
		out.Findings = append(out.Findings, fc)
	}
	return out
}

// plural is noun as it follows n: finding, findings.
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

func examples(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", +%d", len(names)-n)
}

// clip shortens a message from the cluster (an event, a status message) to one line of at most
// 300 bytes.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= 300 {
		return s
	}
	// Keep both ends: a wrapped Go error (a kubelet's pull or mount failure) names its cause
	// last ("...: dial tcp: lookup registry.example: no such host").
	head, tail := 190, len(s)-104
	for head > 0 && s[head]&0xC0 == 0x80 {
		head--
	}
	for tail < len(s) && s[tail]&0xC0 == 0x80 {
		tail++
	}
	return s[:head] + " ... " + s[tail:]
}
