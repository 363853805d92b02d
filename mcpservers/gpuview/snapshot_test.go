package gpuview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// offlineTools builds the view against an address nothing listens on: enough to list tools and
// decode arguments.
func offlineTools(t testing.TB) []mcptool.Tool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := gpuview.New(ctx, &rest.Config{Host: "http://127.0.0.1:1"}, gpuview.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return v.Tools()
}

// TestToolListSnapshot keeps every tool's declaration in testdata/tools.golden.json; regenerate
// with UPDATE_GOLDEN=1 and read the diff.
func TestToolListSnapshot(t *testing.T) {
	var defs []any
	for _, tl := range offlineTools(t) {
		if tl.Effect != mcptool.Read || tl.Def.Annotations.ReadOnlyHint == nil || !*tl.Def.Annotations.ReadOnlyHint {
			t.Errorf("tool %s is not a read", tl.Name())
		}
		defs = append(defs, tl.Def)
	}
	got, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "tools.golden.json")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the tool list differs from %s; if intended, run with UPDATE_GOLDEN=1 and review the diff", path)
	}
}

// FuzzToolArguments: argument decoding never panics, and a refusal says what is wrong. Seed
// corpus: testdata/fuzz/FuzzToolArguments.
func FuzzToolArguments(f *testing.F) {
	tools := offlineTools(f)
	f.Add([]byte(`{"node":"gpu-a"}`), uint8(0))
	f.Add([]byte(`{"namespace":"ml","node":7}`), uint8(1))
	f.Add([]byte(`{"minIdleMinutes":-3}`), uint8(2))
	f.Add([]byte(`[]`), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		tool := tools[int(which)%len(tools)]
		if err := tool.Decode(raw); err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("%s refused %q with an empty error", tool.Name(), raw)
		}
	})
}
