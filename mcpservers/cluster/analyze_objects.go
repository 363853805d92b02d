package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
)

// The analyzers of workloads, Services, claims, nodes, autoscalers and quotas.

// serviceNoEndpoints: Services with a selector that matches no pod, or whose EndpointSlices have
// no ready endpoint.
func serviceNoEndpoints(s *snapshot) []finding {
	var out []finding
	for i := range s.services {
		svc := &s.services[i]
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.Set(svc.Spec.Selector).String()
		f := finding{severity: critical, category: "ServiceNoEndpoints", object: ref{Kind: "service", Namespace: svc.Namespace, Name: svc.Name}}
		pods := s.podsMatching(svc.Namespace, svc.Spec.Selector)
		if len(pods) == 0 {
			f.evidence = append(f.evidence, fmt.Sprintf("spec.selector %s matches no pod in namespace %s", sel, svc.Namespace))
			if near := s.nearSelector(svc.Namespace, svc.Spec.Selector); near != "" {
				f.evidence = append(f.evidence, near)
			}
			f.fix = noFix("correct the Service's selector to the labels of the pods it should serve (resource_patch), or deploy those pods")
			out = append(out, f)
			continue
		}
		ready := 0
		endpoints := 0
		epSlices := s.slicesOf(svc.Namespace, svc.Name)
		for _, sl := range epSlices {
			for _, e := range sl.Endpoints {
				endpoints++
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready > 0 {
			if ev := unresolvedTargetPorts(svc, pods); len(ev) > 0 {
				// Endpoints, but a named targetPort no pod has: the slices carry no port for
				// it, so nothing routes to the pods on it.
				f.evidence = append(ev, fmt.Sprintf("endpointslices (label %s=%s): %d ready endpoints, without that port", "kubernetes.io/service-name", svc.Name, ready))
				f.fix = noFix("give the pods' container port the name the Service targets, or set the Service's targetPort to a port name or number the containers have (resource_patch on the Service)")
				out = append(out, f)
			}
			continue
		}
		readyPods := 0
		for _, p := range pods {
			if podIsReady(p) {
				readyPods++
			}
		}
		f.evidence = append(f.evidence,
			fmt.Sprintf("spec.selector %s matches %d pods, %d of them Ready", sel, len(pods), readyPods),
			fmt.Sprintf("endpointslices (label %s=%s): %d, with %d endpoints, 0 ready", "kubernetes.io/service-name", svc.Name, len(epSlices), endpoints))
		if readyPods == 0 {
			f.fix = noFix("the pods behind the Service are not ready: fix them first (see their findings, or analyze kind=pod)")
		} else {
			f.fix = noFix("the pods are ready but have no endpoints: check that the EndpointSlice controller (kube-controller-manager) runs")
		}
		out = append(out, f)
	}
	return out
}

// unresolvedTargetPorts says, for each port of svc whose targetPort is a name that no container
// of the Ready pods it selects declares, what the pods name instead; nil when every name resolves.
func unresolvedTargetPorts(svc *corev1.Service, pods []*corev1.Pod) []string {
	var out []string
	for i, sp := range svc.Spec.Ports {
		if sp.TargetPort.Type != intstr.String || sp.TargetPort.StrVal == "" {
			continue
		}
		want := sp.TargetPort.StrVal
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		found, readyPods := false, 0
		var names []string
		seen := map[string]bool{}
		for _, p := range pods {
			if !podIsReady(p) {
				continue
			}
			readyPods++
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					cproto := cp.Protocol
					if cproto == "" {
						cproto = corev1.ProtocolTCP
					}
					if cp.Name == want && cproto == proto {
						found = true
					}
					if cp.Name != "" && !seen[cp.Name] {
						seen[cp.Name] = true
						names = append(names, fmt.Sprintf("%s (%d)", cp.Name, cp.ContainerPort))
					}
				}
			}
		}
		if found || readyPods == 0 {
			continue
		}
		they := "declare no named port"
		if len(names) > 0 {
			they = "name their ports " + strings.Join(names, ", ")
		}
		out = append(out, fmt.Sprintf("spec.ports[%d] (port %d) targets the port named %q, which no container of the %d Ready %s declares: they %s", i, sp.Port, want, readyPods, plural(readyPods, "pod"), they))
	}
	return out
}

// nearSelector says which live pods of namespace ns carry every key of selector with other
// values (a typo in the selector, or a label the pods lost), grouped by those values and owner;
// "" when none do.
func (s *snapshot) nearSelector(ns string, selector map[string]string) string {
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	counts := map[string]int{}
	var order []string
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace != ns || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		var kv []string
		for _, k := range keys {
			v, ok := p.Labels[k]
			if !ok {
				kv = nil
				break
			}
			kv = append(kv, k+"="+v)
		}
		if kv == nil {
			continue
		}
		g := strings.Join(kv, ",")
		if w := s.owner(p); w != nil {
			g += " (" + w.String() + ")"
		}
		if counts[g] == 0 {
			order = append(order, g)
		}
		counts[g]++
	}
	if len(order) == 0 {
		return ""
	}
	var parts []string
	for i, g := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(order)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d %s labelled %s", counts[g], plural(counts[g], "pod"), g))
	}
	return "pods with the selector's keys but other values: " + strings.Join(parts, "; ")
}

