package xidpub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

// natsServer runs a real NATS server with JetStream on a temporary directory, on 127.0.0.1:port
// (a random port for -1), until the test ends.
func natsServer(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// freePort is a TCP port on 127.0.0.1 nothing listens on (for a server started later).
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func jsOf(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newPublisher(t testing.TB, cfg xidpub.Config) *xidpub.Publisher {
	t.Helper()
	if cfg.MaxBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	p, err := xidpub.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// eventually waits (at most 20s) until cond holds, and fails the test with what() otherwise.
func eventually(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stored reads every message of stream OPSMESH_GPU.
func stored(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, xidpub.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func xidEvent(i int) gpu.XIDEvent {
	return gpu.XIDEvent{Index: i % 8, UUID: fmt.Sprintf("GPU-%d", i), Code: 79, Time: time.Date(2025, 3, 1, 12, i, 0, 0, time.UTC)}
}

func TestStreamCreatedWithLimits(t *testing.T) {
	s := natsServer(t, -1)
	p := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "gpu-1"})
	eventually(t, func() bool { return p.State().StreamReady }, p.Status)
	info, err := jsOf(t, s.ClientURL()).Stream(context.Background(), xidpub.Stream)
	if err != nil {
		t.Fatal(err)
	}
	c := info.CachedInfo().Config
	if fmt.Sprint(c.Subjects) != "[opsmesh.gpu.>]" || c.Storage != jetstream.FileStorage || c.MaxAge != 7*24*time.Hour || c.Discard != jetstream.DiscardOld {
		t.Errorf("stream %s: subjects %v, storage %v, max age %v, discard %v", xidpub.Stream, c.Subjects, c.Storage, c.MaxAge, c.Discard)
	}
	// A second publisher (an agent restart) finds the stream and keeps it.
	p2 := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "gpu-2"})
	eventually(t, func() bool { return p2.State().StreamReady }, p2.Status)
}

func TestPublishDeduplicates(t *testing.T) {
	s := natsServer(t, -1)
	p := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "ip-10-0-0-7.ec2.internal"})
	e := xidEvent(1)
	p.Publish(e)
	p.Publish(e)
	eventually(t, func() bool { st := p.State(); return st.Published+st.Duplicates == 2 }, p.Status)
	if st := p.State(); st.Published != 1 || st.Duplicates != 1 {
		t.Errorf("published the same event twice: state %+v, want 1 published and 1 duplicate", st)
	}
	msgs := stored(t, jsOf(t, s.ClientURL()))
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages for one event published twice, want 1", len(msgs))
	}
	m := msgs[0]
	// The node name's dots are escaped: one subject token per node.
	if m.Subject != "opsmesh.gpu.ip-10-0-0-7_ec2_internal.xid" {
		t.Errorf("subject %q", m.Subject)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != fmt.Sprintf("ip-10-0-0-7.ec2.internal/GPU-1/79/%d", e.Time.UnixNano()) {
		t.Errorf("Nats-Msg-Id %q", id)
	}
	ev, err := xidpub.DecodeEvent(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Node != "ip-10-0-0-7.ec2.internal" || ev.GPUUUID != "GPU-1" || ev.XID != 79 || !ev.Time.Equal(e.Time) ||
		ev.Verdict != "failed" || ev.Action != "drain and reboot the node" || ev.Reason == "" || ev.Simulated {
		t.Errorf("event %+v", ev)
	}
}

func TestNATSDownAtStartThenUp(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	p := newPublisher(t, xidpub.Config{URL: url, Node: "gpu-1", QueueSize: 3})
	for i := range 5 {
		p.Publish(xidEvent(i))
	}
	st := p.State()
	if st.Connected || st.Pending != 3 || st.Dropped != 2 || st.Published != 0 {
		t.Errorf("NATS down, 5 events in a queue of 3: state %+v", st)
	}
	if got := p.Status(); !strings.Contains(got, "published to NATS: 0, pending 3, dropped 2 (not connected to "+url+"; retrying)") {
		t.Errorf("status while NATS is down: %s", got)
	}
	eventually(t, func() bool { return strings.Contains(p.Status(), "; last error: connecting to NATS: ") }, p.Status)
	s := natsServer(t, port)
	eventually(t, func() bool { return p.State().Published == 3 }, p.Status)
	msgs := stored(t, jsOf(t, s.ClientURL()))
	var uuids []string
	for _, m := range msgs {
		ev, err := xidpub.DecodeEvent(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, ev.GPUUUID)
	}
	// The two oldest were dropped; the rest arrive once each, oldest first.
	if fmt.Sprint(uuids) != "[GPU-2 GPU-3 GPU-4]" {
		t.Errorf("stored events %v, want [GPU-2 GPU-3 GPU-4]", uuids)
	}
	if got := p.Status(); !strings.Contains(got, "published to NATS: 3, pending 0, dropped 2 (connected to "+url+", stream OPSMESH_GPU)") {
		t.Errorf("status once NATS is up: %s", got)
	}
}

func TestStreamLimitsUpdated(t *testing.T) {
	s := natsServer(t, -1)
	js := jsOf(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: xidpub.Stream, Subjects: []string{xidpub.Subjects}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "gpu-1"})
	eventually(t, func() bool { return p.State().StreamReady }, p.Status)
	st, err := js.Stream(ctx, xidpub.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxAge != 7*24*time.Hour || c.Discard != jetstream.DiscardOld {
		t.Errorf("existing stream kept max age %v, discard %v; want 168h, old", c.MaxAge, c.Discard)
	}
}

func TestConflictingStream(t *testing.T) {
	s := natsServer(t, -1)
	js := jsOf(t, s.ClientURL())
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: xidpub.Stream, Subjects: []string{"other.gpu.>"}}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "gpu-1"})
	p.Publish(xidEvent(1))
	want := `stream OPSMESH_GPU exists with subjects ["other.gpu.>"], but opsmesh publishes GPU events on "opsmesh.gpu.>"`
	eventually(t, func() bool { err := p.State().LastError; return err != nil && strings.Contains(err.Error(), want) }, p.Status)
	st := p.State()
	if st.StreamReady || st.Published != 0 || st.Pending != 1 {
		t.Errorf("conflicting stream: state %+v", st)
	}
	if got := p.Status(); !strings.Contains(got, "stream OPSMESH_GPU not ready") || !strings.Contains(got, "nats stream edit OPSMESH_GPU") {
		t.Errorf("status with a conflicting stream: %s", got)
	}
	// The operator fixes the stream: the waiting event is published.
	if _, err := js.UpdateStream(context.Background(), jetstream.StreamConfig{Name: xidpub.Stream, Subjects: []string{xidpub.Subjects}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return p.State().Published == 1 }, p.Status)
}

