package events_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/opsmesh/opsmesh/controller/trigger/events"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

var fingerprintPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// FuzzDecodeXIDSignal: whatever arrives on the GPU subject either fails to decode or makes a
// signal an Incident can carry.
func FuzzDecodeXIDSignal(f *testing.F) {
	f.Add([]byte(`{"node":"gpu-7","gpuIndex":3,"gpuUUID":"GPU-7f3e","xid":79,"time":"2026-12-01T10:00:00Z","verdict":"failed","action":"drain-reboot","reason":"r","simulated":true}`))
	f.Add([]byte(`{"node":"gpu.7.example","gpuIndex":-1,"xid":13,"time":"2026-12-01T10:00:00Z","verdict":"healthy"}`))
	f.Add([]byte(`{"node":"gpu-7","xid":-4}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := xidpub.DecodeEvent(data)
		if err != nil {
			return
		}
		s := events.XIDSignal(ev)
		if s.Target == nil || s.Target.Kind != "Node" || s.Target.Name != ev.Node || s.Target.Namespace != "" {
			t.Fatalf("target %+v for node %q", s.Target, ev.Node)
		}
		if !strings.HasPrefix(s.Name, "GPUXid") || !fingerprintPattern.MatchString(s.Fingerprint) || len(s.Fingerprint) > 63 {
			t.Fatalf("signal %+v", s)
		}
		if !strings.Contains(s.Summary, "node "+ev.Node) || ev.Simulated != strings.HasSuffix(s.Summary, "(simulated)") {
			t.Fatalf("summary %q of %+v", s.Summary, ev)
		}
		switch s.Severity {
		case "critical", "warning", "info":
		default:
			t.Fatalf("severity %q", s.Severity)
		}
	})
}
