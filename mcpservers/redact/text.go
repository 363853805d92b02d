package redact

import "regexp"

// Secret shapes that Text blanks wherever they appear.
var (
	pemBlock = regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)
	bearer   = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`)
	// key=value, key: value and "key": "value" where the key looks like a credential's name.
	keyValue = regexp.MustCompile(`(?i)("?)([A-Za-z0-9_.-]*(?:passw(?:or)?d|passwd|secret|token|api[-_]?key|apikey|credential|private[-_]?key|access[-_]?key|pwd)[A-Za-z0-9_.-]*)("?\s*[:=]\s*"?)([^\s"',;&]{4,})`)
	// Well-known token formats: GitHub, Slack, OpenAI/Anthropic-style keys, AWS access key IDs.
	knownToken = regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|sk-(?:ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16})\b`)
)

// Text blanks what looks like a secret in free text — private keys in PEM, bearer and basic
// credentials, values of credential-named keys (password=..., "apiKey": "..."), and well-known
// token formats — for text that comes from outside opsmesh's servers (logs, another MCP
// server's answers) before it reaches a model or a result. It is a second line of defence:
// servers redact what they know first.
func Text(s string) string {
	s = pemBlock.ReplaceAllString(s, "-----BEGIN $1-----"+Marker+"-----END $1-----")
	s = bearer.ReplaceAllString(s, "$1 "+Marker)
	s = keyValue.ReplaceAllString(s, "$1$2$3"+Marker)
	s = knownToken.ReplaceAllString(s, Marker)
	return s
}
