package diagnosis

import (
	"strings"
	"testing"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

const good = `{"subject":"deployment/shop/checkout","rootCause":{"category":"OOMKilled","summary":"checkout's main container runs out of its 128Mi memory limit","confidence":"high","evidence":[{"object":"pod/shop/checkout-7d9f","detail":"last termination: OOMKilled, exit code 137"}]},"plan":[{"tool":"workload_set_resources","toolServer":"cluster-tools","arguments":{"kind":"deployment","namespace":"shop","name":"checkout","memoryLimit":"256Mi"},"risk":"safe","reason":"double the memory limit"},{"tool":"pod_delete","arguments":{"namespace":"shop","name":"checkout-7d9f"},"reason":"restart now"}],"engine":"openai/gpt-4o","toolCalls":3}`

func TestParse(t *testing.T) {
	d, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	// Risk comes from the tool, whatever the answer said.
	if d.Plan[0].Risk != opsv1.RiskDisruptive || d.Plan[1].Risk != opsv1.RiskDestructive {
		t.Errorf("risks %s, %s: want disruptive (the answer said safe) and destructive", d.Plan[0].Risk, d.Plan[1].Risk)
	}
	text := d.Text()
	for _, want := range []string{"OOMKilled: checkout's main container", "evidence: pod/shop/checkout-7d9f: last termination: OOMKilled", `plan 1: workload_set_resources {"kind":"deployment"`, "[disruptive] — double the memory limit", "engine: openai/gpt-4o"} {
		if !strings.Contains(text, want) {
			t.Errorf("Text() lacks %q:\n%s", want, text)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`{"rootCause":{"category":"Gremlins","summary":"x","confidence":"high","evidence":[{"detail":"y"}]}}`, `rootCause.category "Gremlins" is not in the taxonomy: use one of CrashLoopBackOff`},
		{`{"rootCause":{"category":"OOMKilled","summary":"","confidence":"high","evidence":[{"detail":"y"}]}}`, "rootCause.summary is empty"},
		{`{"rootCause":{"category":"OOMKilled","summary":"x","confidence":"sure","evidence":[{"detail":"y"}]}}`, `rootCause.confidence "sure" must be high, medium or low`},
		{`{"rootCause":{"category":"OOMKilled","summary":"x","confidence":"high"}}`, "rootCause.evidence is empty: a OOMKilled cause must cite what it rests on"},
		{`{"rootCause":{"category":"GPUXid79","summary":"x","confidence":"high","evidence":[{"detail":"y"}]},"plan":[{"tool":"","reason":""}]}`, "plan[0].tool is empty"},
		{`{"rootCause":{}, "extra": 1}`, `unknown field "extra"`},
		{`{"rootCause":{}} {}`, "data after its JSON object"},
		{`here is my answer`, "not valid JSON"},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if !ValidCategory("GPUXid79") || ValidCategory("GPUXid0") || ValidCategory("GPUXid") || XidCategory(94) != "GPUXid94" {
		t.Error("GPUXid<N> categories")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"rootCause":{"category":"NoProblemFound","summary":"fine","confidence":"low"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid diagnosis: %v", err)
		}
		for _, a := range d.Plan {
			if a.Risk != RiskOf(a.Tool, true) {
				t.Fatalf("action %s has risk %s, not the tool's", a.Tool, a.Risk)
			}
		}
		_ = d.Text()
	})
}
