package a2anats_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/nats-io/nats.go"

	"github.com/opsmesh/opsmesh/agents/a2anats"
)

type rawResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"data"`
	} `json:"error"`
}

// TestErrorCodesOverNATS sends raw NATS requests, as a client of another language would, and
// checks each bad one gets its JSON-RPC / A2A error code (and the id back), and that the agent
// keeps serving after each.
func TestErrorCodesOverNATS(t *testing.T) {
	s := natsServer(t, -1, "")
	serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"))
	nc := connect(t, s.ClientURL())
	subject := a2anats.Subject(testNS, testAgent)
	cases := []struct {
		name    string
		body    string
		headers map[string]string
		code    int
		reason  string
		id      string
	}{
		{"not JSON", `{"jsonrpc":"2.0",`, nil, -32700, "PARSE_ERROR", "null"},
		{"two values", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}} {}`, nil, -32700, "PARSE_ERROR", "null"},
		{"empty body", ``, nil, -32700, "PARSE_ERROR", "null"},
		{"an array", `[1,2]`, nil, -32600, "INVALID_REQUEST", "null"},
		{"wrong jsonrpc version", `{"jsonrpc":"1.0","id":"a","method":"GetTask","params":{"id":"x"}}`, nil, -32600, "INVALID_REQUEST", `"a"`},
		{"id is an object", `{"jsonrpc":"2.0","id":{},"method":"GetTask"}`, nil, -32600, "INVALID_REQUEST", "null"},
		{"no method", `{"jsonrpc":"2.0","id":2}`, nil, -32600, "INVALID_REQUEST", "2"},
		{"unknown method", `{"jsonrpc":"2.0","id":3,"method":"tasks/explode"}`, nil, -32601, "METHOD_NOT_FOUND", "3"},
		{"params of the wrong type", `{"jsonrpc":"2.0","id":4,"method":"GetTask","params":{"id":42}}`, nil, -32602, "INVALID_PARAMS", "4"},
		{"params not an object", `{"jsonrpc":"2.0","id":5,"method":"SendMessage","params":"hello"}`, nil, -32602, "INVALID_PARAMS", "5"},
		{"message without parts", `{"jsonrpc":"2.0","id":6,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[]}}}`, nil, -32602, "INVALID_PARAMS", "6"},
		{"task not found", `{"jsonrpc":"2.0","id":7,"method":"GetTask","params":{"id":"nope"}}`, nil, -32001, "TASK_NOT_FOUND", "7"},
		{"unsupported version", `{"jsonrpc":"2.0","id":8,"method":"GetTask","params":{"id":"nope"}}`, map[string]string{"A2A-Version": "0.3"}, -32009, "VERSION_NOT_SUPPORTED", "8"},
		{"push config", `{"jsonrpc":"2.0","id":9,"method":"CreateTaskPushNotificationConfig","params":{"taskId":"t","url":"https://x"}}`, nil, -32003, "PUSH_NOTIFICATION_NOT_SUPPORTED", "9"},
		{"extended card not offered", `{"jsonrpc":"2.0","id":10,"method":"GetExtendedAgentCard","params":{}}`, nil, -32004, "UNSUPPORTED_OPERATION", "10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := nats.NewMsg(subject)
			m.Data = []byte(tc.body)
			for k, v := range tc.headers {
				m.Header.Set(k, v)
			}
			reply, err := nc.RequestMsg(m, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var r rawResponse
			if err := json.Unmarshal(reply.Data, &r); err != nil {
				t.Fatalf("reply %q is not JSON: %v", reply.Data, err)
			}
			if r.JSONRPC != "2.0" || r.Error == nil {
				t.Fatalf("reply = %s, want a JSON-RPC 2.0 error", reply.Data)
			}
			if r.Error.Code != tc.code || string(r.ID) != tc.id {
				t.Fatalf("error code %d id %s (%s), want %d id %s", r.Error.Code, r.ID, r.Error.Message, tc.code, tc.id)
			}
			if len(r.Error.Data) == 0 || r.Error.Data[len(r.Error.Data)-1].Reason != tc.reason {
				t.Fatalf("error data %+v, want an ErrorInfo with reason %s", r.Error.Data, tc.reason)
			}
		})
	}
	// Still serving.
	if _, err := dial(t, nc).SendMessage(context.Background(), userMsg("echo still here")); err != nil {
		t.Fatalf("after the bad requests: %v", err)
	}
}