func TestNodeNames(t *testing.T) {
	for node, want := range map[string]string{
		"gpu-node-1":               "gpu-node-1",
		"ip-10-0-0-7.ec2.internal": "ip-10-0-0-7_ec2_internal",
		"DGX-7":                    "DGX-7",
	} {
		got, err := xidpub.SubjectToken(node)
		if err != nil || got != want {
			t.Errorf("SubjectToken(%q) = %q, %v; want %q", node, got, err, want)
		}
	}
	for node, want := range map[string]string{
		"":                       "the node name is empty",
		"gpu node":               `node name "gpu node" cannot name the NATS subject opsmesh.gpu.<node>.xid: it contains ' '`,
		"gpu*":                   `it contains '*'`,
		"gpu>":                   `it contains '>'`,
		"gpu_1":                  `it contains '_'`,
		"a\tb":                   `it contains '\t'`,
		".gpu":                   "it has an empty label",
		"gpu..1":                 "it has an empty label",
		"gpu.":                   "it has an empty label",
		strings.Repeat("g", 254): "a node name has at most 253",
	} {
		if _, err := xidpub.SubjectToken(node); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SubjectToken(%q): error %v, want it to say %q", node, err, want)
		}
		if _, err := xidpub.New(context.Background(), xidpub.Config{URL: "nats://127.0.0.1:1", Node: node}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with node %q: error %v, want it to say %q", node, err, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  xidpub.Config
		want string
	}{
		{xidpub.Config{Node: "gpu-1"}, "no NATS URL: pass --nats-url"},
		{xidpub.Config{Node: "gpu-1", URL: "nats://127.0.0.1:1", CredsFile: "testdata/no-such.creds"}, "NATS credentials file: stat testdata/no-such.creds"},
	} {
		if _, err := xidpub.New(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): error %v, want it to say %q", tc.cfg, err, tc.want)
		}
	}
}