// pvcPending: claims not bound, with their StorageClass and the latest event. Claims that wait
// for their first consumer are normal and left out.
func pvcPending(s *snapshot) []finding {
	var out []finding
	for i := range s.claims {
		c := &s.claims[i]
		if c.Status.Phase != corev1.ClaimPending {
			continue
		}
		events := s.eventsFor("PersistentVolumeClaim", c, "")
		if last, _ := latest(events); last != nil && last.Reason == "WaitForFirstConsumer" {
			continue
		}
		f := finding{severity: warning, category: "PVCPending", object: ref{Kind: "persistentvolumeclaim", Namespace: c.Namespace, Name: c.Name}}
		class := ptrString(c.Spec.StorageClassName)
		shown := class
		if c.Spec.StorageClassName == nil {
			shown = "<none: the cluster has no default StorageClass>"
		} else if class == "" {
			shown = `"" (static binding only)`
		}
		f.evidence = append(f.evidence, fmt.Sprintf("status.phase: Pending; spec.storageClassName: %s; since %s", shown, age(c.CreationTimestamp)))
		missingClass := false
		if class != "" {
			if l := s.keysOf("StorageClass", "", class); l.err == nil && !l.found {
				missingClass = true
				f.evidence = append(f.evidence, fmt.Sprintf("storageclass %s does not exist", class))
			}
		}
		if len(events) > 0 {
			f.evidence = append(f.evidence, eventEvidence(events))
		} else {
			f.evidence = append(f.evidence, "no events about the claim")
		}
		f.cause = s.claimProvisionCause(c, class, events, &f)
		switch {
		case f.cause != nil && f.cause.Fix != nil:
			f.fix = noFix("%s", f.cause.Fix.Text)
		case missingClass:
			f.fix = noFix("create StorageClass %s, or recreate the claim with a class that exists (a claim's class cannot be changed)", class)
		case class == "":
			f.fix = noFix("create a PersistentVolume that matches the claim, or recreate the claim with a StorageClass")
		default:
			f.fix = noFix("check that the provisioner of StorageClass %s runs and can satisfy the claim (size, access mode, topology)", class)
		}
		out = append(out, f)
	}
	return out
}

// nodeNotReady: nodes whose Ready condition is not True.
func nodeNotReady(s *snapshot) []finding {
	var out []finding
	for i := range s.nodes {
		n := &s.nodes[i]
		var ready *corev1.NodeCondition
		for j := range n.Status.Conditions {
			if n.Status.Conditions[j].Type == corev1.NodeReady {
				ready = &n.Status.Conditions[j]
			}
		}
		if ready != nil && ready.Status == corev1.ConditionTrue {
			continue
		}
		f := finding{severity: critical, category: "NodeNotReady", object: ref{Kind: "node", Name: n.Name}}
		if ready == nil {
			f.evidence = append(f.evidence, "status.conditions[Ready]: <none> (the kubelet has never reported)")
		} else {
			f.evidence = append(f.evidence, fmt.Sprintf("status.conditions[Ready]: status=%s reason=%s message=%s (since %s)",
				ready.Status, orNone(ready.Reason), clip(ready.Message), age(ready.LastTransitionTime)))
		}
		if !n.Spec.Unschedulable {
			f.fix = fix{tool: "node_cordon", args: []arg{{"name", n.Name}}, note: "no new pods land on it; then node_drain to move its pods, and check its kubelet"}
		} else {
			f.fix = fix{tool: "node_drain", args: []arg{{"name", n.Name}, {"timeoutSeconds", 300}}, note: "it is cordoned already; draining moves its pods elsewhere; then check its kubelet"}
		}
		out = append(out, f)
	}
	return out
}

// nodePressure: nodes reporting MemoryPressure, DiskPressure or PIDPressure.
func nodePressure(s *snapshot) []finding {
	var out []finding
	for i := range s.nodes {
		n := &s.nodes[i]
		var pressure []string // what runs short: memory, disk, process IDs
		f := finding{severity: warning, category: "NodePressure", object: ref{Kind: "node", Name: n.Name}}
		for _, c := range n.Status.Conditions {
			switch c.Type {
			case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
				if c.Status == corev1.ConditionTrue {
					pressure = append(pressure, map[corev1.NodeConditionType]string{
						corev1.NodeMemoryPressure: "memory", corev1.NodeDiskPressure: "disk", corev1.NodePIDPressure: "process IDs"}[c.Type])
					f.evidence = append(f.evidence, fmt.Sprintf("status.conditions[%s]: status=True reason=%s message=%s (since %s)",
						c.Type, orNone(c.Reason), clip(c.Message), age(c.LastTransitionTime)))
				}
			}
		}
		if len(pressure) == 0 {
			continue
		}
		if !n.Spec.Unschedulable {
			f.fix = fix{tool: "node_cordon", args: []arg{{"name", n.Name}}, note: "no new pods land on it while the kubelet evicts; then find what uses its " + strings.Join(pressure, " and ")}
		} else {
			f.fix = noFix("the node is cordoned already; find what uses its %s, or drain it (node_drain)", strings.Join(pressure, " and "))
		}
		out = append(out, f)
	}
	return out
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func deploymentWorkload(d *appsv1.Deployment) *ownerWorkload {
	return &ownerWorkload{ref: ref{Kind: "deployment", Namespace: d.Namespace, Name: d.Name}, uid: d.UID}
}

func replicaCounts(d *appsv1.Deployment) string {
	st := d.Status
	return fmt.Sprintf("replicas: desired %d, updated %d, ready %d, available %d, unavailable %d",
		replicas(d.Spec.Replicas), st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.UnavailableReplicas)
}

func stuck(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	c := deploymentCondition(d, appsv1.DeploymentProgressing)
	if c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
		return c
	}
	return nil
}

