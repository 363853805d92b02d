package scenario

import (
	"errors"
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
	if s.Exclusive() {
		t.Error("a namespaced scenario is not exclusive")
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

func TestSubstitute(t *testing.T) {
	out, err := Substitute([]byte("ns: ${NAMESPACE}\nnode: ${GPU_NODE}\n"), Vars{"NAMESPACE": "eval-1", "GPU_NODE": "sim-gpu-1"})
	if err != nil || string(out) != "ns: eval-1\nnode: sim-gpu-1\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	_, err = Substitute([]byte("a: 1\nnode: ${MIG_NODE}\n"), Vars{})
	if !errors.Is(err, ErrNoValue) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a missing value: %v, want ErrNoValue naming line 2", err)
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
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Substitute(data, PlaceholderVars())
		if err == nil && strings.Contains(string(out), "${NAMESPACE}") && !strings.Contains(string(data), "${${NAMESPACE}") {
			t.Fatalf("left ${NAMESPACE} in %q", out)
		}
	})
}
