// Package testbed starts the real Kubernetes control plane that opsmesh's tests run against: a
// kube-apiserver and an etcd (through controller-runtime's envtest) with opsmesh's CRDs from
// deploy/crds installed. The binaries are the ones hack/testbins.sh builds from their Go modules
// into a per-user cache; when they are missing, Start fails with the command that builds them —
// it never skips. Only tests import this package; it must not be used by the product.
package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	opsmeshv1alpha1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// binaries are the programs envtest runs; hack/testbins.sh builds them.
var binaries = []string{"kube-apiserver", "etcd"}

// Env is a running control plane with opsmesh's CRDs installed.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a controller-runtime client with the core, apiextensions and opsmesh kinds.
	Client client.Client
	// Scheme holds the kinds Client knows.
	Scheme *k8sruntime.Scheme
	// KubeConfig is a kubeconfig file's content for the API server, for programs run by tests.
	KubeConfig []byte

	env *envtest.Environment
}

// RepoRoot is the directory of the opsmesh checkout this package was compiled from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir finds the directory that holds kube-apiserver and etcd: $KUBEBUILDER_ASSETS when set,
// else the cache directory hack/testbins.sh builds into. It fails, naming the missing binaries and
// the command that builds them, when either is absent.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "testbins.sh"), "path").Output()
		if err != nil {
			return "", fmt.Errorf("testbed: cannot find the test binaries' directory with hack/testbins.sh path: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("testbed: %s missing from %s: build the Kubernetes test binaries with "+
			"`make testbins` (hack/testbins.sh ensure; about 12 minutes the first time), "+
			"or run the tests with `make test`, which builds them", strings.Join(missing, " and "), dir)
	}
	return dir, nil
}

// Start runs etcd and kube-apiserver and installs the CRDs from deploy/crds. Call Stop when done.
func Start() (*Env, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, opsmeshv1alpha1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("testbed: building the scheme: %w", err)
		}
	}
	env := &envtest.Environment{
		Scheme:                scheme,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "deploy", "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: dir,
		// The first start on a loaded 2-core machine under -race can be slow.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	env.ControlPlane.GetAPIServer().Path = filepath.Join(dir, "kube-apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(dir, "etcd")}

	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("testbed: starting kube-apiserver and etcd from %s: %w", dir, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("testbed: creating a client: %w", err), env.Stop())
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, KubeConfig: env.KubeConfig, env: env}, nil
}

// Stop stops the control plane and removes its data.
func (e *Env) Stop() error {
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("testbed: stopping the control plane: %w", err)
	}
	return nil
}

// UserConfig returns a client configuration for a new user of the API server, with no rights
// beyond what RBAC objects the test creates grant it (and its groups).
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return nil, fmt.Errorf("testbed: adding user %s: %w", name, err)
	}
	return u.Config(), nil
}

// Shared is one control plane for all the tests of a test binary, started on first use, so that
// tests that need no API server (unit tests, fuzz workers) never start one. Declare one per
// package, and call Stop from TestMain after m.Run.
type Shared struct {
	once sync.Once
	env  *Env
	err  error
}

// Env returns the running control plane, starting it on the first call; it fails t when the
// control plane cannot start (for example, when the test binaries are missing).
func (s *Shared) Env(t testing.TB) *Env {
	t.Helper()
	s.once.Do(func() { s.env, s.err = Start() })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.env
}

// Stop stops the control plane if it was started, reporting a failure on stderr.
func (s *Shared) Stop() {
	if s.env == nil {
		return
	}
	if err := s.env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
