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
	s = authScheme.ReplaceAllString(s, "${1}${2}"+Marker)
	s = jwtShape.ReplaceAllString(s, Marker)
	s = knownToken.ReplaceAllString(s, Marker)
	s = nameValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := nameValue.FindStringSubmatch(m)
		if !LooksSecret(sub[2]) {
			return m
		}
		return sub[1] + `"` + Marker + `"`
	})
	return keyValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := keyValue.FindStringSubmatch(m)
		key, value := sub[2], sub[5]
		quote := ""
		if len(value) > 0 && (value[0] == '"' || value[0] == '\'') {
			quote = value[:1]
		}
		// Short unquoted values ("tokens: 12") are counts, not secrets; a scheme word
		// ("Authorization: Bearer <redacted>") was handled above.
		if !LooksSecret(key) || strings.Contains(value, Marker) || isAuthScheme(value) || (quote == "" && len(value) < 4) {
			return m
		}
		return sub[1] + key + sub[3] + sub[4] + quote + Marker + quote
	})
}

func isAuthScheme(v string) bool {
	switch strings.ToLower(v) {
	case "bearer", "basic", "token":
		return true
	}
	return false
}