func TestStatusRedactsPassword(t *testing.T) {
	p := newPublisher(t, xidpub.Config{URL: fmt.Sprintf("nats://opsmesh:s3cret@127.0.0.1:%d", freePort(t)), Node: "gpu-1"})
	if got := p.Status(); strings.Contains(got, "s3cret") || strings.Contains(got, "opsmesh:") {
		t.Errorf("status shows the password: %s", got)
	}
}

func TestDecodeEvent(t *testing.T) {
	good := `{"node":"gpu-1","gpuIndex":3,"gpuUUID":"GPU-3","xid":79,"time":"2025-03-01T12:00:00Z","verdict":"failed","action":"drain and reboot the node","reason":"r","simulated":true,"future":1}`
	ev, err := xidpub.DecodeEvent([]byte(good))
	if err != nil || ev.XID != 79 || ev.GPUIndex != 3 || !ev.Simulated {
		t.Fatalf("DecodeEvent(good) = %+v, %v", ev, err)
	}
	for in, want := range map[string]string{
		`{`:         "decoding XID event",
		`null`:      "the node name is empty",
		good + `{}`: "data after the JSON object",
		strings.Replace(good, `"xid":79`, `"xid":0`, 1):                "xid 0 is not an XID code",
		strings.Replace(good, `"gpuIndex":3`, `"gpuIndex":-2`, 1):      "gpuIndex -2 is not a GPU index",
		strings.Replace(good, `"time":"2025-03-01T12:00:00Z",`, ``, 1): "time is missing",
		strings.Replace(good, `"node":"gpu-1"`, `"node":"a.*"`, 1):     "it contains '*'",
		`{"node":"` + strings.Repeat("a", 70000) + `"}`:                "at most 65536 are accepted",
	} {
		if _, err := xidpub.DecodeEvent([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeEvent(%.60s): error %v, want it to say %q", in, err, want)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"node":"gpu-1","gpuIndex":3,"gpuUUID":"GPU-3","xid":79,"time":"2025-03-01T12:00:00Z","verdict":"failed","action":"drain and reboot the node","reason":"r","simulated":true}`))
	f.Add([]byte(`{"node":"a.b","gpuIndex":-1,"xid":13,"time":"2025-03-01T12:00:00.123456789+02:00"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := xidpub.DecodeEvent(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to an event that decodes the same, and names a subject.
		if _, err := ev.Subject(); err != nil {
			t.Fatalf("decoded event %+v has no subject: %v", ev, err)
		}
		again, err := json.Marshal(ev)
		if err != nil {
			return // a time json cannot write (year outside 0-9999) cannot have been read either
		}
		ev2, err := xidpub.DecodeEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", again, err)
		}
		if !ev2.Time.Equal(ev.Time) {
			t.Fatalf("time changed in a round trip: %v, %v", ev.Time, ev2.Time)
		}
		ev2.Time = ev.Time
		if ev2 != ev {
			t.Fatalf("round trip changed the event: %+v, %+v", ev, ev2)
		}
	})
}
