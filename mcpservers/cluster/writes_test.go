package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// writeTools are every write tool the cluster server serves.
var writeTools = []string{
	"pod_delete", "workload_restart", "workload_scale", "workload_set_image", "workload_set_resources",
	"workload_rollback", "node_cordon", "node_uncordon", "node_drain", "resource_patch", "resource_apply",
}

func create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := apiServer(t).Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// read reads obj back from the API server by its namespace and name.
func read[T client.Object](t *testing.T, obj T) T {
	t.Helper()
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatalf("reading %T %s back: %v", obj, obj.GetName(), err)
	}
	return obj
}

// unchanged fails when obj's stored resourceVersion differs from rv: a dry run or refused write
// must store nothing.
func unchanged(t *testing.T, obj client.Object, rv string) {
	t.Helper()
	fresh := obj.DeepCopyObject().(client.Object)
	if got := read(t, fresh).GetResourceVersion(); got != rv {
		t.Errorf("%T %s changed (resourceVersion %s → %s), want it untouched", obj, obj.GetName(), rv, got)
	}
}

func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}},
			Containers:     []corev1.Container{{Name: "app", Image: image}},
		},
	}
}

func deployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, image)},
	}
}

func TestWriteToolsAreServedWithTheirEffects(t *testing.T) {
	s := connect(t, cluster.Config{})
	res, err := s.C.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		seen[tl.Name] = tl
	}
	for _, name := range writeTools {
		tl, ok := seen[name]
		if !ok {
			t.Errorf("tools/list lacks %s", name)
			continue
		}
		a := tl.Annotations
		destructive := name == "pod_delete" || name == "node_drain"
		if a.ReadOnlyHint == nil || *a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint != destructive {
			t.Errorf("%s: readOnlyHint %v, destructiveHint %v; want false, %v", name, ptr.Deref(a.ReadOnlyHint, true), ptr.Deref(a.DestructiveHint, false), destructive)
		}
		if _, ok := tl.InputSchema.Properties["dryRun"]; !ok {
			t.Errorf("%s takes no dryRun", name)
		}
	}
}

func TestWriteToolsAbsentFromReadOnlyServer(t *testing.T) {
	ns := namespace(t, "wr-readonly")
	dep := deployment(ns, "web", "registry.example/app:1")
	create(t, dep)
	s := connect(t, cluster.Config{ReadOnly: true})
	names := s.ToolNames()
	if !slices.Contains(names, "resource_get") {
		t.Fatalf("the read-only server lists no read tools: %v", names)
	}
	for _, w := range writeTools {
		if slices.Contains(names, w) {
			t.Errorf("a read-only server lists %s", w)
		}
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "workload_scale"
	req.Params.Arguments = map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "replicas": 0}
	res, err := s.C.CallTool(context.Background(), req)
	if err == nil && !res.IsError {
		t.Errorf("a read-only server ran workload_scale: %v", res.Content)
	}
	unchanged(t, dep, dep.ResourceVersion)
}

func TestWriteToolsConfinedToAllowedNamespaces(t *testing.T) {
	in, out := namespace(t, "wr-in"), namespace(t, "wr-out")
	dep := deployment(out, "web", "registry.example/app:1")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "wr-node-confined"}}
	create(t, dep, node)
	s := connect(t, cluster.Config{AllowNamespaces: []string{in}})
	s.Fails("workload_scale", map[string]any{"kind": "deployment", "namespace": out, "name": "web", "replicas": 0}, `namespace "wr-out" is outside`)
	s.Fails("resource_patch", map[string]any{"kind": "deployment", "namespace": out, "name": "web", "patch": `{"spec":{"replicas":0}}`}, "outside")
	s.Fails("resource_apply", map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: wr-out\n"}, "outside")
	s.Fails("resource_apply", map[string]any{"manifest": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: wr-sneaky\n"}, "cluster-scoped")
	s.Fails("node_cordon", map[string]any{"name": node.Name}, "cluster-scoped")
	s.Fails("node_drain", map[string]any{"name": node.Name}, "cluster-scoped")
	unchanged(t, dep, dep.ResourceVersion)
	unchanged(t, node, node.ResourceVersion)
}

func TestPodDelete(t *testing.T) {
	ns := namespace(t, "wr-delete")
	bare := pod(ns, "bare", nil)
	onNode := pod(ns, "on-node", nil)
	onNode.Spec.NodeName = "wr-node-delete"
	onNode.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "1234", Controller: ptr.To(true)}}
	create(t, bare, onNode)
	s := connect(t, cluster.Config{})

	var dry contract.Change
	out := s.Data("pod_delete", map[string]any{"namespace": ns, "name": "bare", "dryRun": true}, &dry)
	mustContain(t, out, "dry run of pod/wr-delete/bare", "--- pod/wr-delete/bare (live)", "-kind: Pod", "no controller manages this pod")
	if dry.Object != "pod/wr-delete/bare" || !dry.DryRun || !dry.Deleted || !strings.Contains(dry.Diff, "-kind: Pod") ||
		!slices.ContainsFunc(dry.Notes, func(n string) bool { return strings.Contains(n, "no controller manages this pod") }) {
		t.Errorf("pod_delete dry run: structured %+v", dry)
	}
	unchanged(t, bare, bare.ResourceVersion)

	out = s.OK("pod_delete", map[string]any{"namespace": ns, "name": "bare"})
	mustContain(t, out, "changed pod/wr-delete/bare: deleted", "nothing recreates it")
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKeyFromObject(bare), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod bare after pod_delete: %v, want not found (a pod on no node is deleted at once)", err)
	}

	// A pod on a node waits for its kubelet (there is none here): it stays, terminating.
	out = s.OK("pod_delete", map[string]any{"namespace": ns, "name": "on-node", "gracePeriodSeconds": 30})
	mustContain(t, out, "grace period 30s", "ReplicaSet web-abc manages this pod", "terminating", "+  deletionTimestamp:")
	if p := read(t, onNode); p.DeletionTimestamp == nil {
		t.Errorf("pod on-node has no deletionTimestamp after pod_delete")
	}

	s.Fails("pod_delete", map[string]any{"namespace": ns, "name": "nope"}, "pod/wr-delete/nope not found")
	s.Fails("pod_delete", map[string]any{"name": "bare"}, "namespace")
	s.Fails("pod_delete", map[string]any{"namespace": ns, "name": "on-node", "gracePeriodSeconds": -1}, "gracePeriodSeconds")
}

