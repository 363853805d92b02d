package promtest

import (
	"strings"
	"testing"
	"time"
)

// A missing binary fails with the command that builds it, never a skip.
func TestMissingBinaryNamesTheFix(t *testing.T) {
	t.Setenv("OPSMESH_PROMETHEUS", "/nonexistent/prometheus")
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "prometheus missing at /nonexistent/prometheus: build the test binaries with `make testbins`") {
		t.Fatalf("Binary() = %v", err)
	}
}

// The cached binary starts and answers queries.
func TestStartAndQuery(t *testing.T) {
	p := Start(t, time.Second)
	got := p.Query(t, "vector(42)")
	if len(got) != 1 || got[0].Value != "42" {
		t.Fatalf("vector(42) = %v", got)
	}
}
