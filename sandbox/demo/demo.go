// Package demo owns `opsmesh demo`: it creates, in namespaces of its own, the workloads and
// faults of four incident scenarios (a crashlooping inference service with a bad config, a
// training Job pending for GPUs, a GPU XID 79 under a training Job, an OOMKilled worker), follows
// the Incidents the platform raises for them through their phases, approves the one action the
// demo is meant to approve (with the command a user would type, through the same code path), and
// reports each scenario's diagnosis and final phase.
//
// It is a client of a running platform: it never diagnoses, remediates or raises an Incident
// itself, and never injects a fault except through Faults. Outside its own namespaces it
// changes only its own coordinator Agent, and on simulated nodes (opsmesh.dev/simulated=true)
// it uncordons what an earlier run cordoned, binds its GPU-reserving pods, and deletes the
// simulated XID 79 Incidents an earlier run raised on the node it uses.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Faults injects the faults that only a simulated cluster can have. The sandbox implements it
// with its simulated GPU node agents: after InjectXID the node's agent reports XID xid on GPU
// index gpu and publishes it on NATS, from which the controller raises an Incident on the Node.
type Faults interface {
	InjectXID(ctx context.Context, node string, gpu, xid int) error
}

// Config configures Run.
type Config struct {
	// RestConfig reaches the cluster the platform (opsmesh controller --runtime) runs on.
	RestConfig *rest.Config
	// Out receives the live view and the summary.
	Out io.Writer
	// Faults injects the XID; nil skips the XID scenario (with a message saying why).
	Faults Faults
	// Interactive redraws a table in place (a terminal); otherwise one line per change.
	Interactive bool
	// Width is the terminal's width in columns: the redrawn table's lines are cut to it, as a
	// wrapped line could not be erased (0: not cut).
	Width int
	// Timeout bounds the whole demo (default 5m).
	Timeout time.Duration
	// AgentNamespace is where the platform's coordinators and specialists live and where
	// Incidents about nodes land (default opsmesh).
	AgentNamespace string
	// Poll is how often Incidents are read (default 500ms).
	Poll time.Duration
}

// Scenario names, in the order the demo runs and reports them.
const (
	ScenarioCrashLoop  = "inference-crashloop"
	ScenarioPendingGPU = "training-pending-gpu"
	ScenarioXID        = "gpu-xid79"
	ScenarioOOM        = "worker-oomkilled"
)

// Result is what the demo saw, one entry per scenario in order.
type Result struct {
	Scenarios []ScenarioResult
}

// Failed names the scenarios that did not reach their expected state (skipped ones are not
// failures).
func (r Result) Failed() []string {
	var out []string
	for _, s := range r.Scenarios {
		if !s.OK && s.Skipped == "" {
			out = append(out, s.Scenario)
		}
	}
	return out
}

// Scenario is the result of the named scenario, if it ran.
func (r Result) Scenario(name string) (ScenarioResult, bool) {
	for _, s := range r.Scenarios {
		if s.Scenario == name {
			return s, true
		}
	}
	return ScenarioResult{}, false
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	Scenario string
	// Namespace and Incident name the Incident the platform raised for the scenario's target.
	Namespace, Incident string
	// RootCause is the diagnosis's category (CrashLoopBackOff, GPUXid79, ...); Summary its text.
	RootCause, Summary string
	Phase              opsv1.IncidentPhase
	Coordinator        string
	// Agents are the coordinator and the specialists whose findings the diagnosis holds.
	Agents  []string
	Actions []Action
	// TimeToDiagnosis is, as the demo saw it (to within Config.Poll), from the fault (the bad
	// revision rolled out, the Job created, the XID injected) to the root cause in the
	// Incident's status.
	TimeToDiagnosis time.Duration
	// OK says the scenario reached its expected diagnosis and phase; Problem says what is
	// wrong when not; Skipped says why it did not run.
	OK      bool
	Problem string
	Skipped string
	// Approved is the command the demo ran to approve an action ("" when none).
	Approved string
	// Simulated says the failure was simulated: pods on kwok's nodes given a failure state, an
	// XID injected into a simulated GPU.
	Simulated bool
}

// Action is one remediation action as the Incident's status shows it.
type Action struct {
	ID, Tool   string
	Risk       opsv1.ActionRisk
	State      opsv1.ActionState
	ApprovedBy string
}

// Run runs every scenario concurrently against the cluster, showing progress on cfg.Out, and
// returns what happened. The error is non-nil when a scenario did not reach its expected state
// (it names them) or the demo could not start (it says what is missing).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.RestConfig == nil {
		return Result{}, errors.New("demo: no Kubernetes configuration; pass --kubeconfig (the sandbox's is ~/.cache/opsmesh/sandbox/kubeconfig)")
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.AgentNamespace == "" {
		cfg.AgentNamespace = "opsmesh"
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	c, err := client.New(cfg.RestConfig, client.Options{Scheme: Scheme()})
	if err != nil {
		return Result{}, fmt.Errorf("demo: connecting to the API server at %s: %w", cfg.RestConfig.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &runner{cfg: cfg, c: c, start: time.Now()}
	if err := r.preflight(ctx); err != nil {
		return Result{}, err
	}
	r.show = newShow(cfg.Out, cfg.Interactive, cfg.Width, r.start)
	r.show.note("opsmesh demo: four incidents for the agents; coordinators in namespace %s (%s)", cfg.AgentNamespace, r.clusterKind())
	if err := r.uncordon(ctx); err != nil {
		r.show.close()
		return Result{}, err
	}
	for _, ns := range []string{NSInference, NSTraining, NSBatch} {
		if err := r.namespace(ctx, ns); err != nil {
			r.show.close()
			return Result{}, fmt.Errorf("demo: %w", err)
		}
	}
	scs := r.scenarios()
	for _, s := range scs {
		r.show.add(s.name, s.title)
	}
	results := make([]ScenarioResult, len(scs))
	var wg sync.WaitGroup
	for i, s := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.run(ctx, s)
			r.show.finish(results[i])
		}()
	}
	wg.Wait()
	r.show.close()
	res := Result{Scenarios: results}
	WriteSummary(cfg.Out, res)
	if failed := res.Failed(); len(failed) > 0 {
		var why []string
		for _, s := range res.Scenarios {
			if slices.Contains(failed, s.Scenario) {
				why = append(why, s.Scenario+": "+s.Problem)
			}
		}
		return res, fmt.Errorf("demo: %d of %d scenarios did not reach their expected state: %s", len(failed), len(res.Scenarios), strings.Join(why, "; "))
	}
	return res, nil
}

// Scheme holds the kinds the demo reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1.AddToScheme(s)
	return s
}
