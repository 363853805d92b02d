package runner

import (
	"strings"
	"testing"

	"github.com/opsmesh/opsmesh/evals/scenario"
)

// TestEachAttemptHasItsOwnRun: two scenarios, and two attempts of one, read with the run's
// variables get different ${RUN}s, so their cluster-scoped objects never share a name.
func TestEachAttemptHasItsOwnRun(t *testing.T) {
	r := &runner{cfg: Config{Run: "abc123"}}
	base := scenario.Vars{"AGENT_NS": "opsmesh", "RUN": "abc123", "GPU_NODE": "g", "MIG_NODE": "m", "CPU_NODE": "c"}
	dir := "../scenarios/sched-kueue-quota-exhausted"
	names := map[string]string{}
	for i, tc := range []struct {
		dir     string
		attempt int
	}{{dir, 1}, {dir, 2}, {"../scenarios/sched-volcano-gang", 1}} {
		v := r.varsFor(base, tc.dir, tc.attempt, i+1)
		if v["RUN"] == "abc123" || v["NAMESPACE"] == "" {
			t.Errorf("%s attempt %d: RUN %q NAMESPACE %q; want a RUN of the attempt's own", tc.dir, tc.attempt, v["RUN"], v["NAMESPACE"])
		}
		if other, ok := names[v["RUN"]]; ok {
			t.Errorf("%s attempt %d has the RUN %q of %s", tc.dir, tc.attempt, v["RUN"], other)
		}
		names[v["RUN"]] = tc.dir
		s, err := scenario.Read(tc.dir, v)
		if err != nil {
			t.Fatalf("%s with %v: %v", tc.dir, v, err)
		}
		for _, o := range s.Setup.Objects {
			u := o.Unstructured()
			if scenario.ClusterScoped(u.GetKind()) && !strings.HasPrefix(u.GetName(), "eval-"+v["RUN"]+"-") {
				t.Errorf("%s: cluster-scoped %s %s does not carry the attempt's RUN %s", tc.dir, u.GetKind(), u.GetName(), v["RUN"])
			}
		}
	}
}
