//go:build cgo

package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/fixture"
	"github.com/opsmesh/opsmesh/internal/fixture/rollout"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
	"github.com/opsmesh/opsmesh/sandbox/demo"
)

// sim does, for the demo's namespaces, what the sandbox's kube-controller-manager, kube-scheduler
// and kwok do and envtest lacks: the deployment, ReplicaSet and job controllers (ReplicaSets with
// revisions, pods, the Deployments' rollout status, the Jobs' active pods), a scheduler (binding
// pods to nodes with room, or a FailedScheduling event), and kwok's stages (a pod annotated
// demo.opsmesh.dev/fault gets that failure state and a BackOff event; others run and are Ready).
type sim struct {
	t     testing.TB
	c     client.Client
	done  map[string]bool // pods given their state, by UID
	unsch map[string]bool // pods told they do not fit, by UID
}

var demoNamespaces = []string{demo.NSInference, demo.NSTraining, demo.NSBatch}

func runSim(ctx context.Context, t testing.TB, c client.Client) {
	s := &sim{t: t, c: c, done: map[string]bool{}, unsch: map[string]bool{}}
	go func() {
		for ctx.Err() == nil {
			for _, ns := range demoNamespaces {
				if err := s.step(ctx, ns); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsAlreadyExists(err) {
					t.Logf("sim: %s: %v", ns, err)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
}

func (s *sim) step(ctx context.Context, ns string) error {
	if err := s.deployments(ctx, ns); err != nil {
		return err
	}
	if err := s.replicaSets(ctx, ns); err != nil {
		return err
	}
	if err := s.jobs(ctx, ns); err != nil {
		return err
	}
	if err := s.pods(ctx, ns); err != nil {
		return err
	}
	return s.rolloutStatus(ctx, ns)
}

// rolloutStatus writes what the ReplicaSet and deployment controllers report of each Deployment:
// its ReplicaSets' ready pods and its rollout (observedGeneration, updated, ready and available
// replicas, the Available and Progressing conditions), which the orchestrator reads to verify a
// fix.
func (s *sim) rolloutStatus(ctx context.Context, ns string) error {
	var ds appsv1.DeploymentList
	if err := s.c.List(ctx, &ds, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, d := range ds.Items {
		if err := rollout.Sync(ctx, s.c, ns, d.Name); err != nil {
			return err
		}
	}
	return nil
}

func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum32())
}

func revision(o metav1.Object) int {
	n, _ := strconv.Atoi(o.GetAnnotations()["deployment.kubernetes.io/revision"])
	return n
}

// deployments keeps one ReplicaSet per template, the current one newest and scaled up.
func (s *sim) deployments(ctx context.Context, ns string) error {
	var ds appsv1.DeploymentList
	if err := s.c.List(ctx, &ds, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, d := range ds.Items {
		var rss appsv1.ReplicaSetList
		if err := s.c.List(ctx, &rss, client.InNamespace(ns)); err != nil {
			return err
		}
		hash := templateHash(&d.Spec.Template)
		top, var_ := 0, (*appsv1.ReplicaSet)(nil)
		for i := range rss.Items {
			rs := &rss.Items[i]
			if !metav1.IsControlledBy(rs, &d) {
				continue
			}
			top = max(top, revision(rs))
			if rs.Labels["pod-template-hash"] == hash {
				var_ = rs
			}
		}
		if var_ == nil {
			l := map[string]string{"pod-template-hash": hash}
			for k, v := range d.Spec.Template.Labels {
				l[k] = v
			}
			tmpl := *d.Spec.Template.DeepCopy()
			tmpl.Labels = l
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name + "-" + hash, Labels: l,
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(top + 1)},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
				Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: &metav1.LabelSelector{MatchLabels: l}, Template: tmpl}}
			if err := s.c.Create(ctx, rs); err != nil {
				return err
			}
			var_ = rs
		} else if revision(var_) < top {
			// A rollback: the old ReplicaSet becomes the newest revision again.
			orig := var_.DeepCopy()
			var_.Annotations["deployment.kubernetes.io/revision"] = strconv.Itoa(top + 1)
			var_.Spec.Replicas = d.Spec.Replicas
			if err := s.c.Patch(ctx, var_, client.MergeFrom(orig)); err != nil {
				return err
			}
		}
		for i := range rss.Items {
			rs := &rss.Items[i]
			if metav1.IsControlledBy(rs, &d) && rs.Name != var_.Name && ptr.Deref(rs.Spec.Replicas, 0) != 0 {
				orig := rs.DeepCopy()
				rs.Spec.Replicas = ptr.To[int32](0)
				if err := s.c.Patch(ctx, rs, client.MergeFrom(orig)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// replicaSets creates and deletes pods to the ReplicaSets' replicas.
func (s *sim) replicaSets(ctx context.Context, ns string) error {
	var rss appsv1.ReplicaSetList
	if err := s.c.List(ctx, &rss, client.InNamespace(ns)); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		var mine []corev1.Pod
		for _, p := range pods.Items {
			if metav1.IsControlledBy(&p, rs) && p.DeletionTimestamp == nil {
				mine = append(mine, p)
			}
		}
		want := int(ptr.Deref(rs.Spec.Replicas, 0))
		for j := len(mine); j < want; j++ {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", rs.Name, j), Labels: rs.Spec.Template.Labels,
				Annotations:     rs.Spec.Template.Annotations,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
				Spec: *rs.Spec.Template.Spec.DeepCopy()}
			if err := s.c.Create(ctx, p); err != nil {
				return err
			}
		}
		for j := want; j < len(mine); j++ {
			if err := s.c.Delete(ctx, &mine[j], client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	return nil
}

// jobs gives each Job its one pod.
func (s *sim) jobs(ctx context.Context, ns string) error {
	var jobs batchv1.JobList
	if err := s.c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		l := map[string]string{"batch.kubernetes.io/job-name": j.Name, "job-name": j.Name}
		for k, v := range j.Spec.Template.Labels {
			l[k] = v
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: j.Name + "-0", Labels: l,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(j, batchv1.SchemeGroupVersion.WithKind("Job"))}},
			Spec: *j.Spec.Template.Spec.DeepCopy()}
		if err := s.c.Create(ctx, p); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
		if err := s.jobStatus(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// jobStatus writes what the job controller reports of j: its pods active (not finished), ready,
// succeeded and failed, and when it started.
func (s *sim) jobStatus(ctx context.Context, j *batchv1.Job) error {
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(j.Namespace)); err != nil {
		return err
	}
	st := j.Status.DeepCopy()
	st.Active, st.Succeeded, st.Failed, st.Ready = 0, 0, 0, ptr.To[int32](0)
	for i := range pods.Items {
		p := &pods.Items[i]
		if !metav1.IsControlledBy(p, j) || p.DeletionTimestamp != nil {
			continue
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			st.Succeeded++
		case corev1.PodFailed:
			st.Failed++
		default:
			st.Active++
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					*st.Ready++
				}
			}
		}
	}
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.Now())
	}
	if apiequality.Semantic.DeepEqual(st, &j.Status) {
		return nil
	}
	j.Status = *st
	return s.c.Status().Update(ctx, j)
}

func gpuRequest(p *corev1.Pod) int64 {
	var n int64
	for _, c := range p.Spec.Containers {
		q := c.Resources.Limits["nvidia.com/gpu"]
		n += q.Value()
	}
	return n
}

// pods schedules unbound pods and gives bound ones their state.
func (s *sim) pods(ctx context.Context, ns string) error {
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || s.done[string(p.UID)] {
			continue
		}
		if p.Spec.NodeName == "" {
			if err := s.schedule(ctx, p); err != nil {
				return err
			}
			continue
		}
		if err := s.kubelet(ctx, p); err != nil {
			return err
		}
		s.done[string(p.UID)] = true
	}
	return nil
}

// schedule binds p to the first node with room (GPU pods to GPU nodes, others to CPU nodes),
// or says why none fits as the scheduler does.
func (s *sim) schedule(ctx context.Context, p *corev1.Pod) error {
	var nodes corev1.NodeList
	if err := s.c.List(ctx, &nodes); err != nil {
		return err
	}
	var all corev1.PodList
	if err := s.c.List(ctx, &all); err != nil {
		return err
	}
	used := map[string]int64{}
	for i := range all.Items {
		if q := &all.Items[i]; q.Spec.NodeName != "" && q.DeletionTimestamp == nil {
			used[q.Spec.NodeName] += gpuRequest(q)
		}
	}
	want := gpuRequest(p)
	insufficient, other := 0, 0
	for _, n := range nodes.Items {
		have := n.Status.Allocatable.Name("nvidia.com/gpu", resource.DecimalSI).Value()
		switch {
		case n.Spec.Unschedulable:
			other++
		case want == 0 && have > 0:
			other++ // the demo keeps CPU pods off GPU nodes
		case want > 0 && have-used[n.Name] < want:
			insufficient++
		default:
			b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}, Target: corev1.ObjectReference{Kind: "Node", Name: n.Name}}
			return s.c.SubResource("binding").Create(ctx, p, b)
		}
	}
	if s.unsch[string(p.UID)] {
		return nil
	}
	msg := fmt.Sprintf("0/%d nodes are available: %d Insufficient nvidia.com/gpu, %d node(s) didn't match Pod's node affinity/selector. preemption: 0/%d nodes are available: %d No preemption victims found for incoming pod.",
		len(nodes.Items), insufficient, other, len(nodes.Items), len(nodes.Items))
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now()}}
	p.Status.Phase = corev1.PodPending
	if err := s.c.Status().Update(ctx, p); err != nil {
		return err
	}
	s.unsch[string(p.UID)] = true
	return s.event(ctx, p, "FailedScheduling", msg, "default-scheduler")
}

