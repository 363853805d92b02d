package llm

import (
	"strings"
	"testing"
)

func TestScrubberRemovesSecretShapes(t *testing.T) {
	sc := scrubber{apiKey: "sk-proj-abcdefghijklmnop1234"}
	for _, c := range []struct {
		in, gone, kept string
	}{
		{"-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBg\n-----END PRIVATE KEY-----\nnext", "MIIBVQIBADANBg", "next"},
		{"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIH… truncated", "MHcCAQEEIH", "<redacted>"},
		{"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----", "", "MIIC"},
		{"password=hunter2 user=bob", "hunter2", "user=bob"},
		{`{"db_password": "hunter2", "host": "db"}`, "hunter2", `"host": "db"`},
		{"client_secret: 'abc def'", "abc def", "client_secret: '<redacted>'"},
		{`{"name":"GITHUB_TOKEN","value":"ghs_x"}`, "ghs_x", `"name":"GITHUB_TOKEN"`},
		{`{"name":"LOG_LEVEL","value":"debug"}`, "", `"value":"debug"`},
		{"Authorization: Bearer abc.def-123456789", "abc.def-123456789", "Bearer <redacted>"},
		{"https://user:pa55w0rd@example.com/x", "pa55w0rd", "https://user:<redacted>@example.com/x"},
		{"key AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP", "used"},
		{"using sk-proj-abcdefghijklmnop1234 now", "abcdefghijklmnop1234", "now"},
		{"restarts=7 exitCode=137 reason=OOMKilled", "", "restarts=7 exitCode=137 reason=OOMKilled"},
	} {
		got := sc.Text(c.in)
		if c.gone != "" && strings.Contains(got, c.gone) {
			t.Errorf("Text(%q) = %q: still holds %q", c.in, got, c.gone)
		}
		if !strings.Contains(got, c.kept) {
			t.Errorf("Text(%q) = %q: lost %q", c.in, got, c.kept)
		}
	}
}