func TestWorkloadRestart(t *testing.T) {
	ns := namespace(t, "wr-restart")
	dep := deployment(ns, "web", "registry.example/app:1")
	paused := deployment(ns, "paused", "registry.example/app:1")
	paused.Spec.Paused = true
	create(t, dep, paused)
	s := connect(t, cluster.Config{})

	out := s.OK("workload_restart", map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "dryRun": true})
	mustContain(t, out, "dry run of deployment/wr-restart/web: rollout restart", "+        kubectl.kubernetes.io/restartedAt:")
	unchanged(t, dep, dep.ResourceVersion)

	out = s.OK("workload_restart", map[string]any{"kind": "deployment", "namespace": ns, "name": "web"})
	mustContain(t, out, "changed deployment/wr-restart/web: rollout restart")
	got := read(t, dep).Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
	if at, err := time.Parse(time.RFC3339, got); err != nil || time.Since(at) > time.Minute {
		t.Errorf("restartedAt annotation = %q, want the time of the restart in RFC 3339", got)
	}

	s.Fails("workload_restart", map[string]any{"kind": "deployment", "namespace": ns, "name": "paused"}, "paused", "resume it first")
	unchanged(t, paused, paused.ResourceVersion)
	s.Fails("workload_restart", map[string]any{"kind": "job", "namespace": ns, "name": "web"}, "kind")
	s.Fails("workload_restart", map[string]any{"kind": "deployment", "namespace": ns, "name": "nope"}, "deployment/wr-restart/nope not found")
}

func TestWorkloadScale(t *testing.T) {
	ns := namespace(t, "wr-scale")
	dep := deployment(ns, "web", "registry.example/app:1")
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: podTemplate(map[string]string{"app": "db"}, "registry.example/db:1")},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 6,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"}},
	}
	create(t, dep, sts, hpa)
	s := connect(t, cluster.Config{})
	args := func(kind, name string, replicas any, dryRun bool) map[string]any {
		return map[string]any{"kind": kind, "namespace": ns, "name": name, "replicas": replicas, "dryRun": dryRun}
	}

	var dry contract.Change
	out := s.Data("workload_scale", args("deployment", "web", 5, true), &dry)
	mustContain(t, out, "dry run of deployment/wr-scale/web: replicas 2 → 5", "-  replicas: 2", "+  replicas: 5")
	if dry.Object != "deployment/wr-scale/web" || !dry.DryRun || dry.NoChange || dry.Summary != "replicas 2 → 5" ||
		!strings.Contains(dry.Diff, "-  replicas: 2") || !strings.Contains(dry.Diff, "+  replicas: 5") {
		t.Errorf("workload_scale dry run: structured %+v", dry)
	}
	unchanged(t, dep, dep.ResourceVersion)

	out = s.OK("workload_scale", args("deployment", "web", 5, false))
	mustContain(t, out, "changed deployment/wr-scale/web: replicas 2 → 5")
	if got := *read(t, dep).Spec.Replicas; got != 5 {
		t.Errorf("replicas after workload_scale = %d, want 5", got)
	}
	rv := dep.ResourceVersion

	var same contract.Change
	out = s.Data("workload_scale", args("deployment", "web", 5, false), &same)
	mustContain(t, out, "nothing to change", "already 5 replicas")
	if !same.NoChange || same.DryRun || same.Diff != "" || same.Summary != "already 5 replicas" {
		t.Errorf("workload_scale to the same replicas: structured %+v", same)
	}
	unchanged(t, dep, rv)

	for _, bad := range []any{-1, 1001, "two", 1.5} {
		s.Fails("workload_scale", args("deployment", "web", bad, false), "replicas")
	}
	s.Fails("workload_scale", map[string]any{"kind": "deployment", "namespace": ns, "name": "web"}, "replicas")
	s.Fails("workload_scale", args("daemonset", "web", 1, false), "kind")
	unchanged(t, dep, rv)

	out = s.OK("workload_scale", args("deployment", "web", 0, false))
	mustContain(t, out, "replicas 5 → 0", "scaled to 0: every pod of deployment/wr-scale/web stops")
	if got := *read(t, dep).Spec.Replicas; got != 0 {
		t.Errorf("replicas after scaling to 0 = %d", got)
	}

	out = s.OK("workload_scale", args("statefulset", "db", 4, false))
	mustContain(t, out, "replicas 3 → 4", "HorizontalPodAutoscaler db sets the replicas of this statefulset (between 2 and 6)")
	if got := *read(t, sts).Spec.Replicas; got != 4 {
		t.Errorf("statefulset replicas = %d, want 4", got)
	}
}