// kubelet writes the state kwok's stages give p.
func (s *sim) kubelet(ctx context.Context, p *corev1.Pod) error {
	now := metav1.Now()
	name := p.Spec.Containers[0].Name
	cond := func(ok corev1.ConditionStatus) []corev1.PodCondition {
		return []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: ok}, {Type: corev1.ContainersReady, Status: ok}}
	}
	crash := func(reason string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Image: p.Spec.Containers[0].Image, RestartCount: 5,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container=" + name + " pod=" + p.Name}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, StartedAt: now, FinishedAt: now}}}
	}
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", StartTime: &now}
	fault := p.Annotations[demo.FaultAnnotation]
	switch fault {
	case "CrashLoopBackOff":
		st.Conditions, st.ContainerStatuses = cond(corev1.ConditionFalse), []corev1.ContainerStatus{crash("Error", 1)}
	case "OOMKilled":
		st.Conditions, st.ContainerStatuses = cond(corev1.ConditionFalse), []corev1.ContainerStatus{crash("OOMKilled", 137)}
	default:
		st.Conditions = cond(corev1.ConditionTrue)
		st.ContainerStatuses = []corev1.ContainerStatus{{Name: name, Image: p.Spec.Containers[0].Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	}
	p.Status = st
	if err := s.c.Status().Update(ctx, p); err != nil {
		return err
	}
	if fault != "" {
		return s.event(ctx, p, "BackOff", "Back-off restarting failed container "+name+" in pod "+p.Name+"_"+p.Namespace+"("+string(p.UID)+")", "kubelet")
	}
	return nil
}

func (s *sim) event(ctx context.Context, p *corev1.Pod, reason, msg, component string) error {
	now := metav1.Now()
	e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: fmt.Sprintf("%s.%x", p.Name, time.Now().UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Reason:         reason, Message: msg, Type: corev1.EventTypeWarning, Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: component, Host: p.Spec.NodeName}}
	return s.c.Create(ctx, e)
}

