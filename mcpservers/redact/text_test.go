package redact

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, secret, keep string }{
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo", "BEGIN RSA PRIVATE KEY"},
		{"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (cut off)", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "BEGIN PRIVATE KEY"},
		{"GET /api Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "eyJhbGciOiJIUzI1NiJ9", "Authorization: Bearer"},
		{"connecting with password=hunter2hunter2 to db", "hunter2hunter2", "connecting with password="},
		{`{"apiKey": "abcd1234efgh", "user": "bob"}`, "abcd1234efgh", `"user": "bob"`},
		{"DB_PASSWORD: s3cr3t-value", "s3cr3t-value", "DB_PASSWORD: "},
		{"export GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123", "export GITHUB="},
		{"key sk-proj-abcdefghijklmnopqrstu used", "sk-proj-abcdefghijklmnopqrstu", "key "},
		{"aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws "},
		{"GITHUB_TOKEN_FILE=/run/s3cr3t-path", "/run/s3cr3t-path", "GITHUB_TOKEN_FILE="},
		{`{"accessToken": "abcdefgh12345"}`, "abcdefgh12345", `"accessToken": `},
		{"AUTH: hunter2hunter2", "hunter2hunter2", "AUTH: "},
	} {
		got := Text(tc.in)
		if strings.Contains(got, tc.secret) || !strings.Contains(got, Marker) || !strings.Contains(got, tc.keep) {
			t.Errorf("Text(%q) = %q: want %q blanked and %q kept", tc.in, got, tc.secret, tc.keep)
		}
	}
	// Ordinary operational text is left alone.
	for _, s := range []string{
		"Back-off restarting failed container main in pod web-7d9f",
		"0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
		"token bucket refilled; tokens: 12",
		"OOMKilled, exit code 137",
		// words that only contain a credential's name: a tokenizer's path, an author
		"exec /app/tokenize-api: exec format error",
		"TOKENIZER_PATH=/models/tok.json",
		"author: jane",
		// a YAML map under a credential-named key keeps its shape
		"sources:\n- serviceAccountToken:\n    expirationSeconds: 3607\n    path: token",
	} {
		if got := Text(s); got != s {
			t.Errorf("Text(%q) changed it to %q", s, got)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("password=abcdef")
	f.Add("-----BEGIN PRIVATE KEY-----")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if Text(out) != out {
			t.Fatalf("Text is not idempotent on %q: %q then %q", s, out, Text(out))
		}
	})
}
