package a2anats_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/nats-io/nats.go"
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

// BenchmarkTransportFloor is the floor under BenchmarkSendMessage: a 300-byte echo with no A2A
// at all, as a NATS request/reply through the same kind of server and as an HTTP POST on
// loopback (keep-alive). What BenchmarkSendMessage adds on top is a2a-go's handler and JSON
// codec, the same for both bindings.
func BenchmarkTransportFloor(b *testing.B) {
	s := natsServer(b, -1, "")
	responder := connect(b, s.ClientURL())
	if _, err := responder.Subscribe("floor", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		b.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		b.Fatal(err)
	}
	nc := connect(b, s.ClientURL())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })}
	go func() { _ = hs.Serve(l) }()
	defer hs.Close()
	url := "http://" + l.Addr().String()
	body := bytes.Repeat([]byte("a"), 300)
	measure := func(call func()) []time.Duration {
		lat := make([]time.Duration, b.N)
		for i := range lat {
			start := time.Now()
			call()
			lat[i] = time.Since(start)
		}
		slices.Sort(lat)
		return lat
	}
	b.ResetTimer()
	natsLat := measure(func() {
		if _, err := nc.Request("floor", body, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	})
	httpLat := measure(func() {
		r, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	})
	b.StopTimer()
	p50 := func(lat []time.Duration) float64 { return float64(lat[len(lat)/2].Microseconds()) }
	b.ReportMetric(p50(natsLat), "nats-p50-µs")
	b.ReportMetric(p50(httpLat), "http-p50-µs")
	b.ReportMetric(p50(natsLat)/p50(httpLat), "p50-nats/http")
}
