package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// Four control planes, each started on first use: plain (no Kueue, no Volcano: the node fleet
// the predicate tests run on), queued (Kueue's real CRDs from its module, and the test-only
// Volcano CRDs), bench (1,000 nodes and 20,000 pods, for the benchmark only) and devices (GPU
// nodes no device plugin serves, local volumes pinned to nodes). Nodes are
// cluster-scoped and every answer reads all of them, so scenarios that need different nodes need
// different control planes.
var (
	plain  testbed.Shared
	queued extraCRDs
	bench  testbed.Shared
	// nodes whose GPUs no device plugin advertises, and local volumes pinned to nodes
	devices testbed.Shared
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	plain.Stop()
	queued.stop()
	bench.Stop()
	devices.Stop()
	if v1beta1Env != nil {
		_ = v1beta1Env.Stop()
	}
	os.Exit(code)
}

// kueueVersion is the Kueue release whose CRDs the tests install.
const kueueVersion = "v0.17.0"

// kueueCRDDir finds Kueue's CRDs in the module cache, downloading the module through the proxy
// when missing. It never copies them into this repository.
func kueueCRDDir() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kueue@"+kueueVersion)
	cmd.Dir = os.TempDir() // outside this module, so that go.mod and go.sum are not touched
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	_ = json.Unmarshal(out, &mod)
	if err != nil || mod.Dir == "" {
		detail := mod.Error
		var ee *exec.ExitError
		if detail == "" && errors.As(err, &ee) {
			detail = string(ee.Stderr)
		}
		return "", fmt.Errorf("the Kueue tests need sigs.k8s.io/kueue@%s from the Go module proxy for its CRDs, and `go mod download` failed: %v %s; check GOPROXY and the network", kueueVersion, err, detail)
	}
	dir := filepath.Join(mod.Dir, "config", "components", "crd", "bases")
	if _, err := os.Stat(filepath.Join(dir, "kueue.x-k8s.io_workloads.yaml")); err != nil {
		return "", fmt.Errorf("sigs.k8s.io/kueue@%s has no CRDs at %s: %w", kueueVersion, dir, err)
	}
	return dir, nil
}

// extraCRDs is a control plane with Kueue's and Volcano's CRDs installed.
type extraCRDs struct {
	once sync.Once
	env  *testbed.Env
	err  error
}

func (q *extraCRDs) Env(t testing.TB) *testbed.Env {
	t.Helper()
	q.once.Do(func() {
		dir, err := kueueCRDDir()
		if err != nil {
			q.err = err
			return
		}
		if q.env, q.err = testbed.Start(); q.err != nil {
			return
		}
		_, q.err = envtest.InstallCRDs(q.env.Config, envtest.CRDInstallOptions{
			Paths:              []string{dir, filepath.Join("testdata", "volcano")},
			ErrorIfPathMissing: true,
		})
	})
	if q.err != nil {
		t.Fatal(q.err)
	}
	return q.env
}

func (q *extraCRDs) stop() {
	if q.env != nil {
		_ = q.env.Stop()
	}
}

type session = mcptest.Session

var mustContain = mcptest.MustContain

// connect serves a scheduler server on env over streamable HTTP and returns a client session.
func connect(t testing.TB, env *testbed.Env, cfg scheduler.Config) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := scheduler.New(ctx, env.Config, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mcptest.Connect(t, s.MCP)
}

func create(t testing.TB, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func ensureNamespace(t testing.TB, c client.Client, name string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// nodeSpec describes a test node.
type nodeSpec struct {
	name     string
	cpu      string
	gpus     int
	extra    corev1.ResourceList
	labels   map[string]string
	taints   []corev1.Taint
	cordoned bool
}

// makeNode creates a node and sets its allocatable resources through the status subresource.
func makeNode(t testing.TB, c client.Client, s nodeSpec) {
	t.Helper()
	if err := createNode(c, s); err != nil {
		t.Fatal(err)
	}
}

func createNode(c client.Client, s nodeSpec) error {
	ctx := context.Background()
	labels := map[string]string{"kubernetes.io/hostname": s.name}
	for k, v := range s.labels {
		labels[k] = v
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: labels},
		Spec: corev1.NodeSpec{Taints: s.taints, Unschedulable: s.cordoned}}
	if err := c.Create(ctx, n); err != nil {
		return fmt.Errorf("creating node %s: %w", s.name, err)
	}
	// The API server taints every new node node.kubernetes.io/not-ready until its kubelet reports
	// Ready (admission plugin TaintNodesByCondition); these nodes have no kubelet, so the test
	// plays the node lifecycle controller and removes it.
	n.Spec.Taints = s.taints
	if s.cordoned {
		// and, like it, taints a cordoned node node.kubernetes.io/unschedulable.
		n.Spec.Taints = append(slices.Clone(s.taints), corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if err := c.Update(ctx, n); err != nil {
		return fmt.Errorf("untainting node %s: %w", s.name, err)
	}
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    apiresource.MustParse(s.cpu),
		corev1.ResourceMemory: apiresource.MustParse("128Gi"),
		corev1.ResourcePods:   apiresource.MustParse("110"),
	}
	if s.gpus > 0 {
		alloc["nvidia.com/gpu"] = *apiresource.NewQuantity(int64(s.gpus), apiresource.DecimalSI)
	}
	for k, v := range s.extra {
		alloc[k] = v
	}
	n.Status = corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
	if err := c.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("setting the status of node %s: %w", s.name, err)
	}
	return nil
}

var gpuTaint = corev1.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}

var tolerateGPU = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}

// podSpec describes a test pod.
type podSpec struct {
	ns, name    string
	node        string // bound to it, when set
	cpu         string
	gpus        int
	extra       corev1.ResourceList
	labels      map[string]string
	annotations map[string]string
	tolerate    bool
	selector    map[string]string
	priority    string // PriorityClass name
	mutate      func(*corev1.Pod)
}

func makePod(s podSpec) *corev1.Pod {
	req := corev1.ResourceList{}
	if s.cpu != "" {
		req[corev1.ResourceCPU] = apiresource.MustParse(s.cpu)
	}
	if s.gpus > 0 {
		req["nvidia.com/gpu"] = *apiresource.NewQuantity(int64(s.gpus), apiresource.DecimalSI)
	}
	for k, v := range s.extra {
		req[k] = v
	}
	limits := corev1.ResourceList{}
	for k, v := range req {
		if k != corev1.ResourceCPU {
			limits[k] = v // extended resources must have limits equal to requests
		}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name, Labels: s.labels, Annotations: s.annotations},
		Spec: corev1.PodSpec{
			NodeName:          s.node,
			NodeSelector:      s.selector,
			PriorityClassName: s.priority,
			Containers: []corev1.Container{{Name: "main", Image: "registry.example/train:1",
				Resources: corev1.ResourceRequirements{Requests: req, Limits: limits}}},
		},
	}
	if s.tolerate {
		p.Spec.Tolerations = tolerateGPU
	}
	if s.mutate != nil {
		s.mutate(p)
	}
	return p
}

// fromYAML reads an object written as YAML in a test.
func fromYAML(t testing.TB, text string, args ...any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(text, args...)), &u.Object); err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	return u
}

// createWithStatus creates an object and then sets its status (kept from the YAML) through the
// status subresource, as the controller that owns it would.
func createWithStatus(t testing.TB, c client.Client, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	status, hasStatus := u.Object["status"]
	create(t, c, u)
	if hasStatus {
		u.Object["status"] = status
		if err := c.Status().Update(context.Background(), u); err != nil {
			t.Fatalf("setting the status of %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	return u
}
