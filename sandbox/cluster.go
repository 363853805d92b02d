package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
)

const (
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	// KueueVersion is the Kueue release whose CRDs the sandbox installs.
	KueueVersion = "v0.17.0"
	h100         = "NVIDIA-H100-80GB-HBM3"
	fieldOwner   = client.FieldOwner("opsmesh-sandbox")
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, opsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// cluster installs the CRDs, the opsmesh namespace, the simulated nodes and Kueue's queues, and
// waits for the nodes to be Ready and untainted.
func (s *Sandbox) cluster(ctx context.Context) error {
	kueue, err := kueueCRDDir(ctx)
	if err != nil {
		return err
	}
	s.say("installing the opsmesh CRDs, Kueue %s's CRDs and Volcano's PodGroup and Queue CRDs", KueueVersion)
	if _, err := envtest.InstallCRDs(s.Config, envtest.CRDInstallOptions{
		Paths:              []string{filepath.Join(s.opts.RepoRoot, "deploy", "crds"), kueue, filepath.Join(s.opts.RepoRoot, "deploy", "sandbox", "volcano")},
		ErrorIfPathMissing: true,
	}); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	s.CPUNodes = []string{"sim-cpu-1", "sim-cpu-2", "sim-cpu-3"}
	s.GPUNodes = []string{"sim-gpu-1", "sim-gpu-2", "sim-gpu-3"}
	s.MIGNode = "sim-gpu-3"
	for _, n := range s.GPUNodes {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.Ports["agent-"+n] = p
		s.Agents[n] = fmt.Sprintf("http://127.0.0.1:%d/mcp", p)
	}
	s.say("creating simulated nodes: %s (CPU), %s (8 simulated H100 each; %s MIG-partitioned)",
		strings.Join(s.CPUNodes, ", "), strings.Join(s.GPUNodes, ", "), s.MIGNode)
	for _, n := range s.nodes() {
		if err := s.createNode(ctx, n); err != nil {
			return err
		}
	}
	if err := s.wait(ctx, "the simulated nodes to be Ready without taints", s.nodesReady, "kwok", "kube-controller-manager"); err != nil {
		return err
	}
	if err := s.apply(ctx, filepath.Join(s.opts.RepoRoot, "deploy", "sandbox", "kueue.yaml"), ""); err != nil {
		return fmt.Errorf("Kueue queues: %w", err)
	}
	return s.save()
}

// kueueCRDDir finds Kueue's CRDs in the Go module cache, downloading the module through the proxy.
func kueueCRDDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kueue@"+KueueVersion)
	cmd.Dir = os.TempDir() // outside any module, so no go.mod is touched
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	_ = json.Unmarshal(out, &mod)
	if err != nil || mod.Dir == "" {
		detail := mod.Error
		var ee *exec.ExitError
		if detail == "" && errors.As(err, &ee) {
			detail = string(ee.Stderr)
		}
		return "", fmt.Errorf("the sandbox installs Kueue's CRDs from sigs.k8s.io/kueue@%s in the Go module cache, and `go mod download` failed: %v %s; is the go command on PATH and GOPROXY reachable?", KueueVersion, err, strings.TrimSpace(detail))
	}
	dir := filepath.Join(mod.Dir, "config", "components", "crd", "bases")
	if _, err := os.Stat(filepath.Join(dir, "kueue.x-k8s.io_clusterqueues.yaml")); err != nil {
		return "", fmt.Errorf("sigs.k8s.io/kueue@%s has no CRDs at %s: %w", KueueVersion, dir, err)
	}
	return dir, nil
}

// simNode is a simulated node to create.
type simNode struct {
	name     string
	labels   map[string]string
	capacity corev1.ResourceList
	agentURL string
}

