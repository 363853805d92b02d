package runner

// One run of one scenario, step by step: prepare and set up (setup.go), raise the incident
// (inject.go), follow it and decide its approvals (follow.go), score it (score.go), and undo it
// all (cleanup.go).

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// attempt is one run of one scenario.
type attempt struct {
	r     *runner
	s     *scenario.Scenario
	ns    string
	start time.Time
	res   *Result

	coordinator string
	// created are objects to delete afterwards (outside the namespace, which goes as a whole).
	created []*unstructured.Unstructured
	// cordons are the nodes' spec.unschedulable before the scenario.
	cordons map[string]bool
	faulted []string
	// decided are the actions the runner approved or rejected.
	decided map[string]opsv1.ApprovalDecision
	// early watches, during setup, for the Incident the platform raises by itself.
	early     *sighting
	stopEarly func()
}

// run runs one attempt of s and scores it.
func (r *runner) run(ctx context.Context, s *scenario.Scenario, n int) (out Result) {
	res := Result{Scenario: s.Name, Dir: s.Dir, Attempt: n, Area: s.Tags.Area, Difficulty: s.Tags.Difficulty,
		Namespace: namespaceFor(r.cfg.Run, nameOf(s.Dir), n)}
	a := &attempt{r: r, s: s, ns: res.Namespace, start: time.Now(), res: &res, cordons: map[string]bool{}, decided: map[string]opsv1.ApprovalDecision{}}
	if why := a.cannotRun(); why != "" {
		res.Skipped = why
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, s.TimeoutOr())
	defer cancel()
	defer func() {
		// What cleanup could not remove is the scenario's problem too: the next one may trip on it.
		if err := a.cleanup(); err != nil {
			out.Problem = strings.TrimPrefix(out.Problem+"; cleanup: "+err.Error(), "; ")
		}
	}()
	if err := a.prepare(ctx); err != nil {
		res.Problem = err.Error()
		return res
	}
	if s.Incident.Platform {
		stop := a.watchEarly(ctx)
		defer stop()
		if err := a.setup(ctx); err != nil {
			res.Problem = "setup: " + err.Error()
			return res
		}
	} else if err := a.setup(ctx); err != nil {
		res.Problem = "setup: " + err.Error()
		return res
	}
	if err := a.verifyCanFail(ctx); err != nil {
		res.Problem = err.Error()
		return res
	}
	if err := a.inject(ctx); err != nil {
		res.Problem = "setup: " + err.Error()
		return res
	}
	raised, err := a.raise(ctx)
	if err != nil {
		res.Problem = "raising the incident: " + err.Error()
		return res
	}
	if a.early != nil {
		a.stopEarly()
	}
	inc, err := a.follow(ctx, raised)
	if inc != nil {
		fill(&res, inc, a.decided)
	}
	if err != nil {
		res.Problem = err.Error()
	}
	if inc == nil {
		return res
	}
	score(&res, s, inc, func(c scenario.Check) string {
		vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer vcancel()
		return a.holds(vctx, c)
	}, r.cfg.VerifyWait)
	res.Took = time.Since(a.start)
	return res
}

// cannotRun says why the scenario cannot run on this cluster ("" when it can).
func (a *attempt) cannotRun() string {
	if len(a.s.Setup.GPUFaults) > 0 && a.r.cfg.Faults == nil {
		return "needs simulated GPU faults: only the sandbox's simulated GPU node agents take them (opsmesh sandbox up)"
	}
	if a.s.Incident.Alert != nil && a.r.cfg.Webhook == nil {
		return "needs the platform's Alertmanager webhook (the sandbox's is in its state.json; else pass --webhook-url and --webhook-token-file)"
	}
	if why := a.logsCannotRun(); why != "" {
		return why
	}
	return ""
}
