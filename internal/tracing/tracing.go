// Package tracing owns how opsmesh processes trace: it installs the OpenTelemetry tracer
// provider (an OTLP/HTTP exporter when an endpoint is configured, nothing exported otherwise) and
// the W3C trace-context propagator, and names the tracer every package starts its spans from.
// The packages that do the work start their own spans (the incident orchestrator, a2anats,
// the agent runtime, mcppool); this package holds no spans and does no I/O of its own beyond the
// exporter it configures.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of every opsmesh span.
const Name = "github.com/opsmesh/opsmesh"

// Tracer is the tracer of the globally installed provider (a no-op one until Setup or a test
// installs another), looked up at each use so a provider installed later takes effect.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(Name) }

func init() {
	// Trace context travels in W3C traceparent/tracestate headers (NATS message headers for
	// A2A) whether or not anything is exported, so a process that exports still sees the
	// traces of one that does not continue through it.
	otel.SetTextMapPropagator(propagation.TraceContext{})
}

// Setup installs the tracer provider of a process named service. Spans are exported over
// OTLP/HTTP to endpoint (a base URL such as http://otel-collector:4318, to which /v1/traces is
// added, or a full URL with its path), or to the standard
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT when endpoint is empty; with
// neither, nothing is exported and Setup installs nothing. The returned function flushes and
// stops the exporter.
func Setup(ctx context.Context, endpoint, service, version string) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if endpoint == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return noop, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return noop, fmt.Errorf("--otlp-endpoint %q is not an http(s) URL; give the collector's OTLP/HTTP address, such as http://otel-collector:4318", endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces" // a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return noop, fmt.Errorf("--otlp-endpoint %q: %w (give a URL such as http://otel-collector:4318)", endpoint, err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.version", version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
