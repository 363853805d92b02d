package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// Namespace is where the controller runs its Lease and the sample Agents and ToolServers live.
	Namespace   = "opsmesh"
	contextName = "opsmesh-sandbox"
	serviceIP   = "10.96.0.1"
	// SimulatedLabel is on every node the sandbox simulates.
	SimulatedLabel = "opsmesh.dev/simulated"
	// SimulatedAnnotation says, on every simulated node, what is simulated.
	SimulatedAnnotation = "opsmesh.dev/simulated"
	// EnvStateDir overrides the default state directory.
	EnvStateDir = "OPSMESH_SANDBOX_DIR"
)

// DefaultStateDir is $OPSMESH_SANDBOX_DIR, else ~/.cache/opsmesh/sandbox.
func DefaultStateDir() string {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "opsmesh", "sandbox")
	}
	return filepath.Join(os.TempDir(), "opsmesh-sandbox")
}

// Options configure Up.
type Options struct {
	// StateDir holds pid files, logs, the kubeconfig, tokens and state.json (default DefaultStateDir).
	StateDir string
	// RepoRoot is the opsmesh clone: hack/testbins.sh, deploy/crds, deploy/samples and
	// deploy/sandbox come from it (default: found from the working directory).
	RepoRoot string
	// BinDir holds etcd, kube-apiserver, kube-scheduler and kube-controller-manager; KwokBin is
	// kwok. When both are set, Up builds nothing; otherwise it runs hack/testbins.sh ensure-sandbox.
	BinDir, KwokBin string
	// Opsmesh is the opsmesh binary the controller, gateway and node agents run (default: this
	// executable).
	Opsmesh string
	// Progress receives one line per step (default: discarded).
	Progress io.Writer
	// Timeout bounds each wait for the control plane and the samples (default 3m).
	Timeout time.Duration
}

// State is what a running sandbox records in state.json.
type State struct {
	Dir        string    `json:"dir"`
	StartedAt  time.Time `json:"startedAt"`
	Kubeconfig string    `json:"kubeconfig"`
	APIServer  string    `json:"apiServer"`
	NATSURL    string    `json:"natsURL"`
	GatewayURL string    `json:"gatewayURL"`
	// GatewayTokenFile holds the bearer token the gateway requires.
	GatewayTokenFile string `json:"gatewayTokenFile"`
	// WebhookURL is the controller's Alertmanager webhook; WebhookTokenFile its token.
	WebhookURL       string `json:"webhookURL"`
	WebhookTokenFile string `json:"webhookTokenFile"`
	// AgentTokenFile holds the token of the simulated GPU node agents.
	AgentTokenFile string         `json:"agentTokenFile"`
	Ports          map[string]int `json:"ports"`
	CPUNodes       []string       `json:"cpuNodes"`
	GPUNodes       []string       `json:"gpuNodes"`
	// MIGNode is the GPU node whose GPUs are MIG-partitioned.
	MIGNode string `json:"migNode"`
	// Agents maps each GPU node to its simulated node agent's MCP URL.
	Agents     map[string]string `json:"agents"`
	Components []Component       `json:"components"`
	// Ready is set once Up finished.
	Ready bool `json:"ready"`
}

// Sandbox is a running sandbox.
type Sandbox struct {
	State
	// Config reaches the sandbox's API server as its admin.
	Config *rest.Config
	Client client.Client

	opts   Options
	exited map[string]chan struct{}
}

// Dir is where the state directory's files are.
func (s *Sandbox) path(parts ...string) string {
	return filepath.Join(append([]string{s.Dir}, parts...)...)
}

// GatewayToken reads the gateway's bearer token.
func (s *Sandbox) GatewayToken() (string, error) { return readTrim(s.GatewayTokenFile) }

// WebhookToken reads the Alertmanager webhook's bearer token.
func (s *Sandbox) WebhookToken() (string, error) { return readTrim(s.WebhookTokenFile) }

func (s *Sandbox) save() error {
	b, err := json.MarshalIndent(s.State, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path("state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path("state.json"))
}

func (s *Sandbox) say(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, "[sandbox] "+format+"\n", args...)
	}
}

// readState reads dir's state.json.
func readState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no sandbox in %s (no state.json); start one with: opsmesh sandbox up", dir)
		}
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w; remove the directory after stopping any process in %s", filepath.Join(dir, "state.json"), err, filepath.Join(dir, "pids"))
	}
	return &st, nil
}

// Open connects to the sandbox running in stateDir (its state.json and kubeconfig).
func Open(_ context.Context, stateDir string) (*Sandbox, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	st, err := readState(stateDir)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{State: *st, exited: map[string]chan struct{}{}}
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return fmt.Errorf("sandbox kubeconfig %s: %w", s.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	s.Config, s.Client = cfg, c
	return nil
}

// running reports the components of dir's sandbox that still run.
func running(dir string) []Component {
	st, err := readState(dir)
	if err != nil {
		return nil
	}
	var out []Component
	for _, c := range st.Components {
		if alive(c.PID) {
			out = append(out, c)
		}
	}
	return out
}

// FindRepoRoot walks up from dir to the opsmesh clone (the go.mod of github.com/opsmesh/opsmesh
// next to hack/testbins.sh).
func FindRepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		mod, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(mod), "module github.com/opsmesh/opsmesh\n") {
			if _, err := os.Stat(filepath.Join(d, "hack", "testbins.sh")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside an opsmesh clone (no go.mod of github.com/opsmesh/opsmesh with hack/testbins.sh above it): run opsmesh sandbox from a clone of the repository, or pass --repo-root", abs)
		}
	}
}

