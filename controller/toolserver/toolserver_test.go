package toolserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// start runs a manager with the ToolServer reconciler until the test ends.
func start(t *testing.T, env *testbed.Env, cfg toolserver.Config) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Second
	}
	if err := (&toolserver.Reconciler{Config: cfg}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func namespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	must(t, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// condition waits until the ToolServer's condition typ has status, and returns the ToolServer.
func condition(t *testing.T, c client.Client, ns, name, typ string, status metav1.ConditionStatus) *opsv1.ToolServer {
	t.Helper()
	var ts opsv1.ToolServer
	waitFor(t, fmt.Sprintf("ToolServer %s/%s %s=%s", ns, name, typ, status), func() (bool, string) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ts); err != nil {
			return false, err.Error()
		}
		cond := apimeta.FindStatusCondition(ts.Status.Conditions, typ)
		if cond == nil {
			return false, fmt.Sprintf("no %s condition: %+v", typ, ts.Status.Conditions)
		}
		return cond.Status == status && cond.ObservedGeneration == ts.Generation, fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
	})
	return &ts
}

func get(t *testing.T, c client.Client, ns, name string, o client.Object) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%T %s/%s", o, ns, name), func() (bool, string) {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, o)
		return err == nil, fmt.Sprint(err)
	})
}

// owned checks that o is controlled by the ToolServer.
func owned(t *testing.T, o client.Object, ts *opsv1.ToolServer) {
	t.Helper()
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != "ToolServer" || ref.Name != ts.Name || ref.UID != ts.UID {
		t.Errorf("%T %s: controller reference %+v, want ToolServer %s", o, o.GetName(), ref, ts.Name)
	}
}

// writes reports whether any rule of the role grants a write verb. Creating a
// SubjectAccessReview (access_check) asks the authorizer a question and stores nothing: it is a
// read.
func writes(r *rbacv1.ClusterRole) bool {
	for _, rule := range r.Rules {
		if slices.Equal(rule.APIGroups, []string{"authorization.k8s.io"}) && slices.Equal(rule.Resources, []string{"subjectaccessreviews"}) && slices.Equal(rule.Verbs, []string{"create"}) {
			continue
		}
		for _, v := range rule.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				return true
			}
		}
	}
	return false
}

func rbac(t *testing.T, c client.Client, ts *opsv1.ToolServer, wantWrites bool) {
	t.Helper()
	var role rbacv1.ClusterRole
	get(t, c, "", toolserver.ClusterRBACName(ts), &role)
	if writes(&role) != wantWrites {
		t.Errorf("ClusterRole %s grants writes = %v, want %v: %+v", role.Name, writes(&role), wantWrites, role.Rules)
	}
	var bind rbacv1.ClusterRoleBinding
	get(t, c, "", toolserver.ClusterRBACName(ts), &bind)
	if bind.RoleRef.Name != role.Name || len(bind.Subjects) != 1 || bind.Subjects[0].Name != ts.Name || bind.Subjects[0].Namespace != ts.Namespace {
		t.Errorf("ClusterRoleBinding %s binds %+v to %+v, want ServiceAccount %s/%s to %s", bind.Name, bind.RoleRef, bind.Subjects, ts.Namespace, ts.Name, role.Name)
	}
	var sa corev1.ServiceAccount
	get(t, c, ts.Namespace, ts.Name, &sa)
	owned(t, &sa, ts)
}

func gone(t *testing.T, c client.Client, name string, o client.Object) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%T %s deleted", o, name), func() (bool, string) {
		err := c.Get(context.Background(), client.ObjectKey{Name: name}, o)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

func toolNames(ts *opsv1.ToolServer) []string {
	var out []string
	for _, tl := range ts.Status.Tools {
		out = append(out, tl.Name)
	}
	return out
}