// TestStreamingErrorFrames: a bad streaming request gets an error frame and then the end frame.
func TestStreamingErrorFrames(t *testing.T) {
	s := natsServer(t, -1, "")
	serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"))
	nc := connect(t, s.ClientURL())
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	m := &nats.Msg{Subject: a2anats.Subject(testNS, testAgent), Reply: inbox,
		Data: []byte(`{"jsonrpc":"2.0","id":"s","method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER"}}}`)}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	first, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r rawResponse
	if err := json.Unmarshal(first.Data, &r); err != nil || r.Error == nil || r.Error.Code != -32602 || first.Header.Get(a2anats.HeaderFrame) != "event" {
		t.Fatalf("first frame %s %q, want an event frame with error -32602", first.Header, first.Data)
	}
	end, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if end.Header.Get(a2anats.HeaderFrame) != "end" || len(end.Data) != 0 {
		t.Fatalf("second frame %v %q, want the empty end frame", end.Header, end.Data)
	}
}

// TestAgentNotAvailable: nothing serves the agent, so the request fails at once with a clear
// error (NATS no responders), even with no deadline on the context; and Dial finds no card.
func TestAgentNotAvailable(t *testing.T) {
	s := natsServer(t, -1, "")
	nc := connect(t, s.ClientURL())
	tr, err := a2anats.NewTransport(nc, "ops", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.SendMessage(context.Background(), nil, userMsg("echo hi"))
	if !errors.Is(err, a2anats.ErrAgentNotAvailable) || !strings.Contains(err.Error(), "agent ops/nobody is not available") {
		t.Fatalf("SendMessage to a missing agent: %v, want 'agent ops/nobody is not available'", err)
	}
	for _, err := range tr.SendStreamingMessage(context.Background(), nil, userMsg("stream 1")) {
		if !errors.Is(err, a2anats.ErrAgentNotAvailable) {
			t.Fatalf("SendStreamingMessage to a missing agent: %v, want not available", err)
		}
	}
	if _, err := a2anats.Dial(context.Background(), nc, "ops/nobody"); !errors.Is(err, a2anats.ErrAgentNotAvailable) || !strings.Contains(err.Error(), "agent ops/nobody is not available") {
		t.Fatalf("Dial(ops/nobody) = %v, want not available", err)
	}
	if _, err := a2anats.Dial(context.Background(), nc, "no-slash"); err == nil || !strings.Contains(err.Error(), "<namespace>/<name>") {
		t.Fatalf("Dial(no-slash) = %v, want the <namespace>/<name> form named", err)
	}
}

// TestCallerContext: the caller's deadline ends a request the agent has not answered, and the
// agent stops waiting on it too (the deadline travels in Opsmesh-Timeout-Ms).
func TestCallerContext(t *testing.T) {
	s := natsServer(t, -1, "")
	agent := newEchoAgent("r1")
	serve(t, connect(t, s.ClientURL()), agent)
	c := dial(t, connect(t, s.ClientURL()))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.SendMessage(ctx, userMsg("block"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendMessage(block) with a deadline = %v, want deadline exceeded", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.GetTask(ctx2, &a2a.GetTaskRequest{ID: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetTask with a cancelled context = %v, want canceled", err)
	}
}

// TestLargeBodies: a request and a reply beyond the NATS max payload (1 MiB here) travel through
// the object store; one beyond the agent's limit is refused with "invalid request".
func TestLargeBodies(t *testing.T) {
	s := natsServer(t, -1, "")
	serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"), a2anats.WithMaxBody(4<<20))
	nc := connect(t, s.ClientURL())
	c := dial(t, nc)
	ctx := context.Background()
	big := strings.Repeat("y", 2<<20)
	res, err := c.SendMessage(ctx, userMsg("echo "+big))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := res.(*a2a.Message); !ok || textOf(m.Parts) != big {
		t.Fatalf("a 2 MiB echo did not come back whole")
	}
	task := mustTask(t)(c.SendMessage(ctx, userMsg("big 3000000")))
	got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: task.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Artifacts) != 1 || len(textOf(got.Artifacts[0].Parts)) != 3000000 {
		t.Fatalf("GetTask of a task with a 3 MB artifact lost it")
	}
	_, err = c.SendMessage(ctx, userMsg("echo "+strings.Repeat("z", 5<<20)))
	if !errors.Is(err, a2a.ErrInvalidRequest) || !strings.Contains(err.Error(), "beyond this agent's limit") {
		t.Fatalf("a 5 MiB request to an agent with a 4 MiB limit: %v, want invalid request naming the limit", err)
	}
}

