//go:build cgo

package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

// The binary publishes the fault file's XIDs to a real NATS server (embedded here) and
// xid_events says so.
func TestMCPGPUPublishesXIDsToNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	defer ns.Shutdown()

	c, err := mcpclient.NewStdioMCPClient(opsmeshBinary(t), nil, "mcp", "gpu", "--simulate=dgxh100",
		"--fault-file", "../../mcpservers/gpu/testdata/faults.yaml", "--node-name", "dgx-7.lab", "--nats-url", ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var msgs uint64
	for time.Now().Before(deadline) {
		if s, err := js.Stream(context.Background(), xidpub.Stream); err == nil {
			if info, err := s.Info(context.Background()); err == nil {
				if msgs = info.State.Msgs; msgs == 5 {
					break
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if msgs != 5 {
		t.Fatalf("stream %s holds %d events, want the fault file's 5", xidpub.Stream, msgs)
	}
	s, _ := js.Stream(context.Background(), xidpub.Stream)
	m, err := s.GetLastMsgForSubject(context.Background(), "opsmesh.gpu.dgx-7_lab.xid")
	if err != nil {
		t.Fatalf("no event on opsmesh.gpu.dgx-7_lab.xid: %v", err)
	}
	ev, err := xidpub.DecodeEvent(m.Data)
	if err != nil || ev.Node != "dgx-7.lab" || ev.XID != 79 || !ev.Simulated || m.Header.Get(jetstream.MsgIDHeader) == "" {
		t.Errorf("last event %+v (%v), headers %v", ev, err, m.Header)
	}
	out, isErr := callTool(t, c, "xid_events", nil)
	if isErr || !strings.Contains(out, "published to NATS: 5, pending 0, dropped 0 (connected to "+ns.ClientURL()+", stream OPSMESH_GPU)") {
		t.Errorf("xid_events over stdio does not show the NATS state:\n%s", out)
	}
}

func TestMCPGPUNATSFlagErrors(t *testing.T) {
	bin := opsmeshBinary(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--simulate=dgxh100", "--nats-creds", "x.creds"}, "--nats-creds is for --nats-url"},
		{[]string{"--simulate=dgxh100", "--nats-url", "nats://127.0.0.1:1", "--nats-creds", "testdata/no-such.creds"}, "--nats-url: NATS credentials file: stat testdata/no-such.creds"},
		{[]string{"--simulate=dgxh100", "--nats-url", "nats://127.0.0.1:1", "--node-name", "gpu node"}, `--nats-url: node name "gpu node" cannot name the NATS subject`},
	} {
		out, err := exec.Command(bin, append([]string{"mcp", "gpu"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("opsmesh mcp gpu %v: err=%v, want it to say %q:\n%s", tc.args, err, tc.want, out)
		}
	}
}
