package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

const (
	defaultDrainTimeout = 120
	maxDrainTimeout     = 3600
)

type drainArgs struct {
	Name               string `json:"name"`
	TimeoutSeconds     int64  `json:"timeoutSeconds,omitempty"`
	IgnoreDaemonSets   *bool  `json:"ignoreDaemonSets,omitempty"`
	DeleteEmptyDirData bool   `json:"deleteEmptyDirData,omitempty"`
	Force              bool   `json:"force,omitempty"`
	DryRun             bool   `json:"dryRun,omitempty"`
}

func (a *drainArgs) Validate() error {
	if err := requireName(a.Name); err != nil {
		return err
	}
	if a.TimeoutSeconds == 0 {
		a.TimeoutSeconds = defaultDrainTimeout
	}
	if a.TimeoutSeconds < 1 || a.TimeoutSeconds > maxDrainTimeout {
		return fmt.Errorf(`argument "timeoutSeconds" must be between 1 and %d, not %d`, maxDrainTimeout, a.TimeoutSeconds)
	}
	if a.IgnoreDaemonSets == nil {
		yes := true
		a.IgnoreDaemonSets = &yes
	}
	return nil
}

// drainPod is one pod on the node being drained and what became of it.
type drainPod struct {
	pod    *corev1.Pod
	state  drainState
	result string // what happened, for the report
}

type drainState int

const (
	toEvict     drainState = iota
	blocked                // a PodDisruptionBudget holds it; retried until the deadline
	terminating            // evicted (or already being deleted); waited for until the deadline
	gone                   // no longer in the API
	failed                 // the eviction failed for another reason than a budget
	skipped                // left alone
)

func (p *drainPod) ref() string { return p.pod.Namespace + "/" + p.pod.Name }

// drainPlan sorts a node's pods into those to evict, those left alone, and those that refuse the
// drain (with the argument that would allow them).
func drainPlan(pods []corev1.Pod, a drainArgs) (evict, skip []*drainPod, refuse []string) {
	for i := range pods {
		p := &pods[i]
		dp := &drainPod{pod: p}
		finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		owner := metav1.GetControllerOf(p)
		switch {
		case p.Annotations[corev1.MirrorPodAnnotationKey] != "":
			dp.state, dp.result = skipped, "skipped: mirror (static) pod, run by the kubelet from a file on the node"
			skip = append(skip, dp)
		case owner != nil && owner.Kind == "DaemonSet":
			if !*a.IgnoreDaemonSets {
				refuse = append(refuse, fmt.Sprintf("%s is managed by DaemonSet %s (drain with ignoreDaemonSets: true to leave it: its DaemonSet would recreate it on this node)", dp.ref(), owner.Name))
				continue
			}
			dp.state, dp.result = skipped, "skipped: pod of DaemonSet "+owner.Name
			skip = append(skip, dp)
		case p.DeletionTimestamp != nil:
			dp.state, dp.result = terminating, "already terminating"
			evict = append(evict, dp)
		case owner == nil && !finished && !a.Force:
			refuse = append(refuse, fmt.Sprintf("%s is managed by no controller: once evicted nothing recreates it (drain with force: true to evict it anyway)", dp.ref()))
		case emptyDirs(p) != "" && !finished && !a.DeleteEmptyDirData:
			refuse = append(refuse, fmt.Sprintf("%s has emptyDir volumes (%s) whose data is lost when it is evicted (drain with deleteEmptyDirData: true to evict it anyway)", dp.ref(), emptyDirs(p)))
		default:
			evict = append(evict, dp)
		}
	}
	return evict, skip, refuse
}

// podCount counts pods in words: "1 pod", "3 pods".
func podCount(n int) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

