package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDownLeavesNoProcess starts processes the way Up does, one of which ignores SIGTERM and one
// of which leaves a child behind in its process group, and checks that Down ends all of them,
// removes the pid files and state.json, and that Status then says there is no sandbox.
func TestDownLeavesNoProcess(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"logs", "pids"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := &Sandbox{State: State{Dir: dir, StartedAt: time.Now()}, exited: map[string]chan struct{}{}}
	childPIDFile := filepath.Join(dir, "grandchild.pid")
	for _, p := range []struct{ name, script string }{
		{"plain", "exec sleep 300"},
		{"stubborn", "trap '' TERM; while :; do sleep 1; done"},
		{"parent", "sleep 300 & echo $! > " + childPIDFile + "; wait"},
	} {
		if err := s.start(p.name, "/bin/sh", []string{"-c", p.script}, ""); err != nil {
			t.Fatal(err)
		}
	}
	var grandchild int
	for deadline := time.Now().Add(10 * time.Second); grandchild == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(childPIDFile); err == nil && strings.HasSuffix(string(b), "\n") {
			grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if grandchild == 0 {
		t.Fatal("the parent process never started its child")
	}
	if live := running(dir); len(live) != 3 {
		t.Fatalf("running(%s) = %+v; want the 3 processes just started", dir, live)
	}
	r, err := Status(context.Background(), dir)
	if err != nil || !r.Healthy() {
		t.Fatalf("Status with every process running: healthy=%v, %v", r.Healthy(), err)
	}
	if _, err := Up(context.Background(), Options{StateDir: dir, RepoRoot: dir, BinDir: dir, KwokBin: dir, Opsmesh: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "a sandbox already runs in "+dir) {
		t.Fatalf("a second Up while one runs: %v; want an error saying a sandbox already runs there", err)
	}

	start := time.Now()
	if err := Down(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("Down took %s (one process ignores SIGTERM: SIGKILL after %s)", time.Since(start).Round(time.Millisecond), stopGrace)
	for _, c := range s.Components {
		if alive(c.PID) {
			t.Errorf("%s (pid %d) still runs after Down", c.Name, c.PID)
		}
	}
	if alive(grandchild) {
		t.Errorf("the child (pid %d) that %q left in its process group still runs after Down", grandchild, "parent")
	}
	if _, err := os.Stat(filepath.Join(dir, "pids")); !os.IsNotExist(err) {
		t.Errorf("pid files left: %v", err)
	}
	if _, err := Status(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "no sandbox in "+dir) {
		t.Errorf("Status after Down: %v; want an error saying there is no sandbox", err)
	}
	if err := Down(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "opsmesh sandbox up") {
		t.Errorf("Down twice: %v; want an error saying there is nothing to stop", err)
	}
}

func TestFindRepoRoot(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "sandbox", "stages")); err != nil {
		t.Errorf("FindRepoRoot(.) = %s, which has no deploy/sandbox/stages: %v", root, err)
	}
	_, err = FindRepoRoot(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--repo-root") {
		t.Errorf("FindRepoRoot outside a clone: %v; want an error that says to run from a clone or pass --repo-root", err)
	}
	if _, err := Up(context.Background(), Options{StateDir: t.TempDir(), BinDir: "/nonexistent", KwokBin: "/nonexistent", RepoRoot: root, Opsmesh: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "--bin-dir /nonexistent has no etcd") {
		t.Errorf("Up with a --bin-dir that lacks the binaries: %v", err)
	}
}

func TestInjectXIDRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	s := &Sandbox{State: State{Dir: dir, GPUNodes: []string{"sim-gpu-1"}, Agents: map[string]string{"sim-gpu-1": "http://127.0.0.1:1/mcp"}}}
	if err := os.MkdirAll(filepath.Join(dir, "faults"), 0o700); err != nil {
		t.Fatal(err)
	}
	orig := []byte("gpus: []\n")
	if err := os.WriteFile(s.faultFile("sim-gpu-1"), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		node     string
		gpu, xid int
		want     string
	}{
		{"sim-cpu-1", 0, 79, `node "sim-cpu-1" has no simulated GPU node agent; the sandbox's GPU nodes are sim-gpu-1`},
		{"sim-gpu-1", 8, 79, "GPU 8 does not exist on sim-gpu-1: its simulated GPUs are 0..7"},
		{"sim-gpu-1", -1, 79, "GPU -1 does not exist"},
		{"sim-gpu-1", 0, 0, "XID 0 is not an XID code (1..1000)"},
	} {
		err := s.InjectXID(context.Background(), tc.node, tc.gpu, tc.xid)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("InjectXID(%s, %d, %d) = %v; want %q", tc.node, tc.gpu, tc.xid, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(s.faultFile("sim-gpu-1")); string(b) != string(orig) {
		t.Errorf("refused injections changed the fault file:\n%s", b)
	}
}