// TestHTTPBearer: the JSON-RPC endpoint refuses a request without the token (401 with a JSON-RPC
// "unauthenticated" error), the card is public and lists both interfaces.
func TestHTTPBearer(t *testing.T) {
	s := natsServer(t, -1, "")
	srv := serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"), withHTTP(t))
	base := strings.TrimSuffix(srv.Card().SupportedInterfaces[1].URL, a2anats.JSONRPCPath)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken} {
		req, _ := http.NewRequest("POST", base+a2anats.JSONRPCPath, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r rawResponse
		_ = json.Unmarshal(body, &r)
		if resp.StatusCode != http.StatusUnauthorized || r.Error == nil || r.Error.Code != -31401 {
			t.Fatalf("Authorization %q: %d %s, want 401 with error -31401", auth, resp.StatusCode, body)
		}
	}
	// The same version check as over NATS.
	req, _ := http.NewRequest("POST", base+a2anats.JSONRPCPath, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("A2A-Version", "0.3")
	vresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	vbody, _ := io.ReadAll(vresp.Body)
	vresp.Body.Close()
	var vr rawResponse
	if err := json.Unmarshal(vbody, &vr); err != nil || vr.Error == nil || vr.Error.Code != -32009 {
		t.Fatalf("HTTP with A2A-Version 0.3: %s, want error -32009", vbody)
	}
	resp, err := http.Get(base + "/.well-known/agent-card.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var card a2a.AgentCard
	if err := json.NewDecoder(resp.Body).Decode(&card); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET the card: %d %v", resp.StatusCode, err)
	}
	if len(card.SupportedInterfaces) != 2 || card.SupportedInterfaces[0].URL != "nats:opsmesh.a2a.ops.echo" ||
		card.SupportedInterfaces[1].URL != base+a2anats.JSONRPCPath {
		t.Fatalf("card interfaces %+v, want nats:opsmesh.a2a.ops.echo and %s", card.SupportedInterfaces, base+a2anats.JSONRPCPath)
	}
}

// TestStreamFollowsCallerContext: cancelling the caller's context ends a stream at once with the
// context's error, while the task goes on (and can be read) on the agent.
func TestStreamFollowsCallerContext(t *testing.T) {
	s := natsServer(t, -1, "")
	agent := newEchoAgent("r1")
	serve(t, connect(t, s.ClientURL()), agent)
	c := dial(t, connect(t, s.ClientURL()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var taskID a2a.TaskID
	var last error
	n := 0
	for ev, err := range c.SendStreamingMessage(ctx, userMsg("block")) {
		if err != nil {
			last = err
			break
		}
		n++
		if task, ok := ev.(*a2a.Task); ok {
			taskID = task.ID
			<-agent.started
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || taskID == "" {
		t.Fatalf("stream after cancel: %d events, error %v; want the task, then context canceled", n, last)
	}
	got, err := c.GetTask(context.Background(), &a2a.GetTaskRequest{ID: taskID})
	if err != nil || got.Status.State.Terminal() {
		t.Fatalf("the task after its stream's caller left: %v %v, want it still running", got, err)
	}
}

// TestAgentPanic: an executor that panics fails the request with an internal error that names
// the agent (no stack trace to the caller), over both bindings, and the agent keeps serving.
func TestAgentPanic(t *testing.T) {
	s := natsServer(t, -1, "")
	srv := serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"), withHTTP(t))
	for name, c := range map[string]*a2aclient.Client{"nats": dial(t, connect(t, s.ClientURL())), "http": httpClient(t, srv.Card())} {
		res, err := c.SendMessage(context.Background(), userMsg("panic"))
		if !errors.Is(err, a2a.ErrInternalError) || !strings.Contains(err.Error(), "agent ops/echo failed (it panicked") || strings.Contains(err.Error(), "goroutine") {
			t.Fatalf("%s: SendMessage(panic) = %#v, %v; want an internal error naming the agent, without a stack", name, res, err)
		}
		if _, err := c.SendMessage(context.Background(), userMsg("echo after")); err != nil {
			t.Fatalf("%s: after a panic: %v", name, err)
		}
	}
}
