// Package runner runs eval scenarios (evals/scenario) against a cluster that runs the opsmesh
// platform (the sandbox, or any cluster with opsmesh controller --runtime and the sample
// Agents), and scores what the agents did: the diagnosis, the remediation, unsafe actions, the
// time to diagnosis and the tool calls. It acts as the operator would: it sets a scenario up in
// a namespace of its own, raises the incident as the scenario says, decides approvals, and
// checks the API server afterwards. It never diagnoses or remediates anything itself, and it
// undoes what each scenario changed outside its namespace.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/scenario"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// Faults injects faults into simulated GPUs; the sandbox implements it.
type Faults interface {
	// SetGPUFaults makes GPU f.Index of node report f (XIDs stamped now), returning once the
	// node's agent reports it.
	SetGPUFaults(ctx context.Context, node string, f simulate.GPUFaults) error
	// ClearGPUFaults removes every injected fault of node's GPUs.
	ClearGPUFaults(ctx context.Context, node string) error
}

// Webhook is the platform's Alertmanager webhook.
type Webhook struct {
	URL, Token string
}

// Config configures Run.
type Config struct {
	// RestConfig reaches the cluster the platform runs on.
	RestConfig *rest.Config
	// Scenarios are scenario folders (evals/scenario.Find lists them).
	Scenarios []string
	// Faults injects GPU faults; nil skips the scenarios that need them.
	Faults Faults
	// Webhook receives alert scenarios' alerts; nil skips those scenarios.
	Webhook *Webhook
	// Agent is the coordinator whose spec the scenario coordinators copy (default: the
	// coordinator of AgentNamespace that takes every Incident).
	Agent string
	// Model, when set, replaces the copied coordinator's model (provider and model name; the
	// base's baseURL and key are kept when its provider is the same).
	Model *opsv1.ModelSpec
	// Repeat runs each scenario this many times (default 1).
	Repeat int
	// Parallel bounds the scenarios run at once (default 4); exclusive ones run alone.
	Parallel int
	// AgentNamespace is where the platform's Agents are and node Incidents land (default
	// opsmesh).
	AgentNamespace string
	// Out receives one line per step.
	Out io.Writer
	// Poll is how often Incidents are read (default 250ms).
	Poll time.Duration
	// VerifyWait bounds how long verify checks may take to hold once the incident ended
	// (default 30s).
	VerifyWait time.Duration
	// Run names this run (default: random); it labels what the runner creates.
	Run string
	// Keep leaves each scenario's namespace, coordinator and Incidents for inspection (cordons,
	// GPU faults and cluster-scoped objects are still undone, so later scenarios start clean).
	Keep bool
}

// Labels the runner puts on what it creates.
const (
	RunLabel      = "eval.opsmesh.dev/run"
	ScenarioLabel = "eval.opsmesh.dev/scenario"
	fieldSetup    = "opsmesh-eval-setup"
	fieldUpdate   = "opsmesh-eval"
)