// The argument structs refuse what the schema refuses, for callers that decode arguments
// without the MCP server's schema validation.
func TestWriteArgumentsValidate(t *testing.T) {
	srv, err := cluster.New(context.Background(), apiServer(t).Config, cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]struct{ args, want string }{
		"workload_scale": {
			{`{"kind":"deployment","namespace":"a","name":"b","replicas":-1}`, `argument "replicas" must be at least 0, not -1`},
			{`{"kind":"deployment","namespace":"a","name":"b"}`, `"replicas" is required`},
			{`{"kind":"deployment","namespace":"a","name":"b","replicas":1001}`, `at most 1000`},
		},
		"workload_set_resources": {
			{`{"kind":"deployment","namespace":"a","name":"b","container":"c","limits":{"memory":"lots"}}`, `"limits.memory" "lots" is not a quantity`},
			{`{"kind":"deployment","namespace":"a","name":"b","container":"c"}`, `at least one value`},
		},
		"resource_patch": {
			{`{"kind":"cm","namespace":"a","name":"b","patch":"{nope"}`, `not valid JSON`},
		},
		"node_drain": {
			{`{"name":"n","timeoutSeconds":3601}`, `argument "timeoutSeconds" must be at most 3600, not 3601`},
		},
		"workload_rollback": {
			{`{"kind":"deployment","namespace":"a","name":"b","toRevision":-2}`, `"toRevision"`},
		},
	}
	for _, tl := range srv.Tools(0) {
		for _, c := range cases[tl.Name()] {
			err := tl.Decode([]byte(c.args))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: error %v, want one saying %q", tl.Name(), c.args, err, c.want)
			}
		}
	}
}

func TestWorkloadSetImage(t *testing.T) {
	ns := namespace(t, "wr-image")
	dep := deployment(ns, "web", "registry.example/app:1")
	create(t, dep)
	s := connect(t, cluster.Config{})
	args := func(container, image string, dryRun bool) map[string]any {
		return map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "container": container, "image": image, "dryRun": dryRun}
	}

	out := s.OK("workload_set_image", args("app", "registry.example/app:2", true))
	mustContain(t, out, "container app image registry.example/app:1 → registry.example/app:2",
		"-      - image: registry.example/app:1", "+      - image: registry.example/app:2")
	unchanged(t, dep, dep.ResourceVersion)

	s.OK("workload_set_image", args("app", "registry.example/app:2", false))
	s.OK("workload_set_image", args("migrate", "registry.example/migrate:2", false))
	read(t, dep)
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "registry.example/app:2" {
		t.Errorf("container app image = %q, want registry.example/app:2", got)
	}
	if got := dep.Spec.Template.Spec.InitContainers[0].Image; got != "registry.example/migrate:2" {
		t.Errorf("init container migrate image = %q, want registry.example/migrate:2", got)
	}

	// A CronJob's pod template sits in its job template.
	cron := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "report"},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: podTemplate(nil, "registry.example/report:1")}}},
	}
	cron.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	create(t, cron)
	s.OK("workload_set_image", map[string]any{"kind": "cronjob", "namespace": ns, "name": "report", "container": "app", "image": "registry.example/report:2"})
	if got := read(t, cron).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != "registry.example/report:2" {
		t.Errorf("cronjob image = %q, want registry.example/report:2", got)
	}

	s.Fails("workload_set_image", args("sidecar", "x:1", false), `deployment/wr-image/web has no container "sidecar"`, "its containers are: app, migrate (init)")
	s.Fails("workload_set_image", args("app", "has space", false), `"image"`)
	s.Fails("workload_set_image", map[string]any{"kind": "job", "namespace": ns, "name": "web", "container": "app", "image": "x:1"}, "kind")
	unchanged(t, dep, dep.ResourceVersion)
}

