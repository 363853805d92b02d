package redact

import (
	"regexp"
	"strings"
)

// Secret shapes that Text blanks wherever they appear.
var (
	pemBlock = regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)
	// Authorization: Bearer <token>, Basic <credentials>, Token <token>.
	authScheme = regexp.MustCompile(`(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	// scheme://user:password@host
	urlUserinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@`)
	jwtShape    = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	// Well-known token formats: AWS access key IDs, GitHub, GitLab, Slack, OpenAI/Anthropic-style keys.
	knownToken = regexp.MustCompile(`\b(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:ant-)?[A-Za-z0-9_-]{16,})\b`)
	// key=value, key: value and "key": "value" on one line; the value is blanked when the key
	// looks like a credential's name (LooksSecret). A key that ends its line ("token:" opening a
	// YAML map) has no value here: blanking the next line's key would break the YAML.
	keyValue = regexp.MustCompile(`(["']?)([A-Za-z_][A-Za-z0-9_.-]{1,63})(["']?)([ \t]*[:=][ \t]*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&"'}\])]+)`)
	// Kubernetes env entries: {"name":"DB_PASSWORD","value":"..."}.
	nameValue = regexp.MustCompile(`("name"\s*:\s*"([^"]*)"\s*,\s*"value"\s*:\s*)"(?:[^"\\]|\\.)*"`)
)

// Text blanks what looks like a secret in free text — private keys in PEM, bearer, basic and token
// credentials, passwords in URLs, JWTs, well-known token formats, and the values of
// credential-named keys (password=..., "apiKey": "...", env entries named like a secret) — for
// text that comes from outside opsmesh's servers (logs, another MCP server's answers) before it
// reaches a model or a result. It is a second line of defence: servers redact what they know
// first.
func Text(s string) string {
	s = pemBlock.ReplaceAllString(s, "-----BEGIN $1-----"+Marker+"-----END $1-----")
	s = urlUserinfo.ReplaceAllString(s, "${1}:"+Marker+"@")
	s = authScheme.ReplaceAllStringFunc(s, func(m string) string {
		sub := authScheme.FindStringSubmatch(m)
		value := m[len(sub[1])+len(sub[2]):]
		if strings.EqualFold(sub[1], "token") && proseWord.MatchString(value) {
			// a word after "token", not a secret: "Incorrect token audience", "token expired"
			return m
		}
		return sub[1] + sub[2] + Marker
	})
	s = jwtShape.ReplaceAllString(s, Marker)
	s = knownToken.ReplaceAllString(s, Marker)
	s = nameValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := nameValue.FindStringSubmatch(m)
		if !LooksSecret(sub[2]) {
			return m
		}
		return sub[1] + `"` + Marker + `"`
	})
	return keyValues(s)
}

// keyValues blanks the values of credential-named keys in s (keyValue). A key that names an
// error, exception or type (NoCredentialsError, AuthenticationException, TokenType) is no
// credential's name, and an unquoted value that is a word followed by more words ("credentials:
// Unable to locate them") is prose, not a secret: both are kept.
func keyValues(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range keyValue.FindAllStringSubmatchIndex(s, -1) {
		key, value := s[m[4]:m[5]], s[m[10]:m[11]]
		quote := ""
		if len(value) > 0 && (value[0] == '"' || value[0] == '\'') {
			quote = value[:1]
		}
		// Short unquoted values ("tokens: 12") are counts, not secrets; a scheme word
		// ("Authorization: Bearer <redacted>") was handled above.
		// A boolean (automountServiceAccountToken: false) says whether there is one, not what it is.
		if !LooksSecret(key) || namesNoCredential(key) || strings.Contains(value, Marker) || isAuthScheme(value) ||
			(quote == "" && (len(value) < 4 || isBool(value) || startsProse(value, s[m[11]:]))) {
			continue
		}
		b.WriteString(s[last:m[10]])
		b.WriteString(quote + Marker + quote)
		last = m[11]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isBool reports whether an unquoted value is a YAML or JSON boolean.
func isBool(v string) bool {
	return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
}

// notCredentialKey matches the last word of a key that names an error, an exception, a warning
// or a type rather than a value: NoCredentialsError, AuthenticationException, TokenExpired,
// PASSWORD_INVALID, credential_type, secretName.
var notCredentialKey = regexp.MustCompile(`(?i)(error|errors|exception|warning|failed|failure|fault|denied|expired|invalid|notfound|not_found|missing|mismatch|rejected|refused|type|kind|name)$`)

// namesNoCredential reports whether key (its last dotted part, as in
// botocore.exceptions.NoCredentialsError) names an error or a type, not a credential.
func namesNoCredential(key string) bool {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	return notCredentialKey.MatchString(key)
}

// proseWord is a word of prose: letters only, lower-case but for the first.
var proseWord = regexp.MustCompile(`^[A-Za-z][a-z]+$`)

// nextProseWord is a lower-case word after a value, ending where a word of a sentence ends (not
// at the ':' or '=' of another key).
var nextProseWord = regexp.MustCompile(`^[ \t]+[a-z]+([ \t.,;!?)]|$)`)

// startsProse reports whether an unquoted value, with rest the text after it, begins a sentence
// ("Unable to locate credentials"): a word of letters followed by another word. A value with a
// digit, a symbol or mixed case (hunter2, s3cr3t-value, AbCdEf) is not prose.
func startsProse(value, rest string) bool {
	return proseWord.MatchString(value) && nextProseWord.MatchString(rest)
}

func isAuthScheme(v string) bool {
	switch strings.ToLower(v) {
	case "bearer", "basic", "token":
		return true
	}
	return false
}