// rolloutStuck: Deployments past their progress deadline.
func rolloutStuck(s *snapshot) []finding {
	var out []finding
	for i := range s.deployments {
		d := &s.deployments[i]
		c := stuck(d)
		if c == nil {
			continue
		}
		w := deploymentWorkload(d)
		f := finding{severity: critical, category: "RolloutStuck", object: w.ref}
		f.evidence = append(f.evidence,
			fmt.Sprintf("status.conditions[Progressing]: status=False reason=ProgressDeadlineExceeded message=%s (since %s)", clip(c.Message), age(c.LastTransitionTime)),
			replicaCounts(d))
		if e := s.unreadyContainer(d); e != "" {
			f.evidence = append(f.evidence, e)
		}
		if s.hasPreviousRevision(w) {
			f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: "back to the previous revision, which was available"}
		} else {
			f.fix = noFix("it has no previous revision to roll back to: see the findings of its pods (analyze kind=deployment name=%s) and correct its template", d.Name)
		}
		f.cause = s.deploymentCause(d, &f)
		out = append(out, f)
	}
	return out
}

// unreadyContainer names the container that keeps a Deployment's newest unready pod from being
// ready when it is still running — an init container that does not finish (one that waits for a
// dependency), or a main container that runs but is not ready — as "pod NAME: container C ...",
// so that its logs can be read; "" when no such pod or when the pod's own findings (a crash, a
// pull) say more.
func (s *snapshot) unreadyContainer(d *appsv1.Deployment) string {
	var newest *corev1.Pod
	for i := range s.replicaSets {
		rs := &s.replicaSets[i]
		if c := metav1.GetControllerOfNoCopy(rs); c == nil || c.UID != d.UID {
			continue
		}
		for _, p := range s.podsOf(rs.UID) {
			if p.DeletionTimestamp != nil || podIsReady(p) || p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
				continue
			}
			if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
				newest = p
			}
		}
	}
	if newest == nil {
		return ""
	}
	for _, st := range newest.Status.InitContainerStatuses {
		if st.State.Running != nil && !st.Ready {
			return fmt.Sprintf("pod %s: container %s (an init container) has run since %s without finishing; the pod's other containers wait for it",
				newest.Name, st.Name, age(st.State.Running.StartedAt))
		}
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			return "" // waiting or failed: the pod's own findings say it
		}
	}
	for _, st := range newest.Status.ContainerStatuses {
		if st.State.Running != nil && !st.Ready {
			return fmt.Sprintf("pod %s: container %s runs since %s but is not ready", newest.Name, st.Name, age(st.State.Running.StartedAt))
		}
	}
	return ""
}

// replicasUnavailable: Deployments with unavailable replicas that are not (yet) past their
// deadline.
func replicasUnavailable(s *snapshot) []finding {
	var out []finding
	for i := range s.deployments {
		d := &s.deployments[i]
		if d.Status.UnavailableReplicas == 0 || replicas(d.Spec.Replicas) == 0 || d.Spec.Paused || stuck(d) != nil {
			continue
		}
		w := deploymentWorkload(d)
		f := finding{severity: warning, category: "ReplicasUnavailable", object: w.ref}
		f.evidence = append(f.evidence, replicaCounts(d))
		if e := s.unreadyContainer(d); e != "" {
			f.evidence = append(f.evidence, e)
		}
		if c := deploymentCondition(d, appsv1.DeploymentAvailable); c != nil && c.Status != corev1.ConditionTrue {
			f.evidence = append(f.evidence, fmt.Sprintf("status.conditions[Available]: status=%s reason=%s message=%s", c.Status, orNone(c.Reason), clip(c.Message)))
		}
		rollingOut := d.Status.UpdatedReplicas < replicas(d.Spec.Replicas) || d.Status.ObservedGeneration < d.Generation
		if rollingOut && s.hasPreviousRevision(w) {
			f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: "a rollout is under way; roll back if its new pods do not become available"}
		} else {
			f.fix = noFix("see the findings of its pods (analyze kind=deployment name=%s)", d.Name)
		}
		f.cause = s.deploymentCause(d, &f)
		out = append(out, f)
	}
	return out
}

// jobFailedCondition is the Job's Failed condition when it is True, else nil.
func jobFailedCondition(j *batchv1.Job) *batchv1.JobCondition {
	var failed *batchv1.JobCondition
	for k := range j.Status.Conditions {
		if c := &j.Status.Conditions[k]; c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			failed = c
		}
	}
	return failed
}