func TestWorkloadSetResources(t *testing.T) {
	ns := namespace(t, "wr-resources")
	dep := deployment(ns, "web", "registry.example/app:1")
	create(t, dep)
	s := connect(t, cluster.Config{})
	args := func(requests, limits map[string]any, dryRun bool) map[string]any {
		a := map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "container": "app", "dryRun": dryRun}
		if requests != nil {
			a["requests"] = requests
		}
		if limits != nil {
			a["limits"] = limits
		}
		return a
	}

	out := s.OK("workload_set_resources", args(map[string]any{"cpu": "250m"}, map[string]any{"memory": "512Mi"}, true))
	mustContain(t, out, "container app: requests cpu <none> → 250m, limits memory <none> → 512Mi", "+            cpu: 250m", "+            memory: 512Mi")
	unchanged(t, dep, dep.ResourceVersion)

	s.OK("workload_set_resources", args(map[string]any{"cpu": "250m"}, map[string]any{"memory": "512Mi"}, false))
	res := read(t, dep).Spec.Template.Spec.Containers[0].Resources
	if !res.Requests.Cpu().Equal(resource.MustParse("250m")) || !res.Limits.Memory().Equal(resource.MustParse("512Mi")) {
		t.Errorf("resources after workload_set_resources = %v", res)
	}
	rv := dep.ResourceVersion

	s.Fails("workload_set_resources", args(map[string]any{"cpu": "lots"}, nil, false), `"requests.cpu" "lots" is not a quantity`)
	s.Fails("workload_set_resources", args(map[string]any{"gpu": "1"}, nil, false), "gpu")
	// The API server refuses a request above its limit; nothing is stored.
	s.Fails("workload_set_resources", args(map[string]any{"memory": "1Gi"}, nil, false), "refused", "nothing was changed")
	unchanged(t, dep, rv)
}

func TestWorkloadRollback(t *testing.T) {
	ns := namespace(t, "wr-rollback")
	dep := deployment(ns, "web", "registry.example/app:3")
	dep.Annotations = map[string]string{"deployment.kubernetes.io/revision": "3"}
	lonely := deployment(ns, "lonely", "registry.example/app:1")
	create(t, dep, lonely)
	// The deployment controller would make these; envtest runs none.
	owned := func(d *appsv1.Deployment, rev, image string) *appsv1.ReplicaSet {
		labels := map[string]string{"app": d.Name, "pod-template-hash": "h" + rev}
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name + "-h" + rev, Labels: labels,
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev, "kubernetes.io/change-cause": "image " + image},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels, image)},
		}
	}
	stranger := owned(dep, "9", "registry.example/other:9")
	stranger.Name, stranger.OwnerReferences = "stranger", nil
	create(t, owned(dep, "1", "registry.example/app:1"), owned(dep, "2", "registry.example/app:2"), owned(dep, "3", "registry.example/app:3"),
		stranger, owned(lonely, "1", "registry.example/app:1"))
	s := connect(t, cluster.Config{})
	args := func(name string, to int, dryRun bool) map[string]any {
		return map[string]any{"kind": "deployment", "namespace": ns, "name": name, "toRevision": to, "dryRun": dryRun}
	}

	out := s.OK("workload_rollback", args("web", 0, true))
	mustContain(t, out, "dry run of deployment/wr-rollback/web: pod template rolled back to revision 2 (ReplicaSet web-h2; newest revision 3)",
		"images: app registry.example/app:3 → registry.example/app:2", "-      - image: registry.example/app:3", "+      - image: registry.example/app:2", "+    kubernetes.io/change-cause: image registry.example/app:2")
	unchanged(t, dep, dep.ResourceVersion)

	s.OK("workload_rollback", args("web", 0, false))
	read(t, dep)
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "registry.example/app:2" {
		t.Errorf("image after rollback = %q, want revision 2's registry.example/app:2", got)
	}
	if _, ok := dep.Spec.Template.Labels["pod-template-hash"]; ok {
		t.Errorf("rollback copied the pod-template-hash label into the deployment: %v", dep.Spec.Template.Labels)
	}
	if got := dep.Annotations["kubernetes.io/change-cause"]; got != "image registry.example/app:2" {
		t.Errorf("change-cause after rollback = %q, want revision 2's", got)
	}
	if got := dep.Annotations["deployment.kubernetes.io/revision"]; got != "3" {
		t.Errorf("rollback changed the deployment's revision annotation to %q; the controller owns it", got)
	}

	s.OK("workload_rollback", args("web", 1, false))
	if got := read(t, dep).Spec.Template.Spec.Containers[0].Image; got != "registry.example/app:1" {
		t.Errorf("image after rollback to revision 1 = %q", got)
	}
	rv := dep.ResourceVersion
	mustContain(t, s.OK("workload_rollback", args("web", 1, false)), "nothing to change", "already is revision 1's")
	s.Fails("workload_rollback", args("web", 9, false), "deployment/wr-rollback/web has no revision 9; its revisions are 1, 2, 3")
	unchanged(t, dep, rv)
	s.Fails("workload_rollback", args("lonely", 0, false), "no previous revision", "its only revision is 1")
	unchanged(t, lonely, lonely.ResourceVersion)
}

