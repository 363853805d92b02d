//go:build cgo

package incident_test

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/metrics"
)

// removeAfter deletes objects when the test ends: a node left behind would be the "nearest" node
// of the next pinned-pod scenario in the same control plane and change its diagnosis.
func removeAfter(t *testing.T, b *bed, objs ...client.Object) {
	t.Cleanup(func() {
		for _, o := range objs {
			_ = b.env.Client.Delete(context.Background(), o)
		}
	})
}

// series is one gathered sample: counter or gauge value, or a histogram's count and sum.
type series struct {
	labels     map[string]string
	value      float64
	count, sum float64
}

func gather(t *testing.T) map[string][]series {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]series{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			s := series{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.count, s.sum = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
			}
			out[f.GetName()] = append(out[f.GetName()], s)
		}
	}
	return out
}

// total sums the values (or histogram counts) of the series of name whose labels include want.
func total(g map[string][]series, name string, want map[string]string) (value, count, sum float64) {
	for _, s := range g[name] {
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			value, count, sum = value+s.value, count+s.count, sum+s.sum
		}
	}
	return value, count, sum
}

// TestMetricsAfterIncident: an incident resolved end to end (a pod pinned to a cordoned node,
// uncordoned under policy Auto) leaves every series the dashboard reads with what happened: the
// phase gauge, the transitions, time to diagnosis and resolution, the action's outcome, the A2A
// requests to the coordinator, and the tool calls on both the client and the server side.
func TestMetricsAfterIncident(t *testing.T) {
	b := newBed(t)
	before := gather(t)
	_, _, ns := b.pinnedToCordoned(t, "cordoned-metrics", "metrics")
	b.raise(ns, "pinned-pending", map[string]string{"policy": "auto"}, &opsv1.TargetReference{Kind: "Pod", Namespace: ns, Name: "pinned-0"}, "pinned-0 is Pending")
	inc := b.waitPhase(ns, "pinned-pending", opsv1.PhaseResolved, 60*time.Second)
	after := gather(t)

	delta := func(name string, labels map[string]string) (value, count, sum float64) {
		v1, c1, s1 := total(after, name, labels)
		v0, c0, s0 := total(before, name, labels)
		return v1 - v0, c1 - c0, s1 - s0
	}
	if v, _, _ := total(after, "opsmesh_incidents", map[string]string{"phase": "Resolved"}); v < 1 {
		t.Errorf("opsmesh_incidents{phase=Resolved} = %v after %s resolved", v, inc.Name)
	}
	for _, phase := range []string{"Detected", "Investigating", "Diagnosed", "Remediating", "Verifying", "Resolved"} {
		if v, _, _ := delta("opsmesh_incident_transitions_total", map[string]string{"phase": phase}); v < 1 {
			t.Errorf("opsmesh_incident_transitions_total{phase=%s} grew by %v, want >= 1:\n%s", phase, v, timeline(inc))
		}
	}
	for _, h := range []string{"opsmesh_incident_time_to_diagnosis_seconds", "opsmesh_incident_time_to_resolution_seconds"} {
		_, c, s := delta(h, nil)
		if c < 1 || s < 0 || s > 120 {
			t.Errorf("%s: %v new observations summing %vs, want >= 1 within the test's 2 minutes", h, c, s)
		}
	}
	if v, _, _ := delta("opsmesh_remediation_actions_total", map[string]string{"outcome": "Succeeded", "risk": "safe"}); v < 1 {
		t.Errorf("opsmesh_remediation_actions_total{outcome=Succeeded,risk=safe} grew by %v after the uncordon ran", v)
	}
	if v, _, _ := delta("opsmesh_a2a_requests_total", map[string]string{"method": "SendMessage", "outcome": "ok"}); v < 2 {
		t.Errorf("opsmesh_a2a_requests_total{method=SendMessage,outcome=ok} grew by %v; the controller asked the coordinator twice (investigate, verify)", v)
	}
	if _, c, _ := delta("opsmesh_a2a_request_duration_seconds", map[string]string{"method": "SendMessage"}); c < 2 {
		t.Errorf("opsmesh_a2a_request_duration_seconds{method=SendMessage}: %v new observations", c)
	}
	uncordon := map[string]string{"tool": "node_uncordon", "outcome": "ok"}
	if v, _, _ := delta("opsmesh_mcp_client_calls_total", uncordon); v != 1 {
		t.Errorf("opsmesh_mcp_client_calls_total{tool=node_uncordon,outcome=ok} grew by %v, want exactly 1 (the action runs once)", v)
	}
	if v, _, _ := delta("opsmesh_mcp_tool_calls_total", map[string]string{"server": "cluster", "tool": "node_uncordon", "outcome": "ok"}); v != 1 {
		t.Errorf("opsmesh_mcp_tool_calls_total{server=cluster,tool=node_uncordon,outcome=ok} grew by %v, want exactly 1", v)
	}
	if v, _, _ := delta("opsmesh_mcp_tool_calls_total", map[string]string{"outcome": "ok"}); v < 3 {
		t.Errorf("opsmesh_mcp_tool_calls_total{outcome=ok} grew by %v; the specialists read through tools before proposing the fix", v)
	}
	for _, h := range []string{"opsmesh_mcp_tool_call_duration_seconds", "opsmesh_mcp_client_call_duration_seconds"} {
		if _, c, _ := delta(h, map[string]string{"tool": "node_uncordon"}); c != 1 {
			t.Errorf("%s{tool=node_uncordon}: %v new observations, want 1", h, c)
		}
	}
}
