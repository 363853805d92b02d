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
		"Incorrect token audience (Aws::STS::Errors::InvalidIdentityToken)",
		"OOMKilled, exit code 137",
		// words that only contain a credential's name: a tokenizer's path, an author
		"exec /app/tokenize-api: exec format error",
		"TOKENIZER_PATH=/models/tok.json",
		"author: jane",
		// a YAML map under a credential-named key keeps its shape
		"sources:\n- serviceAccountToken:\n    expirationSeconds: 3607\n    path: token",
		// a boolean says whether there is a credential, not what it is
		"automountServiceAccountToken: false",
		`{"automountServiceAccountToken": true}`,
	} {
		if got := Text(s); got != s {
			t.Errorf("Text(%q) changed it to %q", s, got)
		}
	}
}

// TestTextKeyLikeWords: a word that names an error, an exception or a type, followed by ':' and
// its message, is not a credential's key with a value; and a sentence after a credential's name
// is prose. Real credentials next to them are still blanked.
func TestTextKeyLikeWords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		secret string // "" when nothing may change
	}{
		{name: "a Python exception about credentials", in: "botocore.exceptions.NoCredentialsError: Unable to locate credentials"},
		{name: "a Java exception about authentication", in: "org.springframework.security.authentication.BadCredentialsException: Bad credentials"},
		{name: "an error code naming a token", in: "TokenExpiredError: jwt expired at 2026-01-04T10:00:00Z"},
		{name: "a warning naming a password", in: "PasswordPolicyWarning: Password will expire in 3 days"},
		{name: "a failure naming a secret", in: "SecretSyncFailed: secret ledger-db-creds not found in namespace payments"},
		{name: "a type, not a value", in: "credentialType: ServiceAccountToken"},
		{name: "a Secret's name, not its value", in: "secretName: ledger-db-credentials"},
		{name: "prose after a credential's name", in: "credentials: Unable to locate them in the environment"},
		{name: "prose in lower case", in: "password: could not be read from the vault."},
		{name: "a real password", in: "password: hunter2 accepted", secret: "hunter2"},
		{name: "a word password before another key", in: "password: changeme host: db-0", secret: "changeme"},
		{name: "a password that is one word at the end", in: "login ok, password=bluebird", secret: "bluebird"},
		{name: "an AWS secret key", in: "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{name: "a token that is a JWT", in: "token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNpZw", secret: "eyJhbGciOiJIUzI1NiJ9"},
		{name: "a quoted secret that reads like words", in: `"apiKey": "Correct horse battery staple"`, secret: "Correct horse"},
		{name: "an error's message quoting a real key", in: "NoCredentialsError: Unable to sign; AWS_SECRET_ACCESS_KEY=Zx81kP0qLm2nVb7 was rejected", secret: "Zx81kP0qLm2nVb7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Text(tc.in)
			if tc.secret == "" {
				if got != tc.in {
					t.Errorf("Text(%q) changed it to %q", tc.in, got)
				}
				return
			}
			if strings.Contains(got, tc.secret) || !strings.Contains(got, Marker) {
				t.Errorf("Text(%q) = %q: want %q blanked", tc.in, got, tc.secret)
			}
			if Text(got) != got {
				t.Errorf("Text is not idempotent on %q: %q then %q", tc.in, got, Text(got))
			}
		})
	}
}

func FuzzText(f *testing.F) {
	f.Add("botocore.exceptions.NoCredentialsError: Unable to locate credentials")
	f.Add("password: hello world token = abcdefgh")
	f.Add("password=abcdef")
	f.Add("-----BEGIN PRIVATE KEY-----")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if Text(out) != out {
			t.Fatalf("Text is not idempotent on %q: %q then %q", s, out, Text(out))
		}
	})
}
