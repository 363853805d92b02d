package a2anats_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
)

// BenchmarkSendMessage compares the NATS binding with HTTP JSON-RPC on loopback, in one run,
// against the same trivial agent (it answers every message with a message; no task is stored):
// b.N sequential round trips on each (p50/p99 latency), then b.N requests from 64 concurrent
// callers on each (messages per second), and the ratios. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench SendMessage -benchtime 20000x ./agents/a2anats/
func BenchmarkSendMessage(b *testing.B) {
	s := natsServer(b, -1, "")
	srv := serve(b, connect(b, s.ClientURL()), newEchoAgent("r1"), withHTTP(b))
	natsC := dial(b, connect(b, s.ClientURL()))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: bearer{token: testToken, next: tr}}
	httpC, err := a2aclient.NewFromCard(context.Background(), srv.Card(), a2aclient.WithJSONRPCTransport(hc),
		a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2a.TransportProtocol{a2a.TransportProtocolJSONRPC}}))
	if err != nil {
		b.Fatal(err)
	}
	defer httpC.Destroy()
	ctx := context.Background()
	send := func(c *a2aclient.Client) {
		res, err := c.SendMessage(ctx, userMsg("echo ping"))
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := res.(*a2a.Message); !ok {
			b.Fatalf("got %T, want a message", res)
		}
	}
	// Warm both paths (connections, pools).
	for range 200 {
		send(natsC)
		send(httpC)
	}
	roundTrips := func(c *a2aclient.Client) []time.Duration {
		lat := make([]time.Duration, b.N)
		for i := range lat {
			start := time.Now()
			send(c)
			lat[i] = time.Since(start)
		}
		slices.Sort(lat)
		return lat
	}
	const callers = 64
	throughput := func(c *a2aclient.Client) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range callers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					send(c)
				}
			})
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	natsLat := roundTrips(natsC)
	httpLat := roundTrips(httpC)
	natsRate := throughput(natsC)
	httpRate := throughput(httpC)
	b.StopTimer()

	pct := func(lat []time.Duration, p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds())
	}
	b.ReportMetric(pct(natsLat, 0.50), "nats-p50-µs")
	b.ReportMetric(pct(natsLat, 0.99), "nats-p99-µs")
	b.ReportMetric(pct(httpLat, 0.50), "http-p50-µs")
	b.ReportMetric(pct(httpLat, 0.99), "http-p99-µs")
	b.ReportMetric(natsRate, "nats-msgs/s")
	b.ReportMetric(httpRate, "http-msgs/s")
	b.ReportMetric(pct(natsLat, 0.50)/pct(httpLat, 0.50), "p50-nats/http")
	b.ReportMetric(natsRate/httpRate, "rate-nats/http")
}