// TestBuiltinServers applies builtin cluster (read-only) and scheduler (read-write) ToolServers
// and a gpu one, checks the workloads, Services and RBAC made for them and the tools discovered
// from the servers this process runs, and that deleting a ToolServer removes its cluster RBAC.
func TestBuiltinServers(t *testing.T) {
	env := shared.Env(t)
	c := env.Client
	ctx := t.Context()
	builtins, err := kubehost.Builtins(ctx, env.Config, kubehost.BuiltinOptions{})
	must(t, err)
	start(t, env, toolserver.Config{Builtins: builtins, Image: "example.com/opsmesh:test"})
	namespace(t, c, "builtin")
	mk := func(name string, s opsv1.BuiltinServer, readOnly bool, args ...string) {
		must(t, c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "builtin", Name: name},
			Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, ReadOnly: &readOnly, Builtin: &opsv1.BuiltinToolServer{Server: s, Args: args}}}))
	}
	mk("cluster-tools", opsv1.BuiltinCluster, true, "--allow-namespaces", "builtin")
	mk("scheduler-tools", opsv1.BuiltinScheduler, false)
	mk("gpu-tools", opsv1.BuiltinGPU, true)

	cl := condition(t, c, "builtin", "cluster-tools", opsv1.ConditionReady, metav1.ConditionTrue)
	if cl.Status.ToolCount == 0 || int(cl.Status.ToolCount) != len(cl.Status.Tools) || cl.Status.LastDiscoveryTime == nil {
		t.Errorf("cluster-tools: toolCount %d, %d tools, lastDiscoveryTime %v", cl.Status.ToolCount, len(cl.Status.Tools), cl.Status.LastDiscoveryTime)
	}
	if !slices.Contains(toolNames(cl), "analyze") {
		t.Errorf("cluster-tools serves %v, want analyze among them", toolNames(cl))
	}
	for _, tl := range cl.Status.Tools {
		if !tl.ReadOnly || tl.Destructive {
			t.Errorf("read-only cluster-tools lists %+v", tl)
		}
	}
	if cl.Status.Endpoint != "http://cluster-tools.builtin.svc:8080/mcp" {
		t.Errorf("endpoint %q", cl.Status.Endpoint)
	}
	sch := condition(t, c, "builtin", "scheduler-tools", opsv1.ConditionReady, metav1.ConditionTrue)
	if !slices.ContainsFunc(sch.Status.Tools, func(d opsv1.DiscoveredTool) bool { return !d.ReadOnly }) {
		t.Errorf("read-write scheduler-tools lists no write tool: %v", toolNames(sch))
	}
	gpu := condition(t, c, "builtin", "gpu-tools", opsv1.ConditionReady, metav1.ConditionTrue)
	if !slices.Contains(toolNames(gpu), "gpu_inventory") {
		t.Errorf("gpu-tools serves %v", toolNames(gpu))
	}

	// Workloads: Deployments of the opsmesh image with the server's flags.
	var d appsv1.Deployment
	get(t, c, "builtin", "cluster-tools", &d)
	owned(t, &d, cl)
	ctr := d.Spec.Template.Spec.Containers[0]
	if ctr.Image != "example.com/opsmesh:test" || !strings.HasPrefix(strings.Join(ctr.Args, " "), "mcp cluster --transport http --listen :8080 --token-file /var/run/opsmesh/token/token --read-only --allow-namespaces builtin") {
		t.Errorf("cluster-tools runs %s %v %v", ctr.Image, ctr.Command, ctr.Args)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "cluster-tools" {
		t.Errorf("cluster-tools runs as %q", d.Spec.Template.Spec.ServiceAccountName)
	}
	get(t, c, "builtin", "scheduler-tools", &d)
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.HasPrefix(args, "mcp scheduler ") || strings.Contains(args, "--read-only") {
		t.Errorf("read-write scheduler-tools runs with %s", args)
	}
	var tok corev1.Secret
	get(t, c, "builtin", "cluster-tools-mcp-token", &tok)
	owned(t, &tok, cl)
	if len(tok.Data[toolserver.TokenKey]) < 32 {
		t.Errorf("token Secret holds a %d-byte token", len(tok.Data[toolserver.TokenKey]))
	}
	var svc corev1.Service
	get(t, c, "builtin", "cluster-tools", &svc)
	owned(t, &svc, cl)
	if p := svc.Spec.Ports[0]; p.Port != 8080 || p.TargetPort.IntValue() != 8080 || svc.Spec.Selector[toolserver.ToolServerLabel] != "cluster-tools" {
		t.Errorf("Service cluster-tools: %+v selecting %v", p, svc.Spec.Selector)
	}

	// The gpu server: a DaemonSet on GPU nodes, with what NVML needs.
	var ds appsv1.DaemonSet
	get(t, c, "builtin", "gpu-tools", &ds)
	owned(t, &ds, gpu)
	pod := ds.Spec.Template.Spec
	if pod.NodeSelector["nvidia.com/gpu.present"] != "true" {
		t.Errorf("gpu DaemonSet node selector %v", pod.NodeSelector)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "nvidia.com/gpu" && tl.Operator == corev1.TolerationOpExists
	}) {
		t.Errorf("gpu DaemonSet tolerations %v", pod.Tolerations)
	}
	gc := pod.Containers[0]
	if !slices.ContainsFunc(gc.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		t.Errorf("gpu container env %v lacks NODE_NAME from spec.nodeName", gc.Env)
	}
	if gc.SecurityContext == nil || gc.SecurityContext.Privileged == nil || !*gc.SecurityContext.Privileged {
		t.Errorf("gpu container is not privileged: NVML cannot open the devices")
	}
	if !strings.HasPrefix(strings.Join(gc.Args, " "), "mcp gpu --transport http --listen :8080") || ds.Spec.Template.Labels["app.kubernetes.io/component"] != "gpu-node-agent" {
		t.Errorf("gpu node agent runs %v with labels %v", gc.Args, ds.Spec.Template.Labels)
	}

	rbac(t, c, cl, false)
	rbac(t, c, sch, true)

	// A chosen node selector replaces the default.
	patch := client.MergeFrom(gpu.DeepCopy())
	gpu.Spec.Builtin.NodeSelector = map[string]string{"pool": "h100"}
	must(t, c.Patch(ctx, gpu, patch))
	waitFor(t, "the gpu DaemonSet's node selector", func() (bool, string) {
		must(t, c.Get(ctx, client.ObjectKeyFromObject(&ds), &ds))
		ns := ds.Spec.Template.Spec.NodeSelector
		return len(ns) == 1 && ns["pool"] == "h100", fmt.Sprint(ns)
	})

	// Deleting the ToolServer runs the finalizer, which removes the cluster-scoped RBAC.
	must(t, c.Delete(ctx, cl))
	gone(t, c, toolserver.ClusterRBACName(cl), &rbacv1.ClusterRole{})
	gone(t, c, toolserver.ClusterRBACName(cl), &rbacv1.ClusterRoleBinding{})
	waitFor(t, "ToolServer cluster-tools deleted", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKeyFromObject(cl), &opsv1.ToolServer{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// testServer is a real MCP server over streamable HTTP with tools of every annotation, that
// requires token when it is not empty.
func testServer(t *testing.T, token string) *httptest.Server {
	s := server.NewMCPServer("test", "1", server.WithToolCapabilities(true))
	h := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	}
	s.AddTool(mcp.NewTool("look", mcp.WithDescription("Looks at things.\n\nA second paragraph."), mcp.WithReadOnlyHintAnnotation(true), mcp.WithIdempotentHintAnnotation(true)), h)
	s.AddTool(mcp.NewTool("wipe", mcp.WithDescription("Wipes things."), mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(true)), h)
	s.AddTool(mcp.NewTool("tag", mcp.WithDescription("Tags things."), mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(false), mcp.WithIdempotentHintAnnotation(true)), h)
	var hd http.Handler = server.NewStreamableHTTPServer(s, server.WithEndpointPath(serve.Path))
	if token != "" {
		hd = serve.HTTPHandler(s, token)
	}
	srv := httptest.NewServer(hd)
	t.Cleanup(srv.Close)
	return srv
}

// TestRemote discovers a remote server's tools with its bearer token from a Secret, reports a
// missing Secret, and makes nothing in the cluster for it.
func TestRemote(t *testing.T) {
	env := shared.Env(t)
	c := env.Client
	ctx := t.Context()
	start(t, env, toolserver.Config{})
	namespace(t, c, "remote")
	srv := testServer(t, "remote-token-123")
	f := false
	ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "remote", Name: "far"}, Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerRemote, ReadOnly: &f,
		Remote: &opsv1.RemoteToolServer{URL: srv.URL + serve.Path, BearerTokenSecretRef: &opsv1.SecretKeyReference{Name: "far-token", Key: "token"}}}}
	must(t, c.Create(ctx, ts))

	got := condition(t, c, "remote", "far", opsv1.ConditionAccepted, metav1.ConditionFalse)
	acc := apimeta.FindStatusCondition(got.Status.Conditions, opsv1.ConditionAccepted)
	if acc.Reason != toolserver.ReasonSecretNotFound || !strings.Contains(acc.Message, `spec.remote.bearerTokenSecretRef names Secret "far-token", which does not exist`) || !strings.Contains(acc.Message, "remote/far") {
		t.Errorf("Accepted: %s: %s", acc.Reason, acc.Message)
	}
	if r := apimeta.FindStatusCondition(got.Status.Conditions, opsv1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse {
		t.Errorf("Ready: %+v", r)
	}

	// A Secret without the key is named with the keys it has.
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "remote", Name: "far-token"}, Data: map[string][]byte{"tokn": []byte("x")}}))
	waitFor(t, "SecretKeyNotFound", func() (bool, string) {
		must(t, c.Get(ctx, client.ObjectKeyFromObject(ts), got))
		acc := apimeta.FindStatusCondition(got.Status.Conditions, opsv1.ConditionAccepted)
		return acc != nil && acc.Reason == toolserver.ReasonSecretKeyNotFound && strings.Contains(acc.Message, `has no key "token" (it has: tokn)`), fmt.Sprintf("%+v", acc)
	})
	if strings.Contains(fmt.Sprint(got.Status), "remote-token-123") {
		t.Errorf("status holds the token")
	}

	// Fixing the Secret (a Secret change re-reconciles) discovers the tools with their annotations.
	var sec corev1.Secret
	must(t, c.Get(ctx, client.ObjectKey{Namespace: "remote", Name: "far-token"}, &sec))
	sec.Data = map[string][]byte{"token": []byte("remote-token-123\n")}
	must(t, c.Update(ctx, &sec))
	got = condition(t, c, "remote", "far", opsv1.ConditionReady, metav1.ConditionTrue)
	want := []opsv1.DiscoveredTool{
		{Name: "look", Description: "Looks at things.", ReadOnly: true, Idempotent: true},
		{Name: "tag", Description: "Tags things.", Idempotent: true},
		{Name: "wipe", Description: "Wipes things.", Destructive: true},
	}
	slices.SortFunc(got.Status.Tools, func(a, b opsv1.DiscoveredTool) int { return strings.Compare(a.Name, b.Name) })
	if !slices.Equal(got.Status.Tools, want) || got.Status.ToolCount != 3 || got.Status.Endpoint != srv.URL+serve.Path {
		t.Errorf("status: %d tools %+v at %s, want %+v", got.Status.ToolCount, got.Status.Tools, got.Status.Endpoint, want)
	}
	if controllerutilContains(got.Finalizers, toolserver.Finalizer) {
		t.Errorf("a remote ToolServer got finalizer %s, but has no RBAC", toolserver.Finalizer)
	}
	var deps appsv1.DeploymentList
	must(t, c.List(ctx, &deps, client.InNamespace("remote")))
	if len(deps.Items) != 0 {
		t.Errorf("a remote ToolServer runs %d Deployments", len(deps.Items))
	}

	// Read-only (the default) lists only the read-only tools.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.ReadOnly = nil
	must(t, c.Patch(ctx, got, patch))
	waitFor(t, "only read-only tools", func() (bool, string) {
		must(t, c.Get(ctx, client.ObjectKeyFromObject(ts), got))
		return got.Status.ObservedGeneration == got.Generation && slices.Equal(toolNames(got), []string{"look"}), fmt.Sprint(toolNames(got))
	})

	// A server that stops answering turns Ready False with the endpoint and the error.
	srv.Close()
	patch = client.MergeFrom(got.DeepCopy())
	got.Spec.Description = "gone"
	must(t, c.Patch(ctx, got, patch))
	got = condition(t, c, "remote", "far", opsv1.ConditionReady, metav1.ConditionFalse)
	r := apimeta.FindStatusCondition(got.Status.Conditions, opsv1.ConditionReady)
	if r.Reason != toolserver.ReasonDiscoveryFailed || !strings.Contains(r.Message, "ToolServer remote/far: listing tools at "+srv.URL+serve.Path+" failed") || !strings.Contains(r.Message, "connection refused") {
		t.Errorf("Ready: %s: %s", r.Reason, r.Message)
	}
}