func emptyDirs(p *corev1.Pod) string {
	var names []string
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil {
			names = append(names, v.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (t *tools) nodeDrain(ctx context.Context, a drainArgs) (contract.Change, string, error) {
	if err := t.checkNodeWrite(); err != nil {
		return contract.Change{}, "", err
	}
	ref := objectRef("node", "", a.Name)
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Name: a.Name}, &corev1.Node{}); err != nil {
		return contract.Change{}, "", apiError(err, "get", ref)
	}
	var pods corev1.PodList
	if err := t.k.Direct.List(ctx, &pods, client.MatchingFields{"spec.nodeName": a.Name}); err != nil {
		return contract.Change{}, "", apiError(err, "list", "pods on "+ref)
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[i].Namespace+"/"+pods.Items[i].Name < pods.Items[j].Namespace+"/"+pods.Items[j].Name
	})
	evict, skip, refuse := drainPlan(pods.Items, a)
	if len(refuse) > 0 {
		return contract.Change{}, "", fmt.Errorf("refusing to drain %s; nothing was changed (the node is not cordoned):\n- %s", ref, strings.Join(refuse, "\n- "))
	}

	cordon, err := t.setUnschedulable(ctx, a.Name, true, a.DryRun)
	if err != nil {
		return contract.Change{}, "", err
	}
	cordoned := "cordoned"
	if cordon.NoChange {
		cordoned = "already cordoned"
	}
	budgets := &pdbIndex{t: t, byNamespace: map[string][]policyv1.PodDisruptionBudget{}}

	if a.DryRun {
		for _, p := range evict {
			if p.state != toEvict {
				continue // already terminating
			}
			switch err := t.evict(ctx, p.pod, true); {
			case err == nil:
				p.result = "would be evicted"
			case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
				// Its namespace is being deleted, and the pod with it: it is going already.
				p.state, p.result = terminating, "already going: its namespace is being deleted"
			case apierrors.IsTooManyRequests(err):
				p.result = "would be blocked now by " + budgets.blocking(ctx, p.pod, err)
			default:
				p.result = "would fail: " + evictionError(err, p).Error()
			}
		}
		head := fmt.Sprintf("dry run of drain %s: %s (dry run), then %s to evict and %d left alone. The API server accepted the requests and changed nothing; call again without dryRun to drain.\n",
			ref, cordoned, podCount(len(evict)), len(skip))
		table := drainTable(evict, skip, t.maxBytes-len(head)-1024)
		diff, err := t.objectDiff(ref, cordon.Before, cordon.After, "after, dry run")
		if err != nil {
			return contract.Change{}, "", err
		}
		diff = mcptool.Cap(diff, max(t.maxBytes-len(head)-len(table)-128, 256))
		out := contract.Change{Object: ref, DryRun: true, Diff: diff, Notes: drainNotes(evict, skip),
			Summary: fmt.Sprintf("%s, then %s to evict and %d left alone", cordoned, podCount(len(evict)), len(skip))}
		return out, head + table + diff, nil
	}

	deadline := time.Now().Add(time.Duration(a.TimeoutSeconds) * time.Second)
	t.evictUntil(ctx, evict, budgets, deadline)
	t.waitGone(ctx, a.Name, evict, deadline)

	count := map[drainState]int{}
	for _, p := range evict {
		count[p.state]++
		if p.state == terminating {
			p.result += "; still terminating when the timeout ran out"
		}
	}
	summary := fmt.Sprintf("%s %s; evicted %s (%d gone, %d still terminating); left %d alone",
		ref, cordoned, podCount(count[gone]+count[terminating]), count[gone], count[terminating], len(skip))
	table := drainTable(evict, skip, t.maxBytes-len(summary)-256)
	if count[blocked]+count[failed] > 0 {
		return contract.Change{}, "", fmt.Errorf("drain of %s is incomplete: %s could not be evicted within %ds.\n%s; the node stays cordoned (node_uncordon undoes that).\n%s",
			ref, podCount(count[blocked]+count[failed]), a.TimeoutSeconds, summary, table)
	}
	out := contract.Change{Object: ref, Summary: "drained: " + strings.TrimPrefix(summary, ref+" "), Notes: drainNotes(evict, skip)}
	return out, "drained " + summary + ".\n" + table, nil
}

// maxDrainNotes bounds the pods a drain's Change names in its notes.
const maxDrainNotes = 200

// drainNotes says what became of each pod, "namespace/name: result", as drainTable shows it.
func drainNotes(evict, skip []*drainPod) []string {
	all := append(append([]*drainPod(nil), evict...), skip...)
	notes := make([]string, 0, min(len(all), maxDrainNotes+1))
	for i, p := range all {
		if i == maxDrainNotes {
			notes = append(notes, fmt.Sprintf("… %d more pods", len(all)-i))
			break
		}
		notes = append(notes, p.ref()+": "+p.result)
	}
	if len(all) == 0 {
		notes = append(notes, "no pods on the node")
	}
	return notes
}

// evict asks the Eviction API to evict the pod read (not a namesake created since).
func (t *tools) evict(ctx context.Context, p *corev1.Pod, dryRun bool) error {
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}},
	}
	if dryRun {
		ev.DeleteOptions.DryRun = []string{metav1.DryRunAll}
	}
	return t.k.clientset.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev)
}

