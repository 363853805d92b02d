package helm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

const (
	release   = "opsmesh"
	namespace = "opsmesh"
)

var (
	root     = testbed.RepoRoot()
	chartDir = filepath.Join(root, "deploy", "helm", "opsmesh")
	external = filepath.Join(root, "deploy", "helm", "values", "external-nats.yaml")
)

// helmBinary is the helm that hack/testbins.sh builds from helm.sh/helm/v3: $HELM (make test
// sets it), else the cache path, built now when it is missing. The test skips only when it is
// neither there nor buildable.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	script := filepath.Join(root, "hack", "testbins.sh")
	out, err := exec.Command(script, "helm-path").Output()
	if err != nil {
		t.Fatalf("hack/testbins.sh helm-path: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Logf("helm is not built yet; building it with TESTBINS=helm hack/testbins.sh ensure (minutes, once)")
	cmd := exec.Command(script, "ensure")
	cmd.Env = append(os.Environ(), "TESTBINS=helm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("helm is missing at %s and could not be built (%v); build it with: TESTBINS=helm hack/testbins.sh ensure\n%s", p, err, b)
	}
	return p
}

// helm runs the helm binary and returns its stdout, or an error holding its stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	// No repository config, cache or plugins of the person running the tests.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render is `helm template` of the chart in namespace opsmesh with the given extra arguments.
func render(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects splits a render into its objects.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("the render is not YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the render has no %s %s; it has: %s", kind, name, names(objs))
	return nil
}

func has(objs []*unstructured.Unstructured, kind, name string) bool {
	return slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind && o.GetName() == name })
}

func names(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

// container is the first container of a workload's pod template, and the pod spec.
func container(t *testing.T, o *unstructured.Unstructured) (map[string]any, map[string]any) {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("%s %s has no containers", o.GetKind(), o.GetName())
	}
	return cs[0].(map[string]any), spec
}

func args(t *testing.T, o *unstructured.Unstructured) []string {
	c, _ := container(t, o)
	a, _, _ := unstructured.NestedStringSlice(c, "args")
	return a
}

// TestChartCRDsAreTheGeneratedOnes: the chart's crds/ is deploy/crds, byte for byte, so there is
// one source; `make generate` copies them.
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	gen, _ := filepath.Glob(filepath.Join(root, "deploy", "crds", "*.yaml"))
	chart, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(gen) == 0 {
		t.Fatal("deploy/crds has no CRDs")
	}
	base := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(base(gen), base(chart)) {
		t.Fatalf("deploy/helm/opsmesh/crds has %v but deploy/crds has %v: run make generate", base(chart), base(gen))
	}
	for _, p := range gen {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(p)))
		if !bytes.Equal(a, b) {
			t.Errorf("deploy/helm/opsmesh/crds/%s differs from deploy/crds/%s: run make generate", filepath.Base(p), filepath.Base(p))
		}
	}
}

func TestHelmLint(t *testing.T) {
	for name, extra := range map[string][]string{"default": nil, "external NATS": {"-f", external}, "split without GPU node agent": {"--set", "mode=split,gpuNodeAgent.enabled=false"}} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", "--namespace", namespace, chartDir}, extra...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
		})
	}
}

// randomToken is the GPU node agents' token the chart generates (random on each render).
var randomToken = regexp.MustCompile(`(?m)^(  token: )[A-Za-z0-9+/=]{64}$`)

// TestDefaultRenderGolden compares the default render with testdata/default.golden.yaml
// (UPDATE_GOLDEN=1 rewrites it), so every change to what the chart installs shows in review.
func TestDefaultRenderGolden(t *testing.T) {
	out := render(t)
	if n := len(randomToken.FindAllString(out, -1)); n != 1 {
		t.Fatalf("the default render should generate one GPU node agent token, found %d", n)
	}
	out = randomToken.ReplaceAllString(out, "${1}<random, 48 characters, base64>")
	golden := filepath.Join("testdata", "default.golden.yaml")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run UPDATE_GOLDEN=1 go test ./deploy/helm/ -run Golden)", err)
	}
	if out != string(want) {
		t.Fatalf("the default render differs from %s (rerun with UPDATE_GOLDEN=1 and review the diff):\n%s", golden, diffLines(string(want), out))
	}
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, b)
		}
	}
	return ""
}