// binaries resolves the control-plane and kwok binaries, building them when missing.
func (s *Sandbox) binaries(ctx context.Context) error {
	if s.opts.BinDir != "" && s.opts.KwokBin != "" {
		for _, b := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"} {
			if _, err := os.Stat(filepath.Join(s.opts.BinDir, b)); err != nil {
				return fmt.Errorf("--bin-dir %s has no %s: build it with hack/testbins.sh ensure-sandbox, or drop --bin-dir to build it now", s.opts.BinDir, b)
			}
		}
		if _, err := os.Stat(s.opts.KwokBin); err != nil {
			return fmt.Errorf("--kwok %s: %w; build it with hack/testbins.sh ensure-sandbox", s.opts.KwokBin, err)
		}
		return nil
	}
	s.say("ensuring etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (built from their Go modules the first time: about 15 minutes on 2 cores)")
	cmd := exec.CommandContext(ctx, filepath.Join(s.opts.RepoRoot, "hack", "testbins.sh"), "ensure-sandbox")
	cmd.Dir = s.opts.RepoRoot
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running hack/testbins.sh ensure-sandbox: %w", err)
	}
	var last []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if s.opts.Progress != nil {
			fmt.Fprintln(s.opts.Progress, line)
		}
		last = append(last, line)
		if len(last) > 20 {
			last = last[1:]
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("hack/testbins.sh ensure-sandbox failed (%v):\n%s", err, strings.Join(last, "\n"))
	}
	lines := strings.Fields(stdout.String())
	if len(lines) < 2 {
		return fmt.Errorf("hack/testbins.sh ensure-sandbox printed %q; want the Kubernetes binary directory and the kwok path", stdout.String())
	}
	if s.opts.BinDir == "" {
		s.opts.BinDir = lines[len(lines)-2]
	}
	if s.opts.KwokBin == "" {
		s.opts.KwokBin = lines[len(lines)-1]
	}
	return nil
}

// Up starts a sandbox in opts.StateDir and returns when the nodes and the sample Agents and
// ToolServers are Ready. A sandbox already running there is an error that says so. When a step
// fails, Up stops what it started.
func Up(ctx context.Context, opts Options) (_ *Sandbox, err error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Minute
	}
	if opts.RepoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if opts.RepoRoot, err = FindRepoRoot(wd); err != nil {
			return nil, err
		}
	}
	if opts.Opsmesh == "" {
		if opts.Opsmesh, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	if live := running(dir); len(live) > 0 {
		var names []string
		for _, c := range live {
			names = append(names, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
		}
		return nil, fmt.Errorf("a sandbox already runs in %s: %s; see opsmesh sandbox status, or stop it with opsmesh sandbox down", dir, strings.Join(names, ", "))
	}
	s := &Sandbox{State: State{Dir: dir, StartedAt: time.Now().UTC(), Ports: map[string]int{}, Agents: map[string]string{}}, opts: opts, exited: map[string]chan struct{}{}}
	if err := s.binaries(ctx); err != nil {
		return nil, err
	}
	// A fresh cluster every time: etcd's and JetStream's data from an earlier run go.
	for _, d := range []string{"etcd", "nats", "pids", "pki", "faults"} {
		if err := os.RemoveAll(s.path(d)); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"logs", "pids", "faults", "nats"} {
		if err := os.MkdirAll(s.path(d), 0o700); err != nil {
			return nil, fmt.Errorf("sandbox state directory %s: %w", dir, err)
		}
	}
	defer func() {
		if err != nil && len(s.Components) > 0 {
			s.say("stopping what was started (logs stay in %s)", s.path("logs"))
			if derr := Down(context.WithoutCancel(ctx), dir); derr != nil {
				err = fmt.Errorf("%w; and stopping the sandbox: %v", err, derr)
			}
		}
	}()
	if err := s.controlPlane(ctx); err != nil {
		return nil, err
	}
	if err := s.cluster(ctx); err != nil {
		return nil, err
	}
	if err := s.platform(ctx); err != nil {
		return nil, err
	}
	s.Ready = true
	if err := s.save(); err != nil {
		return nil, err
	}
	s.say("ready in %s", time.Since(s.StartedAt).Round(time.Second))
	return s, nil
}

// Down stops every process of the sandbox in stateDir (its process group: SIGTERM, then SIGKILL
// after a grace period), newest first, removes the pid files and state.json, and checks by pid
// that none is left. Logs stay in stateDir/logs.
func Down(ctx context.Context, stateDir string) error {
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	st, err := readState(stateDir)
	if err != nil {
		return err
	}
	comps := slices.Clone(st.Components)
	slices.Reverse(comps)
	var left []string
	for _, c := range comps {
		if !stop(ctx, c, stopGrace) {
			left = append(left, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
		}
	}
	for _, c := range comps {
		if alive(c.PID) && !slices.Contains(left, fmt.Sprintf("%s (pid %d)", c.Name, c.PID)) {
			left = append(left, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("sandbox in %s: still running after SIGKILL: %s; state.json is kept so that opsmesh sandbox down can try again", stateDir, strings.Join(left, ", "))
	}
	_ = os.RemoveAll(filepath.Join(stateDir, "pids"))
	if err := os.Remove(filepath.Join(stateDir, "state.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
