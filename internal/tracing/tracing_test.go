package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/opsmesh/opsmesh/internal/tracing"
)

// TestSetupExportsOverOTLP: with an endpoint, spans reach an OTLP/HTTP receiver at /v1/traces
// when the process flushes; without one (and no OTEL_EXPORTER_OTLP_* variable) nothing is sent.
func TestSetupExportsOverOTLP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var bodies int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		bodies += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	ctx := context.Background()

	off, err := tracing.Setup(ctx, "", "opsmesh-test", "0")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.Tracer().Start(ctx, "not exported")
	span.End()
	_ = off(ctx)
	if len(paths) != 0 {
		t.Fatalf("without an endpoint something was sent: %v", paths)
	}

	if _, err := tracing.Setup(ctx, "otel-collector:4318", "opsmesh-test", "0"); err == nil {
		t.Error("an endpoint without a scheme was accepted")
	}
	shutdown, err := tracing.Setup(ctx, srv.URL, "opsmesh-test", "0")
	if err != nil {
		t.Fatal(err)
	}
	_, span = tracing.Tracer().Start(ctx, "exported")
	span.End()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces" || bodies == 0 {
		t.Errorf("the OTLP receiver got %v (%d bytes), want a POST /v1/traces with the span", paths, bodies)
	}
}
