package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
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
func quotaCause(r quotaRefusal, ns, subject string, q *corev1.ResourceQuota, event string) *contract.Cause {
	object := objectRef("resourcequota", ns, r.quota)
	c := &contract.Cause{Category: contract.QuotaExceeded, Object: object, Field: "spec.hard", Evidence: []string{event}}
	var hard []string
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
			r.quota, constrains, subject, strings.Join(r.missing, "; "))
		c.Fix = &contract.Fix{Text: fmt.Sprintf("give the containers of %s %s (workload_set_resources), or give namespace %s a LimitRange whose defaults set them; the controller then creates the pods on its own",
			subject, strings.Join(r.resources, " and "), ns)}
		return c
	}
	usage := ""
	if r.usage != "" {
		usage = " (" + r.usage + ")"
	}
	c.Summary = fmt.Sprintf("ResourceQuota %s has no room left for %s%s: it refuses the new pods of %s", r.quota, orWhat(constrains, "what it constrains"), usage, subject)
	c.Fix = &contract.Fix{Text: fmt.Sprintf("raise the hard limits of ResourceQuota %s (resource_patch), or lower what %s requests", object, subject)}
	return c
}

func orWhat(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