// nodeAgents is the test's demo.Faults: it starts, on a node, a simulated GPU node agent (the
// real one, on go-nvml's mock) with the XID in its fault file, publishing to NATS as the
// sandbox's agents do, and registers its pod where the GPU view finds it.
type nodeAgents struct {
	t       testing.TB
	c       client.Client
	natsURL string
	mu      sync.Mutex
	calls   []string
	// diagnosedBefore is the targets of the Incidents that had a root cause when the first
	// XID was injected.
	diagnosedBefore []string
}

func (n *nodeAgents) InjectXID(ctx context.Context, node string, index, xid int) error {
	n.mu.Lock()
	n.calls = append(n.calls, fmt.Sprintf("%s/%d/%d", node, index, xid))
	first := len(n.calls) == 1
	n.mu.Unlock()
	if first {
		var incs opsv1.IncidentList
		if err := n.c.List(ctx, &incs); err != nil {
			return err
		}
		var diagnosed []string
		for _, inc := range incs.Items {
			if inc.Status.RootCause != nil && inc.Spec.Target != nil {
				diagnosed = append(diagnosed, inc.Spec.Target.String())
			}
		}
		n.mu.Lock()
		n.diagnosedBefore = diagnosed
		n.mu.Unlock()
	}
	faults := fmt.Sprintf("gpus:\n  - index: %d\n    lost: true\n    xids:\n      - {code: %d, time: %s}\n", index, xid, time.Now().UTC().Format(time.RFC3339))
	f, err := simulate.ParseFaults([]byte(faults), simulate.NodeGPUs)
	if err != nil {
		return err
	}
	lib, err := simulate.New("dgxh100", f)
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(context.Background())
	n.t.Cleanup(cancel)
	pub, err := xidpub.New(actx, xidpub.Config{URL: n.natsURL, Node: node, Simulated: true})
	if err != nil {
		return err
	}
	n.t.Cleanup(pub.Close)
	a, err := gpu.NewNodeAgent(actx, lib, gpu.Config{NodeName: node, XIDSink: pub})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, mcptest.Token))
	n.t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: fixture.AgentNamespace, Name: "agent-" + node,
		Labels:      map[string]string{"app.kubernetes.io/component": "gpu-node-agent"},
		Annotations: map[string]string{gpuview.PortAnnotation: u.Port()}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "agent", Image: "opsmesh"}}}}
	if err := n.c.Create(ctx, p); err != nil {
		return err
	}
	p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	return n.c.Status().Update(ctx, p)
}

func (n *nodeAgents) diagnosedBeforeXID() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.diagnosedBefore)
}

func (n *nodeAgents) injected() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls)
}
