package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Kueue's API, read through the dynamic client in whichever version the cluster serves
// (v1beta2 preferred, then v1beta1, then any other), so that Kueue's Go packages are not needed.
const (
	kueueGroup      = "kueue.x-k8s.io"
	visibilityGroup = "visibility.kueue.x-k8s.io"
	queueNameLabel  = "kueue.x-k8s.io/queue-name"
)

// kueueVersion returns the served version of Kueue's API, "" when its CRDs are not installed.
func (t *tools) kueueVersion() (string, error) {
	return t.k.served(kueueGroup, "workloads", "v1beta2", "v1beta1")
}

func kueueGVR(version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: kueueGroup, Version: version, Resource: resource}
}

// queueReport is what a queueing system says about a workload: a section of the answer, a
// verdict when the queue is what holds the workload back, and fixes.
type queueReport struct {
	section  string
	verdict  string
	category string // the verdict's root-cause category (api/contract)
	fixes    []fix
	notes    []string
}

// clusterQueue is the part of a Kueue ClusterQueue the answers use.
type clusterQueue struct {
	name, cohort, stopPolicy string
	active                   *condition
	groups                   []cqGroup
	usage                    map[string]map[corev1.ResourceName][2]int64 // flavor -> resource -> {total, borrowed}
	pending, admitted        int64
}

type cqGroup struct {
	covered []corev1.ResourceName
	flavors []cqFlavor
}

type cqFlavor struct {
	name   string
	quotas map[corev1.ResourceName]cqQuota
}

type cqQuota struct {
	nominal            int64
	borrowing, lending *int64
}

func parseClusterQueue(u *unstructured.Unstructured) *clusterQueue {
	o := u.Object
	cq := &clusterQueue{
		name:       u.GetName(),
		cohort:     firstStr(o, []string{"spec", "cohortName"}, []string{"spec", "cohort"}),
		stopPolicy: str(o, "spec", "stopPolicy"),
		usage:      map[string]map[corev1.ResourceName][2]int64{},
	}
	cq.active = findCond(conditions(o), "Active")
	cq.pending, _ = num(o, "status", "pendingWorkloads")
	cq.admitted, _ = num(o, "status", "admittedWorkloads")
	for _, g := range slice(o, "spec", "resourceGroups") {
		var grp cqGroup
		covered, _, _ := unstructured.NestedStringSlice(g, "coveredResources")
		for _, c := range covered {
			grp.covered = append(grp.covered, corev1.ResourceName(c))
		}
		for _, f := range slice(g, "flavors") {
			fl := cqFlavor{name: str(f, "name"), quotas: map[corev1.ResourceName]cqQuota{}}
			for _, r := range slice(f, "resources") {
				var q cqQuota
				q.nominal, _ = qtyField(r, "nominalQuota")
				if v, ok := qtyField(r, "borrowingLimit"); ok {
					q.borrowing = &v
				}
				if v, ok := qtyField(r, "lendingLimit"); ok {
					q.lending = &v
				}
				fl.quotas[corev1.ResourceName(str(r, "name"))] = q
			}
			grp.flavors = append(grp.flavors, fl)
		}
		cq.groups = append(cq.groups, grp)
	}
	for _, f := range slice(o, "status", "flavorsUsage") {
		m := map[corev1.ResourceName][2]int64{}
		for _, r := range slice(f, "resources") {
			total, _ := qtyField(r, "total")
			borrowed, _ := qtyField(r, "borrowed")
			m[corev1.ResourceName(str(r, "name"))] = [2]int64{total, borrowed}
		}
		cq.usage[str(f, "name")] = m
	}
	return cq
}

// groupFor returns the resource group that covers r.
func (cq *clusterQueue) groupFor(r corev1.ResourceName) *cqGroup {
	for i := range cq.groups {
		if slices.Contains(cq.groups[i].covered, r) {
			return &cq.groups[i]
		}
	}
	return nil
}