// Run runs every scenario cfg names, Repeat times, and returns the report. The error says why
// the run could not start; a scenario that fails is in the report, not an error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.RestConfig == nil {
		return nil, errors.New("eval: no Kubernetes configuration; pass --kubeconfig (the sandbox's is ~/.cache/opsmesh/sandbox/kubeconfig)")
	}
	if len(cfg.Scenarios) == 0 {
		return nil, errors.New("eval: no scenarios; pass --scenarios DIR (a scenario folder, or a folder of them such as evals/scenarios)")
	}
	if cfg.Repeat <= 0 {
		cfg.Repeat = 1
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.AgentNamespace == "" {
		cfg.AgentNamespace = "opsmesh"
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.VerifyWait <= 0 {
		cfg.VerifyWait = 30 * time.Second
	}
	if cfg.Run == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		cfg.Run = hex.EncodeToString(b)
	}
	c, err := client.New(cfg.RestConfig, client.Options{Scheme: kubehost.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("eval: connecting to the API server at %s: %w", cfg.RestConfig.Host, err)
	}
	r := &runner{cfg: cfg, c: c, log: &logger{w: cfg.Out}}
	base, err := r.baseCoordinator(ctx)
	if err != nil {
		return nil, err
	}
	r.base = base
	vars, err := r.vars(ctx)
	if err != nil {
		return nil, err
	}
	r.nodes = vars
	rep := &Report{Run: cfg.Run, Started: time.Now(), Engine: engineOf(base, cfg.Model), Coordinator: cfg.AgentNamespace + "/" + base.Name, Repeat: cfg.Repeat}
	type job struct {
		dir     string
		attempt int
	}
	var jobs []job
	for _, d := range cfg.Scenarios {
		for a := 1; a <= cfg.Repeat; a++ {
			jobs = append(jobs, job{d, a})
		}
	}
	r.log.printf("opsmesh eval: run %s, %d scenario(s) × %d, coordinator %s (%s), on %s", cfg.Run, len(cfg.Scenarios), cfg.Repeat, rep.Coordinator, rep.Engine, cfg.RestConfig.Host)
	results := make([]Result, len(jobs))
	// Exclusive scenarios hold the whole lock; the others share it, at most Parallel at once.
	var excl sync.RWMutex
	slots := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		s, rerr := scenario.Read(j.dir, r.varsFor(vars, j.dir, j.attempt, i+1))
		exclusive := rerr == nil && s.RunsAlone()
		if exclusive {
			excl.Lock()
		} else {
			excl.RLock()
			slots <- struct{}{}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if exclusive {
					excl.Unlock()
				} else {
					<-slots
					excl.RUnlock()
				}
			}()
			if rerr != nil {
				results[i] = Result{Scenario: nameOf(j.dir), Dir: j.dir, Attempt: j.attempt, Problem: rerr.Error()}
				if errors.Is(rerr, scenario.ErrNoValue) {
					results[i].Problem, results[i].Skipped = "", rerr.Error()
				}
			} else {
				// Read again now that it may start: ${NOW} is the attempt's start, not the
				// moment it was queued.
				if again, err := scenario.Read(j.dir, r.varsFor(vars, j.dir, j.attempt, i+1)); err == nil {
					s = again
				}
				results[i] = r.run(ctx, s, j.attempt)
			}
			r.log.printf("%s", results[i].Line())
		}()
		if exclusive {
			// Wait for it, so that it runs alone and the next ones start after it.
			wg.Wait()
		}
	}
	wg.Wait()
	rep.Results = results
	rep.Took = time.Since(rep.Started)
	rep.Summarize()
	return rep, nil
}

// runner is one run.
type runner struct {
	cfg  Config
	c    client.Client
	log  *logger
	base *opsv1.Agent
	// nodes are the run's variables (node names among them).
	nodes scenario.Vars
}

type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", a...)
}

