package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const valid = `
description: a crashloop
tags: {area: workload, difficulty: easy}
setup:
  objects:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
incident:
  platform: true
  target: {kind: Deployment, name: web}
expect:
  category: CrashLoopBackOff
  facts: [web, "/exit code [0-9]+/"]
  remediation: [{tool: workload_rollback, args: {name: web}}]
  forbidden: [{tool: workload_delete}]
verify:
- {kind: Deployment, name: web, path: "{.status.readyReplicas}", equals: "1"}
`

func TestParseValid(t *testing.T) {
	s, err := Parse([]byte(valid), "scenarios/web-crash")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "web-crash" || s.Expect.Category != "CrashLoopBackOff" || len(s.Verify) != 1 || !s.Incident.Platform {
		t.Fatalf("parsed %+v", s)
	}
	if got := s.Expect.EndPhases(); len(got) != 1 || got[0] != "Resolved" {
		t.Errorf("end phases with a remediation = %v, want [Resolved]", got)
	}
	if s.RunsAlone() {
		t.Error("a namespaced scenario without GPUs or nodes runs beside others")
	}
	gpu, err := Parse([]byte(strings.Replace(valid, "kind: ConfigMap, metadata: {name: c}}", "kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1}}}]}}", 1)), "scenarios/gpu")
	if err != nil || !gpu.RunsAlone() {
		t.Errorf("a pod asking for a GPU must run alone (%v)", err)
	}
	if s.TimeoutOr() != DefaultTimeout {
		t.Errorf("timeout %s, want the default", s.TimeoutOr())
	}
}

// TestParseErrors: each bad scenario is refused with an error naming the field and the fix.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown field", "description: a crashloop", "descripton: a crashloop", `unknown field "descripton"`},
		{"bad category", "category: CrashLoopBackOff", "category: Crashy", `"Crashy" is not in the taxonomy`},
		{"bad regexp", `"/exit code [0-9]+/"`, `"/exit code [0-9+/"`, "expect.facts[1]"},
		{"no way to raise", "  platform: true\n", "", "exactly one of question, event, alert and platform (got 0)"},
		{"two ways", "  platform: true\n", "  platform: true\n  question: why?\n", "(got 2)"},
		{"regexp without slashes", "args: {name: web}", "args: {name: ^web$}", `write "/^web$/" for a regular expression`},
		{"bad area", "area: workload", "area: gpus", `tags.area "gpus": use one of workload, network`},
		{"check without comparison", `path: "{.status.readyReplicas}", equals: "1"`, `path: "{.status.readyReplicas}"`, "a path needs equals, matches or absent"},
		{"bad path", `path: "{.status.readyReplicas}"`, `path: "{.status[}"`, "verify[0].path"},
		{"namespace object", "kind: ConfigMap, metadata: {name: c}", "kind: Namespace, metadata: {name: c}", "do not create namespaces"},
		{"non-terminal phase", "  forbidden:", "  phases: [Diagnosed]\n  forbidden:", `expect.phases[0] "Diagnosed"`},
		{"wrong type", "difficulty: easy", "difficulty: [easy]", "difficulty"},
		{"fact matching anything", `"/exit code [0-9]+/"`, `"/.*/"`, "matches any diagnosis"},
		{"bad gpu", "setup:\n", "setup:\n  gpuFaults: [{gpu: 9, xids: [79]}]\n", "gpuFaults[0].gpu 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(valid, tc.from, tc.to, 1)
			if data == valid {
				t.Fatalf("the test's replacement %q did not apply", tc.from)
			}
			_, err := Parse([]byte(data), "scenarios/x")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "scenarios/x/scenario.yaml") {
				t.Errorf("error %q does not say %q (and name the file)", err, tc.want)
			}
		})
	}
}

