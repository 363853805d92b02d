package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/opsmesh/opsmesh/internal/metrics"
	"github.com/opsmesh/opsmesh/internal/tracing"
)

// serveMetrics serves GET /metrics (opsmesh's series, see docs/observability.md) on addr until
// ctx ends. An empty addr serves nothing.
func serveMetrics(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "address", addr, "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("serving metrics", "url", "http://"+l.Addr().String()+"/metrics")
	return nil
}

// otlpFlag registers --otlp-endpoint on fs.
func otlpFlag(fs *pflag.FlagSet) *string {
	return fs.String("otlp-endpoint", "", "export traces over OTLP/HTTP to this collector, e.g. http://otel-collector:4318 (/v1/traces is added) (default: $OTEL_EXPORTER_OTLP_ENDPOINT; neither: traces are not exported)")
}

// startTracing installs the tracer provider of process service; the returned function flushes it.
func startTracing(ctx context.Context, endpoint, service string, log *slog.Logger) (func(), error) {
	shutdown, err := tracing.Setup(ctx, endpoint, service, version)
	if err != nil {
		return func() {}, err
	}
	return func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(flush); err != nil {
			log.Warn("flushing traces failed", "error", err)
		}
	}, nil
}