func nameOf(dir string) string {
	s := strings.TrimRight(dir, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// baseCoordinator is the coordinator the scenario coordinators copy.
func (r *runner) baseCoordinator(ctx context.Context) (*opsv1.Agent, error) {
	var agents opsv1.AgentList
	if err := r.c.List(ctx, &agents, client.InNamespace(r.cfg.AgentNamespace)); err != nil {
		if apimeta.IsNoMatchError(err) {
			return nil, fmt.Errorf("eval: the cluster at %s has no opsmesh.dev Agent kind: install the CRDs and run opsmesh controller --runtime, or use the sandbox (opsmesh sandbox up)", r.cfg.RestConfig.Host)
		}
		return nil, fmt.Errorf("eval: listing the Agents of namespace %s: %w", r.cfg.AgentNamespace, err)
	}
	var names []string
	for i := range agents.Items {
		a := &agents.Items[i]
		if a.Spec.Role != opsv1.RoleCoordinator || a.Labels[RunLabel] != "" {
			continue
		}
		names = append(names, a.Name)
		if r.cfg.Agent != "" && a.Name == r.cfg.Agent {
			return a, nil
		}
		if r.cfg.Agent == "" && a.Spec.IncidentSelector != nil && len(a.Spec.IncidentSelector.MatchLabels) == 0 && len(a.Spec.IncidentSelector.MatchExpressions) == 0 {
			return a, nil
		}
	}
	if r.cfg.Agent != "" {
		return nil, fmt.Errorf("eval: --agent %s: namespace %s has no coordinator Agent of that name (coordinators: %s)", r.cfg.Agent, r.cfg.AgentNamespace, orNone(names))
	}
	return nil, fmt.Errorf("eval: namespace %s has no coordinator Agent taking every Incident (role: coordinator, incidentSelector: {}); apply deploy/samples or use the sandbox (opsmesh sandbox up), or name one with --agent (coordinators: %s)", r.cfg.AgentNamespace, orNone(names))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func engineOf(base *opsv1.Agent, m *opsv1.ModelSpec) string {
	if m != nil {
		return (&opsv1.AgentSpec{Model: m}).Reasoning()
	}
	return base.Spec.Reasoning()
}

// vars are the cluster's values of the scenario variables (those it has).
func (r *runner) vars(ctx context.Context) (scenario.Vars, error) {
	var nodes corev1.NodeList
	if err := r.c.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("eval: listing nodes: %w", err)
	}
	v := scenario.Vars{"AGENT_NS": r.cfg.AgentNamespace, "RUN": r.cfg.Run}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Labels["opsmesh.dev/simulated"] != "true" || n.Labels[RunLabel] != "" {
			continue
		}
		q := n.Status.Allocatable["nvidia.com/gpu"]
		switch {
		case n.Labels["nvidia.com/mig.strategy"] == "mixed":
			setOnce(v, "MIG_NODE", n.Name)
		case q.Value() > 0:
			setOnce(v, "GPU_NODE", n.Name)
		case n.Labels["nvidia.com/gpu.present"] == "":
			setOnce(v, "CPU_NODE", n.Name)
		}
	}
	return v, nil
}

func setOnce(v scenario.Vars, k, val string) {
	if _, ok := v[k]; !ok {
		v[k] = val
	}
}

// varsFor adds the scenario's namespace to the run's values, and gives the attempt its own
// ${RUN} (scenarioID), so that the cluster-scoped objects of two scenarios, or of two attempts
// of one, never share a name: one attempt's cleanup cannot delete what another still uses.
func (r *runner) varsFor(v scenario.Vars, dir string, attempt, seq int) scenario.Vars {
	out := scenario.Vars{}
	for k, val := range v {
		out[k] = val
	}
	out["NAMESPACE"] = namespaceFor(r.cfg.Run, nameOf(dir), attempt)
	out["RUN"] = scenarioID(r.cfg.Run, seq)
	out["NOW"] = time.Now().UTC().Format(time.RFC3339)
	return out
}

// scenarioID is the ${RUN} of the seq-th attempt (counting from 1) the run runs: the run's id,
// a dash and seq (e.g. 3f9a1c-12): distinct for every attempt of every scenario of the run, and
// short enough for the names of cluster-scoped objects and for label values such as
// kubernetes.io/hostname.
func scenarioID(run string, seq int) string { return fmt.Sprintf("%s-%d", run, seq) }

// namespaceFor is the namespace of one attempt of a scenario: eval-<run>-<name>[-<attempt>],
// cut to a DNS label.
func namespaceFor(run, name string, attempt int) string {
	ns := "eval-" + run + "-" + name
	if attempt > 1 {
		ns = fmt.Sprintf("eval-%s-%d-%s", run, attempt, name)
	}
	ns = strings.ToLower(ns)
	if len(ns) > 63 {
		ns = ns[:63]
	}
	return strings.TrimRight(ns, "-.")
}
