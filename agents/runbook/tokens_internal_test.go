package runbook

import (
	"regexp"
	"slices"
	"testing"
)

// TestLineTokens: the values a failing line names, quoted values first; not a JSON key, a
// source position, a version, a time, a logger's level or a language's package path.
func TestLineTokens(t *testing.T) {
	for _, tc := range []struct {
		line     string
		want     []string
		notWants []string
	}{
		{`Error: invalid configuration: service::pipelines::traces: references exporter "otlp/tempo-east" which is not configured`, []string{"otlp/tempo-east"}, nil},
		{`Topic(s) [orders.placed.v2] not present and missingTopicsFatal is true`, []string{"orders.placed.v2"}, nil},
		{`{"level":"fatal","msg":"opening store","bucket":"ml-artifacts-prod","err":"storage: bucket doesn't exist"}`, []string{"ml-artifacts-prod"}, []string{"level", "bucket", "storage: bucket doesn't exist"}},
		{`You can change this value on the server by setting the 'max_allowed_packet' variable.`, []string{"max_allowed_packet"}, nil},
		{`E1207 06:12:44.501223 1 main.go:173] error starting plugins v1.2.3 at 2026-12-07T06:12:44Z`, nil, []string{"main.go:173", "v1.2.3", "2026-12-07T06:12:44Z", "06:12:44.501223"}},
		{`Exception in thread "main" java.lang.IllegalStateException: at org.apache.kafka.clients.Foo`, nil, []string{"java.lang.IllegalStateException", "org.apache.kafka.clients.Foo", "main"}},
		{`PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1800000 ms.`, []string{"1800000"}, nil},
		{"ValueError: Quantization method specified in the model config (awq) does not match the quantization method specified in the `quantization` argument (gptq).", []string{"gptq"}, []string{"(most recent call last)"}},
		{`2026-12-07T02:44:09,80211 at 10.0.0.12:50051 version 1.20231.4`, nil, []string{"80211", "50051", "20231"}},
	} {
		got := lineTokens(tc.line)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("lineTokens(%q) = %q: want %q", tc.line, got, w)
			}
		}
		for _, w := range tc.notWants {
			if slices.Contains(got, w) {
				t.Errorf("lineTokens(%q) = %q: %q is no value", tc.line, got, w)
			}
		}
	}
	for _, l := range []string{"BackOff: Back-off restarting failed container standalone in pod kb-1", "Failed: Error: ErrImagePull"} {
		if !kubeletWords.MatchString(l) {
			t.Errorf("%q is the kubelet's line", l)
		}
	}
	if !wordIn("--config=/etc/app/eu-north-7.yaml", "eu-north-7") || wordIn("--health-probe-bind-address=:8081", "addr") {
		t.Error("wordIn: a whole word only")
	}
}

// FuzzLineTokens: any line gives at most ten tokens, each at least four bytes.
func TestFlagVariable(t *testing.T) {
	tp := regexp.MustCompile(`(?i)tensor[-_]parallel[-_]size`)
	for _, tc := range []struct {
		args    []string
		token   string
		pattern *regexp.Regexp
		want    string
	}{
		{[]string{"vllm serve $MODEL --tensor-parallel-size $TP_WIDTH --port 8000"}, "", tp, "TP_WIDTH"},
		{[]string{"--tensor-parallel-size", "$(TP_WIDTH)"}, "", tp, "TP_WIDTH"},
		{[]string{"--tensor-parallel-size=${TP}"}, "", tp, "TP"},
		{[]string{"--tensor-parallel-size", "3"}, "", tp, ""},
		{[]string{"--max-model-len", "$(MAX_LEN)"}, "--max-model-len", nil, "MAX_LEN"},
		{[]string{"--port", "8000"}, "", tp, ""},
	} {
		if got := flagVariable(tc.args, tc.token, tc.pattern); got != tc.want {
			t.Errorf("flagVariable(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func FuzzLineTokens(f *testing.F) {
	f.Add(`references exporter "otlp/tempo-east" which is not configured`)
	f.Add(`'x' "" [] ` + "`a`")
	f.Fuzz(func(t *testing.T, line string) {
		got := lineTokens(line)
		if len(got) > 10 {
			t.Fatalf("%d tokens", len(got))
		}
		for _, tok := range got {
			if len(tok) < 4 {
				t.Fatalf("token %q shorter than 4", tok)
			}
		}
	})
}

func TestLineWithSwitch(t *testing.T) {
	for _, tc := range []struct {
		line, word string
		want       bool
	}{
		{"ConnectionError: Couldn't reach the Hugging Face Hub for dataset 'x': Offline mode is enabled.", "offline", true},
		{"the cache is disabled in readonly mode", "readonly", true},
		{"Caused by: liquibase.exception.LockException: Could not acquire change log lock.", "liquibase", false},
		{"ERROR telemetry exporter failed: connection refused", "telemetry", false},
		{"running with telemetry disabled", "telemetry", true},
	} {
		if got := lineWithSwitch([]string{tc.line}, tc.word) != ""; got != tc.want {
			t.Errorf("lineWithSwitch(%q, %q) = %v, want %v", tc.line, tc.word, got, tc.want)
		}
	}
}
