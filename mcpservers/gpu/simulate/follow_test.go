//go:build cgo

package simulate

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// recorder collects the XID events a node reports to its watcher.
type recorder struct {
	mu     sync.Mutex
	events []gpu.XIDEvent
}

func (r *recorder) add(e gpu.XIDEvent) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) get() []gpu.XIDEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gpu.XIDEvent(nil), r.events...)
}

func TestLoadReportsOnlyNewXIDs(t *testing.T) {
	first, err := ParseFaults([]byte("gpus:\n  - index: 1\n    xids: [{code: 48, time: 2025-03-01T10:00:00Z}]\n"), NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New("dgxh100", first)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	if err := n.WatchXIDs(context.Background(), r.add, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if got := r.get(); len(got) != 1 || got[0].Code != 48 {
		t.Fatalf("at start the watcher got %+v; want the fault file's XID 48", got)
	}
	more, err := ParseFaults([]byte("gpus:\n  - index: 1\n    xids: [{code: 48, time: 2025-03-01T10:00:00Z}]\n  - index: 3\n    xids: [{code: 79, time: 2025-03-01T11:00:00Z}]\n"), NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := n.Load(more)
	if err != nil {
		t.Fatal(err)
	}
	got := r.get()
	if len(evs) != 1 || len(got) != 2 || got[1].Code != 79 || got[1].Index != 3 || got[1].UUID == "" {
		t.Fatalf("after loading XID 79 on GPU 3: Load returned %+v, the watcher has %+v; want exactly one new event, XID 79 on GPU 3", evs, got)
	}
	if _, err := n.Load(&Faults{GPUs: []GPUFaults{{Index: 8}}}); err == nil {
		t.Fatal("Load accepted GPU 8 on an 8-GPU node")
	}
	if n.state(3).XIDs[0].Code != 79 {
		t.Fatal("a refused Load changed the faults")
	}
}

func TestFollowInjectsFaultsIntoARunningNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.yaml")
	if err := os.WriteFile(path, []byte("gpus: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	if err := n.WatchXIDs(context.Background(), r.add, func(error) {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Follow(ctx, path, 20*time.Millisecond, nil)

	// A broken file changes nothing; the next good one is loaded.
	if err := os.WriteFile(path, []byte("gpus: [{index: 99}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := r.get(); len(got) != 0 {
		t.Fatalf("a refused fault file reported %+v", got)
	}
	if err := os.WriteFile(path, []byte("gpus:\n  - index: 3\n    xids: [{code: 79, time: 2026-01-01T00:00:00Z}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(r.get()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := r.get()
	if len(got) != 1 || got[0].Code != 79 || got[0].Index != 3 {
		t.Fatalf("after writing XID 79 on GPU 3 into the followed file the watcher has %+v", got)
	}
}