// jobFailed: Jobs with condition Failed (backoff limit, deadline, ...), with how their pods ended
// (reason, exit code and message, verbatim). The failed Jobs of a CronJob are reported once, on
// the CronJob, when its latest Job failed.
func jobFailed(s *snapshot) []finding {
	var out []finding
	cronJobs := map[types.UID]*batchv1.CronJob{}
	for i := range s.cronJobs {
		cronJobs[s.cronJobs[i].UID] = &s.cronJobs[i]
	}
	ofCron := map[types.UID][]*batchv1.Job{}
	for i := range s.jobs {
		j := &s.jobs[i]
		if c := metav1.GetControllerOfNoCopy(j); c != nil && c.Kind == "CronJob" && cronJobs[c.UID] != nil {
			ofCron[c.UID] = append(ofCron[c.UID], j)
			continue
		}
		failed := jobFailedCondition(j)
		if failed == nil {
			continue
		}
		f := finding{severity: critical, category: "JobFailed", object: ref{Kind: "job", Namespace: j.Namespace, Name: j.Name}}
		f.evidence = append(f.evidence,
			fmt.Sprintf("status.conditions[Failed]: reason=%s message=%s (since %s)", orNone(failed.Reason), clip(failed.Message), age(failed.LastTransitionTime)),
			fmt.Sprintf("status.failed: %d, succeeded: %d, backoffLimit: %d", j.Status.Failed, j.Status.Succeeded, replicasOr(j.Spec.BackoffLimit, 6)))
		f.evidence = append(f.evidence, s.failedPodEvidence(j, 3)...)
		then := "delete and recreate the Job"
		if c := metav1.GetControllerOfNoCopy(j); c != nil && c.Kind == "CronJob" {
			then = "its CronJob " + c.Name + " starts a new Job on its schedule"
		}
		f.fix = noFix("read the logs of its failed pods and fix the cause; then %s (resource_apply)", then)
		f.cause = deadlineCause(j, failed, f.object, "spec.activeDeadlineSeconds")
		out = append(out, f)
	}
	for i := range s.cronJobs {
		cj := &s.cronJobs[i]
		jobs := ofCron[cj.UID]
		if len(jobs) == 0 {
			continue
		}
		// The latest finished Job decides: a CronJob whose last run succeeded has recovered,
		// and a run still under way (or just created, its status not yet written) says nothing.
		sort.Slice(jobs, func(a, b int) bool {
			if !jobs[a].CreationTimestamp.Equal(&jobs[b].CreationTimestamp) {
				return jobs[a].CreationTimestamp.Before(&jobs[b].CreationTimestamp)
			}
			return jobs[a].Name < jobs[b].Name // a CronJob names its Jobs for their scheduled time
		})
		var last *batchv1.Job
		var lastFailed *batchv1.JobCondition
		for k := len(jobs) - 1; k >= 0; k-- {
			if c := jobFailedCondition(jobs[k]); c != nil || jobComplete(jobs[k]) {
				last, lastFailed = jobs[k], c
				break
			}
		}
		if lastFailed == nil {
			continue
		}
		var failedNames []string
		for _, j := range jobs {
			if jobFailedCondition(j) != nil {
				failedNames = append(failedNames, j.Name)
			}
		}
		f := finding{severity: critical, category: "JobFailed", object: ref{Kind: "cronjob", Namespace: cj.Namespace, Name: cj.Name}}
		success := "never"
		if cj.Status.LastSuccessfulTime != nil {
			success = age(*cj.Status.LastSuccessfulTime) + " ago"
		}
		f.evidence = append(f.evidence,
			fmt.Sprintf("schedule %q: %d of its %d %s kept failed: %s; last successful run: %s", cj.Spec.Schedule, len(failedNames), len(jobs), plural(len(jobs), "Job"), examples(failedNames, 3), success),
			fmt.Sprintf("job %s status.conditions[Failed]: reason=%s message=%s (since %s)", last.Name, orNone(lastFailed.Reason), clip(lastFailed.Message), age(lastFailed.LastTransitionTime)))
		f.evidence = append(f.evidence, s.failedPodEvidence(last, 3)...)
		f.cause = deadlineCause(last, lastFailed, f.object, "spec.jobTemplate.spec.activeDeadlineSeconds")
		if !slices.ContainsFunc(f.evidence, namesPodContainer) {
			// The deciding Job's pods are gone or never ran a container: the newest failed
			// pod of an earlier failed run names the container whose logs to read.
			for k := len(jobs) - 1; k >= 0; k-- {
				if j := jobs[k]; j != last && jobFailedCondition(j) != nil {
					if ev := s.failedPodEvidence(j, 1); len(ev) > 0 && namesPodContainer(ev[0]) {
						f.evidence = append(f.evidence, ev[0]+" (job "+j.Name+")")
						break
					}
				}
			}
		}
		for _, j := range jobs {
			f.related = append(f.related, ref{Kind: "job", Namespace: j.Namespace, Name: j.Name})
		}
		f.fix = noFix("read the logs of the failed pods of Job %s and fix the cause in CronJob %s's jobTemplate (resource_patch); it starts a new Job on its schedule", last.Name, cj.Name)
		out = append(out, f)
	}
	return out
}

// jobComplete reports whether the Job's Complete condition is True.
func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// namesPodContainer reports whether an evidence line starts "pod NAME: container C", the form in
// which a Job's or CronJob's finding names the pod and container whose logs tell why it failed.
func namesPodContainer(e string) bool { return podContainerLine.MatchString(e) }

var podContainerLine = regexp.MustCompile(`^pod ([a-z0-9][a-z0-9.-]*): container ([a-z0-9][a-z0-9-]*)\b`)