// headroom is how much more of r flavor f of the queue may admit: nominal minus use, plus what it
// may borrow (up to its borrowing limit; from a cohort's unused quota, cohortFree).
func (cq *clusterQueue) headroom(f cqFlavor, r corev1.ResourceName, cohortFree int64) (int64, string) {
	q := f.quotas[r]
	used := cq.usage[f.name][r][0]
	own := q.nominal - used
	if cq.cohort == "" {
		return own, "no cohort to borrow from"
	}
	borrow := cohortFree
	why := fmt.Sprintf("cohort %s has %s unused", cq.cohort, qty(r, cohortFree))
	if q.borrowing != nil {
		borrowed := cq.usage[f.name][r][1]
		if lim := *q.borrowing - borrowed; lim <= borrow { // the limit binds first (or both do)
			borrow = lim
			why = fmt.Sprintf("borrowing limit %s", qty(r, *q.borrowing))
		}
	}
	return own + max(borrow, 0), why
}

// cohortFree sums what the other ClusterQueues of a cohort leave unused of r in flavor, up to
// their lending limits.
func cohortFree(all []*clusterQueue, self *clusterQueue, flavor string, r corev1.ResourceName) int64 {
	var free int64
	for _, cq := range all {
		if cq.name == self.name || cq.cohort == "" || cq.cohort != self.cohort {
			continue
		}
		for _, g := range cq.groups {
			for _, f := range g.flavors {
				if f.name != flavor {
					continue
				}
				q, ok := f.quotas[r]
				if !ok {
					continue
				}
				unused := q.nominal - cq.usage[f.name][r][0]
				if q.lending != nil {
					unused = min(unused, *q.lending)
				}
				free += max(unused, 0)
			}
		}
	}
	return free
}

// workloadRequests sums what a Workload's pod sets request: count × one pod's requests.
func workloadRequests(w *unstructured.Unstructured) resList {
	total := resList{}
	for _, ps := range slice(w.Object, "spec", "podSets") {
		count, ok := num(ps, "count")
		if !ok {
			count = 1
		}
		tmpl, _, _ := unstructured.NestedMap(ps, "template")
		var spec corev1.PodTemplateSpec
		if err := fromUnstructured(tmpl, &spec); err != nil {
			continue
		}
		for r, v := range podRequests(&spec.Spec) {
			total[r] += v * count
		}
	}
	return total
}

