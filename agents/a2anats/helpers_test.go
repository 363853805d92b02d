package a2anats_test

import (
	"context"
	"fmt"
	"iter"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/opsmesh/opsmesh/agents/a2anats"
)

const (
	testNS    = "ops"
	testAgent = "echo"
	testRef   = testNS + "/" + testAgent
	testToken = "s3cret-token"
)

// natsServer runs a real NATS server with JetStream in dir (a temporary one when empty) on
// 127.0.0.1:port (-1: random), until the test ends.
func natsServer(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
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

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// eventually waits (at most 30s) until cond holds, and fails the test with what() otherwise.
func eventually(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// echoAgent is the test subject. What it does depends on the first word of the message:
//
//	echo <text>   answers a message with <text>, metadata replica=<replica>
//	work <text>   makes a task: submitted, working, an artifact <text>, completed
//	stream <n>    makes a task with n artifact events, then completed
//	big <n>       makes a task with one artifact of n bytes
//	block         makes a task and stays working until released, cancelled or continued
//	finish        (sent to an existing task) completes it
//	panic         panics while working on a task
type echoAgent struct {
	replica string

	mu      sync.Mutex
	release chan struct{}
	started chan a2a.TaskID
}

func newEchoAgent(replica string) *echoAgent {
	return &echoAgent{replica: replica, release: make(chan struct{}), started: make(chan a2a.TaskID, 16)}
}

func (e *echoAgent) Release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.release:
	default:
		close(e.release)
	}
}

func textOf(parts a2a.ContentParts) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text())
	}
	return b.String()
}

func (e *echoAgent) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		text := textOf(ec.Message.Parts)
		verb, arg, _ := strings.Cut(text, " ")
		if ec.StoredTask != nil {
			verb = "finish"
		}
		if verb == "echo" {
			m := a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart(arg))
			m.ContextID = ec.ContextID
			m.SetMeta("replica", e.replica)
			yield(m, nil)
			return
		}
		if ec.StoredTask == nil {
			if !yield(a2a.NewSubmittedTask(ec, ec.Message), nil) {
				return
			}
		}
		if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, nil), nil) {
			return
		}
		switch verb {
		case "work":
			if !yield(a2a.NewArtifactEvent(ec, a2a.NewTextPart(arg)), nil) {
				return
			}
		case "stream":
			n, _ := strconv.Atoi(arg)
			for i := range n {
				if !yield(a2a.NewArtifactEvent(ec, a2a.NewTextPart(fmt.Sprintf("chunk %d", i))), nil) {
					return
				}
			}
		case "big":
			n, _ := strconv.Atoi(arg)
			if !yield(a2a.NewArtifactEvent(ec, a2a.NewTextPart(strings.Repeat("x", n))), nil) {
				return
			}
		case "block":
			e.started <- ec.TaskID
			select {
			case <-e.release:
			case <-ctx.Done():
				return
			}
		case "finish":
		case "panic":
			panic("the test agent was told to panic")
		default:
			msg := a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart("unknown verb "+verb))
			yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateFailed, msg), nil)
			return
		}
		done := a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart("done by "+e.replica))
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, done), nil)
	}
}

func (e *echoAgent) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

func testCard() *a2a.AgentCard {
	return &a2a.AgentCard{
		Name:               "echo",
		Description:        "echoes; the test subject of agents/a2anats",
		Version:            "1.0.0",
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		Skills:             []a2a.AgentSkill{{ID: "echo", Name: "echo", Description: "echo text", Tags: []string{"test"}}},
	}
}

// serve starts one replica of ops/echo on nc; it stops when the test ends.
func serve(t testing.TB, nc *nats.Conn, agent *echoAgent, opts ...a2anats.Option) *a2anats.Server {
	t.Helper()
	s, err := a2anats.Serve(context.Background(), nc, testNS, testAgent, testCard(), agent, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Release(); s.Close() })
	return s
}

// withHTTP serves the HTTP binding too, on a random loopback port.
func withHTTP(t testing.TB) a2anats.Option {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return a2anats.WithHTTP(a2anats.HTTPConfig{Listener: l, BearerToken: testToken})
}

func dial(t testing.TB, nc *nats.Conn) *a2aclient.Client {
	t.Helper()
	c, err := a2anats.Dial(context.Background(), nc, testRef)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy() })
	return c
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// httpClient is a stock a2a-go client that takes the card's HTTP JSON-RPC interface.
func httpClient(t testing.TB, card *a2a.AgentCard) *a2aclient.Client {
	t.Helper()
	hc := &http.Client{Transport: bearer{token: testToken, next: http.DefaultTransport}}
	c, err := a2aclient.NewFromCard(context.Background(), card,
		a2aclient.WithJSONRPCTransport(hc),
		a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2a.TransportProtocol{a2a.TransportProtocolJSONRPC}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy() })
	return c
}

func userMsg(text string) *a2a.SendMessageRequest {
	return &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(text))}
}

func returnNow(req *a2a.SendMessageRequest) *a2a.SendMessageRequest {
	req.Config = &a2a.SendMessageConfig{ReturnImmediately: true}
	return req
}

// mustTask(t)(c.SendMessage(...)) is the task SendMessage answered with.
func mustTask(t testing.TB) func(a2a.SendMessageResult, error) *a2a.Task {
	return func(res a2a.SendMessageResult, err error) *a2a.Task {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		task, ok := res.(*a2a.Task)
		if !ok {
			t.Fatalf("got %T, want a task", res)
		}
		return task
	}
}
