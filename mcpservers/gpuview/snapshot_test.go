package gpuview_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/internal/mcptest"
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
	s := mcptool.NewServer("opsmesh-gpuview", "snapshot", "")
	mcptool.Register(s, mcptool.Options{}, offlineTools(t)...)
	for _, tl := range mcptest.GoldenTools(t, s) {
		if !*tl.Annotations.ReadOnlyHint || *tl.Annotations.DestructiveHint {
			t.Errorf("tool %s is not a read", tl.Name)
		}
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
