package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// planted is a secret value the test hides around the cluster; no read tool may ever return it.
const planted = "opsmesh-planted-S3cr3t-9f2b7e"

// secretCalls are the calls made of each read tool. A read tool without an entry fails the test,
// so a new tool cannot skip this check.
func secretCalls(ns string) map[string][]map[string]any {
	return map[string][]map[string]any{
		"namespaces_list": {nil},
		"api_resources":   {nil},
		"resources_list": {
			{"kind": "secrets", "namespace": ns, "output": "yaml"},
			{"kind": "secrets", "namespace": ns},
			{"kind": "configmaps", "namespace": ns, "output": "yaml"},
			{"kind": "pods", "namespace": ns, "output": "yaml"},
			{"kind": "pods", "namespace": ns},
			{"kind": "events", "namespace": ns, "output": "yaml"},
		},
		"resource_get": {
			{"kind": "secret", "namespace": ns, "name": "db"},
			{"kind": "configmap", "namespace": ns, "name": "settings"},
			{"kind": "pod", "namespace": ns, "name": "app"},
		},
		"describe": {
			{"kind": "secret", "namespace": ns, "name": "db"},
			{"kind": "configmap", "namespace": ns, "name": "settings"},
			{"kind": "pod", "namespace": ns, "name": "app"},
		},
		"events_list":     {{"namespace": ns}},
		"pod_logs":        {{"namespace": ns, "name": "app"}},
		"nodes_status":    {nil},
		"workload_health": {{"namespace": ns}},
		"analyze":         {{"namespace": ns}},
		// The check tools quote rules, policies, claims, budgets and termination messages.
		"access_check":     {{"namespace": ns, "serviceAccount": "default", "verb": "get", "resource": "secrets", "name": "db"}},
		"network_check":    {{"namespace": ns, "pod": "app", "port": 5432}},
		"volume_check":     {{"namespace": ns, "pod": "app", "path": "/data", "problem": "full"}},
		"disruption_check": {{"namespace": ns, "pod": "app"}},
		"placement_check":  {{"namespace": ns, "kind": "pod", "name": "app"}},
		"reference_check":  {{"namespace": ns, "kind": "pod", "name": "app"}, {"namespace": ns, "host": "postgres://app:" + planted + "@db:5432/x"}},
	}
}

func TestSecretValuesNeverAppear(t *testing.T) {
	ctx := context.Background()
	c := apiServer(t).Client
	ns := namespace(t, "secrets")
	for _, o := range []any{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
			Data: map[string][]byte{"password": []byte(planted)}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings",
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"db_password":"` + planted + `"}}`}},
			Data: map[string]string{"db_password": planted, "mode": "fast"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
				Env: []corev1.EnvVar{
					{Name: "DB_PASSWORD", Value: planted},
					{Name: "CONFIG_BLOB", Value: "dsn=postgres://app:" + planted + "@db"}, // innocent name: caught by value
					{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
				}}}}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app.leak"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "app"},
			Type:           corev1.EventTypeWarning, Reason: "BackOff", Count: 1,
			Message:        "container app failed: auth with " + planted + " refused",
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now()},
	} {
		if err := c.Create(ctx, o.(clientObject)); err != nil {
			t.Fatal(err)
		}
	}

	s := connect(t, cluster.Config{})
	res, err := s.C.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	calls := secretCalls(ns)
	deadline := time.Now().Add(10 * time.Second)
	for _, tool := range res.Tools {
		if tool.Annotations.ReadOnlyHint == nil || !*tool.Annotations.ReadOnlyHint {
			continue
		}
		cases, ok := calls[tool.Name]
		if !ok {
			t.Errorf("read tool %s has no case in secretCalls; add the calls that could show a Secret", tool.Name)
			continue
		}
		for _, args := range cases {
			// Wait for the watch cache to see the objects, so that the call shows them.
			var out string
			for {
				out, _ = s.Call(tool.Name, args)
				if strings.Contains(out, "app") || strings.Contains(out, "db") || strings.Contains(out, "settings") || time.Now().After(deadline) || tool.Name == "api_resources" || tool.Name == "nodes_status" || tool.Name == "namespaces_list" {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if strings.Contains(out, planted) {
				t.Errorf("%s(%v) returned the secret value:\n%s", tool.Name, args, out)
			}
			if strings.Contains(out, "opsmesh-planted") {
				t.Errorf("%s(%v) returned part of the secret value:\n%s", tool.Name, args, out)
			}
		}
	}
	// The objects themselves are shown, so the test is not passing on empty answers.
	out := s.OK("resource_get", map[string]any{"kind": "pod", "namespace": ns, "name": "app"})
	mustContain(t, out, "DB_PASSWORD", "CONFIG_BLOB", "FROM_SECRET", "secretKeyRef", "value: <redacted>", "value: dsn=postgres://app:<redacted>@db")
	out = s.OK("resource_get", map[string]any{"kind": "secret", "namespace": ns, "name": "db"})
	mustContain(t, out, "password: <redacted> (", "name: db")
}
