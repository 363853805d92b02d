//go:build cgo

package incident_test

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/incident"
)

// TestOneIncidentOneTrace: with an in-memory exporter, an incident resolved end to end (a pod
// pinned to a cordoned node, uncordoned under policy Auto) is one trace: the controller's step
// spans, the coordinator's A2A request (trace context carried in the NATS headers), the agents'
// spans and their delegations, and the MCP tool calls both of the agents (under an agent span)
// and of the controller's remediation (under a step span), all with the incident's trace ID.
func TestOneIncidentOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = tp.Shutdown(t.Context())
	})
	b := newBed(t)
	_, _, ns := b.pinnedToCordoned(t, "cordoned-trace", "tracing")
	exp.Reset()
	b.raise(ns, "pinned-pending", map[string]string{"policy": "auto"}, &opsv1.TargetReference{Kind: "Pod", Namespace: ns, Name: "pinned-0"}, "pinned-0 is Pending")
	inc := b.waitPhase(ns, "pinned-pending", opsv1.PhaseResolved, 60*time.Second)
	_ = tp.ForceFlush(t.Context())

	want := incident.TraceID(inc)
	if want == "" {
		t.Fatalf("Incident %s has no trace ID (UID %q)", inc.Name, inc.UID)
	}
	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	var in []tracetest.SpanStub
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		if s.SpanContext.TraceID().String() == want {
			in = append(in, s)
		}
	}
	// under says whether a span has an ancestor whose name starts with prefix.
	under := func(s tracetest.SpanStub, prefix string) bool {
		for p, ok := byID[s.Parent.SpanID()]; ok; p, ok = byID[p.Parent.SpanID()] {
			if strings.HasPrefix(p.Name, prefix) {
				return true
			}
		}
		return false
	}
	var names []string
	count := map[string]int{}
	var agentTool, controllerTool bool
	for _, s := range in {
		names = append(names, s.Name)
		for _, prefix := range []string{"incident ", "a2a SendMessage", "agent ", "delegate ", "mcp "} {
			if strings.HasPrefix(s.Name, prefix) {
				count[prefix]++
			}
		}
		if strings.HasPrefix(s.Name, "mcp ") {
			agentTool = agentTool || under(s, "agent ")
			controllerTool = controllerTool || (strings.HasSuffix(s.Name, "/node_uncordon") && !under(s, "agent ") && under(s, "incident "))
		}
	}
	for _, prefix := range []string{"incident ", "a2a SendMessage", "agent ", "delegate ", "mcp "} {
		if count[prefix] == 0 {
			t.Errorf("no %q span in the incident's trace %s; its spans: %v", prefix, want, names)
		}
	}
	if !agentTool {
		t.Errorf("no MCP tool call under an agent span in trace %s: %v", want, names)
	}
	if !controllerTool {
		t.Errorf("the controller's node_uncordon call is not under a step span in trace %s: %v", want, names)
	}
	// Nothing the incident caused started a trace of its own: every agent and A2A span is in it.
	for _, s := range spans {
		if (strings.HasPrefix(s.Name, "agent ") || strings.HasPrefix(s.Name, "a2a ")) && s.SpanContext.TraceID().String() != want {
			t.Errorf("span %q is in trace %s, not the incident's %s", s.Name, s.SpanContext.TraceID(), want)
		}
	}
}