// TestParseFormatAdditions reads the fixture that uses every field issue 18 added: the cause,
// summary facts, alternative remediations, an action that fails safely, and logs.
func TestParseFormatAdditions(t *testing.T) {
	s, err := Read(filepath.Join("testdata", "cause-format"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := s.Expect
	if e.Cause == nil || e.Cause.Category != "DisruptionBudgetBlocks" || !e.Cause.Object.Match("poddisruptionbudget/<namespace>/llm-gateway-pdb") || len(e.Cause.Facts) != 1 {
		t.Errorf("cause %+v", e.Cause)
	}
	if len(e.SummaryFacts) != 1 || len(e.Remediation) != 1 || len(e.Remediation[0].AnyOf) != 2 || len(e.Remediation[0].Alternatives()) != 2 {
		t.Errorf("summary facts %v, remediation %+v", e.SummaryFacts, e.Remediation)
	}
	if len(e.FailsSafely) != 1 || e.FailsSafely[0].Tool != "node_drain" || e.FailsSafely[0].Args["name"] != "cpu-node" || e.FailsSafely[0].Message != "/disruption budget/" {
		t.Errorf("failsSafely %+v", e.FailsSafely)
	}
	if got := e.EndPhases(); len(got) != 1 || got[0] != "Escalated" {
		t.Errorf("end phases with an action that fails safely = %v, want [Escalated] even with a remediation", got)
	}
	if len(s.Setup.Logs) != 2 || !s.Setup.Logs[1].Previous || s.Setup.Logs[0].Container != "gateway" {
		t.Errorf("logs %+v", s.Setup.Logs)
	}
	if plain := (ActionMatch{Tool: "node_cordon"}).Alternatives(); len(plain) != 1 || plain[0].Tool != "node_cordon" {
		t.Errorf("a plain action's alternatives are %+v, want itself", plain)
	}
}

// TestParseFormatAdditionErrors: each misuse of the fields issue 18 added is refused with an
// error naming the file, the field and the fix.
func TestParseFormatAdditionErrors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "cause-format", File))
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := Substitute(data, PlaceholderVars())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"cause category that is a symptom", "category: DisruptionBudgetBlocks", "category: CrashLoopBackOff",
			`expect.cause.category "CrashLoopBackOff" is not a cause category (api/contract); use one of RBACDenied, NetworkPolicyBlocked`},
		{"cause without a category", "    category: DisruptionBudgetBlocks\n", "", "expect.cause.category: name the cause category"},
		{"bad accepted cause", "    category: DisruptionBudgetBlocks\n", "    category: DisruptionBudgetBlocks\n    accept: [Drain]\n", `expect.cause.accept[0] "Drain" is not a cause category`},
		{"cause object matching anything", "object: /^poddisruptionbudget/<namespace>/llm-gateway-pdb$/", "object: /.*/", `expect.cause.object "/.*/" matches any diagnosis`},
		{"cause fact with a bad regexp", `facts: ["/minAvailable:? ?2|0 disruptions/"]`, `facts: ["/minAvailable[/"]`, "expect.cause.facts[0]"},
		{"summary fact matching the namespace token", "summaryFacts: [llm-gateway-pdb]", "summaryFacts: [namespace]",
			`expect.summaryFacts[0] "namespace" matches <namespace> or <run>, which stand for the run's own names`},
		{"fact matching the run token", "facts: [llm-gateway]", "facts: [/<run>/]", `expect.facts[0] "/<run>/" matches <namespace> or <run>`},
		{"tool and anyOf", "  - anyOf:\n", "  - tool: workload_rollback\n    anyOf:\n", "expect.remediation[0]: give tool (one action) or anyOf (alternatives), not both; move workload_rollback into anyOf"},
		{"neither tool nor anyOf", "  - anyOf:\n    - {tool: workload_scale, args: {name: llm-gateway, replicas: \"3\"}}\n    - {tool: resource_patch, args: {kind: PodDisruptionBudget, name: llm-gateway-pdb}}\n",
			"  - args: {name: llm-gateway}\n", "expect.remediation[0]: give tool (one action, such as workload_rollback) or anyOf"},
		{"alternative without a tool", "    - {tool: resource_patch, args: {kind: PodDisruptionBudget, name: llm-gateway-pdb}}", "    - {args: {kind: PodDisruptionBudget}}",
			"expect.remediation[0].anyOf[1]: give tool"},
		{"nested anyOf", "    - {tool: resource_patch, args: {kind: PodDisruptionBudget, name: llm-gateway-pdb}}", "    - {anyOf: [{tool: resource_patch}]}",
			"expect.remediation[0].anyOf[1].anyOf: alternatives do not nest"},
		{"args beside anyOf", "  - anyOf:\n", "  - args: {name: x}\n    anyOf:\n", "expect.remediation[0]: with anyOf, each alternative has its own args"},
		{"forced action that fails safely", `args: {name: "cpu-node"}, message`, `args: {name: "cpu-node", force: "true"}, message`,
			`expect.failsSafely[0].args.force "true": an action expected to fail safely must not be forced`},
		{"message outside failsSafely", "  - {tool: pod_delete}", "  - {tool: pod_delete, message: refused}", "expect.forbidden[1].message: only an action expected to fail safely"},
		{"failsSafely never approved", "incident:\n", "remediation: {approve: none}\nincident:\n", "expect.failsSafely: the runner must approve these actions"},
		{"failsSafely under Suggest", "incident:\n", "remediation: {mode: Suggest}\nincident:\n", "expect.failsSafely: under remediation.mode Suggest no action runs"},
		{"logs without a pod", "  - pod: {selector: {app: llm-gateway}}\n", "  - pod: {}\n", "setup.logs[0].pod: give the pod's name or a selector"},
		{"logs of another kind", "  - pod: {kind: Pod, name: llm-gateway-0}", "  - pod: {kind: Deployment, name: llm-gateway}", `setup.logs[1].pod.kind "Deployment": logs are a pod's`},
		{"logs without lines", `    lines: ["listening on :8080"]`, "    lines: []", "setup.logs[0].lines: give at least one log line"},
		{"logs with name and selector", "  - pod: {kind: Pod, name: llm-gateway-0}", "  - pod: {name: llm-gateway-0, selector: {app: x}}", "setup.logs[1].pod: give name or selector, not both"},
		{"unknown field in the cause", "    category: DisruptionBudgetBlocks\n", "    category: DisruptionBudgetBlocks\n    objects: x\n", `unknown field "objects"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(string(fixture), tc.from, tc.to, 1)
			if data == string(fixture) {
				t.Fatalf("the test's replacement %q did not apply", tc.from)
			}
			_, err := Parse([]byte(data), "testdata/cause-format")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "testdata/cause-format/scenario.yaml") {
				t.Errorf("error %q does not say %q (and name the file)", err, tc.want)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	out, err := Substitute([]byte("ns: ${NAMESPACE}\nnode: ${GPU_NODE}\n"), Vars{"NAMESPACE": "eval-1", "GPU_NODE": "sim-gpu-1"})
	if err != nil || string(out) != "ns: eval-1\nnode: sim-gpu-1\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	_, err = Substitute([]byte("a: 1\nnode: ${MIG_NODE}\n"), Vars{})
	if !errors.Is(err, ErrNoValue) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a missing value: %v, want ErrNoValue naming line 2", err)
	}
	out, err = Substitute([]byte("a: ${NOW}\nb: ${NOW-90s}\nc: ${NOW-2h}\n"), Vars{"NOW": "2026-12-07T10:00:00Z"})
	if err != nil || string(out) != "a: 2026-12-07T10:00:00Z\nb: 2026-12-07T09:58:30Z\nc: 2026-12-07T08:00:00Z\n" {
		t.Errorf("times relative to ${NOW}: got %q, %v", out, err)
	}
	for in, want := range map[string]string{
		"a: ${NOW-soon}\n":     "line 1: ${NOW-soon}: the offset is not a positive Go duration",
		"a: 1\nb: ${RUN-5m}\n": "line 2: ${RUN-5m}: only ${NOW} takes an offset",
		"a: ${NOW--5m}\n":      "not a positive Go duration",
	} {
		if _, err := Substitute([]byte(in), Vars{"NOW": "2026-12-07T10:00:00Z", "RUN": "r"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Substitute(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	_, err = Substitute([]byte("x: ${NAMESPCE}\n"), Vars{"NAMESPACE": "n"})
	if err == nil || errors.Is(err, ErrNoValue) || !strings.Contains(err.Error(), "unknown variable ${NAMESPCE}") {
		t.Errorf("an unknown variable: %v", err)
	}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		p            Pattern
		text         string
		match, value bool
	}{
		{"Web", "the web pods", true, false},
		{"web", "web", true, true},
		{"/^web-[0-9]+$/", "web-12", true, true},
		{"/^web$/", "web-12", false, false},
		{"a.b", "axb", false, false},
	} {
		if got := tc.p.Match(tc.text); got != tc.match {
			t.Errorf("%q.Match(%q) = %v", tc.p, tc.text, got)
		}
		if got := tc.p.MatchValue(tc.text); got != tc.value {
			t.Errorf("%q.MatchValue(%q) = %v", tc.p, tc.text, got)
		}
	}
}

// FuzzParse: no input makes Parse panic, and what it accepts validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("incident: {question: why, target: {kind: Node, name: n}}"))
	f.Add([]byte("setup: {objects: [{}]}\n"))
	f.Add([]byte("\x00\xff: ["))
	if fixture, err := os.ReadFile(filepath.Join("testdata", "cause-format", File)); err == nil {
		if sub, err := Substitute(fixture, PlaceholderVars()); err == nil {
			f.Add(sub)
		}
	}
	f.Add([]byte("expect: {remediation: [{anyOf: [{anyOf: []}]}], failsSafely: [{}], cause: {}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz/x")
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Fatalf("accepted a scenario that does not validate: %v", verr)
			}
		}
	})
}

// FuzzSubstitute: no input makes Substitute panic, and with every variable set no ${NAME} of a
// known variable is left.
func FuzzSubstitute(f *testing.F) {
	f.Add([]byte("a: ${NAMESPACE} ${RUN}"))
	f.Add([]byte("${X} ${"))
	f.Add([]byte("t: ${NOW-5m} ${NOW-} ${RUN-1s}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Substitute(data, PlaceholderVars())
		if err == nil && strings.Contains(string(out), "${NAMESPACE}") && !strings.Contains(string(data), "${${NAMESPACE}") {
			t.Fatalf("left ${NAMESPACE} in %q", out)
		}
	})
}