func TestWorkloadRollbackStatefulSet(t *testing.T) {
	ns := namespace(t, "wr-rollback-sts")
	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.example/db:2")},
	}
	create(t, sts)
	// The StatefulSet controller stores each revision as a patch that replaces the template.
	revision := func(rev int64, image string) *appsv1.ControllerRevision {
		tpl, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptr.To(podTemplate(labels, image)))
		if err != nil {
			t.Fatal(err)
		}
		tpl["$patch"] = "replace"
		data, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": tpl}})
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-r" + image[len(image)-1:],
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
			Revision: rev, Data: runtime.RawExtension{Raw: data},
		}
	}
	create(t, revision(1, "registry.example/db:1"), revision(2, "registry.example/db:2"))
	s := connect(t, cluster.Config{})

	out := s.OK("workload_rollback", map[string]any{"kind": "statefulset", "namespace": ns, "name": "db", "dryRun": true})
	mustContain(t, out, "rolled back to revision 1 (ControllerRevision db-r1", "-      - image: registry.example/db:2", "+      - image: registry.example/db:1")
	unchanged(t, sts, sts.ResourceVersion)
	s.OK("workload_rollback", map[string]any{"kind": "statefulset", "namespace": ns, "name": "db"})
	if got := read(t, sts).Spec.Template.Spec.Containers[0].Image; got != "registry.example/db:1" {
		t.Errorf("statefulset image after rollback = %q, want registry.example/db:1", got)
	}
}

func TestNodeCordonUncordon(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "wr-node-cordon"}}
	create(t, node)
	s := connect(t, cluster.Config{})

	var dry contract.Change
	out := s.Data("node_cordon", map[string]any{"name": node.Name, "dryRun": true}, &dry)
	mustContain(t, out, "dry run of node/wr-node-cordon: cordoned", "+  unschedulable: true")
	if dry.Object != "node/wr-node-cordon" || !dry.DryRun || !strings.HasPrefix(dry.Summary, "cordoned") || !strings.Contains(dry.Diff, "+  unschedulable: true") {
		t.Errorf("node_cordon dry run: structured %+v", dry)
	}
	unchanged(t, node, node.ResourceVersion)

	mustContain(t, s.OK("node_cordon", map[string]any{"name": node.Name}), "changed node/wr-node-cordon: cordoned")
	if !read(t, node).Spec.Unschedulable {
		t.Fatal("node is schedulable after node_cordon")
	}
	mustContain(t, s.OK("node_cordon", map[string]any{"name": node.Name}), "nothing to change", "already cordoned")
	unchanged(t, node, node.ResourceVersion)

	mustContain(t, s.OK("node_uncordon", map[string]any{"name": node.Name, "dryRun": true}), "-  unschedulable: true")
	unchanged(t, node, node.ResourceVersion)
	mustContain(t, s.OK("node_uncordon", map[string]any{"name": node.Name}), "uncordoned")
	if read(t, node).Spec.Unschedulable {
		t.Error("node is unschedulable after node_uncordon")
	}
	s.Fails("node_cordon", map[string]any{"name": "wr-node-nope"}, "node/wr-node-nope not found")
}