// workloadTemplate returns the pod template of a Workload's first pod set.
func workloadTemplate(w *unstructured.Unstructured) (*corev1.PodTemplateSpec, error) {
	sets := slice(w.Object, "spec", "podSets")
	if len(sets) == 0 {
		return nil, fmt.Errorf("Workload %s/%s has no podSets", w.GetNamespace(), w.GetName())
	}
	tmpl, _, _ := unstructured.NestedMap(sets[0], "template")
	var spec corev1.PodTemplateSpec
	if err := fromUnstructured(tmpl, &spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

func (t *tools) resolveWorkload(ctx context.Context, tg *target, a explainArgs) (*target, error) {
	version, err := t.kueueVersion()
	if err != nil {
		return nil, err
	}
	if version == "" {
		return nil, fmt.Errorf("Workload %s/%s: Kueue is not installed in this cluster (no %s CRDs); explain the pod or Job instead", a.Namespace, a.Name, kueueGroup)
	}
	w, err := t.k.dynGet(ctx, kueueGVR(version, "workloads"), a.Namespace, a.Name)
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("Workload %s/%s not found; queue_status lists the workloads of a queue", a.Namespace, a.Name)
	}
	tg.ref, tg.workload, tg.uids = "Workload "+a.Namespace+"/"+a.Name, w, nil
	owners := map[string]bool{}
	for _, o := range w.GetOwnerReferences() {
		tg.uids = append(tg.uids, o.UID)
		owners[string(o.UID)] = true
	}
	if err := t.ownedPods(ctx, tg, func(o metav1.OwnerReference) bool { return owners[string(o.UID)] }); err != nil {
		return nil, err
	}
	tmpl, err := workloadTemplate(w)
	if err != nil {
		return nil, err
	}
	t.pickPod(ctx, tg, a.Name, tmpl)
	return tg, nil
}

// kueueFor reports a workload's admission by Kueue.
func (t *tools) kueueFor(ctx context.Context, tg *target) (*queueReport, error) {
	queue := tg.labels[queueNameLabel]
	if tg.job != nil && queue == "" {
		queue = tg.job.Labels[queueNameLabel]
	}
	version, err := t.kueueVersion()
	if err != nil {
		return nil, err
	}
	if version == "" {
		rep := &queueReport{section: "Kueue: not installed (no kueue.x-k8s.io CRDs); answered from pods and nodes.\n"}
		if queue != "" {
			rep.section = fmt.Sprintf("Kueue: %s names LocalQueue %s (label %s), but Kueue is not installed (no kueue.x-k8s.io CRDs).\n", tg.ref, queue, queueNameLabel)
			if tg.job != nil && tg.job.Spec.Suspend != nil && *tg.job.Spec.Suspend {
				rep.category = contract.QueueClosed
				rep.verdict = fmt.Sprintf("%s waits for Kueue to admit it into LocalQueue %s, but Kueue is not installed, so nothing will unsuspend it.", tg.ref, queue)
				rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("install Kueue, or remove the %s label and resume the Job (job_resume)", queueNameLabel), rank: rankQueue})
			}
		}
		return rep, nil
	}
	w := tg.workload
	if w == nil {
		list, err := t.k.dynList(ctx, kueueGVR(version, "workloads"), tg.ns, true)
		if err != nil {
			return nil, err
		}
		for i := range list {
			for _, o := range list[i].GetOwnerReferences() {
				if slices.Contains(tg.uids, o.UID) {
					w = &list[i]
				}
			}
		}
	}
	if w == nil && queue == "" {
		return &queueReport{section: "Kueue: installed; no Workload for it (Kueue does not manage it).\n"}, nil
	}
	var b strings.Builder
	rep := &queueReport{}
	if w != nil {
		if q := str(w.Object, "spec", "queueName"); q != "" {
			queue = q
		}
		fmt.Fprintf(&b, "Kueue (%s/%s): Workload %s/%s in LocalQueue %s", kueueGroup, version, w.GetNamespace(), w.GetName(), orDash(queue))
	} else {
		fmt.Fprintf(&b, "Kueue (%s/%s): %s names LocalQueue %s, but Kueue has made no Workload for it", kueueGroup, version, tg.ref, queue)
	}
	defer func() { rep.section = b.String() }()

	lq, err := t.k.dynGet(ctx, kueueGVR(version, "localqueues"), tg.ns, queue)
	if err != nil {
		return nil, err
	}
	if lq == nil {
		b.WriteString(".\n")
		others, err := t.k.dynList(ctx, kueueGVR(version, "localqueues"), tg.ns, true)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, o := range others {
			names = append(names, o.GetName())
		}
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s names LocalQueue %s/%s, which does not exist, so Kueue will not admit it.", tg.ref, tg.ns, queue)
		move := "create it"
		if len(names) > 0 {
			move = fmt.Sprintf("create it, or move the workload to an existing LocalQueue of namespace %s (workload_set_queue): %s", tg.ns, strings.Join(names, ", "))
		}
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("LocalQueue %s/%s is missing: %s", tg.ns, queue, move), rank: rankQueue})
		return rep, nil
	}
	cqName := str(lq.Object, "spec", "clusterQueue")
	fmt.Fprintf(&b, " → ClusterQueue %s", cqName)
	cqs, err := t.k.dynList(ctx, kueueGVR(version, "clusterqueues"), "", false)
	if err != nil {
		return nil, err
	}
	var all []*clusterQueue
	var cq *clusterQueue
	for i := range cqs {
		c := parseClusterQueue(&cqs[i])
		all = append(all, c)
		if c.name == cqName {
			cq = c
		}
	}
	if cq == nil {
		b.WriteString(".\n")
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("LocalQueue %s/%s points at ClusterQueue %s, which does not exist, so Kueue admits nothing from it.", tg.ns, queue, cqName)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("create ClusterQueue %s, or point LocalQueue %s/%s at an existing ClusterQueue", cqName, tg.ns, queue), rank: rankQueue})
		return rep, nil
	}
	if cq.cohort != "" {
		fmt.Fprintf(&b, " (cohort %s)", cq.cohort)
	}
	b.WriteString(".\n")
	if w == nil {
		rep.notes = append(rep.notes, "Kueue made no Workload: check that its controller runs and that its integration for this kind is enabled (manageJobsWithoutQueueName, frameworks)")
		return rep, nil
	}
	conds := conditions(w.Object)
	for _, typ := range []string{"QuotaReserved", "Admitted", "Evicted", "Preempted", "Requeued", "Finished"} {
		if c := findCond(conds, typ); c != nil {
			b.WriteString("  " + c.String() + "\n")
		}
	}
	if isTrue(findCond(conds, "Finished")) {
		rep.category = contract.NoProblemFound
		rep.verdict = fmt.Sprintf("Workload %s/%s has finished.", w.GetNamespace(), w.GetName())
		return rep, nil
	}
	if isTrue(findCond(conds, "Admitted")) {
		return rep, nil // admitted: the pods' scheduling is what remains
	}
	wref := fmt.Sprintf("Workload %s/%s", w.GetNamespace(), w.GetName())
	if active, ok, _ := unstructured.NestedBool(w.Object, "spec", "active"); ok && !active {
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s is deactivated (spec.active: false), so Kueue will not admit it.", wref)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("set spec.active to true on %s (after fixing why it was deactivated, such as too many evictions)", wref), rank: rankQueue})
		return rep, nil
	}
	if cq.stopPolicy != "" && cq.stopPolicy != "None" {
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s is not admitted: ClusterQueue %s is stopped (stopPolicy %s) and admits nothing.", wref, cq.name, cq.stopPolicy)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("set spec.stopPolicy of ClusterQueue %s to None", cq.name), rank: rankQueue})
		return rep, nil
	}
	if cq.active != nil && cq.active.status == "False" {
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s is not admitted: ClusterQueue %s is inactive (%s: %s).", wref, cq.name, cq.active.reason, cq.active.message)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("fix ClusterQueue %s: %s", cq.name, cq.active.message), rank: rankQueue})
		return rep, nil
	}
	req := workloadRequests(w)
	fmt.Fprintf(&b, "  requests in all: %s\n", reqSummary(req))
	t.quotaVerdict(ctx, rep, &b, w, wref, req, cq, all, version)
	t.position(ctx, &b, w, queue, cq, version)
	return rep, nil
}