// evictionError says what an eviction's failure means.
func evictionError(err error, p *drainPod) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("RBAC denied: this server's identity may not create pods/eviction in namespace %s (%v); grant that verb on that resource to its ServiceAccount", p.pod.Namespace, err)
	}
	if strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		// The eviction API refuses such a pod on every try, whatever the budgets allow.
		return fmt.Errorf("%v: more than one PodDisruptionBudget selects pod %s/%s, so no eviction of it ever succeeds; keep one budget per pod (delete one or narrow its spec.selector; disruption_check names them)",
			err, p.pod.Namespace, p.pod.Name)
	}
	return err
}

// evictUntil evicts the pods, retrying those a PodDisruptionBudget holds until the deadline.
func (t *tools) evictUntil(ctx context.Context, pods []*drainPod, budgets *pdbIndex, deadline time.Time) {
	wait := time.Second
	for {
		pending := 0
		for _, p := range pods {
			if p.state != toEvict && p.state != blocked {
				continue
			}
			err := t.evict(ctx, p.pod, false)
			switch {
			case err == nil:
				p.state, p.result = terminating, "evicted"
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err): // gone, or replaced by a namesake
				p.state, p.result = gone, "gone"
			case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
				// Its namespace is being deleted, and the pod with it: it is going already.
				p.state, p.result = terminating, "already going: its namespace is being deleted"
			case apierrors.IsTooManyRequests(err):
				p.state, p.result = blocked, "not evicted: blocked by "+budgets.blocking(ctx, p.pod, err)
				pending++
			default:
				p.state, p.result = failed, "not evicted: "+evictionError(err, p).Error()
			}
		}
		left := time.Until(deadline)
		if pending == 0 || left <= 0 || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, left)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// waitGone waits until the evicted pods are gone from the node (their kubelet has stopped them
// and they are deleted), or the deadline.
func (t *tools) waitGone(ctx context.Context, node string, pods []*drainPod, deadline time.Time) {
	for {
		var list corev1.PodList
		if err := t.k.Direct.List(ctx, &list, client.MatchingFields{"spec.nodeName": node}); err != nil {
			return // the pods' state stays "terminating", which is what is known
		}
		present := map[types.UID]bool{}
		for i := range list.Items {
			present[list.Items[i].UID] = true
		}
		waiting := 0
		for _, p := range pods {
			if p.state != terminating {
				continue
			}
			if !present[p.pod.UID] {
				p.state, p.result = gone, p.result+", gone"
				continue
			}
			waiting++
		}
		left := time.Until(deadline)
		if waiting == 0 || left <= 0 || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Second, left)):
		}
	}
}

// drainTable renders what became of each pod.
func drainTable(evict, skip []*drainPod, maxBytes int) string {
	tbl := mcptool.Table{Header: []string{"POD", "RESULT"}}
	for _, p := range append(append([]*drainPod(nil), evict...), skip...) {
		tbl.Add(p.ref(), p.result)
	}
	if len(tbl.Rows) == 0 {
		return "no pods on the node\n"
	}
	return tbl.Render(max(maxBytes, 512))
}

// pdbIndex finds the PodDisruptionBudgets that select a pod, reading each namespace's once.
type pdbIndex struct {
	t           *tools
	byNamespace map[string][]policyv1.PodDisruptionBudget
}

// blocking says which budget blocked a pod's eviction, from the budgets that select it and the
// API server's own reason.
func (x *pdbIndex) blocking(ctx context.Context, p *corev1.Pod, evictErr error) string {
	reason := evictErr.Error()
	var status apierrors.APIStatus
	if errors.As(evictErr, &status) {
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				if c.Type == policyv1.DisruptionBudgetCause {
					reason = c.Message
				}
			}
		}
	}
	budgets, ok := x.byNamespace[p.Namespace]
	if !ok {
		var list policyv1.PodDisruptionBudgetList
		if err := x.t.k.Direct.List(ctx, &list, client.InNamespace(p.Namespace)); err == nil {
			budgets = list.Items
		}
		x.byNamespace[p.Namespace] = budgets
	}
	var names []string
	for _, b := range budgets {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		names = append(names, fmt.Sprintf("%s/%s (%s; %d disruptions allowed)", b.Namespace, b.Name, budgetRule(&b), b.Status.DisruptionsAllowed))
	}
	if len(names) == 0 {
		return "a PodDisruptionBudget: " + reason
	}
	return "PodDisruptionBudget " + strings.Join(names, ", ") + ": " + reason
}

func budgetRule(b *policyv1.PodDisruptionBudget) string {
	switch {
	case b.Spec.MinAvailable != nil:
		return "minAvailable " + b.Spec.MinAvailable.String()
	case b.Spec.MaxUnavailable != nil:
		return "maxUnavailable " + b.Spec.MaxUnavailable.String()
	}
	return "no rule"
}