func (s *Sandbox) nodes() []simNode {
	var out []simNode
	base := func(name string) map[string]string {
		return map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok", SimulatedLabel: "true"}
	}
	for _, n := range s.CPUNodes {
		out = append(out, simNode{name: n, labels: base(n), capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"), corev1.ResourcePods: resource.MustParse("110")}})
	}
	for _, n := range s.GPUNodes {
		l := base(n)
		for k, v := range map[string]string{"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": h100, "nvidia.com/gpu.count": "8",
			"nvidia.com/gpu.memory": "81559", "nvidia.com/gpu.family": "hopper", "nvidia.com/gpu.machine": "DGX-H100", "nvidia.com/mig.strategy": "none"} {
			l[k] = v
		}
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("224"), corev1.ResourceMemory: resource.MustParse("2Ti"),
			corev1.ResourcePods: resource.MustParse("110"), "nvidia.com/gpu": resource.MustParse("8")}
		if n == s.MIGNode {
			// GPUs 0-3 whole; 4-5 as 7 × 1g.10gb each; 6-7 as 2 × 3g.40gb each (GFD's mixed strategy).
			l["nvidia.com/mig.strategy"] = "mixed"
			l["nvidia.com/mig.capable"] = "true"
			l["nvidia.com/mig-1g.10gb.count"], l["nvidia.com/mig-1g.10gb.memory"], l["nvidia.com/mig-1g.10gb.product"] = "14", "9984", h100+"-MIG-1g.10gb"
			l["nvidia.com/mig-3g.40gb.count"], l["nvidia.com/mig-3g.40gb.memory"], l["nvidia.com/mig-3g.40gb.product"] = "4", "40320", h100+"-MIG-3g.40gb"
			capacity["nvidia.com/gpu"] = resource.MustParse("4")
			capacity["nvidia.com/mig-1g.10gb"] = resource.MustParse("14")
			capacity["nvidia.com/mig-3g.40gb"] = resource.MustParse("4")
		}
		out = append(out, simNode{name: n, labels: l, capacity: capacity, agentURL: s.Agents[n]})
	}
	return out
}

func (s *Sandbox) createNode(ctx context.Context, n simNode) error {
	what := "kwok node: no kubelet, no containers; pods get their status from kwok's stages"
	if n.agentURL != "" {
		what = "kwok node with 8 simulated NVIDIA H100 GPUs (go-nvml mock, a local simulated node agent): no kubelet, no containers, no real GPUs"
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: n.labels, Annotations: map[string]string{
		kwokNodeAnnotation: "fake", SimulatedAnnotation: what, "node.alpha.kubernetes.io/ttl": "0"}}}
	if n.agentURL != "" {
		node.Annotations[gpuview.AgentURLAnnotation] = n.agentURL
	}
	if err := s.Client.Create(ctx, node); err != nil {
		return fmt.Errorf("creating simulated node %s: %w", n.name, err)
	}
	return s.setCapacity(ctx, n)
}

// setCapacity writes the node's capacity and allocatable. kwok may update the new node's status
// first: retry on its conflicts.
func (s *Sandbox) setCapacity(ctx context.Context, n simNode) error {
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var node corev1.Node
		if err := s.Client.Get(ctx, client.ObjectKey{Name: n.name}, &node); err != nil {
			return err
		}
		node.Status.Capacity, node.Status.Allocatable = n.capacity, n.capacity.DeepCopy()
		return s.Client.Status().Update(ctx, &node)
	}); err != nil {
		return fmt.Errorf("setting simulated node %s's capacity: %w", n.name, err)
	}
	return nil
}

// nodesReady succeeds when every simulated node is Ready, untainted and has its capacity. kwok's
// first status write can land after ours and put its own default capacity (1k CPUs) in place;
// a node found so gets its capacity written again, and is waited for.
func (s *Sandbox) nodesReady(ctx context.Context) error {
	for _, sn := range s.nodes() {
		name := sn.name
		var n corev1.Node
		if err := s.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
			return err
		}
		if got, want := n.Status.Allocatable[corev1.ResourceCPU], sn.capacity[corev1.ResourceCPU]; got.Cmp(want) != 0 {
			if err := s.setCapacity(ctx, sn); err != nil {
				return err
			}
			return fmt.Errorf("node %s had allocatable cpu %s, not %s: written again", name, got.String(), want.String())
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return fmt.Errorf("node %s is not Ready yet", name)
		}
		if len(n.Spec.Taints) > 0 {
			return fmt.Errorf("node %s still has taint %s", name, n.Spec.Taints[0].ToString())
		}
	}
	return nil
}

// apply server-side applies every object of the YAML file at path; a namespaced object without a
// namespace goes into ns ("" leaves it as it is).
func (s *Sandbox) apply(ctx context.Context, path, ns string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if ns != "" && u.GetNamespace() == "" {
			u.SetNamespace(ns)
		}
		if err := s.Client.Patch(ctx, &u, client.Apply, fieldOwner, client.ForceOwnership); err != nil {
			return fmt.Errorf("%s: applying %s %s: %w", path, u.GetKind(), u.GetName(), err)
		}
	}
}
