package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// Causes that admission put into the cluster: a value the API server wrote into a pod on its way
// in (a LimitRange's default), or a pod it refused (a ResourceQuota's constraints).

// limitRangerAnnotation is the annotation the LimitRanger admission plugin writes on a pod whose
// containers it gave defaults: "LimitRanger plugin set: cpu, memory request for container app;
// memory limit for container app".
const limitRangerAnnotation = "kubernetes.io/limit-ranger"

// limitRangerSet are the resources whose limit the LimitRanger admission plugin set on the
// container (an init container with init) of p, as its annotation says; nil when it set none.
func limitRangerSet(p *corev1.Pod, container string, init bool) []string {
	a, ok := p.Annotations[limitRangerAnnotation]
	if !ok {
		return nil
	}
	a = strings.TrimPrefix(strings.TrimSpace(a), "LimitRanger plugin set:")
	who := " limit for container " + container
	if init {
		who = " limit for init container " + container
	}
	for _, part := range strings.Split(a, ";") {
		part = strings.TrimSpace(part)
		resources, ok := strings.CutSuffix(part, who)
		if !ok {
			continue
		}
		var out []string
		for _, r := range strings.Split(resources, ",") {
			out = append(out, strings.TrimSpace(r))
		}
		return out
	}
	return nil
}

// limitRangesIn reads the LimitRanges of namespace ns directly (they are not cached), once per
// call, sorted by name: the order in which the LimitRanger plugin applies their defaults.
func (s *snapshot) limitRangesIn(ns string) ([]corev1.LimitRange, error) {
	if l, ok := s.limitRanges[ns]; ok {
		return l.items, l.err
	}
	if s.limitRanges == nil {
		s.limitRanges = map[string]limitRangeList{}
	}
	var list corev1.LimitRangeList
	var l limitRangeList
	if err := s.direct.List(s.ctx, &list, client.InNamespace(ns)); err != nil {
		l.err = apiError(err, "list", "limitranges in namespace "+ns)
	} else {
		l.items = list.Items
		sort.Slice(l.items, func(i, j int) bool { return l.items[i].Name < l.items[j].Name })
	}
	s.limitRanges[ns] = l
	return l.items, l.err
}

// limitRangeList is the result of reading one namespace's LimitRanges.
type limitRangeList struct {
	items []corev1.LimitRange
	err   error
}

// limitRangeMemoryCause: a container killed for its memory whose limit the manifest did not
// set but the LimitRanger admission plugin did (the pod's kubernetes.io/limit-ranger annotation
// says so) runs out of a default it never asked for: the namespace's LimitRange that carries
// that default is the cause, not the application. Evidence of the default is added to f; nil
// when the limit is the manifest's own, or no LimitRange of the namespace gives it.
func (s *snapshot) limitRangeMemoryCause(p *corev1.Pod, w *ownerWorkload, container string, init bool, limit apiresource.Quantity, f *finding) *contract.Cause {
	set := limitRangerSet(p, container, init)
	if limit.IsZero() || !slices.Contains(set, string(corev1.ResourceMemory)) {
		return nil
	}
	f.evidence = append(f.evidence, fmt.Sprintf("metadata.annotations[%s]: %s (the memory limit is the namespace's default, not the manifest's)", limitRangerAnnotation, quoteMessage(p.Annotations[limitRangerAnnotation])))
	ranges, err := s.limitRangesIn(p.Namespace)
	if err != nil {
		f.evidence = append(f.evidence, "could not check: "+err.Error())
		return nil
	}
	// The plugin applies the first default it finds; the one equal to the limit the container
	// got is the one it applied, when a later LimitRange gives another.
	var lr *corev1.LimitRange
	index := -1
	var value apiresource.Quantity
	for i := range ranges {
		for j, item := range ranges[i].Spec.Limits {
			d, ok := item.Default[corev1.ResourceMemory]
			if item.Type != corev1.LimitTypeContainer || !ok {
				continue
			}
			if lr == nil || (d.Cmp(limit) == 0 && value.Cmp(limit) != 0) {
				lr, index, value = &ranges[i], j, d
			}
		}
	}
	if lr == nil {
		return nil
	}
	what := "container"
	if init {
		what = "init container"
	}
	field := fmt.Sprintf("spec.limits[%d].default.memory", index)
	object := objectRef("limitrange", lr.Namespace, lr.Name)
	summary := fmt.Sprintf("LimitRange %s gives containers that set no memory limit a default of %s; %s %s set none, got it at admission and ran out of it",
		lr.Name, value.String(), what, container)
	if value.Cmp(limit) != 0 {
		summary += fmt.Sprintf(" (its limit is %s)", limit.String())
	}
	var request string
	if r, ok := lr.Spec.Limits[index].DefaultRequest[corev1.ResourceMemory]; ok {
		request = fmt.Sprintf(", defaultRequest.memory %s", r.String())
	}
	return &contract.Cause{Category: contract.MemoryLimit, Object: object, Field: field, Summary: summary,
		Evidence: []string{
			fmt.Sprintf("%s %s: %s (type Container%s)", object, field, value.String(), request),
			fmt.Sprintf("pod %s metadata.annotations[%s]: %s", p.Name, limitRangerAnnotation, quoteMessage(p.Annotations[limitRangerAnnotation])),
		},
		Fix: &contract.Fix{Text: fmt.Sprintf("give %s %s of %s a memory limit of its own above its peak use (workload_set_resources; a limit in the manifest overrides the default), "+
			"or raise %s of LimitRange %s for every container of namespace %s that sets none", what, container, whose(p, w), field, lr.Name, lr.Namespace)}}
}