// quotaVerdict compares the workload's requests with the ClusterQueue's quota per flavor, and
// when no flavor has room says so and how to make room.
func (t *tools) quotaVerdict(ctx context.Context, rep *queueReport, b *strings.Builder, w *unstructured.Unstructured, wref string, req resList, cq *clusterQueue, all []*clusterQueue, version string) {
	tbl := mcptool.Table{Header: []string{"FLAVOR", "RESOURCE", "NOMINAL", "BORROWING-LIMIT", "USED", "BORROWED", "REQUESTED", "ROOM"}}
	type short struct {
		flavor string
		r      corev1.ResourceName
		room   int64
		why    string
	}
	var fits bool
	var shorts []short
	var uncovered []string
	var groupsSeen []*cqGroup
	for _, r := range req.names() {
		g := cq.groupFor(r)
		if g == nil {
			uncovered = append(uncovered, string(r))
			continue
		}
		if !slices.Contains(groupsSeen, g) {
			groupsSeen = append(groupsSeen, g)
		}
	}
	if len(uncovered) > 0 {
		var covered []string
		for _, g := range cq.groups {
			for _, c := range g.covered {
				covered = append(covered, string(c))
			}
		}
		rep.category = contract.QueueQuotaExhausted
		rep.verdict = fmt.Sprintf("%s is not admitted: ClusterQueue %s has no quota for %s (it covers %s).", wref, cq.name, strings.Join(uncovered, ", "), orDash(strings.Join(covered, ", ")))
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("add %s to a resourceGroup of ClusterQueue %s with a nominalQuota", strings.Join(uncovered, ", "), cq.name), rank: rankQueue})
		return
	}
	fits = true
	for _, g := range groupsSeen {
		groupFits := false
		var groupShorts []short
		for _, f := range g.flavors {
			flavorFits := true
			for _, r := range req.names() {
				if !slices.Contains(g.covered, r) {
					continue
				}
				q := f.quotas[r]
				room, why := cq.headroom(f, r, cohortFree(all, cq, f.name, r))
				use := cq.usage[f.name][r]
				lim := "-"
				if q.borrowing != nil {
					lim = qty(r, *q.borrowing)
				} else if cq.cohort == "" {
					lim = "0 (no cohort)"
				}
				tbl.Add(f.name, string(r), qty(r, q.nominal), lim, qty(r, use[0]), qty(r, use[1]), qty(r, req[r]), qty(r, max(room, 0)))
				if room < req[r] {
					flavorFits = false
					groupShorts = append(groupShorts, short{flavor: f.name, r: r, room: room, why: why})
				}
			}
			if flavorFits {
				groupFits = true
			}
		}
		if !groupFits {
			fits = false
			shorts = append(shorts, groupShorts...)
		}
	}
	b.WriteString(indent(tbl.Render(4096)))
	kueueMsg := ""
	if c := findCond(conditions(w.Object), "QuotaReserved"); c != nil && c.status == "False" {
		kueueMsg = c.message
	}
	if fits {
		if kueueMsg != "" {
			rep.category = contract.Unschedulable
			rep.verdict = fmt.Sprintf("%s is not admitted yet although ClusterQueue %s has room by its quota; Kueue says: %s", wref, cq.name, kueueMsg)
		} else {
			rep.category = contract.Unschedulable
			rep.verdict = fmt.Sprintf("%s waits for Kueue to admit it; ClusterQueue %s has room by its quota, so admission should follow (or an admission check holds it).", wref, cq.name)
		}
		return
	}
	s := shorts[0]
	f := flavorNamed(cq, s.flavor)
	q := f.quotas[s.r]
	used := cq.usage[s.flavor][s.r][0]
	rep.category = contract.QueueQuotaExhausted
	rep.verdict = fmt.Sprintf("%s is not admitted: ClusterQueue %s is at %s/%s %s in flavor %s (%s), and it needs %s more.",
		wref, cq.name, qty(s.r, used), qty(s.r, q.nominal), s.r, s.flavor, s.why, qty(s.r, req[s.r]-max(s.room, 0)))
	if kueueMsg != "" {
		rep.verdict += " Kueue says: " + kueueMsg
	}
	newQuota := q.nominal + (req[s.r] - max(s.room, 0))
	rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("raise nominalQuota of %s in flavor %s of ClusterQueue %s from %s to %s (clusterqueue_set_quota)",
		s.r, s.flavor, cq.name, qty(s.r, q.nominal), qty(s.r, newQuota)), rank: rankQueue,
		tool: "clusterqueue_set_quota", args: map[string]any{"name": cq.name, "flavor": s.flavor, "resource": string(s.r), "nominalQuota": qty(s.r, newQuota)}})
	if cq.cohort != "" && q.borrowing != nil {
		need := *q.borrowing + (req[s.r] - max(s.room, 0))
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("raise borrowingLimit of %s in flavor %s of ClusterQueue %s from %s to %s, if cohort %s has it unused (clusterqueue_set_quota)",
			s.r, s.flavor, cq.name, qty(s.r, *q.borrowing), qty(s.r, need), cq.cohort), rank: rankQueue + 1,
			tool: "clusterqueue_set_quota", args: map[string]any{"name": cq.name, "flavor": s.flavor, "resource": string(s.r), "nominalQuota": qty(s.r, q.nominal), "borrowingLimit": qty(s.r, need)}})
	}
	// Another LocalQueue of the namespace whose ClusterQueue has room.
	if lqs, err := t.k.dynList(ctx, kueueGVR(version, "localqueues"), w.GetNamespace(), true); err == nil {
		for _, lq := range lqs {
			other := str(lq.Object, "spec", "clusterQueue")
			if other == cq.name {
				continue
			}
			for _, c := range all {
				if c.name != other {
					continue
				}
				if flavor, ok := roomFor(c, all, req); ok {
					rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("move it to LocalQueue %s (workload_set_queue): its ClusterQueue %s has room for %s in flavor %s",
						lq.GetName(), c.name, reqSummary(req), flavor), rank: rankQueue,
						tool: "workload_set_queue", args: map[string]any{"kind": "workload", "namespace": w.GetNamespace(), "name": w.GetName(), "queue": lq.GetName()}})
				}
			}
		}
	}
	if s.room > 0 && wholeUnits(s.r) {
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("reduce the workload's %s to %s in all: that much quota is free in flavor %s", s.r, qty(s.r, s.room), s.flavor), rank: rankQueue + 2})
	}
	rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("wait: the %d admitted workloads of ClusterQueue %s hold %s %s in flavor %s; it is admitted when they finish (or preempted by them, if its priority is higher and the queue's preemption allows)",
		cq.admitted, cq.name, qty(s.r, used), s.r, s.flavor), rank: rankQueue + 3})
}

