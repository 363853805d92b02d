package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
}

func TestResourceTools(t *testing.T) {
	ctx := context.Background()
	c := apiServer(t).Client
	ns := namespace(t, "res")
	for i := range 3 {
		if err := c.Create(ctx, pod(ns, fmt.Sprintf("web-%d", i), map[string]string{"app": "web"})); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, pod(ns, "db-0", map[string]string{"app": "db"})); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: pod("", "", nil).Spec}},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	s := connect(t, cluster.Config{})

	t.Run("namespaces_list", func(t *testing.T) {
		s := s.With(t)
		mustContain(t, s.OK("namespaces_list", nil), "NAME", "res", "Active")
		var got contract.NamespaceList
		s.Data("namespaces_list", nil, &got)
		if !slices.ContainsFunc(got.Namespaces, func(n contract.Namespace) bool { return n.Name == ns && n.Phase == "Active" }) || got.Truncated != 0 {
			t.Errorf("namespaces_list data lacks namespace %s, Active: %+v", ns, got)
		}
	})
	t.Run("api_resources", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("api_resources", map[string]any{"group": "apps"})
		mustContain(t, out, "deployments", "deploy", "apps/v1", "Deployment")
		if strings.Contains(out, "pods ") {
			t.Errorf("group apps lists core kinds:\n%s", out)
		}
		var got contract.APIResourceList
		s.Data("api_resources", map[string]any{"group": "apps"}, &got)
		if !slices.ContainsFunc(got.Resources, func(r contract.APIResource) bool {
			return r.Name == "deployments" && r.Kind == "Deployment" && r.APIVersion == "apps/v1" && r.Namespaced && slices.Contains(r.ShortNames, "deploy")
		}) || slices.ContainsFunc(got.Resources, func(r contract.APIResource) bool { return r.Name == "pods" }) {
			t.Errorf("api_resources data for group apps: %+v", got.Resources)
		}
	})
	t.Run("resources_list from the cache, by short name, with a label selector", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("resources_list", map[string]any{"kind": "po", "namespace": ns, "labelSelector": "app=web"})
		mustContain(t, out, "NAME", "READY", "STATUS", "web-0", "web-2", "3 of 3 pods")
		if strings.Contains(out, "db-0") {
			t.Errorf("label selector app=web listed db-0:\n%s", out)
		}
		var got contract.ResourceList
		s.Data("resources_list", map[string]any{"kind": "po", "namespace": ns, "labelSelector": "app=web"}, &got)
		if got.Resource != "pods" || got.Total != 3 || len(got.Items) != 3 || got.Truncated != 0 || got.Continue != "" || !slices.Equal(got.Columns, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"}) {
			t.Fatalf("resources_list data: %+v", got)
		}
		for i, it := range got.Items {
			if it.Name != fmt.Sprintf("web-%d", i) || it.Namespace != ns || it.Status != "Pending" || it.Age == "" || len(it.Cells) != len(got.Columns) {
				t.Errorf("item %d: %+v", i, it)
			}
		}
	})
	t.Run("resources_list counts in Truncated the rows its text leaves out", func(t *testing.T) {
		small := connect(t, cluster.Config{MaxBytes: 420})
		var got contract.ResourceList
		out := small.Data("resources_list", map[string]any{"kind": "pods", "namespace": ns}, &got)
		mustContain(t, out, "… truncated:", "4 of 4 pods")
		if got.Truncated == 0 || len(got.Items)+got.Truncated != 4 || got.Total != 4 ||
			!strings.Contains(out, fmt.Sprintf("… truncated: %d more items", got.Truncated)) {
			t.Errorf("truncated = %d, %d items, for text:\n%s", got.Truncated, len(got.Items), out)
		}
		for _, it := range got.Items {
			if !strings.Contains(out, it.Name) {
				t.Errorf("item %s is not in the text:\n%s", it.Name, out)
			}
		}
	})
	t.Run("resources_list pages", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns, "limit": 2})
		mustContain(t, out, "db-0", "web-0", `2 of 4 pods; more with continue="offset:2"`)
		var page contract.ResourceList
		s.Data("resources_list", map[string]any{"kind": "pods", "namespace": ns, "limit": 2}, &page)
		if page.Continue != "offset:2" || page.Total != 4 || len(page.Items) != 2 || page.Items[0].Name != "db-0" || page.Items[1].Name != "web-0" {
			t.Errorf("first page data: %+v", page)
		}
		out = s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns, "limit": 2, "continue": "offset:2"})
		mustContain(t, out, "web-1", "web-2", "2 of 4 pods")
	})
	t.Run("resources_list with a field selector asks the API server", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns, "fieldSelector": "metadata.name=db-0"})
		mustContain(t, out, "db-0", "1 pods")
	})
	t.Run("resources_list of a kind without a cached renderer uses the server's table", func(t *testing.T) {
		s := s.With(t)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"a": "1"}}
		if err := c.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		out := s.OK("resources_list", map[string]any{"kind": "cm", "namespace": ns})
		mustContain(t, out, "NAME", "DATA", "settings", "1 configmaps")
		var got contract.ResourceList
		s.Data("resources_list", map[string]any{"kind": "cm", "namespace": ns}, &got)
		if len(got.Items) != 1 || got.Items[0].Name != "settings" || got.Items[0].Namespace != ns || !slices.Contains(got.Columns, "DATA") {
			t.Errorf("server table data: %+v", got)
		}
		var names contract.ResourceList
		mustContain(t, s.Data("resources_list", map[string]any{"kind": "cm", "namespace": ns, "output": "names"}, &names), "settings")
		if len(names.Items) != 1 || names.Items[0].Name != "settings" {
			t.Errorf("names data: %+v", names)
		}
	})
	t.Run("resources_list deployments across namespaces", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("resources_list", map[string]any{"kind": "Deployment"})
		mustContain(t, out, "NAMESPACE", "res", "web", "0/3")
	})
	t.Run("resource_get strips managedFields", func(t *testing.T) {
		s := s.With(t)
		out := s.OK("resource_get", map[string]any{"kind": "deploy", "namespace": ns, "name": "web"})
		mustContain(t, out, "kind: Deployment", "name: web", "replicas: 3")
		if strings.Contains(out, "managedFields") {
			t.Errorf("resource_get kept managedFields:\n%s", out)
		}
		var got contract.ObjectYAML
		s.Data("resource_get", map[string]any{"kind": "deploy", "namespace": ns, "name": "web"}, &got)
		if got.Object != "deployment/res/web" || !strings.Contains(got.YAML, "replicas: 3") || strings.Contains(got.YAML, "managedFields") {
			t.Errorf("resource_get data: %+v", got)
		}
		var list contract.ResourceList
		s.Data("resources_list", map[string]any{"kind": "deploy", "namespace": ns, "output": "yaml"}, &list)
		if len(list.Items) != 1 || list.Items[0].Name != "web" || !strings.Contains(list.YAML, "replicas: 3") || strings.Contains(list.YAML, "managedFields") {
			t.Errorf("resources_list yaml data: %+v", list)
		}
	})
	t.Run("bad arguments say what to fix", func(t *testing.T) {
		s := s.With(t)
		s.Fails("resources_list", map[string]any{"kind": "gizmos"}, `unknown kind "gizmos"`, "api_resources")
		s.Fails("resources_list", map[string]any{}, "kind")
		s.Fails("resources_list", map[string]any{"kind": "pods", "limit": -1}, "limit")
		s.Fails("resources_list", map[string]any{"kind": "pods", "limit": "ten"}, "limit")
		s.Fails("resources_list", map[string]any{"kind": "pods", "bogus": true}, "bogus")
		s.Fails("resources_list", map[string]any{"kind": "pods", "labelSelector": "a in (b"}, "labelSelector")
		s.Fails("resources_list", map[string]any{"kind": "pods", "namespace": ns, "continue": "garbage"}, `argument "continue"`)
		s.Fails("resource_get", map[string]any{"kind": "pod", "name": "web-0"}, `argument "namespace" is required`)
		s.Fails("resource_get", map[string]any{"kind": "pod", "namespace": ns, "name": "nope"}, "pod/res/nope not found")
	})
}