var (
	// quotaName reads the ResourceQuota a refusal names: "exceeded quota: compute, requested:
	// ..." or "failed quota: compute: must specify ...".
	quotaName    = regexp.MustCompile(`(?:exceeded|failed) quota: ([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`)
	quotaLimited = regexp.MustCompile(`limited: ([^ ]+)`)
	// quotaMustSpecify reads the refusal of a pod that does not say what a quota constrains:
	// "failed quota: compute: must specify limits.cpu for: api,worker; limits.memory for: api".
	quotaMustSpecify = regexp.MustCompile(`failed quota: ([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?): must specify (.+)$`)
	// quotaUsage reads what an exceeded quota was asked for, used and allows.
	quotaUsage = regexp.MustCompile(`requested: ([^ ]+), used: ([^ ]+), limited: ([^ ]+)`)
)

// quotaRefusal says why a ResourceQuota refused an object, from the refusal's message: the
// quota's name, and either the values every container must specify (with the containers that
// do not) or the resources that it has no room left for.
type quotaRefusal struct {
	quota string
	// missing are "limits.cpu for container api", for a pod that does not specify what the
	// quota constrains.
	missing   []string
	resources []string // the resources named, in the message's order
	usage     string   // "requested: pods=1, used: pods=2, limited: pods=2", when exceeded
}

// isQuotaRefusal reports whether an event's message is a ResourceQuota's refusal.
func isQuotaRefusal(message string) bool {
	return strings.Contains(message, "exceeded quota") || quotaMustSpecify.MatchString(strings.TrimSpace(message))
}

// parseQuotaRefusal reads a ResourceQuota's refusal; ok is false when message is none.
func parseQuotaRefusal(message string) (quotaRefusal, bool) {
	message = strings.TrimSpace(message)
	if m := quotaMustSpecify.FindStringSubmatch(message); m != nil {
		r := quotaRefusal{quota: m[1]}
		for _, part := range strings.Split(m[2], ";") {
			res, containers, ok := strings.Cut(strings.TrimSpace(part), " for: ")
			if !ok {
				continue
			}
			names := strings.Split(strings.TrimSpace(containers), ",")
			r.resources = append(r.resources, res)
			r.missing = append(r.missing, fmt.Sprintf("%s for %s %s", res, plural(len(names), "container"), strings.Join(names, ", ")))
		}
		return r, len(r.missing) > 0
	}
	m := quotaName.FindStringSubmatch(message)
	if m == nil || !strings.Contains(message, "exceeded quota") {
		return quotaRefusal{}, false
	}
	r := quotaRefusal{quota: m[1]}
	if u := quotaUsage.FindStringSubmatch(message); u != nil {
		r.usage = strings.TrimSuffix(u[0], ",")
	}
	if l := quotaLimited.FindStringSubmatch(message); l != nil {
		for _, kv := range strings.Split(strings.TrimSuffix(l[1], ","), ",") {
			if name, _, ok := strings.Cut(kv, "="); ok {
				r.resources = append(r.resources, name)
			}
		}
	}
	return r, true
}