// TestDefaultInstall: all in one controller with the embedded NATS on a PVC, the GPU node agent
// on GPU nodes, no gateway, non-root everywhere.
func TestDefaultInstall(t *testing.T) {
	objs := objects(t, render(t))
	ctrl := find(t, objs, "Deployment", "opsmesh-controller")
	a := args(t, ctrl)
	for _, want := range []string{"controller", "--runtime", "--nats-data-dir=/var/lib/opsmesh/nats", "--nats-listen=0.0.0.0:4222", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080", "--image=ghcr.io/opsmesh/opsmesh:0.1.0"} {
		if !slices.Contains(a, want) {
			t.Errorf("controller args %v lack %s", a, want)
		}
	}
	if n := replicas(ctrl); n != 1 {
		t.Errorf("the embedded NATS controller has %v replicas, want 1", n)
	}
	c, _ := container(t, ctrl)
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if p, _, _ := unstructured.NestedString(c, probe, "httpGet", "path"); p != path {
			t.Errorf("controller %s path is %q, want %s", probe, p, path)
		}
	}
	find(t, objs, "PersistentVolumeClaim", "opsmesh-nats")
	find(t, objs, "Service", "opsmesh-nats")
	find(t, objs, "NetworkPolicy", "opsmesh-nats")
	find(t, objs, "Service", "opsmesh-metrics")
	for _, absent := range [][2]string{{"Deployment", "opsmesh-runtime"}, {"Deployment", "opsmesh-gateway"}, {"Service", "opsmesh-controller"}} {
		if has(objs, absent[0], absent[1]) {
			t.Errorf("the default render has %s %s", absent[0], absent[1])
		}
	}

	ds := find(t, objs, "DaemonSet", "opsmesh-gpu-node-agent")
	da := args(t, ds)
	if !slices.Contains(da, "--nats-url=nats://opsmesh-nats.opsmesh.svc:4222") || !slices.Contains(da, "gpu") {
		t.Errorf("node agent args %v: want opsmesh mcp gpu with the chart's NATS", da)
	}
	dc, dspec := container(t, ds)
	if sel, _, _ := unstructured.NestedStringMap(dspec, "nodeSelector"); sel["nvidia.com/gpu.present"] != "true" {
		t.Errorf("node agent nodeSelector %v, want nvidia.com/gpu.present=true", sel)
	}
	if tol, _, _ := unstructured.NestedSlice(dspec, "tolerations"); len(tol) == 0 || tol[0].(map[string]any)["key"] != "nvidia.com/gpu" {
		t.Errorf("node agent tolerations %v, want the nvidia.com/gpu taint", tol)
	}
	if auto, ok, _ := unstructured.NestedBool(dspec, "automountServiceAccountToken"); !ok || auto {
		t.Error("the node agent needs no Kubernetes API token, but one is mounted")
	}
	env, _, _ := unstructured.NestedSlice(dc, "env")
	if !slices.ContainsFunc(env, func(e any) bool { return e.(map[string]any)["name"] == "NODE_NAME" }) {
		t.Errorf("node agent env %v lacks NODE_NAME", env)
	}
	if has(objs, "ClusterRole", "opsmesh-gpu-node-agent") || has(objs, "ClusterRoleBinding", "opsmesh-gpu-node-agent") {
		t.Error("the node agent has RBAC; it talks to NVML and NATS only")
	}

	// Every pod runs as non-root with a read-only root filesystem.
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
			continue
		}
		c, spec := container(t, o)
		if nonRoot, _, _ := unstructured.NestedBool(spec, "securityContext", "runAsNonRoot"); !nonRoot {
			t.Errorf("%s %s: pod securityContext.runAsNonRoot is not true", o.GetKind(), o.GetName())
		}
		if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
			t.Errorf("%s %s: readOnlyRootFilesystem is not true", o.GetKind(), o.GetName())
		}
	}
}