func TestAllowNamespacesConfinesEveryTool(t *testing.T) {
	ctx := context.Background()
	c := apiServer(t).Client
	in, out := namespace(t, "inside"), namespace(t, "outside")
	for _, ns := range []string{in, out} {
		if err := c.Create(ctx, pod(ns, "p-"+ns, nil)); err != nil {
			t.Fatal(err)
		}
	}
	s := connect(t, cluster.Config{AllowNamespaces: []string{in}})
	list := s.OK("resources_list", map[string]any{"kind": "pods"})
	mustContain(t, list, "p-inside")
	if strings.Contains(list, "p-outside") {
		t.Errorf("a server confined to %s listed a pod in %s:\n%s", in, out, list)
	}
	s.Fails("resources_list", map[string]any{"kind": "pods", "namespace": out}, `namespace "outside" is outside this server's --allow-namespaces (inside)`)
	s.Fails("resource_get", map[string]any{"kind": "pod", "namespace": out, "name": "p-outside"}, "outside this server's --allow-namespaces")
	s.Fails("resources_list", map[string]any{"kind": "nodes"}, "cluster-scoped")
	ns := s.OK("namespaces_list", nil)
	if strings.Contains(ns, "outside") {
		t.Errorf("namespaces_list shows a namespace outside the confinement:\n%s", ns)
	}
}