// quotaCause is the ResourceQuota that refused what subject (the object whose FailedCreate
// events say so, or the workload that owns it) tried to create, as a cause: the quota, what it
// constrains, and what the refused pods lack or exceed. q is the quota when the snapshot has it.
func quotaCause(r quotaRefusal, ns, subject string, q *corev1.ResourceQuota, spec *corev1.PodSpec, event string) *contract.Cause {
	object := objectRef("resourcequota", ns, r.quota)
	c := &contract.Cause{Category: contract.QuotaExceeded, Object: object, Field: "spec.hard", Evidence: []string{event}}
	var hard []string
	// A quota with scopes counts only the pods they select: say which, and what the refused
	// pods are (their PriorityClass), or a person raises a quota that is not the one counting.
	name, scope, priorityFix := r.quota, "", ""
	if q != nil {
		if scope = quotaScope(q); scope != "" {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s", object, scope))
			if spec != nil && quotaScopesPriority(q) {
				pc := orNone(spec.PriorityClassName)
				scope += fmt.Sprintf(", and the pods of %s have priorityClassName %s", subject, pc)
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s spec.template.spec.priorityClassName: %s", subject, pc))
				priorityFix = fmt.Sprintf(", or give %s a priorityClassName this quota does not count (if its pods need not run at that priority)", subject)
			}
			name = fmt.Sprintf("%s (%s)", r.quota, scope)
		}
	}
	if q != nil {
		for _, res := range r.resources {
			if h, ok := q.Spec.Hard[corev1.ResourceName(res)]; ok {
				hard = append(hard, fmt.Sprintf("%s=%s", res, h.String()))
			}
		}
		if len(hard) > 0 {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s spec.hard: %s", object, strings.Join(hard, ", ")))
		}
	}
	constrains := strings.Join(r.resources, " and ")
	if len(hard) > 0 {
		constrains = strings.Join(hard, " and ")
	}
	if len(r.missing) > 0 {
		c.Summary = fmt.Sprintf("ResourceQuota %s constrains %s, so it refuses every pod that does not specify them: the pods of %s must specify %s, and do not, so none is created",
			name, constrains, subject, strings.Join(r.missing, "; "))
		c.Fix = &contract.Fix{Text: fmt.Sprintf("give the containers of %s %s (workload_set_resources), or give namespace %s a LimitRange whose defaults set them; the controller then creates the pods on its own",
			subject, strings.Join(r.resources, " and "), ns)}
		return c
	}
	usage := ""
	if r.usage != "" {
		usage = " (" + r.usage + ")"
	}
	c.Summary = fmt.Sprintf("ResourceQuota %s has no room left for %s%s: it refuses the new pods of %s", name, orWhat(constrains, "what it constrains"), usage, subject)
	c.Fix = &contract.Fix{Text: fmt.Sprintf("raise the hard limits of ResourceQuota %s (resource_patch), or lower what %s requests%s", object, subject, priorityFix)}
	return c
}

