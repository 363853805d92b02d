//go:build sandbox

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestHelmInstallOnSandbox dry-runs every manifest the chart renders (default and external-NATS
// values) against the sandbox's API server, installs the chart into the sandbox with helm (built
// from its module) and checks that the controller's objects appear and that its pods run under kwok: the
// controller Deployment, the GPU node agent DaemonSet on every simulated GPU node (and on no CPU
// node), and the RBAC.
func TestHelmInstallOnSandbox(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Fatal("HELM is not set: run make test-sandbox, which passes hack/testbins.sh helm-path")
	}
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := upForTest(t, root)

	// Every manifest the chart renders, with the default and with the external-NATS values, is
	// accepted by the sandbox's API server in a server-side dry run.
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opsmesh-system"}}); err != nil {
		t.Fatal(err)
	}
	for _, values := range [][]string{nil, {"-f", filepath.Join(root, "deploy", "helm", "values", "external-nats.yaml")}} {
		args := append([]string{"template", "opsmesh", filepath.Join(root, "deploy", "helm", "opsmesh"), "--namespace", "opsmesh-system"}, values...)
		out, err := exec.Command(helm, args...).Output()
		if err != nil {
			t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
		n := 0
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("helm template %v: not YAML: %v", values, err)
			}
			if len(m) == 0 {
				continue
			}
			o := &unstructured.Unstructured{Object: m}
			if o.GetNamespace() == "" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "Namespace" {
				o.SetNamespace("opsmesh-system")
			}
			if err := s.Client.Create(ctx, o, client.DryRunAll); err != nil {
				t.Errorf("values %v: the sandbox's API server refused %s %s: %v", values, o.GetKind(), o.GetName(), err)
			}
			n++
		}
		if n < 10 {
			t.Errorf("values %v: only %d objects rendered", values, n)
		}
	}

	// The sandbox has no volume provisioner: the embedded NATS keeps its data in an emptyDir.
	install := exec.Command(helm, "install", "opsmesh", filepath.Join(root, "deploy", "helm", "opsmesh"),
		"--kubeconfig", s.Kubeconfig, "--namespace", "opsmesh-system", "--create-namespace",
		"--set", "nats.embedded.persistence.enabled=false", "--wait=false")
	out, err := install.CombinedOutput()
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	t.Logf("helm install:\n%s", out)

	c := s.Client
	var gpuNodes, cpuNodes []string
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Labels["nvidia.com/gpu.present"] == "true" {
			gpuNodes = append(gpuNodes, n.Name)
		} else {
			cpuNodes = append(cpuNodes, n.Name)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var deps appsv1.DeploymentList
		var dss appsv1.DaemonSetList
		var pods corev1.PodList
		if err := c.List(ctx, &deps, client.InNamespace("opsmesh-system")); err != nil {
			t.Fatal(err)
		}
		if err := c.List(ctx, &dss, client.InNamespace("opsmesh-system")); err != nil {
			t.Fatal(err)
		}
		if err := c.List(ctx, &pods, client.InNamespace("opsmesh-system")); err != nil {
			t.Fatal(err)
		}
		var problems []string
		if len(deps.Items) == 0 {
			problems = append(problems, "no Deployment")
		}
		for _, d := range deps.Items {
			if d.Status.AvailableReplicas < 1 {
				problems = append(problems, "Deployment "+d.Name+" not available")
			}
		}
		if len(dss.Items) != 1 {
			problems = append(problems, "no node agent DaemonSet")
		}
		agentNodes := map[string]bool{}
		for _, p := range pods.Items {
			ready := false
			for _, cond := range p.Status.Conditions {
				ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
			}
			if !ready || p.Status.Phase != corev1.PodRunning {
				problems = append(problems, "pod "+p.Name+" not Running and Ready ("+string(p.Status.Phase)+")")
			}
			if len(p.OwnerReferences) > 0 && p.OwnerReferences[0].Kind == "DaemonSet" {
				agentNodes[p.Spec.NodeName] = true
			}
		}
		for _, n := range gpuNodes {
			if !agentNodes[n] {
				problems = append(problems, "no node agent pod on GPU node "+n)
			}
		}
		for _, n := range cpuNodes {
			if agentNodes[n] {
				t.Fatalf("a GPU node agent pod runs on CPU node %s", n)
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chart's objects did not come up under kwok within 3 minutes: %s", strings.Join(problems, "; "))
		}
		time.Sleep(time.Second)
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := c.List(ctx, &crbs, client.MatchingLabels{"app.kubernetes.io/instance": "opsmesh"}); err != nil {
		t.Fatal(err)
	}
	if len(crbs.Items) == 0 {
		t.Error("the chart bound no ClusterRole (app.kubernetes.io/instance=opsmesh)")
	}
	for _, b := range crbs.Items {
		var cr rbacv1.ClusterRole
		if err := c.Get(ctx, client.ObjectKey{Name: b.RoleRef.Name}, &cr); err != nil {
			t.Errorf("ClusterRoleBinding %s binds %s: %v", b.Name, b.RoleRef.Name, err)
		}
	}
	st, err := exec.Command(helm, "status", "opsmesh", "--kubeconfig", s.Kubeconfig, "--namespace", "opsmesh-system").CombinedOutput()
	if err != nil || !strings.Contains(string(st), "STATUS: deployed") {
		t.Errorf("helm status: %v\n%s", err, st)
	}
}
