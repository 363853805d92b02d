package a2anats_test

import (
	"context"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"

	"github.com/opsmesh/opsmesh/agents/a2anats"
)

// TestInteropStockClient: a client that knows nothing of opsmesh — a2a-go's card resolver on
// /.well-known/agent-card.json, a2a-go's default transports and its auth interceptor fed the
// token for the card's "bearer" scheme — skips the NATS interface it does not know, takes HTTP
// JSON-RPC, and talks to the agent.
func TestInteropStockClient(t *testing.T) {
	s := natsServer(t, -1, "")
	srv := serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"), withHTTP(t))
	base := strings.TrimSuffix(srv.Card().SupportedInterfaces[1].URL, a2anats.JSONRPCPath)
	ctx := context.Background()

	card, err := agentcard.DefaultResolver.Resolve(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	creds := a2aclient.NewInMemoryCredentialsStore()
	creds.Set("session-1", "bearer", testToken)
	c, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithCallInterceptors(&a2aclient.AuthInterceptor{Service: creds}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	ctx = a2aclient.AttachSessionID(ctx, "session-1")

	res, err := c.SendMessage(ctx, userMsg("echo interop"))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := res.(*a2a.Message); !ok || textOf(m.Parts) != "interop" {
		t.Fatalf("SendMessage = %#v, want 'interop'", res)
	}
	var last a2a.Event
	for ev, err := range c.SendStreamingMessage(ctx, userMsg("stream 2")) {
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	st, ok := last.(*a2a.TaskStatusUpdateEvent)
	if !ok || st.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("the stream ended with %#v, want a completed status", last)
	}
	got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: st.TaskID})
	if err != nil || len(got.Artifacts) != 2 {
		t.Fatalf("GetTask over the stock client = %v, %v; want the task with 2 artifacts", got, err)
	}
}
