package cluster

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A long message keeps its start and its end, where a wrapped Go error names its cause, in at
// most 300 bytes of valid UTF-8; a short one is only folded onto one line.
func TestClipKeepsBothEnds(t *testing.T) {
	long := `failed to pull and unpack image "registry.mirror.internal:5000/example/embedder:1.4.0": failed to resolve reference "registry.mirror.internal:5000/example/embedder:1.4.0": failed to do request: Head "https://registry.mirror.internal:5000/v2/example/embedder/manifests/1.4.0": dial tcp: lookup registry.mirror.internal on 10.96.0.10:53: no such host`
	got := clip(long)
	if len(got) > 300 || !strings.HasPrefix(got, "failed to pull and unpack image") || !strings.HasSuffix(got, "no such host") || !strings.Contains(got, " ... ") {
		t.Errorf("clip(%d bytes) = %q (%d bytes)", len(long), got, len(got))
	}
	wide := strings.Repeat("é", 400) // two bytes each: the cuts must fall between runes
	if got := clip(wide); len(got) > 300 || !utf8.ValidString(got) {
		t.Errorf("clip of multi-byte text: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if got := clip("back-off 10s\n  restarting"); got != "back-off 10s restarting" {
		t.Errorf("clip of a short message = %q", got)
	}
}