func orWhat(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// refusedWorkload is the workload whose pods the API server refuses, with its pod template.
type refusedWorkload struct {
	ref  ref
	spec *corev1.PodSpec // its pod template; nil when the workload is not in the snapshot
}

// templatePath is where a field of w's pod template lies: spec.template.spec.FIELD.
func (w refusedWorkload) templatePath(field string) string { return "spec.template.spec." + field }

// refusalReader reads one kind of refusal in a controller's FailedCreate event: matches says
// whether an event's message is one, cause follows it to the object at fault (it may add
// evidence, related objects and a fix to f; nil when it cannot).
type refusalReader struct {
	matches func(message string) bool
	cause   func(s *snapshot, e *corev1.Event, w refusedWorkload, f *finding) *contract.Cause
}

// refusalReaders are the refusals of a controller's pods that analyze follows to their cause: a
// failing admission webhook, a referenced object that does not exist, a LimitRange's bound.
// (A ResourceQuota's refusal is its own finding, QuotaExceeded.) A new kind of refusal is one
// line here.
var refusalReaders = []refusalReader{
	{matches: func(m string) bool { return webhookCall.MatchString(strings.TrimSpace(m)) },
		cause: func(s *snapshot, e *corev1.Event, w refusedWorkload, f *finding) *contract.Cause {
			return s.webhookCause(e, w.ref.String(), f)
		}},
	{matches: func(m string) bool { _, ok := missingReferenceIn(m); return ok }, cause: (*snapshot).missingReferenceCause},
	{matches: func(m string) bool {
		return limitRangeBound.MatchString(m) || limitRatio.MatchString(m)
	}, cause: (*snapshot).limitRangeRefusalCause},
}

// refusalCause follows the latest of events (a workload's controllers' FailedCreate events)
// that a refusal reader recognizes to its cause; nil when none does.
func (s *snapshot) refusalCause(events []*corev1.Event, w refusedWorkload, f *finding) *contract.Cause {
	var last *corev1.Event
	var reader *refusalReader
	for _, e := range events {
		if e.Reason != "FailedCreate" || e.Type != corev1.EventTypeWarning || (last != nil && !eventLastSeen(last).Before(eventLastSeen(e))) {
			continue
		}
		for i := range refusalReaders {
			if refusalReaders[i].matches(e.Message) {
				last, reader = e, &refusalReaders[i]
				break
			}
		}
	}
	if last == nil {
		return nil
	}
	return reader.cause(s, last, w, f)
}

// isRefusal reports whether a refusal reader recognizes an event's message.
func isRefusal(e *corev1.Event) bool {
	if e.Reason != "FailedCreate" || e.Type != corev1.EventTypeWarning {
		return false
	}
	for _, r := range refusalReaders {
		if r.matches(e.Message) {
			return true
		}
	}
	return false
}

// workloadRefused: StatefulSets, DaemonSets, Jobs and ReplicaSets of no Deployment whose
// FailedCreate events say the API server refuses their pods for a cause a refusal reader
// follows (a failing admission webhook, a RuntimeClass, ServiceAccount or PriorityClass that
// does not exist, a LimitRange's bound). A Deployment's ReplicaSets are covered by the
// Deployment's own finding (deploymentCause).
func workloadRefused(s *snapshot) []finding {
	byObject := map[ref][]*corev1.Event{}
	var order []ref
	for i := range s.events {
		e := &s.events[i]
		k := e.InvolvedObject.Kind
		if (k != "StatefulSet" && k != "DaemonSet" && k != "Job" && k != "ReplicaSet") || !isRefusal(e) {
			continue
		}
		if k == "ReplicaSet" {
			rs, ok := s.rsByName[types.NamespacedName{Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name}]
			if !ok {
				continue
			}
			if c := metav1.GetControllerOfNoCopy(rs); c != nil && c.Kind == "Deployment" {
				continue // the Deployment's finding names the cause
			}
		}
		o := ref{Kind: strings.ToLower(k), Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name}
		if _, ok := byObject[o]; !ok {
			order = append(order, o)
		}
		byObject[o] = append(byObject[o], e)
	}
	var out []finding
	for _, o := range order {
		events := byObject[o]
		f := finding{severity: critical, object: o}
		f.evidence = append(f.evidence, eventEvidence(events))
		f.cause = s.refusalCause(events, refusedWorkload{ref: o, spec: s.specOf(o)}, &f)
		if f.fix.tool == "" && f.fix.note == "" {
			f.fix = noFix("the API server refuses the pods of %s: read the event's message, correct what it names, and the controller creates the pods on its own", o)
		}
		out = append(out, f)
	}
	return out
}

// specOf is the pod template of a workload of the snapshot; nil when it is not there.
func (s *snapshot) specOf(r ref) *corev1.PodSpec {
	if r.Kind == "replicaset" {
		if rs, ok := s.rsByName[types.NamespacedName{Namespace: r.Namespace, Name: r.Name}]; ok {
			return &rs.Spec.Template.Spec
		}
		return nil
	}
	spec, _ := s.templateOf(r.Kind, r.Namespace, r.Name)
	return spec
}

// missingReference is one admission refusal that says an object the pod names does not exist:
// the message's pattern (its first submatch is the missing name), the kind, and the pod spec
// field that names it. The objects of that kind that do exist are listed (read directly).
type missingReference struct {
	message    *regexp.Regexp
	kind       string // as the API spells it: RuntimeClass
	field      string // in the pod spec
	list       schema.GroupVersionKind
	namespaced bool
}

// missingReferences are the admission plugins' refusals of a pod that names an object that does
// not exist: RuntimeClass (`pod rejected: RuntimeClass "nvidia-cdi" not found`), ServiceAccount
// (`error looking up service account NS/NAME: serviceaccount "NAME" not found`), Priority
// (`no PriorityClass with name X was found`).
var missingReferences = []missingReference{
	{message: regexp.MustCompile(`RuntimeClass "([^"]+)" not found`), kind: "RuntimeClass", field: "runtimeClassName",
		list: schema.GroupVersionKind{Group: "node.k8s.io", Version: "v1", Kind: "RuntimeClassList"}},
	{message: regexp.MustCompile(`serviceaccounts? "([^"]+)" not found`), kind: "ServiceAccount", field: "serviceAccountName",
		list: schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccountList"}, namespaced: true},
	{message: regexp.MustCompile(`no PriorityClass with name ([^ ,\]]+) was found`), kind: "PriorityClass", field: "priorityClassName",
		list: schema.GroupVersionKind{Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClassList"}},
}

// missingReferenceIn finds the missing reference a refusal's message names, with the name.
func missingReferenceIn(message string) (namedReference, bool) {
	for i := range missingReferences {
		if m := missingReferences[i].message.FindStringSubmatch(message); m != nil {
			return namedReference{ref: &missingReferences[i], name: m[1]}, true
		}
	}
	return namedReference{}, false
}

// namedReference is a missing reference with the name a refusal gives.
type namedReference struct {
	ref  *missingReference
	name string
}

// namesOf lists the names of the objects of a list kind (in namespace ns when namespaced),
// sorted, reading their metadata directly.
func (s *snapshot) namesOf(gvk schema.GroupVersionKind, ns string) ([]string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk)
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := s.direct.List(s.ctx, list, opts...); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		names = append(names, it.Name)
	}
	sort.Strings(names)
	return names, nil
}

// nearestName is the name of names closest to name (by edit distance, within half its
// length); "" when none is close.
func nearestName(name string, names []string) string {
	best, dist := "", len(name)/2+1
	for _, n := range names {
		if d := editDistance(name, n); d < dist {
			best, dist = n, d
		}
	}
	return best
}

// existing says which objects of a kind exist, for a summary: "RuntimeClasses that exist: a,
// b", "no RuntimeClass exists", or that they could not be listed (a server confined to
// namespaces may not list cluster-scoped kinds).
func existing(kind string, names []string, err error, missing string) string {
	switch {
	case err != nil && apierrors.IsForbidden(err):
		return fmt.Sprintf("this server may not list %s, so the ones that exist are not known", kinds(kind))
	case err != nil:
		return fmt.Sprintf("the %s that exist could not be listed (%v)", kinds(kind), err)
	case len(names) == 0:
		return "no " + kind + " exists"
	}
	text := fmt.Sprintf("%s that exist: %s", kinds(kind), strings.Join(clipList(names, 10), ", "))
	if n := nearestName(missing, names); n != "" {
		text += fmt.Sprintf("; the nearest is %s", n)
	}
	return text
}

// kinds is the plural of a kind's name: RuntimeClasses, ServiceAccounts.
func kinds(kind string) string {
	if strings.HasSuffix(kind, "s") {
		return kind + "es"
	}
	return kind + "s"
}

// clipList keeps the first n of names, with a count of the rest.
func clipList(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(slices.Clone(names[:n]), fmt.Sprintf("and %d more", len(names)-n))
}

// missingReferenceCause: the API server refused w's pods because its pod template names a
// RuntimeClass, ServiceAccount or PriorityClass that does not exist. The cause is the
// workload's field (for a ServiceAccount, the missing account itself), naming the missing object
// and those that exist.
func (s *snapshot) missingReferenceCause(e *corev1.Event, w refusedWorkload, f *finding) *contract.Cause {
	m, ok := missingReferenceIn(e.Message)
	if !ok {
		return nil
	}
	r := m.ref
	ns := ""
	where := "in the cluster"
	if r.namespaced {
		ns, where = w.ref.Namespace, "in namespace "+w.ref.Namespace
	}
	names, err := s.namesOf(r.list, ns)
	have := existing(r.kind, names, err, m.name)
	field := w.templatePath(r.field)
	event := fmt.Sprintf("event FailedCreate on %s %s: %s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, quoteMessage(e.Message))
	c := &contract.Cause{Category: contract.ReferenceMissing, Object: w.ref.String(), Field: field,
		Summary: fmt.Sprintf("%s %s names %s %s, which does not exist %s (%s): the API server refuses its pods, so none is created",
			w.ref, field, r.kind, m.name, where, have),
		Evidence: []string{event, fmt.Sprintf("%s %s: not found (%s)", strings.ToLower(r.kind), m.name, have)}}
	if w.spec != nil {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s: %s", w.ref, field, orNone(podSpecField(w.spec, r.field))))
	}
	if r.namespaced {
		// a missing object of the workload's own namespace (its ServiceAccount) is the object at
		// fault, as a missing ConfigMap is; a cluster-scoped class is named by the workload's field
		c.Object, c.Field = objectRef(strings.ToLower(r.kind), ns, m.name), ""
	}
	to := "one that exists"
	if n := nearestName(m.name, names); n != "" && err == nil {
		to = n + " (the nearest that exists)"
	}
	c.Fix = &contract.Fix{Text: fmt.Sprintf("create %s %s %s, or set %s of %s to %s; the controller then creates the pods on its own", r.kind, m.name, where, field, w.ref, to)}
	if f.fix.tool == "" {
		f.fix = noFix("%s", c.Fix.Text)
	}
	return c
}

// podSpecField is the value of one of the pod spec's reference fields.
func podSpecField(spec *corev1.PodSpec, field string) string {
	switch field {
	case "runtimeClassName":
		return ptrString(spec.RuntimeClassName)
	case "serviceAccountName":
		return spec.ServiceAccountName
	case "priorityClassName":
		return spec.PriorityClassName
	}
	return ""
}

var (
	// limitRangeBound reads the LimitRanger admission plugin's refusal of a pod outside a
	// LimitRange's max or min: "maximum cpu usage per Container is 2, but limit is 4",
	// "minimum memory usage per Pod is 64Mi, but request is 32Mi", "maximum cpu usage per
	// Container is 2.  No limit is specified".
	limitRangeBound = regexp.MustCompile(`(?i)(maximum|minimum) ([a-z0-9./-]+) usage per (Container|Pod) is ([0-9][0-9.]*[a-zA-Z]*)(?:, but (limit|request) is ([0-9][0-9.]*[a-zA-Z]*)|\.\s+No (limit|request) is specified)`)
	// limitRatio reads its refusal of a limit too far above the request: "cpu max limit to
	// request ratio per Container is 2, but provided ratio is 4.000000".
	limitRatio = regexp.MustCompile(`(?i)([a-z0-9./-]+) max limit to request ratio per (Container|Pod) is ([0-9][0-9.]*)(?:, but provided ratio is ([0-9][0-9.]*)|, but no request is specified or request is 0)`)
)

// limitRangeRefusalCause: the LimitRanger admission plugin refused w's pods, a container's (or
// the pod's) limit or request lying outside a LimitRange's max, min or max limit-to-request
// ratio. The cause is the LimitRange whose bound the message quotes (read directly), with the
// API server's sentence; the fix says which of the two to change.
func (s *snapshot) limitRangeRefusalCause(e *corev1.Event, w refusedWorkload, f *finding) *contract.Cause {
	var bound, resource, scope, value, kind, got string
	var sentence string
	if m := limitRangeBound.FindStringSubmatch(e.Message); m != nil {
		sentence = m[0]
		bound, resource, scope, value = strings.ToLower(m[1]), m[2], m[3], m[4]
		kind, got = m[5], m[6]
		if kind == "" {
			kind = m[7]
		}
		kind = strings.ToLower(kind)
	} else if m := limitRatio.FindStringSubmatch(e.Message); m != nil {
		sentence = m[0]
		bound, resource, scope, value, got = "ratio", m[1], m[2], m[3], m[4]
	} else {
		return nil
	}
	limitType := corev1.LimitTypeContainer
	if strings.EqualFold(scope, "Pod") {
		limitType = corev1.LimitTypePod
	}
	key := map[string]string{"maximum": "max", "minimum": "min", "ratio": "maxLimitRequestRatio"}[bound]
	event := fmt.Sprintf("event FailedCreate on %s %s: %s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, quoteMessage(e.Message))
	ranges, err := s.limitRangesIn(w.ref.Namespace)
	if err != nil {
		f.evidence = append(f.evidence, "could not check the LimitRanges: "+err.Error())
	}
	want, perr := apiresource.ParseQuantity(value)
	var lr *corev1.LimitRange
	index := -1
	for i := range ranges {
		for j, item := range ranges[i].Spec.Limits {
			if item.Type != limitType {
				continue
			}
			bounds := map[string]corev1.ResourceList{"max": item.Max, "min": item.Min, "maxLimitRequestRatio": item.MaxLimitRequestRatio}[key]
			q, ok := bounds[corev1.ResourceName(resource)]
			if !ok {
				continue
			}
			if lr == nil || (perr == nil && q.Cmp(want) == 0) {
				lr, index = &ranges[i], j
			}
		}
	}
	// The containers the bound concerns, from the template: those whose limit (or request)
	// lies past it.
	var who []string
	if w.spec != nil && limitType == corev1.LimitTypeContainer && perr == nil {
		for _, c := range w.spec.Containers {
			lim, hasLim := c.Resources.Limits[corev1.ResourceName(resource)]
			req, hasReq := c.Resources.Requests[corev1.ResourceName(resource)]
			switch {
			case bound == "maximum" && ((hasLim && lim.Cmp(want) > 0) || (kind == "limit" && got == "" && !hasLim)):
				who = append(who, c.Name)
			case bound == "minimum" && ((hasReq && req.Cmp(want) < 0) || (got == "" && !hasReq)):
				who = append(who, c.Name)
			case bound == "ratio" && hasLim:
				who = append(who, c.Name)
			}
		}
	}
	containers := "its containers"
	if len(who) > 0 {
		containers = fmt.Sprintf("%s %s", plural(len(who), "container"), strings.Join(who, ", "))
	}
	var change string
	switch {
	case bound == "maximum" && got == "":
		change = fmt.Sprintf("give %s of %s a %s limit of at most %s (workload_set_resources)", containers, w.ref, resource, value)
	case bound == "maximum":
		change = fmt.Sprintf("lower the %s %s of %s of %s to at most %s (workload_set_resources)", resource, kind, containers, w.ref, value)
	case bound == "minimum":
		change = fmt.Sprintf("raise the %s request of %s of %s to at least %s (workload_set_resources)", resource, containers, w.ref, value)
	default:
		change = fmt.Sprintf("bring the %s limit of %s of %s within %s times its request (workload_set_resources)", resource, containers, w.ref, value)
	}
	if lr == nil {
		c := &contract.Cause{Category: contract.QuotaExceeded, Object: w.ref.String(), Field: w.templatePath("containers"),
			Summary:  fmt.Sprintf("the LimitRanger admission plugin refuses the pods of %s: %q; no LimitRange of namespace %s with that bound could be read", w.ref, sentence, w.ref.Namespace),
			Evidence: []string{event},
			Fix:      &contract.Fix{Text: change + ", or change the namespace's LimitRange that sets the bound"}}
		if f.fix.tool == "" {
			f.fix = noFix("%s", c.Fix.Text)
		}
		return c
	}
	object := objectRef("limitrange", lr.Namespace, lr.Name)
	field := fmt.Sprintf("spec.limits[%d].%s.%s", index, key, resource)
	item := lr.Spec.Limits[index]
	bounds := map[string]corev1.ResourceList{"max": item.Max, "min": item.Min, "maxLimitRequestRatio": item.MaxLimitRequestRatio}[key]
	q := bounds[corev1.ResourceName(resource)]
	c := &contract.Cause{Category: contract.QuotaExceeded, Object: object, Field: field,
		Summary: fmt.Sprintf("LimitRange %s (%s %s) refuses the pods of %s: the API server says %q, so none is created",
			lr.Name, field, q.String(), w.ref, sentence),
		Evidence: []string{event, fmt.Sprintf("%s %s: %s (type %s)", object, field, q.String(), item.Type)},
		Fix: &contract.Fix{Text: fmt.Sprintf("%s; or, if the workload needs it, change %s of LimitRange %s (a namespace policy: ask its owner); the controller then creates the pods on its own",
			change, field, lr.Name)}}
	f.related = append(f.related, ref{Kind: "limitrange", Namespace: lr.Namespace, Name: lr.Name})
	if f.fix.tool == "" {
		f.fix = noFix("%s", c.Fix.Text)
	}
	return c
}

// quotaScopeWords say which pods a ResourceQuota scope counts.
var quotaScopeWords = map[corev1.ResourceQuotaScope]string{
	corev1.ResourceQuotaScopeBestEffort:                "BestEffort pods (no requests or limits)",
	corev1.ResourceQuotaScopeNotBestEffort:             "pods that request or limit cpu or memory (not BestEffort)",
	corev1.ResourceQuotaScopeTerminating:               "pods with activeDeadlineSeconds",
	corev1.ResourceQuotaScopeNotTerminating:            "pods without activeDeadlineSeconds",
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity: "pods with cross-namespace (anti-)affinity terms",
}

// quotaScope says which pods a scoped ResourceQuota counts ("it counts only pods of
// PriorityClass batch-urgent"); "" for a quota without scopes.
func quotaScope(q *corev1.ResourceQuota) string {
	var parts []string
	for _, sc := range q.Spec.Scopes {
		parts = append(parts, orWhat(quotaScopeWords[sc], "pods of scope "+string(sc)))
	}
	if q.Spec.ScopeSelector != nil {
		for _, e := range q.Spec.ScopeSelector.MatchExpressions {
			if e.ScopeName == corev1.ResourceQuotaScopePriorityClass {
				switch e.Operator {
				case corev1.ScopeSelectorOpIn:
					parts = append(parts, fmt.Sprintf("pods of PriorityClass %s", strings.Join(e.Values, " or ")))
				case corev1.ScopeSelectorOpNotIn:
					parts = append(parts, "pods of a PriorityClass other than "+strings.Join(e.Values, ", "))
				case corev1.ScopeSelectorOpExists:
					parts = append(parts, "pods that name a PriorityClass")
				case corev1.ScopeSelectorOpDoesNotExist:
					parts = append(parts, "pods that name no PriorityClass")
				}
				continue
			}
			parts = append(parts, orWhat(quotaScopeWords[e.ScopeName], "pods of scope "+string(e.ScopeName)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "it counts only " + strings.Join(parts, " that are also ")
}

// quotaScopesPriority reports whether a quota's scope selector selects by PriorityClass.
func quotaScopesPriority(q *corev1.ResourceQuota) bool {
	if q.Spec.ScopeSelector == nil {
		return false
	}
	return slices.ContainsFunc(q.Spec.ScopeSelector.MatchExpressions, func(e corev1.ScopedResourceSelectorRequirement) bool {
		return e.ScopeName == corev1.ResourceQuotaScopePriorityClass
	})
}