// TestSplitExternalNATS: the example external-NATS values split the controller from the runtime,
// connect everything to the external NATS with its credentials Secret, and make no PVC.
// TestRunbooksMounted: the runbooks value becomes a ConfigMap, mounted where the process that
// hosts the agents reads it with --runbooks (the controller all-in-one, the runtime split), and
// nothing of it renders without runbooks.
func TestRunbooksMounted(t *testing.T) {
	file := "apiVersion: opsmesh.dev/v1alpha1\nkind: Runbooks\nrunbooks: []\n"
	for mode, host := range map[string]string{"all-in-one": "opsmesh-controller", "split": "opsmesh-runtime"} {
		t.Run(mode, func(t *testing.T) {
			objs := objects(t, render(t, "--set", "mode="+mode, "--set-string", "runbooks.team\\.yaml="+file))
			cm := find(t, objs, "ConfigMap", "opsmesh-runbooks")
			if got, _, _ := unstructured.NestedString(cm.Object, "data", "team.yaml"); got != file {
				t.Errorf("ConfigMap data team.yaml %q, want %q", got, file)
			}
			d := find(t, objs, "Deployment", host)
			if !slices.Contains(args(t, d), "--runbooks=/etc/opsmesh/runbooks") {
				t.Errorf("%s args %v: want --runbooks=/etc/opsmesh/runbooks", host, args(t, d))
			}
			c, spec := container(t, d)
			mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
			vols, _, _ := unstructured.NestedSlice(spec, "volumes")
			mounted := slices.ContainsFunc(mounts, func(m any) bool { return m.(map[string]any)["mountPath"] == "/etc/opsmesh/runbooks" })
			backed := slices.ContainsFunc(vols, func(v any) bool {
				n, _, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name")
				return n == "opsmesh-runbooks"
			})
			if !mounted || !backed {
				t.Errorf("%s: runbooks mounted %v, volume from the ConfigMap %v", host, mounted, backed)
			}
			if mode == "split" && slices.Contains(args(t, find(t, objs, "Deployment", "opsmesh-controller")), "--runbooks=/etc/opsmesh/runbooks") {
				t.Errorf("the split controller hosts no agents but gets --runbooks")
			}
		})
	}
	if objs := objects(t, render(t)); has(objs, "ConfigMap", "opsmesh-runbooks") || slices.Contains(args(t, find(t, objs, "Deployment", "opsmesh-controller")), "--runbooks=/etc/opsmesh/runbooks") {
		t.Errorf("without runbooks, the render still has them")
	}
}

func TestSplitExternalNATS(t *testing.T) {
	objs := objects(t, render(t, "-f", external))
	ctrl := find(t, objs, "Deployment", "opsmesh-controller")
	a := args(t, ctrl)
	if slices.Contains(a, "--runtime") {
		t.Errorf("split controller runs --runtime: %v", a)
	}
	for _, o := range []*unstructured.Unstructured{ctrl, find(t, objs, "Deployment", "opsmesh-runtime"), find(t, objs, "DaemonSet", "opsmesh-gpu-node-agent"), find(t, objs, "Deployment", "opsmesh-gateway")} {
		a := args(t, o)
		if !slices.Contains(a, "--nats-url=nats://nats.nats.svc:4222") || !slices.Contains(a, "--nats-creds=/etc/opsmesh/nats-creds/nats.creds") {
			t.Errorf("%s %s args %v: want the external NATS URL and credentials", o.GetKind(), o.GetName(), a)
		}
		_, spec := container(t, o)
		vols, _, _ := unstructured.NestedSlice(spec, "volumes")
		if !slices.ContainsFunc(vols, func(v any) bool {
			s, _, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName")
			return s == "opsmesh-nats-creds"
		}) {
			t.Errorf("%s %s does not mount the Secret opsmesh-nats-creds", o.GetKind(), o.GetName())
		}
	}
	if n := replicas(ctrl); n != 2 {
		t.Errorf("controller replicas %v, want 2", n)
	}
	for _, absent := range [][2]string{{"PersistentVolumeClaim", "opsmesh-nats"}, {"Service", "opsmesh-nats"}, {"Secret", "opsmesh-gpu-node-agent-token"}} {
		if has(objs, absent[0], absent[1]) {
			t.Errorf("with external NATS and an existing node agent Secret the render has %s %s", absent[0], absent[1])
		}
	}
	find(t, objs, "Service", "opsmesh-controller") // the webhook
	find(t, objs, "Service", "opsmesh-gateway")

	// The runtime's role reads and never writes (a SubjectAccessReview, which access_check
	// creates, is a question to the authorizer and stores nothing); the controller's split role
	// holds no tool writes.
	for _, rule := range rules(t, find(t, objs, "ClusterRole", "opsmesh-runtime")) {
		review := slices.Equal(rule.APIGroups, []string{"authorization.k8s.io"}) && slices.Equal(rule.Resources, []string{"subjectaccessreviews"})
		for _, v := range rule.Verbs {
			if !slices.Contains([]string{"get", "list", "watch"}, v) && !(review && v == "create") {
				t.Errorf("the runtime's ClusterRole grants %s on %v", v, rule.Resources)
			}
		}
	}
	for _, rule := range rules(t, find(t, objs, "ClusterRole", "opsmesh-controller")) {
		if slices.Contains(rule.Resources, "pods/eviction") || slices.Contains(rule.Resources, "statefulsets/scale") {
			t.Errorf("the split controller's ClusterRole holds the tool write rule %v", rule)
		}
	}
}

