package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/tracing"
)

// incidentContext returns ctx carrying the span context every span of inc descends from, so one
// Incident is one trace across reconciles, background runs and controller restarts. The trace ID
// is the Incident's UID (16 bytes, like a trace ID) and the parent span ID a hash of it: derived,
// not stored, so tracing writes nothing to the Incident. The parent itself is never exported;
// tracing backends show the step spans as the trace's roots.
func incidentContext(ctx context.Context, inc *opsv1.Incident) context.Context {
	raw, err := hex.DecodeString(strings.ReplaceAll(string(inc.UID), "-", ""))
	if err != nil || len(raw) != 16 {
		return ctx
	}
	var tid trace.TraceID
	copy(tid[:], raw)
	sum := sha256.Sum256([]byte(inc.UID))
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// TraceID is the trace ID of every span of the Incident with this UID (empty when the UID is not
// a UUID); `opsmesh incidents get` and the docs use it to find an incident's trace.
func TraceID(inc *opsv1.Incident) string {
	sc := trace.SpanContextFromContext(incidentContext(context.Background(), inc))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// stepSpan starts the span of one step of inc, named for the phase it starts in.
func stepSpan(ctx context.Context, inc *opsv1.Incident, what string) (context.Context, trace.Span) {
	return tracing.Tracer().Start(incidentContext(ctx, inc), "incident "+what,
		trace.WithAttributes(attribute.String("incident", inc.Namespace+"/"+inc.Name), attribute.String("incident.phase", string(inc.Status.Phase))))
}