func controllerutilContains(list []string, s string) bool { return slices.Contains(list, s) }

// TestContainer runs an HTTP and a stdio container server (the stdio one wrapped by the
// bridge), discovers an HTTP one through a resolved Service URL, reports a server that does not
// answer, and rolls the Deployment when a Secret its env refers to changes.
func TestContainer(t *testing.T) {
	env := shared.Env(t)
	c := env.Client
	ctx := t.Context()
	srv := testServer(t, "")
	// A builtin server this process does not run is reached at its Service with the token the
	// controller generated: this one checks it against the Secret, as the server's pod would.
	var tokenSrv *httptest.Server
	{
		inner := testServer(t, "")
		tokenSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var sec corev1.Secret
			if err := c.Get(r.Context(), client.ObjectKey{Namespace: "container", Name: "sched-mcp-token"}, &sec); err != nil ||
				r.Header.Get("Authorization") != "Bearer "+string(sec.Data[toolserver.TokenKey]) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			inner.Config.Handler.ServeHTTP(w, r)
		}))
		t.Cleanup(tokenSrv.Close)
	}
	start(t, env, toolserver.Config{Image: "example.com/opsmesh:test", Resolve: func(url string) string {
		switch url {
		case "http://web.container.svc:8080/v1/mcp":
			return srv.URL + serve.Path
		case "http://sched.container.svc:8080/mcp":
			return tokenSrv.URL + serve.Path
		}
		return url
	}})
	namespace(t, c, "container")
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "container", Name: "api"}, Data: map[string][]byte{"key": []byte("v1")}}))
	f := false
	must(t, c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "container", Name: "web"}, Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerContainer, ReadOnly: &f,
		Container: &opsv1.ContainerToolServer{Image: "example.com/web-mcp:1", Transport: opsv1.TransportHTTP, Port: ptr.To[int32](3000), Path: "/v1/mcp", Args: []string{"--serve"},
			Env: []corev1.EnvVar{{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "key"}}}}}}}))
	must(t, c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "container", Name: "stdio"}, Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerContainer,
		Container: &opsv1.ContainerToolServer{Image: "example.com/stdio-mcp:1", Transport: opsv1.TransportStdio, Command: []string{"npx", "some-mcp"}, Args: []string{"--stdio"}}}}))

	web := condition(t, c, "container", "web", opsv1.ConditionReady, metav1.ConditionTrue)
	if web.Status.ToolCount != 3 || web.Status.Endpoint != "http://web.container.svc:8080/v1/mcp" {
		t.Errorf("web: %d tools at %s", web.Status.ToolCount, web.Status.Endpoint)
	}
	var d appsv1.Deployment
	get(t, c, "container", "web", &d)
	owned(t, &d, web)
	ctr := d.Spec.Template.Spec.Containers[0]
	if ctr.Image != "example.com/web-mcp:1" || !slices.Equal(ctr.Args, []string{"--serve"}) || ctr.Ports[0].ContainerPort != 3000 {
		t.Errorf("web runs %s %v on %v", ctr.Image, ctr.Args, ctr.Ports)
	}
	var svc corev1.Service
	get(t, c, "container", "web", &svc)
	if p := svc.Spec.Ports[0]; p.Port != 8080 || p.TargetPort.IntValue() != 3000 {
		t.Errorf("Service web: %+v", p)
	}
	rbac(t, c, web, true)

	// The stdio server runs under the bridge, from the opsmesh binary an init container copies.
	st := condition(t, c, "container", "stdio", opsv1.ConditionReady, metav1.ConditionFalse)
	r := apimeta.FindStatusCondition(st.Status.Conditions, opsv1.ConditionReady)
	if r.Reason != toolserver.ReasonNotAvailable || !strings.Contains(r.Message, "Deployment container/stdio has 0 of 1 replicas available yet") ||
		!strings.Contains(r.Message, "http://stdio.container.svc:8080/mcp") {
		t.Errorf("stdio Ready: %s: %s", r.Reason, r.Message)
	}
	get(t, c, "container", "stdio", &d)
	owned(t, &d, st)
	pod := d.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != "example.com/opsmesh:test" || !slices.Equal(pod.InitContainers[0].Command, []string{"cp", toolserver.DefaultBinary, "/opsmesh/bin/opsmesh"}) {
		t.Errorf("stdio init containers: %+v", pod.InitContainers)
	}
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "opsmesh-bin" && v.EmptyDir != nil }) {
		t.Errorf("stdio volumes %+v lack the emptyDir for the binary", pod.Volumes)
	}
	ctr = pod.Containers[0]
	want := "/opsmesh/bin/opsmesh mcp bridge --listen :8080 --token-file /var/run/opsmesh/token/token -- npx some-mcp --stdio"
	if got := strings.Join(append(slices.Clone(ctr.Command), ctr.Args...), " "); ctr.Image != "example.com/stdio-mcp:1" || got != want {
		t.Errorf("stdio runs %s: %s, want %s", ctr.Image, got, want)
	}
	if ctr.LivenessProbe == nil || ctr.LivenessProbe.HTTPGet == nil || ctr.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("the bridge container has no liveness probe on /healthz, so a dead child is never restarted: %+v", ctr.LivenessProbe)
	}
	rbac(t, c, st, false)

	// Changing the Secret the env refers to changes the pod template's hash, so the pods roll.
	get(t, c, "container", "web", &d)
	before := d.Spec.Template.Annotations[toolserver.SecretHashAnnotation]
	if before == "" {
		t.Fatalf("web's pod template has no %s annotation", toolserver.SecretHashAnnotation)
	}
	var sec corev1.Secret
	must(t, c.Get(ctx, client.ObjectKey{Namespace: "container", Name: "api"}, &sec))
	sec.Data["key"] = []byte("v2")
	must(t, c.Update(ctx, &sec))
	waitFor(t, "the secret hash to change", func() (bool, string) {
		must(t, c.Get(ctx, client.ObjectKey{Namespace: "container", Name: "web"}, &d))
		h := d.Spec.Template.Annotations[toolserver.SecretHashAnnotation]
		return h != before, h
	})
	if strings.Contains(fmt.Sprint(d.Spec.Template.Annotations), "v2") {
		t.Errorf("the pod template holds the Secret's value")
	}

	must(t, c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "container", Name: "sched"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, ReadOnly: &f, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinScheduler}}}))
	sched := condition(t, c, "container", "sched", opsv1.ConditionReady, metav1.ConditionTrue)
	if sched.Status.ToolCount != 3 {
		t.Errorf("sched: %d tools through its Service", sched.Status.ToolCount)
	}
	// The agent runtime reaches it the same way, with the same token.
	ep, err := kubehost.Endpoint(ctx, c, sched, nil, 0)
	must(t, err)
	var tok corev1.Secret
	get(t, c, "container", "sched-mcp-token", &tok)
	if ep.URL != "http://sched.container.svc:8080/mcp" || ep.Token == "" || ep.Token != string(tok.Data[toolserver.TokenKey]) {
		t.Errorf("kubehost.Endpoint of sched: %s with a token of %d bytes, want the Service with the controller's token", ep.URL, len(ep.Token))
	}

	// A stdio server without a command cannot be wrapped: not accepted, nothing run.
	must(t, c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "container", Name: "nocmd"}, Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerContainer,
		Container: &opsv1.ContainerToolServer{Image: "example.com/stdio-mcp:1", Transport: opsv1.TransportStdio}}}))
	nc := condition(t, c, "container", "nocmd", opsv1.ConditionAccepted, metav1.ConditionFalse)
	if a := apimeta.FindStatusCondition(nc.Status.Conditions, opsv1.ConditionAccepted); a.Reason != toolserver.ReasonInvalidSpec || !strings.Contains(a.Message, "spec.container.command is required with transport stdio") {
		t.Errorf("nocmd Accepted: %s: %s", a.Reason, a.Message)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "container", Name: "nocmd"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("nocmd Deployment: %v, want not found", err)
	}
}
