// Package redact keeps secret values out of what opsmesh's MCP servers return. It blanks the data
// of Secrets, env values and ConfigMap keys whose names look like credentials, and the
// last-applied-configuration annotation (which can hold a Secret's data). It also removes any
// known secret value wherever it appears in text. It changes copies, never the caller's
// objects' sources of truth.
package redact

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Marker replaces a redacted value.
const Marker = "<redacted>"

// credentialName matches names of keys and variables that usually hold credentials.
// "token" and "auth" count as words only (a TOKEN, an accessToken, GITHUB_TOKEN_FILE,
// authToken, Authorization), not inside other words: a tokenizer, an author.
var credentialName = regexp.MustCompile(`(?i)(passw(or)?d|passwd|secret|tokens?([^a-z]|$)|api[-_]?key|apikey|credential|private[-_]?key|access[-_]?key|auth([^o]|$|orization)|cert(ificate)?[-_]?key|\bpwd\b|_pwd|conn(ection)?[-_]?str)`)

// LooksSecret reports whether a key or variable name looks like it holds a credential.
func LooksSecret(name string) bool { return credentialName.MatchString(name) }

// Shape says, without the value, what is wrong with the edges of a secret value that a person
// wrote by hand: a trailing newline (`echo … | base64` without -n), a carriage return, or spaces
// around it — the usual reason a rotated password or key is rejected although it "is right".
// It also says when the value is itself base64 of printable text (encoded twice). It is "" for
// a value without such a mark, else ", ends with a newline" and the like, to follow a byte
// count.
func Shape(v string) string {
	var out []string
	switch {
	case strings.HasSuffix(v, "\r\n"):
		out = append(out, "ends with a carriage return and a newline")
	case strings.HasSuffix(v, "\n"):
		out = append(out, "ends with a newline")
	case strings.HasSuffix(v, "\r"):
		out = append(out, "ends with a carriage return")
	case strings.TrimRight(v, " \t") != v:
		out = append(out, "ends with whitespace")
	}
	if v != "" && strings.TrimLeft(v, " \t\r\n") != v {
		out = append(out, "starts with whitespace")
	}
	if encodedTwice(strings.TrimSpace(v)) {
		out = append(out, "is itself base64 of printable text (encoded twice?)")
	}
	if len(out) == 0 {
		return ""
	}
	return ", " + strings.Join(out, ", ")
}

// encodedTwice says whether v is base64 of printable text: a Secret value someone encoded
// before putting it under data (which the API server encodes again), or under stringData
// already encoded. Random keys are base64-shaped too, but do not decode to printable text.
func encodedTwice(v string) bool {
	if len(v) < 8 || len(v)%4 != 0 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) < 4 {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' || c > 0x7e {
			return false
		}
	}
	return true
}

// lastApplied can carry a full copy of a Secret's data.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Object redacts u in place (pass a copy): Secret data and stringData values, env values and
// ConfigMap data whose names look like credentials, and the last-applied annotation.
func Object(u *unstructured.Unstructured) {
	annotations := u.GetAnnotations()
	if _, ok := annotations[lastApplied]; ok {
		annotations[lastApplied] = Marker
		u.SetAnnotations(annotations)
	}
	switch u.GetKind() {
	case "Secret":
		for _, field := range []string{"data", "stringData"} {
			m, ok := u.Object[field].(map[string]any)
			if !ok {
				continue
			}
			for k, v := range m {
				raw := fmt.Sprint(v)
				if field == "data" {
					if b, err := base64.StdEncoding.DecodeString(raw); err == nil {
						raw = string(b)
					}
				}
				m[k] = fmt.Sprintf("%s (%d bytes%s)", Marker, len(raw), Shape(raw))
			}
		}
	case "ConfigMap":
		for _, field := range []string{"data", "binaryData"} {
			m, ok := u.Object[field].(map[string]any)
			if !ok {
				continue
			}
			for k := range m {
				if LooksSecret(k) {
					m[k] = Marker
				}
			}
		}
	}
	envValues(u.Object)
}

// envValues walks an object and blanks the value of every env entry whose name looks like a
// credential, wherever a pod template sits (Pods, Deployments, Jobs, CronJobs, CRDs).
func envValues(v any) {
	switch t := v.(type) {
	case map[string]any:
		if env, ok := t["env"].([]any); ok {
			for _, e := range env {
				if m, ok := e.(map[string]any); ok {
					if name, _ := m["name"].(string); LooksSecret(name) {
						if _, has := m["value"]; has {
							m["value"] = Marker
						}
					}
				}
			}
		}
		for _, c := range t {
			envValues(c)
		}
	case []any:
		for _, c := range t {
			envValues(c)
		}
	}
}

// Values removes known secret values from text. Register the values a server can see (for
// example every Secret's data in its namespaces) with Add; Scrub replaces each occurrence.
// Values shorter than MinLen are not registered, so that common short strings are not mangled.
type Values struct {
	mu     sync.RWMutex
	values map[string]struct{}
	sorted []string // longest first, so that a value containing another is replaced whole
}

// MinLen is the shortest value Values registers.
const MinLen = 6

// Add registers secret values.
func (v *Values) Add(values ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.values == nil {
		v.values = map[string]struct{}{}
	}
	changed := false
	for _, s := range values {
		s = strings.TrimSpace(s)
		if len(s) < MinLen {
			continue
		}
		if _, ok := v.values[s]; !ok {
			v.values[s] = struct{}{}
			changed = true
		}
	}
	if changed {
		v.sorted = v.sorted[:0]
		for s := range v.values {
			v.sorted = append(v.sorted, s)
		}
		sort.Slice(v.sorted, func(i, j int) bool { return len(v.sorted[i]) > len(v.sorted[j]) })
	}
}

// Scrub returns text with every registered value replaced by Marker.
func (v *Values) Scrub(text string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, s := range v.sorted {
		if strings.Contains(text, s) {
			text = strings.ReplaceAll(text, s, Marker)
		}
	}
	return text
}