// replicas is a Deployment's spec.replicas (a JSON number: float64 after decoding).
func replicas(o *unstructured.Unstructured) float64 {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return -1
}

type rule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

func rules(t *testing.T, o *unstructured.Unstructured) []rule {
	t.Helper()
	b, _ := yaml.Marshal(o.Object["rules"])
	var rs []rule
	if err := yaml.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestRenderAcceptedByAPIServer creates the chart's CRDs for real and then every rendered object
// with a server-side dry run on a real kube-apiserver: admission and validation of each kind (the
// custom ones too) accept what the chart makes.
func TestRenderAcceptedByAPIServer(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installCRDs(ctx, t, env.Client)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"default":       nil,
		"external NATS": {"-f", external},
		"split, embedded NATS, gateway with writes, webhook": {"--set", "mode=split,gateway.enabled=true,gateway.existingSecret=gw,gateway.allowWrites=true,webhook.enabled=true,webhook.existingSecret=wh,nats.embedded.persistence.enabled=false"},
		"with samples": {"--set", "gpuNodeAgent.enabled=false"},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			objs := objects(t, render(t, extra...))
			if name == "with samples" {
				// The custom kinds: the samples a user applies next, in the release namespace.
				samples, _ := filepath.Glob(filepath.Join(root, "deploy", "samples", "*.yaml"))
				for _, s := range samples {
					b, _ := os.ReadFile(s)
					for _, o := range objects(t, string(b)) {
						o.SetNamespace(namespace)
						objs = append(objs, o)
					}
				}
			}
			if len(objs) < 5 {
				t.Fatalf("the render has only %d objects: %s", len(objs), names(objs))
			}
			for _, o := range objs {
				if err := env.Client.Create(ctx, o, client.DryRunAll); err != nil {
					t.Errorf("the API server refused %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
}

// installCRDs creates or updates the chart's CRDs (crds/) and waits until they are Established.
func installCRDs(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var cur apiextensionsv1.CustomResourceDefinition
		switch err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); {
		case apierrors.IsNotFound(err):
			if err := c.Create(ctx, &crd); err != nil {
				t.Fatalf("creating CRD %s: %v", crd.Name, err)
			}
		case err != nil:
			t.Fatal(err)
		default:
			crd.ResourceVersion = cur.ResourceVersion
			if err := c.Update(ctx, &crd); err != nil {
				t.Fatalf("updating CRD %s: %v", crd.Name, err)
			}
		}
		for {
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); err == nil && established(&cur) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("CRD %s not Established", crd.Name)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// TestBadValuesRejected: bad values fail helm template (as helm install) with a message naming
// the field, and nothing is rendered. values.schema.json refuses a value that is wrong on its own
// (type, enum, pattern, range, unknown key); the chart's validate template refuses combinations,
// saying what to do.
func TestBadValuesRejected(t *testing.T) {
	const bySchema = "values don't meet the specifications of the schema"
	cases := []struct {
		name, set string
		want      []string
	}{
		{"unknown mode", "mode=allinone", []string{bySchema, "/mode", "'all-in-one', 'split'"}},
		{"unknown NATS mode", "nats.mode=cluster", []string{bySchema, "/nats/mode", "'embedded', 'external'"}},
		{"external NATS URL that is not one", "nats.mode=external,nats.external.url=http://nats:4222", []string{bySchema, "/nats/external/url"}},
		{"port out of range", "metrics.port=70000", []string{bySchema, "/metrics/port", "maximum"}},
		{"not a duration", "controller.verifyTimeout=three minutes", []string{bySchema, "/controller/verifyTimeout"}},
		{"misspelt key", "controler.replicas=1", []string{bySchema, "'controler' not allowed"}},
		{"wrong type", "gpuNodeAgent.enabled=yes", []string{bySchema, "/gpuNodeAgent/enabled", "want boolean"}},
		{"unknown simulated node", "gpuNodeAgent.simulate=dgx1", []string{bySchema, "/gpuNodeAgent/simulate"}},
		{"not a namespace", "watchNamespaces={Team_A}", []string{bySchema, "/watchNamespaces/0"}},
		{"external NATS without a URL", "nats.mode=external", []string{"nats.external.url is empty", "nats://"}},
		{"two controllers on the embedded NATS", "controller.replicas=2", []string{"controller.replicas is 2", "nats.mode=external"}},
		{"webhook without its token Secret", "webhook.enabled=true", []string{"webhook.enabled needs webhook.existingSecret", "kubectl create secret"}},
		{"gateway without its token Secret", "gateway.enabled=true", []string{"gateway.enabled needs gateway.existingSecret"}},
		{"NATS credentials for the embedded server", "nats.external.credentialsSecret.name=creds", []string{"are for nats.mode=external"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := helm(t, "template", release, chartDir, "--namespace", namespace, "--set", c.set)
			if err == nil {
				t.Fatalf("--set %s was accepted", c.set)
			}
			if out != "" {
				t.Errorf("--set %s was refused but still rendered:\n%s", c.set, out)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("--set %s: the error does not say %q:\n%s", c.set, w, err)
				}
			}
		})
	}
}

// TestRenderedArgsParse gives every container's args the chart renders, in each mode, to the
// real opsmesh binary (with --help, so nothing starts): a flag that the command does not have,
// or a value of the wrong type, fails here rather than in a crash-looping pod.
func TestRenderedArgsParse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./cmd/opsmesh")
	}
	bin := filepath.Join(t.TempDir(), "opsmesh")
	// -trimpath as the Dockerfile builds it, so make image-build-check's build cache serves this.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/opsmesh")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/opsmesh: %v\n%s", err, b)
	}
	cases := map[string][]string{
		"default":       nil,
		"external NATS": {"-f", external},
		"split, embedded, everything set": {"--set", "mode=split,gateway.enabled=true,gateway.existingSecret=gw,gateway.allowWrites=true,webhook.enabled=true,webhook.existingSecret=wh," +
			"watchNamespaces={a,b},controller.eventReasons={BackOff,OOMKilled},controller.eventExcludeNamespaces={kube-system},gpuNodeAgent.simulate=dgxh100,metrics.enabled=false"},
		"external NATS with TLS": {"-f", external, "--set", "nats.external.tlsSecret.name=nats-tls,nats.external.tlsSecret.mutual=true"},
		"runbooks, all-in-one":   {"--set-string", "runbooks.team\\.yaml=x"},
		"runbooks, split":        {"--set", "mode=split", "--set-string", "runbooks.team\\.yaml=x"},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			n := 0
			for _, o := range objects(t, render(t, extra...)) {
				if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
					continue
				}
				a := args(t, o)
				out, err := exec.Command(bin, append(a, "--help")...).CombinedOutput()
				if err != nil {
					t.Errorf("%s %s: opsmesh %s refused its args: %v\n%s", o.GetKind(), o.GetName(), strings.Join(a, " "), err, out)
				}
				n++
			}
			if n < 2 {
				t.Fatalf("only %d workloads rendered", n)
			}
		})
	}
}
