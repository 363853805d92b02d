package knowledge_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/opsmesh/opsmesh/agents/knowledge"
)

// TestTraceRoot: a trace's first line ("Traceback (most recent call last):", Spring's
// BeanCreationException) gives way to the line that says why — the exception that ends a
// Python traceback, whatever its class is called, or a JVM's deepest "Caused by:" — whichever
// way the lines run.
func TestTraceRoot(t *testing.T) {
	python := []string{
		"[2026-12-07 02:44:09,802: CRITICAL/MainProcess] Unrecoverable error",
		"Traceback (most recent call last):",
		`File "/usr/local/lib/python3.12/site-packages/amqp/channel.py", line 241, in _on_close`,
		"raise error_for_code(",
		"amqp.exceptions.PreconditionFailed: (0, 0): (406) PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out",
	}
	java := []string{
		"2026-12-07T08:35:08.309Z ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed",
		"org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'liquibase'",
		"\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.initializeBean(AbstractAutowireCapableBeanFactory.java:1786)",
		"Caused by: liquibase.exception.LockException: Could not acquire change log lock.  Currently locked by policy-admin-6c9d7f8b54-qk2lm",
		"\tat liquibase.lockservice.StandardLockService.waitForLock(StandardLockService.java:293)",
	}
	torchrun := []string{
		"[rank0]: Traceback (most recent call last):",
		`[rank0]:   File "/workspace/train_rm.py", line 88, in <module>`,
		"[rank0]:     trainer.train()",
		"[rank0]: ValueError: The model did not return a loss from the inputs, only the following keys: logits.",
	}
	vllm := []string{
		"(APIServer pid=1) Traceback (most recent call last):",
		`(APIServer pid=1)   File "/usr/local/lib/python3.12/dist-packages/vllm/config.py", line 412, in __post_init__`,
		"(APIServer pid=1) pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
	}
	for _, tc := range []struct {
		name        string
		lines       []string
		start, want string
	}{
		{"python, oldest first", python, python[1], python[4]},
		{"python, newest first", reversed(python), python[1], python[4]},
		{"java, oldest first", java, java[1], java[3]},
		{"java, newest first", reversed(java), java[1], java[3]},
		{"a line that starts no trace", python, python[0], python[0]},
		{"a traceback without its end", python[:3], python[1], python[1]},
		{"a line not among the lines", python, "KeyError: 'x'", "KeyError: 'x'"},
		{"torchrun's rank prefix", torchrun, torchrun[0], torchrun[3]},
		{"vLLM's process prefix", vllm, vllm[0], vllm[2]},
	} {
		if got := knowledge.TraceRoot(tc.start, tc.lines); got != tc.want {
			t.Errorf("%s: TraceRoot(%q) = %q, want %q", tc.name, tc.start, got, tc.want)
		}
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestProbeOnLoopback: a failing probe beside a program that says it listens on the loopback
// only names that address (and it is the setting to follow), not the probe's path or timeout.
func TestProbeOnLoopback(t *testing.T) {
	lines := []string{
		`Readiness probe failed: Get "http://10.244.1.7:8000/healthz": dial tcp 10.244.1.7:8000: connect: connection refused`,
		"[2026-12-08 00:03:11 +0000] [1] [INFO] Listening at: http://127.0.0.1:8000 (1)",
	}
	h, ok := knowledge.Builtin().Match(lines, knowledge.Context{Symptom: "ProbeFailing", Owner: "deployment/fx/fx-rates-api", Container: "api"})
	if !ok || h.Runbook.Name != "probe-failed" {
		t.Fatalf("Match = %+v, %v; want probe-failed", h, ok)
	}
	c := h.Cause()
	if h.Vars["loopback"] != "127.0.0.1:8000" || h.Setting() != "127.0.0.1:8000" || c.Field != "" || !strings.Contains(c.Summary, "listens on 127.0.0.1:8000, the pod's loopback only") {
		t.Errorf("vars %v, setting %q, cause %+v", h.Vars, h.Setting(), c)
	}
	h, _ = knowledge.Builtin().Match(lines[:1], knowledge.Context{Symptom: "ProbeFailing", Owner: "deployment/fx/fx-rates-api", Container: "api"})
	if c := h.Cause(); c.Field != "spec.template.spec.containers[api].readinessProbe" {
		t.Errorf("without a loopback line: field %q, want the probe", c.Field)
	}
}
