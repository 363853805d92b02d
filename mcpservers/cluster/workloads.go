package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) workloadTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "workload_health",
			Description: "Health of Deployments, StatefulSets, DaemonSets, Jobs and CronJobs: rollout progress (ready/updated/available of desired), " +
				"why replicas are unavailable (the waiting and termination reasons of their pods, such as \"2 pods CrashLoopBackOff (exit 1)\"), " +
				"failing conditions; Jobs' active/succeeded/failed and backoffLimit; CronJobs' schedule and last run. Unhealthy workloads first, healthy ones one line each.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Description("namespace; empty means every namespace the server may see"), mcp.MaxLength(63)),
				mcp.WithString("kind", mcp.Description("only this kind (default all)"), mcp.Enum("deployment", "statefulset", "daemonset", "job", "cronjob")),
				mcp.WithString("name", mcp.Description("only workloads with this name"), mcp.MaxLength(253)),
			},
		}, t.workloadHealth),
	}
}

// healthKinds are the kinds workload_health covers, in the order it reports them.
var healthKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}

type healthArgs struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
}

// healthKind resolves workload_health's kind argument as kubectl does (deploy, sts, ds, cj,
// deployments.apps, a CRD's short name ...) through the discovery RESTMapper, and accepts the
// kinds it covers.
func (t *tools) healthKind(kind string) (string, error) {
	if kind == "" {
		return "", nil
	}
	r, err := t.k.resolve(kind)
	if err != nil {
		return "", fmt.Errorf(`argument "kind": %w`, err)
	}
	if !slices.Contains(healthKinds, r.gvk.Kind) || (r.gvk.Group != "apps" && r.gvk.Group != "batch") {
		return "", fmt.Errorf(`argument "kind" must be one of deployment, statefulset, daemonset, job or cronjob, not %q`, kind)
	}
	return r.gvk.Kind, nil
}

// workload is a pod controller with its rollout facts and its pods.
type workload struct {
	kind, namespace, name string
	uid                   types.UID
	obj                   client.Object
	healthy               bool
	summary               string   // one line: progress
	problems              []string // why it is unhealthy, one fact each
	failing               []string // its conditions that say it is failing
	notes                 []string // facts worth a line even when healthy (paused, suspended)
	pods                  []*corev1.Pod
	jobs                  []*batchv1.Job // a CronJob's jobs, oldest first
	jobPods               map[types.UID][]*corev1.Pod
}

func (w *workload) ref() string { return objectRef(strings.ToLower(w.kind), w.namespace, w.name) }

// workloadSet is the workloads of some namespaces, with the pods, ReplicaSets and Jobs that
// belong to them, read once from the cache.
type workloadSet struct {
	items []*workload
}

// scanNamespaces is the namespaces one cache list per namespace covers: [""] for all.
func (t *tools) scanNamespaces(ns string) []string {
	if n := t.k.namespaces(ns); len(n) > 0 {
		return n
	}
	return []string{""}
}

// cacheList lists from the cache into list for every namespace ns covers, calling collect after
// each list. The objects are the cache's own: read them, never change them.
func (t *tools) cacheList(ctx context.Context, ns string, list client.ObjectList, what string, collect func()) error {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return err
	}
	for _, n := range t.scanNamespaces(ns) {
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if n != "" {
			opts = append(opts, client.InNamespace(n))
		}
		if err := reader.List(ctx, list, opts...); err != nil {
			return apiError(err, "list", what)
		}
		collect()
	}
	return nil
}

