//go:build cgo

package xidpub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

// simAgent is a simulated dgxh100 node agent with the package gpu test faults (5 XIDs), its
// events published through p (nil: NATS not configured).
func simAgent(t *testing.T, node string, p *xidpub.Publisher) *gpu.NodeAgent {
	t.Helper()
	data, err := os.ReadFile("../testdata/faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	faults, err := simulate.ParseFaults(data, simulate.NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := simulate.New("dgxh100", faults)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := gpu.Config{NodeName: node}
	if p != nil {
		cfg.XIDSink = p
	}
	a, err := gpu.NewNodeAgent(ctx, lib, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// xidEvents calls the xid_events tool in process.
func xidEvents(t *testing.T, a *gpu.NodeAgent) string {
	t.Helper()
	req, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "xid_events", "arguments": map[string]any{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(a.MCP.HandleMessage(context.Background(), req))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Result struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil || resp.Result.IsError || len(resp.Result.Content) == 0 {
		t.Fatalf("xid_events: %s (%v)", raw, err)
	}
	return resp.Result.Content[0].Text
}

func TestSimulatedAgentPublishesFaultFileXIDs(t *testing.T) {
	s := natsServer(t, -1)
	p := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "dgx-7", Simulated: true})
	a := simAgent(t, "dgx-7", p)
	eventually(t, func() bool { return p.State().Published == 5 }, p.Status)
	msgs := stored(t, jsOf(t, s.ClientURL()))
	var got []string
	for _, m := range msgs {
		if m.Subject != "opsmesh.gpu.dgx-7.xid" {
			t.Errorf("subject %q, want opsmesh.gpu.dgx-7.xid", m.Subject)
		}
		ev, err := xidpub.DecodeEvent(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("dgx-7/%s/%d/%d", ev.GPUUUID, ev.XID, ev.Time.UnixNano()); m.Header.Get(jetstream.MsgIDHeader) != want {
			t.Errorf("Nats-Msg-Id %q, want %q", m.Header.Get(jetstream.MsgIDHeader), want)
		}
		if ev.Node != "dgx-7" || !ev.Simulated || !strings.HasPrefix(ev.GPUUUID, "GPU-") || ev.Verdict == "" || ev.Action == "" || ev.Reason == "" {
			t.Errorf("event %+v", ev)
		}
		got = append(got, fmt.Sprintf("%d:%d:%s", ev.GPUIndex, ev.XID, ev.Verdict))
	}
	// The fault file's XIDs, oldest first, with the catalog's verdicts.
	if want := []string{"6:64:failed", "5:74:degraded", "1:94:degraded", "2:48:failed", "3:79:failed"}; !slices.Equal(got, want) {
		t.Errorf("stored events %v, want %v", got, want)
	}
	out := xidEvents(t, a)
	if !strings.Contains(out, "published to NATS: 5, pending 0, dropped 0 (connected to "+s.ClientURL()+", stream OPSMESH_GPU)") {
		t.Errorf("xid_events does not show the NATS state:\n%s", out)
	}
	// An agent restart publishes the same fault-file events again: JetStream keeps them once.
	p2 := newPublisher(t, xidpub.Config{URL: s.ClientURL(), Node: "dgx-7", Simulated: true})
	simAgent(t, "dgx-7", p2)
	eventually(t, func() bool { return p2.State().Duplicates == 5 }, p2.Status)
	if n := len(stored(t, jsOf(t, s.ClientURL()))); n != 5 {
		t.Errorf("stream holds %d events after a restart, want 5", n)
	}
}

func TestAgentServesWhileNATSIsDown(t *testing.T) {
	port := freePort(t)
	p := newPublisher(t, xidpub.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Node: "dgx-7", Simulated: true})
	a := simAgent(t, "dgx-7", p)
	out := xidEvents(t, a)
	if !strings.Contains(out, "5 XID events since the agent started") || !strings.Contains(out, "published to NATS: 0, pending 5, dropped 0 (not connected to") {
		t.Errorf("xid_events while NATS is down:\n%s", out)
	}
	s := natsServer(t, port)
	eventually(t, func() bool { return p.State().Published == 5 }, p.Status)
	if n := len(stored(t, jsOf(t, s.ClientURL()))); n != 5 {
		t.Errorf("stream holds %d events once NATS is up, want 5", n)
	}
}

func TestXIDEventsWithoutNATS(t *testing.T) {
	if out := xidEvents(t, simAgent(t, "dgx-7", nil)); !strings.Contains(out, "\nNATS: not configured\n") {
		t.Errorf("xid_events without NATS does not say so:\n%s", out)
	}
}