// roomFor reports whether a ClusterQueue has room for req, and in which flavors.
func roomFor(cq *clusterQueue, all []*clusterQueue, req resList) (string, bool) {
	if cq.stopPolicy != "" && cq.stopPolicy != "None" {
		return "", false
	}
	var groups []*cqGroup
	for _, r := range req.names() {
		g := cq.groupFor(r)
		if g == nil {
			return "", false
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	var flavors []string
	for _, g := range groups {
		found := ""
		for _, f := range g.flavors {
			ok := true
			for _, r := range req.names() {
				if !slices.Contains(g.covered, r) {
					continue
				}
				if room, _ := cq.headroom(f, r, cohortFree(all, cq, f.name, r)); room < req[r] {
					ok = false
				}
			}
			if ok {
				found = f.name
				break
			}
		}
		if found == "" {
			return "", false
		}
		flavors = append(flavors, found)
	}
	return strings.Join(flavors, ", "), true
}

func flavorNamed(cq *clusterQueue, name string) cqFlavor {
	for _, g := range cq.groups {
		for _, f := range g.flavors {
			if f.name == name {
				return f
			}
		}
	}
	return cqFlavor{quotas: map[corev1.ResourceName]cqQuota{}}
}

// position says where the workload stands in its queue: from Kueue's visibility API where it is
// served, else estimated from the pending workloads of the ClusterQueue by priority and age.
func (t *tools) position(ctx context.Context, b *strings.Builder, w *unstructured.Unstructured, queue string, cq *clusterQueue, version string) {
	if v, err := t.k.served(visibilityGroup, "localqueues", "v1beta2", "v1beta1"); err == nil && v != "" {
		gvr := schema.GroupVersionResource{Group: visibilityGroup, Version: v, Resource: "localqueues"}
		if sum, err := t.k.dyn.Resource(gvr).Namespace(w.GetNamespace()).Get(ctx, queue, metav1.GetOptions{}, "pendingworkloads"); err == nil {
			for _, it := range slice(sum.Object, "items") {
				if str(it, "metadata", "name") == w.GetName() {
					pcq, _ := num(it, "positionInClusterQueue")
					plq, _ := num(it, "positionInLocalQueue")
					fmt.Fprintf(b, "  position (visibility API): %d in ClusterQueue %s, %d in LocalQueue %s\n", pcq+1, cq.name, plq+1, queue)
					return
				}
			}
		}
	}
	list, err := t.k.dynList(ctx, kueueGVR(version, "workloads"), "", true)
	if err != nil {
		return
	}
	pending := t.pendingIn(ctx, list, cq.name, version)
	for i, p := range pending {
		if p.GetUID() == w.GetUID() {
			fmt.Fprintf(b, "  position (estimated by priority, then age; the visibility API is not served): %d of %d pending in ClusterQueue %s\n", i+1, len(pending), cq.name)
			return
		}
	}
}

// pendingIn returns the workloads waiting for admission into ClusterQueue cq, in the order Kueue
// considers them: higher priority first, then older first.
func (t *tools) pendingIn(ctx context.Context, workloads []unstructured.Unstructured, cq, version string) []unstructured.Unstructured {
	lqTarget := map[string]string{}
	if lqs, err := t.k.dynList(ctx, kueueGVR(version, "localqueues"), "", true); err == nil {
		for _, lq := range lqs {
			lqTarget[lq.GetNamespace()+"/"+lq.GetName()] = str(lq.Object, "spec", "clusterQueue")
		}
	}
	var out []unstructured.Unstructured
	for _, w := range workloads {
		conds := conditions(w.Object)
		if isTrue(findCond(conds, "QuotaReserved")) || isTrue(findCond(conds, "Finished")) {
			continue
		}
		if lqTarget[w.GetNamespace()+"/"+str(w.Object, "spec", "queueName")] != cq {
			continue
		}
		out = append(out, w)
	}
	slices.SortStableFunc(out, func(a, b unstructured.Unstructured) int {
		pa, _ := num(a.Object, "spec", "priority")
		pb, _ := num(b.Object, "spec", "priority")
		if pa != pb {
			return int(pb - pa)
		}
		if c := a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	return out
}

func indent(s string) string {
	if s == "" {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}