func TestNodeDrain(t *testing.T) {
	ctx := context.Background()
	c := apiServer(t).Client
	ns := namespace(t, "wr-drain")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "wr-node-drain"}}
	create(t, node)
	controller := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(name + "-uid"), Controller: ptr.To(true)}}
	}
	onNode := func(name, nodeName string, labels map[string]string, owners []metav1.OwnerReference) *corev1.Pod {
		p := pod(ns, name, labels)
		p.Spec.NodeName, p.OwnerReferences = nodeName, owners
		return p
	}
	web0 := onNode("web-0", node.Name, map[string]string{"app": "web"}, controller("ReplicaSet", "web-h1"))
	web1 := onNode("web-1", node.Name, map[string]string{"app": "web"}, controller("ReplicaSet", "web-h1"))
	web1.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0) // deleted at once, kubelet or not
	db0 := onNode("db-0", node.Name, map[string]string{"app": "db"}, controller("StatefulSet", "db"))
	agent := onNode("agent-x", node.Name, nil, controller("DaemonSet", "agent"))
	mirror := onNode("static-web", node.Name, nil, nil)
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
	bare := onNode("bare", node.Name, nil, nil)
	scratch := onNode("scratch", node.Name, nil, controller("ReplicaSet", "scratch-h1"))
	scratch.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	elsewhere := onNode("elsewhere", "wr-node-other", map[string]string{"app": "web"}, controller("ReplicaSet", "web-h1"))
	pods := []*corev1.Pod{web0, web1, db0, agent, mirror, bare, scratch, elsewhere}
	for _, p := range pods {
		create(t, p)
		// Running and ready, as a kubelet would report: the Eviction API lets pending pods go
		// without asking their budget.
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
	}
	create(t, pdb)
	// What the disruption controller would report: one healthy pod, one needed, none to spare.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
	if err := c.Status().Update(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	s := connect(t, cluster.Config{})
	rvs := map[string]string{}
	for _, p := range pods {
		rvs[p.Name] = read(t, p).ResourceVersion
	}
	untouched := func(names ...string) {
		t.Helper()
		for _, p := range pods {
			if slices.Contains(names, p.Name) {
				unchanged(t, p, rvs[p.Name])
			}
		}
	}

	// Pods that would lose data or never come back refuse the drain, and nothing changes.
	s.Fails("node_drain", map[string]any{"name": node.Name}, "refusing to drain node/wr-node-drain; nothing was changed",
		"wr-drain/bare is managed by no controller", "force: true", "wr-drain/scratch has emptyDir volumes (tmp)", "deleteEmptyDirData: true")
	s.Fails("node_drain", map[string]any{"name": node.Name, "ignoreDaemonSets": false, "force": true, "deleteEmptyDirData": true},
		"wr-drain/agent-x is managed by DaemonSet agent", "ignoreDaemonSets: true")
	unchanged(t, node, node.ResourceVersion)
	untouched("web-0", "web-1", "db-0", "agent-x", "static-web", "bare", "scratch")

	allow := map[string]any{"name": node.Name, "force": true, "deleteEmptyDirData": true}
	dry := map[string]any{"dryRun": true}
	for k, v := range allow {
		dry[k] = v
	}
	var preview contract.Change
	out := s.Data("node_drain", dry, &preview)
	if preview.Object != "node/wr-node-drain" || !preview.DryRun || preview.Summary != "cordoned, then 5 pods to evict and 2 left alone" ||
		!strings.Contains(preview.Diff, "+  unschedulable: true") || len(preview.Notes) != 7 ||
		!slices.Contains(preview.Notes, "wr-drain/web-0: would be evicted") ||
		!slices.ContainsFunc(preview.Notes, func(n string) bool {
			return strings.HasPrefix(n, "wr-drain/db-0: would be blocked now by PodDisruptionBudget wr-drain/db (minAvailable 1; 0 disruptions allowed)")
		}) {
		t.Errorf("node_drain dry run: structured %+v", preview)
	}
	mustContain(t, out, "dry run of drain node/wr-node-drain: cordoned (dry run), then 5 pods to evict and 2 left alone",
		"wr-drain/web-0", "would be evicted", "wr-drain/db-0", "would be blocked now by PodDisruptionBudget wr-drain/db (minAvailable 1; 0 disruptions allowed)",
		"skipped: pod of DaemonSet agent", "skipped: mirror (static) pod", "+  unschedulable: true")
	if strings.Contains(out, "elsewhere") {
		t.Errorf("drain lists a pod on another node:\n%s", out)
	}
	unchanged(t, node, node.ResourceVersion)
	untouched("web-0", "web-1", "db-0", "agent-x", "static-web", "bare", "scratch")

	real := map[string]any{"timeoutSeconds": 3}
	for k, v := range allow {
		real[k] = v
	}
	out = s.Fails("node_drain", real, "drain of node/wr-node-drain is incomplete: 1 pod could not be evicted within 3s",
		"wr-drain/db-0", "not evicted: blocked by PodDisruptionBudget wr-drain/db", "The disruption budget db needs 1 healthy pods and has 1 currently",
		"evicted 4 pods (1 gone, 3 still terminating)", "node_uncordon")
	t.Logf("drain report:\n%s", out)
	if !read(t, node).Spec.Unschedulable {
		t.Error("node is not cordoned after node_drain")
	}
	// Without a kubelet, an evicted pod on a node stays, terminating; one with no grace period goes at once.
	for _, p := range []*corev1.Pod{web0, bare, scratch} {
		if read(t, p).DeletionTimestamp == nil {
			t.Errorf("pod %s was not evicted", p.Name)
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(web1), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod web-1 (grace period 0) after drain: %v, want gone", err)
	}
	if read(t, db0).DeletionTimestamp != nil {
		t.Error("pod db-0 was evicted although its PodDisruptionBudget allows no disruption")
	}
	untouched("agent-x", "static-web", "elsewhere")

	s.Fails("node_drain", map[string]any{"name": "wr-node-nope"}, "node/wr-node-nope not found")
}

func TestResourcePatch(t *testing.T) {
	ns := namespace(t, "wr-patch")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"a": "1"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}, StringData: map[string]string{"token": "old-token-value"}}
	dep := deployment(ns, "web", "registry.example/app:1")
	create(t, cm, secret, dep)
	s := connect(t, cluster.Config{})
	args := func(kind, name, patchType, patch string, dryRun bool) map[string]any {
		return map[string]any{"kind": kind, "namespace": ns, "name": name, "patchType": patchType, "patch": patch, "dryRun": dryRun}
	}

	out := s.OK("resource_patch", args("cm", "settings", "merge", `{"data":{"a":"2"}}`, true))
	mustContain(t, out, "dry run of configmap/wr-patch/settings: merge patch", `-  a: "1"`, `+  a: "2"`)
	unchanged(t, cm, cm.ResourceVersion)

	s.OK("resource_patch", args("configmap", "settings", "merge", `{"data":{"a":"2"}}`, false))
	if got := read(t, cm).Data["a"]; got != "2" {
		t.Errorf("data.a after merge patch = %q, want 2", got)
	}
	out = s.OK("resource_patch", args("configmaps", "settings", "json", `[{"op":"add","path":"/data/b","value":"3"}]`, false))
	mustContain(t, out, "changed configmap/wr-patch/settings: json patch", `+  b: "3"`)
	if got := read(t, cm).Data; got["a"] != "2" || got["b"] != "3" {
		t.Errorf("data after json patch = %v, want a=2 b=3", got)
	}
	rv := cm.ResourceVersion

	s.Fails("resource_patch", args("cm", "settings", "merge", `{"data":`, false), `"patch" is not valid JSON`)
	s.Fails("resource_patch", args("cm", "settings", "json", `{"data":{}}`, false), "JSON array of operations")
	s.Fails("resource_patch", args("cm", "settings", "json", `[{"op":"frob","path":"/data"}]`, false), `op "frob"`)
	s.Fails("resource_patch", args("cm", "settings", "merge", `[]`, false), "must be a JSON object")
	s.Fails("resource_patch", args("cm", "settings", "json", `[{"op":"test","path":"/data/a","value":"9"}]`, false), "nothing was changed")
	s.Fails("resource_patch", args("cm", "nope", "merge", `{}`, false), "configmap/wr-patch/nope not found")
	s.Fails("resource_patch", args("gizmos", "settings", "merge", `{}`, false), `unknown kind "gizmos"`)
	unchanged(t, cm, rv)

	// A strategic merge patch merges containers by name.
	s.OK("resource_patch", args("deploy", "web", "strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/app:2"}]}}}}`, false))
	if got := read(t, dep).Spec.Template.Spec.Containers; len(got) != 1 || got[0].Image != "registry.example/app:2" {
		t.Errorf("containers after strategic merge patch = %v", got)
	}

	out = s.OK("resource_patch", args("secret", "creds", "merge", `{"stringData":{"token":"new-token-value"}}`, false))
	if strings.Contains(out, "new-token-value") || strings.Contains(out, "old-token-value") {
		t.Errorf("resource_patch of a Secret shows its values:\n%s", out)
	}
	if got := string(read(t, secret).Data["token"]); got != "new-token-value" {
		t.Errorf("secret token after patch = %q", got)
	}
}

func TestResourceApply(t *testing.T) {
	ns := namespace(t, "wr-apply")
	s := connect(t, cluster.Config{})
	manifest := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: wr-apply\ndata:\n  mode: " + value + "\n"
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}}

	out := s.OK("resource_apply", map[string]any{"manifest": manifest("fast"), "dryRun": true})
	mustContain(t, out, "dry run of configmap/wr-apply/settings: created by server-side apply (field manager opsmesh)", "+kind: ConfigMap", "+  mode: fast")
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKeyFromObject(cm), cm); !apierrors.IsNotFound(err) {
		t.Fatalf("a dry-run apply created the ConfigMap (%v)", err)
	}

	mustContain(t, s.OK("resource_apply", map[string]any{"manifest": manifest("fast")}), "changed configmap/wr-apply/settings: created")
	read(t, cm)
	if cm.Data["mode"] != "fast" || len(cm.ManagedFields) == 0 || cm.ManagedFields[0].Manager != "opsmesh" {
		t.Fatalf("applied ConfigMap: data %v, managers %v; want mode=fast owned by opsmesh", cm.Data, cm.ManagedFields)
	}
	rv := cm.ResourceVersion

	out = s.OK("resource_apply", map[string]any{"manifest": manifest("safe"), "dryRun": true})
	mustContain(t, out, "applied server-side", "-  mode: fast", "+  mode: safe")
	unchanged(t, cm, rv)
	mustContain(t, s.OK("resource_apply", map[string]any{"manifest": manifest("fast")}), "the stored object is unchanged")
	unchanged(t, cm, rv)

	s.OK("resource_apply", map[string]any{"manifest": manifest("safe")})
	if got := read(t, cm).Data["mode"]; got != "safe" {
		t.Errorf("mode after apply = %q, want safe", got)
	}
	rv = cm.ResourceVersion

	// Another manager owns data.mode now: applying it is a conflict until forced.
	s.Fails("resource_apply", map[string]any{"manifest": manifest("slow"), "fieldManager": "someone-else"}, "conflicts", "force: true", "nothing was changed")
	unchanged(t, cm, rv)
	s.OK("resource_apply", map[string]any{"manifest": manifest("slow"), "fieldManager": "someone-else", "force": true})
	if got := read(t, cm).Data["mode"]; got != "slow" {
		t.Errorf("mode after forced apply = %q, want slow", got)
	}

	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: wr-apply\nstringData:\n  password: hunter2-very-secret\n"
	out = s.OK("resource_apply", map[string]any{"manifest": secret})
	if strings.Contains(out, "hunter2-very-secret") || strings.Contains(out, "aHVudGVyMi12ZXJ5LXNlY3JldA") {
		t.Errorf("resource_apply of a Secret shows its value:\n%s", out)
	}

	s.Fails("resource_apply", map[string]any{"manifest": manifest("a") + "---\n" + manifest("b")}, "holds 2 objects")
	s.Fails("resource_apply", map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"}, "set metadata.namespace")
	s.Fails("resource_apply", map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"}, "metadata.name")
	s.Fails("resource_apply", map[string]any{"manifest": "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: x\n"}, "serves no kind Gizmo")
	s.Fails("resource_apply", map[string]any{"manifest": "kind: [unclosed"}, "not valid YAML")
}

// connectImpersonating is connect for a server whose identity is user, impersonated: RBAC
// decides what it may do.
func connectImpersonating(t *testing.T, user string) *session {
	t.Helper()
	cfg := rest.CopyConfig(apiServer(t).Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return connectAs(t, cfg, cluster.Config{})
}

func TestWriteDeniedByRBACSaysWhatToGrant(t *testing.T) {
	ns := namespace(t, "wr-rbac")
	dep := deployment(ns, "web", "registry.example/app:1")
	// The server's identity may read deployments and pods, and change nothing.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"", "apps"}, Resources: []string{"deployments", "pods"}, Verbs: []string{"get", "list", "watch"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "wr-reader"}},
	}
	create(t, dep, pod(ns, "web-0", nil), role, binding)
	s := connectImpersonating(t, "wr-reader")

	s.Fails("workload_scale", map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "replicas": 0},
		"RBAC denied", "may not patch deployment/wr-rbac/web")
	s.Fails("workload_scale", map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "replicas": 0, "dryRun": true},
		"RBAC denied", "may not patch deployment/wr-rbac/web")
	s.Fails("pod_delete", map[string]any{"namespace": ns, "name": "web-0"}, "RBAC denied", "may not delete pod/wr-rbac/web-0")
	s.Fails("node_cordon", map[string]any{"name": "wr-node-rbac"}, "RBAC denied", "may not get node/wr-node-rbac")
	unchanged(t, dep, dep.ResourceVersion)
}

// TestNodeDrainNamespaceTerminating: a pod whose namespace is being deleted cannot be evicted
// (the API server refuses new content there), but it is going already: the drain waits for it
// instead of failing.
func TestNodeDrainNamespaceTerminating(t *testing.T) {
	ctx := context.Background()
	c := apiServer(t).Client
	ns := namespace(t, "wr-drain-term")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "wr-node-drain-term"}}
	create(t, node)
	p := pod(ns, "job-0", nil)
	p.Spec.NodeName = node.Name
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "job-h1", UID: "job-h1-uid", Controller: ptr.To(true)}}
	create(t, p)
	// envtest runs no namespace controller: the namespace stays Terminating with the pod in it.
	if err := c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := connect(t, cluster.Config{})
	out := s.OK("node_drain", map[string]any{"name": node.Name, "timeoutSeconds": 1})
	for _, want := range []string{"drained node/wr-node-drain-term", "1 still terminating", "already going: its namespace is being deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("drain said:\n%s\nwant %q", out, want)
		}
	}
}