// loadWorkloads reads the workloads of kind (every workload kind when empty) and name (every
// name when empty) in ns, with their pods.
func (t *tools) loadWorkloads(ctx context.Context, ns, kind, name string) (*workloadSet, error) {
	// A ReplicaSet is a workload only when asked for: most belong to a Deployment.
	want := func(k string) bool { return kind == k || (kind == "" && k != "ReplicaSet") }
	set := &workloadSet{}
	keep := func(o metav1.Object) bool { return name == "" || o.GetName() == name }

	if want("Deployment") {
		var list appsv1.DeploymentList
		if err := t.cacheList(ctx, ns, &list, "deployments", func() {
			for i := range list.Items {
				if d := &list.Items[i]; keep(d) {
					set.items = append(set.items, deploymentHealth(d))
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	if want("StatefulSet") {
		var list appsv1.StatefulSetList
		if err := t.cacheList(ctx, ns, &list, "statefulsets", func() {
			for i := range list.Items {
				if s := &list.Items[i]; keep(s) {
					set.items = append(set.items, statefulSetHealth(s))
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	if want("DaemonSet") {
		var list appsv1.DaemonSetList
		if err := t.cacheList(ctx, ns, &list, "daemonsets", func() {
			for i := range list.Items {
				if d := &list.Items[i]; keep(d) {
					set.items = append(set.items, daemonSetHealth(d))
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	if want("ReplicaSet") {
		var list appsv1.ReplicaSetList
		if err := t.cacheList(ctx, ns, &list, "replicasets", func() {
			for i := range list.Items {
				if r := &list.Items[i]; keep(r) {
					set.items = append(set.items, replicaSetHealth(r))
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	var jobs []*batchv1.Job
	if want("Job") || want("CronJob") {
		var list batchv1.JobList
		if err := t.cacheList(ctx, ns, &list, "jobs", func() {
			for i := range list.Items {
				jobs = append(jobs, &list.Items[i])
			}
		}); err != nil {
			return nil, err
		}
	}
	if want("Job") {
		for _, j := range jobs {
			// Asked for every kind, a CronJob's Jobs are reported under their CronJob.
			if c := metav1.GetControllerOf(j); kind == "" && c != nil && c.Kind == "CronJob" {
				continue
			}
			if keep(j) {
				set.items = append(set.items, jobHealth(j))
			}
		}
	}
	if want("CronJob") {
		var list batchv1.CronJobList
		if err := t.cacheList(ctx, ns, &list, "cronjobs", func() {
			for i := range list.Items {
				if c := &list.Items[i]; keep(c) {
					set.items = append(set.items, &workload{kind: "CronJob", namespace: c.Namespace, name: c.Name, uid: c.UID, obj: c})
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	if len(set.items) == 0 {
		return set, nil
	}
	if err := t.attachPods(ctx, ns, set, jobs); err != nil {
		return nil, err
	}
	for _, w := range set.items {
		judge(w)
	}
	return set, nil
}

// attachPods gives each workload its pods: those its controller (or its ReplicaSets, or a
// CronJob's Jobs) owns, and unowned pods its selector matches.
func (t *tools) attachPods(ctx context.Context, ns string, set *workloadSet, jobs []*batchv1.Job) error {
	podNamespaces := map[string]bool{}
	needRS := false
	for _, w := range set.items {
		podNamespaces[w.namespace] = true
		needRS = needRS || w.kind == "Deployment"
	}
	byOwner := map[types.UID][]*corev1.Pod{}
	unowned := map[string][]*corev1.Pod{} // by namespace
	var pods corev1.PodList
	listNS := ns
	if ns == "" && len(podNamespaces) == 1 {
		for n := range podNamespaces {
			listNS = n
		}
	}
	if err := t.cacheList(ctx, listNS, &pods, "pods", func() {
		for i := range pods.Items {
			p := &pods.Items[i]
			if !podNamespaces[p.Namespace] {
				continue
			}
			if c := metav1.GetControllerOf(p); c != nil {
				byOwner[c.UID] = append(byOwner[c.UID], p)
			} else {
				unowned[p.Namespace] = append(unowned[p.Namespace], p)
			}
		}
	}); err != nil {
		return err
	}
	// A Deployment's pods are its ReplicaSets' pods.
	rsOf := map[types.UID][]types.UID{}
	if needRS {
		var rsList appsv1.ReplicaSetList
		if err := t.cacheList(ctx, listNS, &rsList, "replicasets", func() {
			for i := range rsList.Items {
				if c := metav1.GetControllerOf(&rsList.Items[i]); c != nil {
					rsOf[c.UID] = append(rsOf[c.UID], rsList.Items[i].UID)
				}
			}
		}); err != nil {
			return err
		}
	}
	jobsOf := map[types.UID][]*batchv1.Job{}
	for _, j := range jobs {
		if c := metav1.GetControllerOf(j); c != nil {
			jobsOf[c.UID] = append(jobsOf[c.UID], j)
		}
	}
	selected := func(sel *metav1.LabelSelector, ns string) []*corev1.Pod {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || sel == nil || s.Empty() {
			return nil // an empty selector would claim every pod
		}
		var out []*corev1.Pod
		for _, p := range unowned[ns] {
			if s.Matches(labels.Set(p.Labels)) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, w := range set.items {
		switch o := w.obj.(type) {
		case *appsv1.Deployment:
			for _, rs := range rsOf[w.uid] {
				w.pods = append(w.pods, byOwner[rs]...)
			}
			w.pods = append(w.pods, byOwner[w.uid]...)
			w.pods = append(w.pods, selected(o.Spec.Selector, w.namespace)...)
		case *appsv1.StatefulSet:
			w.pods = append(append(w.pods, byOwner[w.uid]...), selected(o.Spec.Selector, w.namespace)...)
		case *appsv1.DaemonSet:
			w.pods = append(append(w.pods, byOwner[w.uid]...), selected(o.Spec.Selector, w.namespace)...)
		case *appsv1.ReplicaSet:
			w.pods = append(append(w.pods, byOwner[w.uid]...), selected(o.Spec.Selector, w.namespace)...)
		case *batchv1.Job:
			w.pods = append(append(w.pods, byOwner[w.uid]...), selected(o.Spec.Selector, w.namespace)...)
		case *batchv1.CronJob:
			w.jobs = jobsOf[w.uid]
			sort.Slice(w.jobs, func(i, j int) bool {
				return w.jobs[i].CreationTimestamp.Before(&w.jobs[j].CreationTimestamp) ||
					(w.jobs[i].CreationTimestamp.Equal(&w.jobs[j].CreationTimestamp) && w.jobs[i].Name < w.jobs[j].Name)
			})
			w.jobPods = map[types.UID][]*corev1.Pod{}
			for _, j := range w.jobs {
				w.jobPods[j.UID] = append(append(w.jobPods[j.UID], byOwner[j.UID]...), selected(j.Spec.Selector, w.namespace)...)
				w.pods = append(w.pods, w.jobPods[j.UID]...)
			}
		}
	}
	return nil
}

// rollout formats ready/updated/available of desired.
func rollout(desired, ready, updated, available int32) string {
	return fmt.Sprintf("%d/%d ready, %d/%d updated, %d/%d available", ready, desired, updated, desired, available, desired)
}

func deploymentHealth(d *appsv1.Deployment) *workload {
	w := &workload{kind: "Deployment", namespace: d.Namespace, name: d.Name, uid: d.UID, obj: d}
	desired, st := replicas(d.Spec.Replicas), d.Status
	w.summary = rollout(desired, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas)
	w.healthy = st.ReadyReplicas >= desired && st.UpdatedReplicas >= desired && st.AvailableReplicas >= desired
	if unavailable := max(st.UnavailableReplicas, desired-st.AvailableReplicas); unavailable > 0 {
		w.problems = append(w.problems, fmt.Sprintf("%d unavailable", unavailable))
	}
	if d.Generation > st.ObservedGeneration {
		w.notes = append(w.notes, fmt.Sprintf("spec generation %d not yet observed by the controller (observed %d)", d.Generation, st.ObservedGeneration))
	}
	if d.Spec.Paused {
		w.notes = append(w.notes, "rollout paused")
	}
	for _, c := range st.Conditions {
		bad := (c.Type == appsv1.DeploymentProgressing && (c.Status == corev1.ConditionFalse || c.Reason == "ProgressDeadlineExceeded")) ||
			(c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue) ||
			(c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionFalse)
		if bad {
			w.healthy = false
			w.failing = append(w.failing, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		}
	}
	return w
}

func statefulSetHealth(s *appsv1.StatefulSet) *workload {
	w := &workload{kind: "StatefulSet", namespace: s.Namespace, name: s.Name, uid: s.UID, obj: s}
	desired, st := replicas(s.Spec.Replicas), s.Status
	w.summary = rollout(desired, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas)
	w.healthy = st.ReadyReplicas >= desired && st.UpdatedReplicas >= desired && st.AvailableReplicas >= desired
	if unavailable := desired - st.AvailableReplicas; unavailable > 0 {
		w.problems = append(w.problems, fmt.Sprintf("%d unavailable", unavailable))
	}
	if st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision {
		w.notes = append(w.notes, fmt.Sprintf("rolling out revision %s (current %s)", st.UpdateRevision, st.CurrentRevision))
	}
	for _, c := range st.Conditions {
		if c.Status == corev1.ConditionFalse || strings.Contains(c.Reason, "Fail") {
			w.failing = append(w.failing, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		}
	}
	return w
}

func replicaSetHealth(r *appsv1.ReplicaSet) *workload {
	w := &workload{kind: "ReplicaSet", namespace: r.Namespace, name: r.Name, uid: r.UID, obj: r}
	desired, st := replicas(r.Spec.Replicas), r.Status
	w.summary = fmt.Sprintf("%d/%d ready, %d/%d available", st.ReadyReplicas, desired, st.AvailableReplicas, desired)
	w.healthy = st.ReadyReplicas >= desired && st.AvailableReplicas >= desired
	if unavailable := desired - st.AvailableReplicas; unavailable > 0 {
		w.problems = append(w.problems, fmt.Sprintf("%d unavailable", unavailable))
	}
	for _, c := range st.Conditions {
		if c.Status == corev1.ConditionTrue {
			w.healthy = false
			w.failing = append(w.failing, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		}
	}
	return w
}

func daemonSetHealth(d *appsv1.DaemonSet) *workload {
	w := &workload{kind: "DaemonSet", namespace: d.Namespace, name: d.Name, uid: d.UID, obj: d}
	st := d.Status
	desired := st.DesiredNumberScheduled
	w.summary = rollout(desired, st.NumberReady, st.UpdatedNumberScheduled, st.NumberAvailable) + fmt.Sprintf(" (%d nodes scheduled)", desired)
	w.healthy = st.NumberReady >= desired && st.UpdatedNumberScheduled >= desired && st.NumberAvailable >= desired && st.NumberMisscheduled == 0
	if unavailable := max(st.NumberUnavailable, desired-st.NumberAvailable); unavailable > 0 {
		w.problems = append(w.problems, fmt.Sprintf("%d unavailable", unavailable))
	}
	if st.NumberMisscheduled > 0 {
		w.problems = append(w.problems, fmt.Sprintf("%d pods on nodes they should not run on", st.NumberMisscheduled))
	}
	for _, c := range st.Conditions {
		w.failing = append(w.failing, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
	}
	return w
}

func jobHealth(j *batchv1.Job) *workload {
	w := &workload{kind: "Job", namespace: j.Namespace, name: j.Name, uid: j.UID, obj: j}
	st := j.Status
	backoff := "6 (default)"
	if j.Spec.BackoffLimit != nil {
		backoff = itoa(*j.Spec.BackoffLimit)
	}
	w.summary = fmt.Sprintf("%s: %d/%d succeeded, %d active, %d failed (backoffLimit %s)",
		jobStatus(j), st.Succeeded, replicas(j.Spec.Completions), st.Active, st.Failed, backoff)
	w.healthy = st.Failed == 0
	for _, c := range st.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			w.healthy = false
			if c.Type == batchv1.JobFailureTarget && jobStatus(j) == string(batchv1.JobFailed) {
				continue // the same reason as Failed
			}
			w.failing = append(w.failing, condition(string(c.Type), string(c.Status), c.Reason, c.Message))
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			w.healthy = true // failures that were retried away do not matter any more
		case batchv1.JobSuspended:
			w.notes = append(w.notes, "suspended")
		}
	}
	if st.Failed > 0 && !w.healthy && jobStatus(j) != string(batchv1.JobFailed) {
		w.problems = append(w.problems, fmt.Sprintf("%d failed attempts of backoffLimit %s", st.Failed, backoff))
	}
	return w
}

// judge completes a workload's verdict with its pods (and, for a CronJob, its Jobs).
func judge(w *workload) {
	live := make([]*corev1.Pod, 0, len(w.pods))
	for _, p := range w.pods {
		if !podTerminated(p) || w.kind == "Job" {
			live = append(live, p)
		}
	}
	switch w.kind {
	case "CronJob":
		judgeCronJob(w)
		return
	case "Job":
		if jobStatus(w.obj.(*batchv1.Job)) == string(batchv1.JobComplete) {
			return
		}
		running := live[:0:0]
		for _, p := range live {
			if !podTerminated(p) {
				running = append(running, p)
			}
		}
		if why := summarizeUnready(running); why != "" {
			w.healthy = false
			w.problems = append(w.problems, "not running: "+why)
		} else if why := summarizeUnready(live); why != "" && !w.healthy {
			w.problems = append(w.problems, "pods: "+why)
		}
		return
	}
	if why := summarizeUnready(live); why != "" {
		if w.healthy {
			w.notes = append(w.notes, "unready pods: "+why)
		} else {
			// "2 unavailable" becomes "2 unavailable: 2 pods CrashLoopBackOff (exit 1)".
			if len(w.problems) > 0 && strings.HasSuffix(w.problems[0], " unavailable") {
				w.problems[0] += ": " + why
			} else {
				w.problems = append(w.problems, "unready pods: "+why)
			}
		}
	}
}

func judgeCronJob(w *workload) {
	c := w.obj.(*batchv1.CronJob)
	w.healthy = true
	last, success := "never", "never"
	if c.Status.LastScheduleTime != nil {
		last = age(*c.Status.LastScheduleTime) + " ago"
	}
	if c.Status.LastSuccessfulTime != nil {
		success = age(*c.Status.LastSuccessfulTime) + " ago"
	}
	w.summary = fmt.Sprintf("schedule %q, last scheduled %s, last succeeded %s, %d active jobs", c.Spec.Schedule, last, success, len(c.Status.Active))
	if c.Spec.Suspend != nil && *c.Spec.Suspend {
		w.notes = append(w.notes, "suspended")
	}
	if len(w.jobs) == 0 {
		return
	}
	newest := w.jobs[len(w.jobs)-1]
	jw := jobHealth(newest)
	jw.pods = w.jobPods[newest.UID]
	judge(jw)
	if !jw.healthy {
		w.healthy = false
		w.problems = append(w.problems, fmt.Sprintf("newest job %s %s", newest.Name, jw.summary))
		w.problems = append(w.problems, jw.problems...)
		w.problems = append(w.problems, jw.failing...)
	}
}

func condition(typ, status, reason, message string) string {
	s := typ + "=" + status
	if reason != "" {
		s += " " + reason
	}
	if message != "" {
		s += ": " + oneLine(message, 200)
	}
	return s
}

func (t *tools) workloadHealth(ctx context.Context, a healthArgs) (contract.WorkloadHealthReport, string, error) {
	out := contract.WorkloadHealthReport{Workloads: []contract.WorkloadHealth{}}
	var err error
	if a.Namespace != "" {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return out, "", err
		}
	}
	if a.Kind, err = t.healthKind(a.Kind); err != nil {
		return out, "", err
	}
	set, err := t.loadWorkloads(ctx, a.Namespace, a.Kind, a.Name)
	if err != nil {
		return out, "", err
	}
	if len(set.items) == 0 {
		what := "workloads"
		if a.Kind != "" {
			what = strings.ToLower(a.Kind) + "s"
		}
		where := "in any namespace this server may see"
		if a.Namespace != "" {
			where = "in namespace " + a.Namespace
		}
		if a.Name != "" {
			what += " named " + a.Name
		}
		return out, fmt.Sprintf("no %s %s\n", what, where), nil
	}
	order := map[string]int{}
	for i, k := range healthKinds {
		order[k] = i
	}
	sort.Slice(set.items, func(i, j int) bool {
		a, b := set.items[i], set.items[j]
		if a.healthy != b.healthy {
			return !a.healthy
		}
		if a.kind != b.kind {
			return order[a.kind] < order[b.kind]
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	var unhealthy, healthy []string
	var unhealthyData, healthyData []contract.WorkloadHealth
	for _, w := range set.items {
		line := w.ref() + ": " + w.summary
		if len(w.notes) > 0 {
			line += "; " + strings.Join(w.notes, "; ")
		}
		data := contract.WorkloadHealth{Object: w.ref(), Healthy: w.healthy, Summary: w.summary, Notes: w.notes}
		if w.healthy {
			healthy = append(healthy, line)
			healthyData = append(healthyData, data)
			continue
		}
		data.Problems = slices.Concat(w.problems, w.failing)
		unhealthyData = append(unhealthyData, data)
		for _, p := range slices.Concat(w.problems, w.failing) {
			line += "\n    " + p
		}
		unhealthy = append(unhealthy, line)
	}
	var b strings.Builder
	budget := t.maxBytes - 200
	section := func(title string, lines []string, data []contract.WorkloadHealth) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s (%d):\n", title, len(lines))
		for i, l := range lines {
			if b.Len()+len(l)+1 > budget {
				fmt.Fprintf(&b, "… truncated: %d more items (narrow the request: namespace, kind, name)\n", len(lines)-i)
				out.Truncated += len(lines) - i
				return
			}
			b.WriteString("  " + l + "\n")
			out.Workloads = append(out.Workloads, data[i])
		}
	}
	section("UNHEALTHY", unhealthy, unhealthyData)
	section("HEALTHY", healthy, healthyData)
	return out, t.k.secrets.Scrub(b.String()), nil
}