// failedPodEvidence quotes how the failed pods of a Job ended, newest first, at most n of them,
// those that ended alike once: "pod x: container c terminated: reason=Error exitCode=1
// message=...". The first line names the newest failed pod, whose logs a reader goes to.
func (s *snapshot) failedPodEvidence(j *batchv1.Job, n int) []string {
	pods := s.podsOf(j.UID)
	sort.Slice(pods, func(a, b int) bool {
		if !pods[a].CreationTimestamp.Equal(&pods[b].CreationTimestamp) {
			return pods[b].CreationTimestamp.Before(&pods[a].CreationTimestamp)
		}
		return pods[a].Name > pods[b].Name
	})
	var out []string
	seen := map[string]string{}
	for _, p := range pods {
		e := podExitSummary(p)
		if e == "" {
			continue
		}
		if first, ok := seen[e]; ok {
			// said once; the pod is still named, as its log may say what the first's does not
			if c := containerOf(e); c != "" {
				out = append(out, fmt.Sprintf("pod %s: container %s ended as pod %s did", p.Name, c, first))
			}
		} else {
			seen[e] = p.Name
			out = append(out, fmt.Sprintf("pod %s: %s", p.Name, e))
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// containerOf is the container an exit summary ("container C terminated: ...") is about.
func containerOf(exit string) string {
	if rest, ok := strings.CutPrefix(exit, "container "); ok {
		if i := strings.IndexByte(rest, ' '); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

func replicasOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// podExitSummary describes how a pod's first failed container ended (init containers first),
// with its termination message verbatim; or, without one, the pod's own failure reason.
func podExitSummary(p *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, st := range statuses {
		t := st.State.Terminated
		if t == nil || t.ExitCode == 0 {
			t = st.LastTerminationState.Terminated
		}
		if t != nil && t.ExitCode != 0 {
			e := fmt.Sprintf("container %s terminated: reason=%s exitCode=%d", st.Name, orNone(t.Reason), t.ExitCode)
			if m := quoteMessage(t.Message); m != "" {
				e += " message=" + m
			}
			return e
		}
	}
	if p.Status.Phase == corev1.PodFailed && (p.Status.Reason != "" || p.Status.Message != "") {
		return fmt.Sprintf("status: phase=Failed reason=%s message=%s", orNone(p.Status.Reason), quoteMessage(p.Status.Message))
	}
	return ""
}

// hpaUnableToScale: HorizontalPodAutoscalers whose AbleToScale or ScalingActive is False.
func hpaUnableToScale(s *snapshot) []finding {
	var out []finding
	for i := range s.hpas {
		h := &s.hpas[i]
		f := finding{severity: warning, category: "HPAUnableToScale", object: ref{Kind: "horizontalpodautoscaler", Namespace: h.Namespace, Name: h.Name}}
		var reasons, messages []string
		for _, c := range h.Status.Conditions {
			if c.Status != corev1.ConditionFalse {
				continue
			}
			if c.Type != autoscalingv2.AbleToScale && c.Type != autoscalingv2.ScalingActive {
				continue
			}
			if c.Type == autoscalingv2.ScalingActive && c.Reason == "ScalingDisabled" {
				continue // the target is scaled to zero on purpose
			}
			reasons = append(reasons, c.Reason)
			messages = append(messages, c.Message)
			f.evidence = append(f.evidence, fmt.Sprintf("status.conditions[%s]: status=False reason=%s message=%s", c.Type, orNone(c.Reason), clip(c.Message)))
		}
		if ev := s.eventsFor("HorizontalPodAutoscaler", h, "FailedGetScale"); len(ev) > 0 && !slices.Contains(reasons, "FailedGetScale") {
			reasons = append(reasons, "FailedGetScale")
			f.evidence = append(f.evidence, eventEvidence(ev))
		}
		// A target that does not exist is the cause, when the controller has not reported on
		// the HPA yet or says it cannot get the target's scale (a condition about metrics says
		// that it got it).
		if len(reasons) == 0 || slices.Contains(reasons, "FailedGetScale") {
			f.cause = s.hpaTargetMissing(h, &f)
		}
		if len(f.evidence) == 0 {
			continue
		}
		target := strings.ToLower(h.Spec.ScaleTargetRef.Kind) + "/" + h.Spec.ScaleTargetRef.Name
		f.evidence = append(f.evidence, fmt.Sprintf("spec.scaleTargetRef: %s; replicas %d (min %d, max %d)", target, h.Status.CurrentReplicas, replicasOr(h.Spec.MinReplicas, 1), h.Spec.MaxReplicas))
		if f.cause != nil {
			out = append(out, f)
			continue
		}
		unrequested := s.hpaMissingRequests(h, &f)
		all := strings.ToLower(strings.Join(messages, " "))
		switch {
		case len(unrequested) > 0:
			f.fix = noFix("give the containers of %s requests for %s (workload_set_resources), so that utilization can be computed: the HPA scales on a percentage of the request", target, strings.Join(unrequested, " and "))
		case strings.Contains(all, "missing request for"):
			f.fix = noFix("give the containers of %s requests for the resource the HPA scales on (workload_set_resources), so that utilization can be computed", target)
		case slices.Contains(reasons, "FailedGetScale"):
			f.fix = noFix("the target %s cannot be read or scaled: correct spec.scaleTargetRef (resource_patch) or create the target", target)
		default:
			f.fix = noFix("check that the metrics API (metrics-server, or the adapter for custom metrics) serves the metrics the HPA names")
		}
		out = append(out, f)
	}
	return out
}

// hpaMissingRequests checks the pod template of the HPA's target (a Deployment or StatefulSet of
// the snapshot) against the HPA's Utilization metrics: a container without a request for the
// resource makes utilization impossible to compute, whatever the metrics API says. Each gap is
// evidence on f; the resources that lack requests are returned.
func (s *snapshot) hpaMissingRequests(h *autoscalingv2.HorizontalPodAutoscaler, f *finding) []string {
	var spec *corev1.PodSpec
	ref := h.Spec.ScaleTargetRef
	switch ref.Kind {
	case "Deployment":
		for i := range s.deployments {
			if d := &s.deployments[i]; d.Namespace == h.Namespace && d.Name == ref.Name {
				spec = &d.Spec.Template.Spec
			}
		}
	case "StatefulSet":
		for i := range s.statefulSets {
			if d := &s.statefulSets[i]; d.Namespace == h.Namespace && d.Name == ref.Name {
				spec = &d.Spec.Template.Spec
			}
		}
	}
	if spec == nil {
		return nil
	}
	var out []string
	for _, m := range h.Spec.Metrics {
		var name corev1.ResourceName
		var container string
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType:
			name = m.Resource.Name
		case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil && m.ContainerResource.Target.Type == autoscalingv2.UtilizationMetricType:
			name, container = m.ContainerResource.Name, m.ContainerResource.Container
		default:
			continue
		}
		var lacking []string
		for _, c := range spec.Containers {
			if container != "" && c.Name != container {
				continue
			}
			if _, ok := c.Resources.Requests[name]; !ok {
				lacking = append(lacking, c.Name)
			}
		}
		if len(lacking) == 0 {
			continue
		}
		out = append(out, string(name))
		f.evidence = append(f.evidence, fmt.Sprintf("%s/%s spec.template: containers %s have no %s request, and the HPA targets %s utilization (a percentage of the request)",
			strings.ToLower(ref.Kind), ref.Name, strings.Join(lacking, ", "), name, name))
	}
	return out
}

// quotaExceeded: FailedCreate events that say a ResourceQuota refused a pod (or other object):
// one with no room left ("exceeded quota"), or one whose pods do not specify what it constrains
// ("failed quota: q: must specify limits.cpu for: api"). The quota is the cause; a ReplicaSet's
// finding goes to its Deployment.
func quotaExceeded(s *snapshot) []finding {
	type object struct {
		kind, ns, name string
		uid            types.UID
	}
	byObject := map[object][]*corev1.Event{}
	var order []object
	for i := range s.events {
		e := &s.events[i]
		if e.Reason != "FailedCreate" || e.Type != corev1.EventTypeWarning || !isQuotaRefusal(e.Message) {
			continue
		}
		o := object{e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name, e.InvolvedObject.UID}
		if _, ok := byObject[o]; !ok {
			order = append(order, o)
		}
		byObject[o] = append(byObject[o], e)
	}
	var out []finding
	for _, o := range order {
		events := byObject[o]
		last, _ := latest(events)
		f := finding{severity: critical, category: "QuotaExceeded", object: ref{Kind: strings.ToLower(o.kind), Namespace: o.ns, Name: o.name}}
		subject := f.object
		if o.kind == "ReplicaSet" {
			if rs, ok := s.rsByName[types.NamespacedName{Namespace: o.ns, Name: o.name}]; ok {
				if c := metav1.GetControllerOfNoCopy(rs); c != nil && c.Kind == "Deployment" {
					f.owner = &ref{Kind: "deployment", Namespace: o.ns, Name: c.Name}
					subject = *f.owner
				}
			}
		}
		f.evidence = append(f.evidence, eventEvidence(events))
		r, ok := parseQuotaRefusal(last.Message)
		var q *corev1.ResourceQuota
		if ok {
			q = s.quotaByName[types.NamespacedName{Namespace: o.ns, Name: r.quota}]
			f.cause = quotaCause(r, o.ns, subject.String(), q, s.specOf(subject), "event FailedCreate: "+quoteMessage(last.Message))
			if f.owner != nil && len(r.missing) == 0 {
				s.surgeNote(f.cause, o.ns, f.owner.Name)
			}
			if slices.Contains(r.resources, "count/jobs.batch") {
				s.finishedJobsNote(f.cause, o.ns)
			}
		}
		if q != nil {
			f.related = []ref{{Kind: "resourcequota", Namespace: q.Namespace, Name: q.Name}}
		}
		switch {
		case len(r.missing) > 0:
			f.evidence = append(f.evidence, fmt.Sprintf("ResourceQuota %s/%s refuses pods that do not specify %s: %s", o.ns, r.quota, strings.Join(r.resources, ", "), strings.Join(r.missing, "; ")))
			f.fix = noFix("%s", f.cause.Fix.Text)
		case q != nil:
			var limited []corev1.ResourceName
			for _, res := range r.resources {
				limited = append(limited, corev1.ResourceName(res))
			}
			if fx, ok := quotaFix(q, limited); ok {
				f.fix = fx
				break
			}
			f.fix = noFix("raise the hard limits of ResourceQuota %s/%s, or lower the requests of %s", q.Namespace, q.Name, f.object)
		case ok:
			f.fix = noFix("raise the hard limits of ResourceQuota %s/%s, or lower what %s requests", o.ns, r.quota, f.object)
		default:
			f.fix = noFix("raise the namespace's ResourceQuota, or lower what %s requests", f.object)
		}
		out = append(out, f)
	}
	return out
}

// finishedJobsNote says, of a quota on the number of Jobs (count/jobs.batch), which of the
// namespace's Jobs that it counts are finished: a finished Job counts until it is deleted, so
// Jobs without ttlSecondsAfterFinished fill such a quota and every new Job (a CronJob's run)
// is refused.
func (s *snapshot) finishedJobsNote(c *contract.Cause, ns string) {
	var done, noTTL []string
	total := 0
	for i := range s.jobs {
		j := &s.jobs[i]
		if j.Namespace != ns {
			continue
		}
		total++
		if st := jobStatus(j); st != string(batchv1.JobComplete) && st != string(batchv1.JobFailed) {
			continue
		}
		done = append(done, j.Name)
		if j.Spec.TTLSecondsAfterFinished == nil {
			noTTL = append(noTTL, j.Name)
		}
	}
	if len(done) == 0 {
		return
	}
	sort.Strings(done)
	words := fmt.Sprintf("%d of the %d Jobs it counts are finished (%s)", len(done), total, examples(done, 5))
	if len(noTTL) == len(done) {
		words += " and have no ttlSecondsAfterFinished, so they hold the quota until someone deletes them"
	} else if len(noTTL) > 0 {
		words += fmt.Sprintf("; %d of them have no ttlSecondsAfterFinished", len(noTTL))
	}
	c.Summary += "; " + words
	c.Evidence = append(c.Evidence, "finished Jobs in namespace "+ns+": "+examples(done, 10))
	if c.Fix != nil {
		c.Fix.Text += fmt.Sprintf(", or delete the finished Jobs that fill it (%s) and give Jobs a ttlSecondsAfterFinished", examples(done, 5))
	}
}

// surgeNote says, of a quota that refuses the new pods of Deployment ns/name during a rolling
// update, what the update's strategy asks the quota for: maxSurge extra pods before any old one
// goes, and with maxUnavailable 0 none goes first, so a quota that is full waits forever.
func (s *snapshot) surgeNote(c *contract.Cause, ns, name string) {
	var d *appsv1.Deployment
	for i := range s.deployments {
		if s.deployments[i].Namespace == ns && s.deployments[i].Name == name {
			d = &s.deployments[i]
		}
	}
	if d == nil || d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		return
	}
	if want := ptr.Deref(d.Spec.Replicas, 1); d.Status.Replicas == 0 || d.Status.UpdatedReplicas >= want {
		return // not a rolling update with old pods still running: a scale-up or a first rollout
	}
	ru := d.Spec.Strategy.RollingUpdate
	surge, unavailable := "25%", "25%"
	if ru.MaxSurge != nil {
		surge = ru.MaxSurge.String()
	}
	if ru.MaxUnavailable != nil {
		unavailable = ru.MaxUnavailable.String()
	}
	c.Evidence = append(c.Evidence, fmt.Sprintf("deployment/%s/%s spec.strategy.rollingUpdate: maxSurge %s, maxUnavailable %s", ns, name, surge, unavailable))
	if unavailable == "0" || unavailable == "0%" {
		c.Summary += fmt.Sprintf("; the rolling update adds up to maxSurge %s new pods before it removes an old one, and with maxUnavailable 0 no old pod goes first, so it waits for room the quota does not have", surge)
		if c.Fix != nil {
			c.Fix.Text += fmt.Sprintf(", or let the rollout replace pods in place (maxUnavailable 1 on Deployment %s)", name)
		}
		return
	}
	c.Summary += fmt.Sprintf("; the rolling update adds up to maxSurge %s new pods (maxUnavailable %s)", surge, unavailable)
}

// quotaFull: ResourceQuotas with a resource whose use has reached its (non-zero) hard limit.
func quotaFull(s *snapshot) []finding {
	var out []finding
	for i := range s.quotas {
		q := &s.quotas[i]
		names := make([]string, 0, len(q.Spec.Hard))
		for name := range q.Spec.Hard {
			names = append(names, string(name))
		}
		sort.Strings(names)
		f := finding{severity: warning, category: "QuotaFull", object: ref{Kind: "resourcequota", Namespace: q.Namespace, Name: q.Name}}
		var full []corev1.ResourceName
		for _, name := range names {
			hard := q.Spec.Hard[corev1.ResourceName(name)]
			used, ok := q.Status.Used[corev1.ResourceName(name)]
			if !ok || hard.Sign() <= 0 || used.Cmp(hard) < 0 {
				continue
			}
			full = append(full, corev1.ResourceName(name))
			f.evidence = append(f.evidence, fmt.Sprintf("status.used.%s: %s >= spec.hard.%s: %s", name, used.String(), name, hard.String()))
		}
		if len(full) == 0 {
			continue
		}
		f.fix, _ = quotaFix(q, full)
		out = append(out, f)
	}
	return out
}

// quotaFix doubles the hard limits of a quota for the resources named (those it has).
func quotaFix(q *corev1.ResourceQuota, resources []corev1.ResourceName) (fix, bool) {
	hard := map[string]string{}
	for _, r := range resources {
		if h, ok := q.Spec.Hard[r]; ok && h.Sign() > 0 {
			d := double(h)
			hard[string(r)] = d.String()
		}
	}
	if len(hard) == 0 {
		return fix{}, false
	}
	patch := jsonText(map[string]any{"spec": map[string]any{"hard": hard}})
	return fix{tool: "resource_patch", args: []arg{
		{"kind", "resourcequota"}, {"namespace", q.Namespace}, {"name", q.Name}, {"patchType", "merge"}, {"patch", patch},
	}, note: "twice the hard limit, if the namespace may use that much"}, true
}

// cordonedNodeBlocked: cordoned nodes that still hold pods a drain would evict, held there by a
// PodDisruptionBudget that allows no disruption; the budget is the cause.
func cordonedNodeBlocked(s *snapshot) []finding {
	// Nodes are read only when a pod of the snapshot is held by a budget (a namespace's or a
	// workload's analysis reads them then, to see whether a drain is waiting on it).
	held := false
	for j := range s.pods {
		if p := &s.pods[j]; p.Spec.NodeName != "" && drainWouldEvict(p) && pdbBlocking(s, p) != nil {
			held = true
			break
		}
	}
	if !held {
		return nil
	}
	nodes := s.allNodes("drains blocked by disruption budgets")
	var out []finding
	for i := range nodes {
		n := &nodes[i]
		if !n.Spec.Unschedulable {
			continue
		}
		var f *finding
		for j := range s.pods {
			p := &s.pods[j]
			if p.Spec.NodeName != n.Name || !drainWouldEvict(p) {
				continue
			}
			b := pdbBlocking(s, p)
			if b == nil {
				continue
			}
			if f == nil {
				f = &finding{severity: warning, category: "NodeCordoned", object: ref{Kind: "node", Name: n.Name}}
				f.evidence = append(f.evidence, "spec.unschedulable: true (cordoned)")
				c := pdbBlockCause(b, p, n.Name)
				resumeDrain(&c, n.Name)
				f.cause = &c
				f.related = append(f.related, ref{Kind: "poddisruptionbudget", Namespace: b.Namespace, Name: b.Name})
				f.fix = noFix("%s", c.Fix.Text)
			}
			// A question about the pod's workload ("why does the drain not move vector-index?")
			// finds this finding too.
			f.related = append(f.related, ref{Kind: "pod", Namespace: p.Namespace, Name: p.Name})
			if w := s.owner(p); w != nil {
				f.related = append(append(f.related, w.ref), w.via...)
			}
			f.evidence = append(f.evidence, fmt.Sprintf("pod %s/%s cannot be evicted: PodDisruptionBudget %s/%s (%s) allows %d disruptions, %d of %d pods healthy",
				p.Namespace, p.Name, b.Namespace, b.Name, budgetRule(b), b.Status.DisruptionsAllowed, b.Status.CurrentHealthy, b.Status.ExpectedPods))
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// drainWouldEvict reports whether a drain would evict the pod (drainSkips, which
// disruption_check uses too, has no reason to leave it).
func drainWouldEvict(p *corev1.Pod) bool { return drainSkips(p) == "" }

// pdbBlocking is a PodDisruptionBudget of the snapshot that selects p and allows no
// disruption, or nil.
func pdbBlocking(s *snapshot, p *corev1.Pod) *policyv1.PodDisruptionBudget {
	for i := range s.budgets {
		b := &s.budgets[i]
		if b.Status.DisruptionsAllowed == 0 && budgetSelects(b, p) {
			return b
		}
	}
	return nil
}

// deadlineCause is the cause of a Job the Job controller stopped at its deadline (reason
// DeadlineExceeded): its activeDeadlineSeconds, on object (the Job, or the CronJob whose
// template sets it, at field), is shorter than the work takes. nil for another reason.
func deadlineCause(j *batchv1.Job, failed *batchv1.JobCondition, object ref, field string) *contract.Cause {
	if failed == nil || failed.Reason != batchv1.JobReasonDeadlineExceeded || j.Spec.ActiveDeadlineSeconds == nil {
		return nil
	}
	d := *j.Spec.ActiveDeadlineSeconds
	long := fmt.Sprintf("%d s", d)
	if d >= 60 {
		long += " = " + (time.Duration(d) * time.Second).String()
	}
	ran := ""
	if j.Status.StartTime != nil {
		ran = fmt.Sprintf(" (started %s ago)", age(*j.Status.StartTime))
	}
	return &contract.Cause{
		Category: contract.ApplicationConfig, Object: object.String(), Field: field,
		Summary: fmt.Sprintf("Job %s ran longer than its activeDeadlineSeconds (%s) allows%s: the Job controller stopped its pods and marked it Failed (reason DeadlineExceeded); the work itself did not fail",
			j.Name, long, ran),
		Evidence: []string{fmt.Sprintf("%s: %d", field, d), fmt.Sprintf("job %s status.conditions[Failed]: reason=%s message=%s", j.Name, failed.Reason, clip(failed.Message))},
		Fix:      &contract.Fix{Text: fmt.Sprintf("raise (or remove) %s of %s to more than the run takes, then rerun it", field, object)},
	}
}

// budgetCause is a DisruptionBudgetBlocks cause: budget b refuses the eviction of p from node.
func pdbBlockCause(b *policyv1.PodDisruptionBudget, p *corev1.Pod, node string) contract.Cause {
	field, rule := "spec.minAvailable", "minAvailable"
	var value string
	if b.Spec.MinAvailable != nil {
		value = b.Spec.MinAvailable.String()
	} else if b.Spec.MaxUnavailable != nil {
		field, rule, value = "spec.maxUnavailable", "maxUnavailable", b.Spec.MaxUnavailable.String()
	}
	c := contract.Cause{
		Category: contract.DisruptionBudgetBlocks,
		Object:   objectRef("poddisruptionbudget", b.Namespace, b.Name),
		Field:    field,
		Summary: fmt.Sprintf("PodDisruptionBudget %s/%s (%s %s) has %d of %d pods healthy and needs %d, so it allows 0 disruptions: pod %s cannot be evicted from cordoned node %s",
			b.Namespace, b.Name, rule, value, b.Status.CurrentHealthy, b.Status.ExpectedPods, b.Status.DesiredHealthy, p.Name, node),
		Evidence: []string{
			fmt.Sprintf("poddisruptionbudget/%s/%s %s: %s", b.Namespace, b.Name, field, value),
			fmt.Sprintf("poddisruptionbudget/%s/%s status: currentHealthy %d, desiredHealthy %d, expectedPods %d, disruptionsAllowed %d",
				b.Namespace, b.Name, b.Status.CurrentHealthy, b.Status.DesiredHealthy, b.Status.ExpectedPods, b.Status.DisruptionsAllowed),
		},
		Fix: &contract.Fix{Text: fmt.Sprintf("give the workload of pod %s/%s another replica elsewhere so that the budget allows a disruption (workload_scale), "+
			"or relax %s of PodDisruptionBudget %s for the drain and restore it after; a drain (node_drain) then evicts the pod", p.Namespace, p.Name, field, b.Name)},
	}
	return c
}
