package a2anats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/agents/a2anats"
)

// TestDiscovery: a running agent's card is in OPSMESH_AGENTS under <namespace>.<agent> and
// Resolve finds it by <namespace>/<name>; it stays while the agent refreshes it (longer than the
// TTL) and expires once the agent is gone.
func TestDiscovery(t *testing.T) {
	s := natsServer(t, -1, "")
	const ttl = 1500 * time.Millisecond
	srv := serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"), withHTTP(t), a2anats.WithBuckets(a2anats.BucketConfig{CardTTL: ttl}))
	nc := connect(t, s.ClientURL())
	ctx := context.Background()
	card, err := a2anats.Resolve(ctx, nc, testRef)
	if err != nil {
		t.Fatal(err)
	}
	if card.Name != "echo" || len(card.SupportedInterfaces) != 2 || card.SupportedInterfaces[0].URL != "nats:opsmesh.a2a.ops.echo" {
		t.Fatalf("resolved card %+v, want echo with the NATS and HTTP interfaces", card)
	}
	// Alive for three TTLs: the card is refreshed, so it is still there.
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if _, err := a2anats.Resolve(ctx, nc, testRef); err != nil {
			t.Fatalf("the card of a running agent vanished: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Close()
	eventually(t, func() bool {
		_, err = a2anats.Resolve(ctx, nc, testRef)
		return errors.Is(err, a2anats.ErrAgentNotAvailable)
	}, func() string { return "the card of a stopped agent did not expire" })
}
