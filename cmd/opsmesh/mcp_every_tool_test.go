package main

import (
	"context"
	"strings"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestEveryToolOverStdio drives every tool the real binary lists over stdio, writes as dry runs,
// against objects on the test API server. A tool without a case fails the test.
func TestEveryToolOverStdio(t *testing.T) {
	ctx := context.Background()
	env := apiServer(t)
	const ns = "stdio-all"
	labels := map[string]string{"app": "web"}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "stdio-node"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0", Labels: labels}, Spec: podSpec},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"mode": "fast"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	workload := map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "dryRun": true}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range workload {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// Each tool's arguments, and a fragment its answer must hold. Tools whose answer on this
	// fixture is an error that says why (no kubelet serves logs; no previous revision) say so. The
	// follow-up checks name what envtest lacks: no ServiceAccount controller, so "default" is
	// missing (RBAC denies it; the Deployment references it).
	cases := map[string]struct {
		args    map[string]any
		want    string
		toolErr bool
	}{
		"namespaces_list":        {nil, ns, false},
		"api_resources":          {map[string]any{"group": "apps"}, "deployments", false},
		"resources_list":         {map[string]any{"kind": "deploy", "namespace": ns}, "web", false},
		"resource_get":           {map[string]any{"kind": "cm", "namespace": ns, "name": "settings"}, "mode: fast", false},
		"describe":               {map[string]any{"kind": "deployment", "namespace": ns, "name": "web"}, "web", false},
		"events_list":            {map[string]any{"namespace": ns}, "", false},
		"pod_logs":               {map[string]any{"namespace": ns, "name": "web-0"}, "web-0", true},
		"nodes_status":           {nil, "stdio-node", false},
		"workload_health":        {map[string]any{"namespace": ns}, "web", false},
		"analyze":                {map[string]any{"namespace": ns}, "namespace " + ns, false},
		"pod_delete":             {map[string]any{"namespace": ns, "name": "web-0", "dryRun": true}, "web-0", false},
		"workload_restart":       {workload, "restartedAt", false},
		"workload_scale":         {with(map[string]any{"replicas": 3}), "replicas: 3", false},
		"workload_rollback":      {workload, "nothing to roll back to", true},
		"workload_set_image":     {with(map[string]any{"container": "app", "image": "registry.example/app:2"}), "registry.example/app:2", false},
		"workload_set_resources": {with(map[string]any{"container": "app", "limits": map[string]any{"memory": "256Mi"}}), "256Mi", false},
		"node_cordon":            {map[string]any{"name": "stdio-node", "dryRun": true}, "unschedulable: true", false},
		"node_uncordon":          {map[string]any{"name": "stdio-node", "dryRun": true}, "stdio-node", false},
		"node_drain":             {map[string]any{"name": "stdio-node", "dryRun": true, "timeoutSeconds": 5}, "stdio-node", false},
		"resource_patch":         {map[string]any{"kind": "cm", "namespace": ns, "name": "settings", "patch": `{"data":{"mode":"slow"}}`, "dryRun": true}, "mode: slow", false},
		"resource_apply":         {map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: " + ns + "}\ndata: {a: b}\n", "dryRun": true}, "applied", false},
		"access_check":           {map[string]any{"namespace": ns, "serviceAccount": "default", "verb": "list", "resource": "pods"}, "RBACDenied serviceaccount/" + ns + "/default", false},
		"disruption_check":       {map[string]any{"node": "stdio-node"}, "no PodDisruptionBudget refuses these evictions", false},
		"network_check":          {map[string]any{"namespace": ns, "pod": "web-0"}, "no NetworkPolicy selects pod " + ns + "/web-0", false},
		"placement_check":        {map[string]any{"namespace": ns, "kind": "Deployment", "name": "web"}, "checked: deployment/" + ns + "/web", false},
		"reference_check":        {map[string]any{"namespace": ns, "kind": "deployment", "name": "web"}, "ReferenceMissing serviceaccount/" + ns + "/default", false},
		"volume_check":           {map[string]any{"namespace": ns, "pod": "web-0"}, "pod " + ns + "/web-0: no volumes", false},
	}

	c, err := mcpclient.NewStdioMCPClient(opsmeshBinary(t), nil, "mcp", "cluster", "--kubeconfig", kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		tc, ok := cases[tool.Name]
		if !ok {
			t.Errorf("tool %s has no case in TestEveryToolOverStdio; add one", tool.Name)
			continue
		}
		out, isErr := callTool(t, c, tool.Name, tc.args)
		if isErr != tc.toolErr || !strings.Contains(out, tc.want) {
			t.Errorf("%s(%v): error=%v, want error=%v and %q in:\n%s", tool.Name, tc.args, isErr, tc.toolErr, tc.want, out)
		}
	}

	// The dry runs changed nothing.
	var dep appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.Containers[0].Image != "registry.example/app:1" {
		t.Errorf("a dry run changed the Deployment: replicas %d image %s", *dep.Spec.Replicas, dep.Spec.Template.Spec.Containers[0].Image)
	}
	var node corev1.Node
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "stdio-node"}, &node); err != nil || node.Spec.Unschedulable {
		t.Errorf("a dry run cordoned the node (err %v)", err)
	}
}
