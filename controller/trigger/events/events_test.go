package events_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func namespaces(t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, n := range names {
		err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// run starts r until the test ends.
func run(t *testing.T, r interface{ Start(context.Context) error }) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	var once bool
	stop := func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func writer(t *testing.T, c client.Client, defaultNS string) *dedup.Writer {
	t.Helper()
	w, err := dedup.New(c, c, dedup.Config{DefaultNamespace: defaultNS, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, w)
	return w
}

// waitIncident waits for exactly one Incident in ns with labels whose count is want.
func waitIncident(t *testing.T, c client.Client, ns string, labels map[string]string, want int64) opsv1.Incident {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l opsv1.IncidentList
		if err := c.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 1 && l.Items[0].Status.Count == want {
			return l.Items[0]
		}
		if time.Now().After(deadline) {
			var counts []int64
			for _, i := range l.Items {
				counts = append(counts, i.Status.Count)
			}
			t.Fatalf("Incidents in %s with %v: counts %v; want one with count %d", ns, labels, counts, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func count(t *testing.T, c client.Client, ns string) int {
	t.Helper()
	var l opsv1.IncidentList
	if err := c.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

func owned(obj client.Object, owner client.Object, kind, apiVersion string) {
	obj.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}})
}

func warning(ns, name, reason string, involved corev1.ObjectReference, count int32, last time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: involved, Reason: reason, Type: corev1.EventTypeWarning,
		Message: reason + " happened", Count: count, Source: corev1.EventSource{Component: "kubelet", Host: "worker-1"},
		FirstTimestamp: metav1.NewTime(last), LastTimestamp: metav1.NewTime(last),
	}
}

func TestWarningEventsRaiseIncidentOnOwner(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	namespaces(t, c, "opsmesh", "evshop", "evskip")
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}}}
	must(t, c.Create(ctx, dep))
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "web-5d8f"}, Spec: appsv1.ReplicaSetSpec{
		Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	owned(rs, dep, "Deployment", "apps/v1")
	must(t, c.Create(ctx, rs))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "web-5d8f-abcde", Labels: labels}, Spec: dep.Spec.Template.Spec}
	owned(pod, rs, "ReplicaSet", "apps/v1")
	must(t, c.Create(ctx, pod))
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "train"}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "t", Image: "train:1"}}}}}}
	must(t, c.Create(ctx, job))
	jobPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "train-xyz"}, Spec: job.Spec.Template.Spec}
	owned(jobPod, job, "Job", "batch/v1")
	must(t, c.Create(ctx, jobPod))
	podRef := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evshop", Name: pod.Name}

	// History from before the watcher starts: ignored.
	must(t, c.Create(ctx, warning("evshop", "old.1", "BackOff", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evshop", Name: "old-pod"}, 7, time.Now().Add(-time.Hour))))

	cs, err := kubernetes.NewForConfig(env.Config)
	must(t, err)
	w := writer(t, c, "opsmesh")
	watcher, err := events.NewWarnings(cs, c, w, events.WarningsConfig{ExcludeNamespaces: []string{"evskip"}})
	must(t, err)
	run(t, watcher)

	// Not raised: a reason not listed, an excluded namespace.
	must(t, c.Create(ctx, warning("evshop", "pulled.1", "FailedToRetrieveImagePullSecret", podRef, 1, time.Now())))
	must(t, c.Create(ctx, warning("evskip", "skip.1", "BackOff", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evskip", Name: "p"}, 1, time.Now())))

	ev := warning("evshop", "web-5d8f-abcde.1", "BackOff", podRef, 1, time.Now())
	must(t, c.Create(ctx, ev))
	inc := waitIncident(t, c, "evshop", map[string]string{"reason": "BackOff"}, 1)
	want := opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "evshop", Name: "web"}
	if inc.Spec.Target == nil || *inc.Spec.Target != want {
		t.Fatalf("target %+v; want the Deployment %+v", inc.Spec.Target, want)
	}
	if inc.Spec.Source.Type != opsv1.SourceEvent || inc.Spec.Source.Name != "BackOff" || inc.Labels[dedup.LabelSource] != "event" ||
		!strings.Contains(inc.Spec.Summary, "Pod evshop/web-5d8f-abcde (Deployment evshop/web)") || inc.Spec.Source.Labels["involvedName"] != pod.Name {
		t.Fatalf("Incident %s: spec %+v labels %v", inc.Name, inc.Spec, inc.Labels)
	}

	// The event repeats twice more (count 1 → 3), then the kubelet reports CrashLoopBackOff for
	// the same pod: all one problem, one Incident.
	must(t, c.Get(ctx, client.ObjectKeyFromObject(ev), ev))
	ev.Count, ev.LastTimestamp = 3, metav1.Now()
	must(t, c.Update(ctx, ev))
	waitIncident(t, c, "evshop", map[string]string{"reason": "BackOff"}, 3)
	must(t, c.Create(ctx, warning("evshop", "web-5d8f-abcde.2", "CrashLoopBackOff", podRef, 1, time.Now())))
	waitIncident(t, c, "evshop", map[string]string{"reason": "BackOff"}, 4)
	// The kubelet's Failed on the pod (an image it cannot pull, a container it cannot create) is
	// the same problem too; Failed about anything but a pod raises nothing.
	must(t, c.Create(ctx, warning("evshop", "web-5d8f-abcde.3", "Failed", podRef, 1, time.Now())))
	waitIncident(t, c, "evshop", map[string]string{"reason": "BackOff"}, 5)
	must(t, c.Create(ctx, warning("evshop", "web-svc.1", "Failed", corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: "evshop", Name: "web"}, 1, time.Now())))

	// A Job's pod: the Job. A node: in the default namespace.
	must(t, c.Create(ctx, warning("evshop", "train-xyz.1", "Unhealthy", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evshop", Name: jobPod.Name}, 1, time.Now())))
	jinc := waitIncident(t, c, "evshop", map[string]string{"reason": "Unhealthy"}, 1)
	if jinc.Spec.Target == nil || jinc.Spec.Target.Kind != "Job" || jinc.Spec.Target.Name != "train" {
		t.Fatalf("target %+v; want Job train", jinc.Spec.Target)
	}
	must(t, c.Create(ctx, warning("default", "worker-1.1", "NodeNotReady", corev1.ObjectReference{Kind: "Node", Name: "worker-1"}, 1, time.Now())))
	ninc := waitIncident(t, c, "opsmesh", map[string]string{"reason": "NodeNotReady"}, 1)
	if ninc.Spec.Target == nil || ninc.Spec.Target.Kind != "Node" || ninc.Spec.Target.Name != "worker-1" || ninc.Spec.Severity != opsv1.SeverityCritical || ninc.Labels["node"] != "worker-1" {
		t.Fatalf("node Incident: %+v labels %v", ninc.Spec, ninc.Labels)
	}
	// A pod the kubelet refuses to admit (bound by nodeName to a node without the GPUs it asks
	// for): the reason is OutOf<resource>, which the OutOf* prefix covers.
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evshop", Name: "eval-harness"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "h", Image: "h:1"}}}}
	must(t, c.Create(ctx, bare))
	must(t, c.Create(ctx, warning("evshop", "eval-harness.1", "OutOfnvidia.com/gpu", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evshop", Name: "eval-harness"}, 1, time.Now())))
	// (a reason with a slash is no label value: the Incident is found by its target)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var l opsv1.IncidentList
		must(t, c.List(ctx, &l, client.InNamespace("evshop")))
		if slices.ContainsFunc(l.Items, func(i opsv1.Incident) bool {
			return i.Spec.Target != nil && i.Spec.Target.Kind == "Pod" && i.Spec.Target.Name == "eval-harness" && i.Spec.Source.Name == "OutOfnvidia.com/gpu"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Incident about Pod eval-harness for its OutOfnvidia.com/gpu event")
		}
	}
	// Every event before these was handled (one watch, in order): the ignored ones raised nothing.
	if n := count(t, c, "evshop"); n != 3 {
		t.Fatalf("%d Incidents in evshop; want 3 (the Deployment's, the Job's and the bare pod's)", n)
	}
	if n := count(t, c, "evskip"); n != 0 {
		t.Fatalf("%d Incidents in the excluded namespace", n)
	}
}

func TestGPUXIDRaisesIncidentOnNode(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	namespaces(t, c, "opsmesh-gpu")
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	must(t, err)
	t.Cleanup(b.Close)
	js := b.JetStream()
	_, err = js.CreateStream(ctx, xidpub.StreamConfig()) // as the node agents do
	must(t, err)
	w := writer(t, c, "opsmesh-gpu")
	stop := run(t, events.NewXIDs(js, w, events.XIDConfig{}))

	publish := func(subject string, data []byte) {
		t.Helper()
		_, err := js.Publish(ctx, subject, data)
		must(t, err)
	}
	event := func(at time.Time) (string, []byte) {
		ev := xidpub.NewEvent("gpu-7", true, gpu.XIDEvent{Index: 3, UUID: "GPU-7f3e", Code: 79, Time: at})
		subj, err := ev.Subject()
		must(t, err)
		data, err := json.Marshal(ev)
		must(t, err)
		return subj, data
	}
	// Garbage first: not JSON, not an event, an event on another node's subject.
	subj, data := event(time.Now())
	publish("opsmesh.gpu.gpu-7.xid", []byte("not json at all"))
	publish("opsmesh.gpu.gpu-7.xid", []byte(`{"node":"gpu-7","xid":-4}`))
	publish("opsmesh.gpu.gpu-8.xid", data)
	publish(subj, data)

	labels := map[string]string{"node": "gpu-7", "xid": "79"}
	inc := waitIncident(t, c, "opsmesh-gpu", labels, 1)
	if inc.Spec.Target == nil || inc.Spec.Target.Kind != "Node" || inc.Spec.Target.Name != "gpu-7" || inc.Spec.Source.Name != "GPUXid79" ||
		inc.Spec.Source.Type != opsv1.SourceEvent || inc.Spec.Severity != opsv1.SeverityCritical || inc.Labels["simulated"] != "true" {
		t.Fatalf("Incident %s: spec %+v labels %v", inc.Name, inc.Spec, inc.Labels)
	}
	if want := "GPU 3 on node gpu-7 reports XID 79 (GPU has fallen off the bus) (simulated)"; inc.Spec.Summary != want {
		t.Fatalf("summary %q; want %q", inc.Spec.Summary, want)
	}

	// Restarted, the durable consumer goes on where it stopped: the event published while it was
	// down is counted once, the earlier ones not again.
	stop()
	subj, data = event(time.Now().Add(time.Second))
	publish(subj, data)
	run(t, events.NewXIDs(js, w, events.XIDConfig{}))
	waitIncident(t, c, "opsmesh-gpu", labels, 2)
	cons, err := js.Consumer(ctx, xidpub.Stream, "opsmesh-controller-xid")
	must(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := cons.Info(ctx)
		must(t, err)
		if info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer: pending %d, ack pending %d, delivered %d; want everything handled", info.NumPending, info.NumAckPending, info.Delivered.Stream)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(t, c, "opsmesh-gpu"); n != 1 {
		t.Fatalf("%d Incidents in opsmesh-gpu; want 1 (garbage creates nothing)", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestXIDWatcherWaitsForNATS: with NATS unreachable the watcher logs and retries instead of
// stopping the manager, and stops cleanly when asked.
func TestXIDWatcherWaitsForNATS(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Options{DataDir: t.TempDir()})
	must(t, err)
	js := b.JetStream()
	b.Close()
	logged := make(chan string, 10)
	log := funcr.New(func(prefix, args string) {
		select {
		case logged <- args:
		default:
		}
	}, funcr.Options{})
	x := events.NewXIDs(js, nil, events.XIDConfig{Retry: 10 * time.Millisecond, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Start(ctx) }()
	msg := <-logged
	if !strings.Contains(msg, "retrying") || !strings.Contains(msg, xidpub.Stream) {
		t.Fatalf("logged %s; want the retry, naming the stream", msg)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v after a clean stop", err)
	}
}

// TestWarningEventsFromASharedCache: with Informers set (controller --runtime, whose builtin
// servers share the manager's cache), the watcher reads Events from that cache's informer —
// which holds Normal events too — and raises for the Warning ones only.
func TestWarningEventsFromASharedCache(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	namespaces(t, c, "opsmesh", "evcache")
	shared, err := ctrlcache.New(env.Config, ctrlcache.Options{Scheme: c.Scheme()})
	must(t, err)
	cctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() { _ = shared.Start(cctx) }()
	if !shared.WaitForCacheSync(ctx) {
		t.Fatal("the shared cache did not start")
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	must(t, err)
	watcher, err := events.NewWarnings(cs, c, writer(t, c, "opsmesh"), events.WarningsConfig{Informers: shared})
	must(t, err)
	run(t, watcher)

	podRef := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evcache", Name: "solo"}
	normal := warning("evcache", "solo.0", "BackOff", podRef, 1, time.Now())
	normal.Type = corev1.EventTypeNormal // the kubelet's pull back-off is Normal: no Incident
	must(t, c.Create(ctx, normal))
	must(t, c.Create(ctx, warning("evcache", "solo.1", "CrashLoopBackOff", podRef, 1, time.Now())))
	inc := waitIncident(t, c, "evcache", map[string]string{"reason": "CrashLoopBackOff"}, 1)
	if inc.Spec.Target == nil || inc.Spec.Target.Kind != "Pod" || inc.Spec.Target.Name != "solo" {
		t.Fatalf("target %+v; want the pod", inc.Spec.Target)
	}
	if n := count(t, c, "evcache"); n != 1 {
		t.Fatalf("%d Incidents in evcache; want 1 (the Normal event raises none)", n)
	}
}

// TestEventsRaiseIncidentsAboutTheOwnedWorkload: Warning events about the objects a workload's
// controllers make raise one Incident about the workload a person owns. A ReplicaSet's
// FailedCreate (quota) is about its Deployment, and so are repeats on another ReplicaSet of it and
// a BackOff of one of its pods (another reason, folded into the Incident already open); a pod of
// a Job a CronJob made is about the CronJob; a pod of a Job a custom controller (a JobSet, a kind
// this API server does not serve) made is about that controller.
func TestEventsRaiseIncidentsAboutTheOwnedWorkload(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	namespaces(t, c, "opsmesh", "evquota", "evcron")
	labels := map[string]string{"app": "api"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "evquota", Name: "api"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "api:1"}}}}}}
	must(t, c.Create(ctx, dep))
	var sets []*appsv1.ReplicaSet
	for _, name := range []string{"api-7c9", "api-8d0"} {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "evquota", Name: name}, Spec: appsv1.ReplicaSetSpec{
			Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
		owned(rs, dep, "Deployment", "apps/v1")
		must(t, c.Create(ctx, rs))
		sets = append(sets, rs)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evquota", Name: "api-8d0-q2x7z", Labels: labels}, Spec: dep.Spec.Template.Spec}
	owned(pod, sets[1], "ReplicaSet", "apps/v1")
	must(t, c.Create(ctx, pod))

	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "evcron", Name: "nightly"}, Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "r", Image: "report:1"}}}}}}}}
	must(t, c.Create(ctx, cron))
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "evcron", Name: "nightly-29001"}, Spec: cron.Spec.JobTemplate.Spec}
	owned(job, cron, "CronJob", "batch/v1")
	must(t, c.Create(ctx, job))
	jobPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evcron", Name: "nightly-29001-abcde"}, Spec: job.Spec.Template.Spec}
	owned(jobPod, job, "Job", "batch/v1")
	must(t, c.Create(ctx, jobPod))
	// A JobSet's Job: the JobSet kind is not served here, so its object cannot be read; the
	// controller reference names it.
	jsJob := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "evcron", Name: "trainer-workers-0",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "jobset.x-k8s.io/v1alpha2", Kind: "JobSet", Name: "trainer", UID: "3f1c2f5e-0000-4000-8000-000000000001", Controller: ptr.To(true)}}},
		Spec: cron.Spec.JobTemplate.Spec}
	must(t, c.Create(ctx, jsJob))
	jsPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "evcron", Name: "trainer-workers-0-0-xyz"}, Spec: job.Spec.Template.Spec}
	owned(jsPod, jsJob, "Job", "batch/v1")
	must(t, c.Create(ctx, jsPod))

	cs, err := kubernetes.NewForConfig(env.Config)
	must(t, err)
	watcher, err := events.NewWarnings(cs, c, writer(t, c, "opsmesh"), events.WarningsConfig{})
	must(t, err)
	run(t, watcher)

	rsRef := func(rs *appsv1.ReplicaSet) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "evquota", Name: rs.Name}
	}
	quota := warning("evquota", "api-7c9.1", "FailedCreate", rsRef(sets[0]), 1, time.Now())
	quota.Source = corev1.EventSource{Component: "replicaset-controller"}
	quota.Message = `Error creating: pods "api-7c9-x4k2p" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=8, limited: requests.cpu=8`
	must(t, c.Create(ctx, quota))
	inc := waitIncident(t, c, "evquota", map[string]string{"reason": "FailedCreate"}, 1)
	want := opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "evquota", Name: "api"}
	if inc.Spec.Target == nil || *inc.Spec.Target != want {
		t.Fatalf("target %+v; want the Deployment %+v, not the ReplicaSet", inc.Spec.Target, want)
	}
	if s := inc.Spec.Summary; !strings.Contains(s, "ReplicaSet evquota/api-7c9 (Deployment evquota/api)") || !strings.Contains(s, "exceeded quota: compute") {
		t.Errorf("summary %q: want the event's own object and message", s)
	}
	if inc.Spec.Source.Labels["involvedKind"] != "ReplicaSet" || inc.Spec.Source.Labels["involvedName"] != "api-7c9" {
		t.Errorf("source labels %v: want the ReplicaSet the event is about", inc.Spec.Source.Labels)
	}

	// The ReplicaSet controller repeats itself; the next rollout's ReplicaSet hits the same quota;
	// one of the Deployment's pods backs off: all one Incident about the Deployment.
	must(t, c.Get(ctx, client.ObjectKeyFromObject(quota), quota))
	quota.Count, quota.LastTimestamp = 2, metav1.Now()
	must(t, c.Update(ctx, quota))
	waitIncident(t, c, "evquota", map[string]string{"reason": "FailedCreate"}, 2)
	must(t, c.Create(ctx, warning("evquota", "api-8d0.1", "FailedCreate", rsRef(sets[1]), 1, time.Now())))
	waitIncident(t, c, "evquota", map[string]string{"reason": "FailedCreate"}, 3)
	must(t, c.Create(ctx, warning("evquota", "api-8d0-q2x7z.1", "BackOff", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evquota", Name: pod.Name}, 1, time.Now())))
	waitIncident(t, c, "evquota", map[string]string{"reason": "FailedCreate"}, 4)
	if n := count(t, c, "evquota"); n != 1 {
		t.Fatalf("%d Incidents in evquota; want 1 about the Deployment", n)
	}

	// A CronJob's Job's pod: the CronJob. A JobSet's Job's pod: the JobSet.
	must(t, c.Create(ctx, warning("evcron", "nightly.1", "BackOff", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evcron", Name: jobPod.Name}, 1, time.Now())))
	cinc := waitIncident(t, c, "evcron", map[string]string{dedup.LabelTarget: dedup.TargetHash(opsv1.TargetReference{Kind: "CronJob", Namespace: "evcron", Name: "nightly"})}, 1)
	if want := (opsv1.TargetReference{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "evcron", Name: "nightly"}); cinc.Spec.Target == nil || *cinc.Spec.Target != want {
		t.Fatalf("target %+v; want the CronJob %+v", cinc.Spec.Target, want)
	}
	must(t, c.Create(ctx, warning("evcron", "trainer.1", "BackOff", corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "evcron", Name: jsPod.Name}, 1, time.Now())))
	jinc := waitIncident(t, c, "evcron", map[string]string{dedup.LabelTarget: dedup.TargetHash(opsv1.TargetReference{Kind: "JobSet", Namespace: "evcron", Name: "trainer"})}, 1)
	if want := (opsv1.TargetReference{APIVersion: "jobset.x-k8s.io/v1alpha2", Kind: "JobSet", Namespace: "evcron", Name: "trainer"}); jinc.Spec.Target == nil || *jinc.Spec.Target != want {
		t.Fatalf("target %+v; want the JobSet %+v", jinc.Spec.Target, want)
	}
}
