package llm

import (
	"regexp"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

// Secret shapes scrubbed from everything that enters the prompt, beyond those of redact.Text
// (PEM private keys, bearer and basic credentials, credential-named keys, well-known tokens).
// The MCP servers and the pool redact first; this is the last line before text leaves the
// process.
var (
	authScheme  = regexp.MustCompile(`(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	urlUserinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@`)
	jwtShape    = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	tokenShapes = regexp.MustCompile(`\b(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,})\b`)
	// keyValue: key=value, key: value, "key": "value" — the value is blanked when the key looks
	// like a credential (redact.LooksSecret).
	keyValue = regexp.MustCompile(`(["']?)([A-Za-z_][A-Za-z0-9_.-]{1,63})(["']?)(\s*[:=]\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&"'}\])]+)`)
	// nameValue: Kubernetes env entries, {"name":"DB_PASSWORD","value":"…"}.
	nameValue = regexp.MustCompile(`("name"\s*:\s*"([^"]*)"\s*,\s*"value"\s*:\s*)"(?:[^"\\]|\\.)*"`)
)

// scrubber removes secrets from text: redact.Text's shapes, the shapes above, and the model's
// own API key.
type scrubber struct {
	apiKey string
}

// Text returns s with every secret shape replaced by redact.Marker.
func (sc scrubber) Text(s string) string {
	if sc.apiKey != "" && len(sc.apiKey) >= 4 {
		s = strings.ReplaceAll(s, sc.apiKey, redact.Marker)
	}
	s = redact.Text(s)
	s = urlUserinfo.ReplaceAllString(s, "${1}:"+redact.Marker+"@")
	s = authScheme.ReplaceAllString(s, "${1}${2}"+redact.Marker)
	s = jwtShape.ReplaceAllString(s, redact.Marker)
	s = tokenShapes.ReplaceAllString(s, redact.Marker)
	s = nameValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := nameValue.FindStringSubmatch(m)
		if !redact.LooksSecret(sub[2]) {
			return m
		}
		return sub[1] + `"` + redact.Marker + `"`
	})
	s = keyValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := keyValue.FindStringSubmatch(m)
		key, value := sub[2], sub[5]
		if !redact.LooksSecret(key) || strings.Contains(value, redact.Marker) || authSchemeWord(value) {
			return m
		}
		quote := ""
		if len(value) > 0 && (value[0] == '"' || value[0] == '\'') {
			quote = value[:1]
		}
		return sub[1] + key + sub[3] + sub[4] + quote + redact.Marker + quote
	})
	return s
}

// authSchemeWord: "Authorization: Bearer <token>" keeps the scheme; authScheme blanked the token.
func authSchemeWord(v string) bool {
	switch strings.ToLower(v) {
	case "bearer", "basic", "token":
		return true
	}
	return false
}

// Diagnosis scrubs the free text of d in place: a model could echo what it was told.
func (sc scrubber) Diagnosis(d *diagnosis.Diagnosis) {
	d.Subject = sc.Text(d.Subject)
	d.RootCause.Summary = sc.Text(d.RootCause.Summary)
	for i := range d.RootCause.Evidence {
		d.RootCause.Evidence[i].Object = sc.Text(d.RootCause.Evidence[i].Object)
		d.RootCause.Evidence[i].Detail = sc.Text(d.RootCause.Evidence[i].Detail)
	}
	for i := range d.Findings {
		d.Findings[i].Summary = sc.Text(d.Findings[i].Summary)
		for j := range d.Findings[i].Evidence {
			d.Findings[i].Evidence[j].Object = sc.Text(d.Findings[i].Evidence[j].Object)
			d.Findings[i].Evidence[j].Detail = sc.Text(d.Findings[i].Evidence[j].Detail)
		}
	}
	for i := range d.Plan {
		d.Plan[i].Reason = sc.Text(d.Plan[i].Reason)
		for k, v := range d.Plan[i].Arguments {
			if s, ok := v.(string); ok {
				d.Plan[i].Arguments[k] = sc.Text(s)
			}
		}
	}
	for i := range d.Notes {
		d.Notes[i] = sc.Text(d.Notes[i])
	}
}
