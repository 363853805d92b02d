package dedup

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Signal is one alert or event that may raise an Incident.
type Signal struct {
	// Source is alertmanager or event.
	Source opsv1.IncidentSourceType
	// Name is the alert's alertname or the event's reason (GPUXid79 for GPU XIDs).
	Name string
	// Labels of the alert or event; copied into spec.source.labels, and those named by
	// Config.CopyLabels onto the Incident's labels.
	Labels map[string]string
	// Severity is critical, warning or info; anything else becomes warning.
	Severity opsv1.Severity
	// Summary says what is wrong in one line.
	Summary string
	// Target is the object the signal is about, when there is one.
	Target *opsv1.TargetReference
	// Namespace is where the Incident goes; empty means the target's namespace, else
	// Config.DefaultNamespace.
	Namespace string
	// Fingerprint identifies the problem; empty means a hash of the sorted labels. One that is
	// not a valid label value is replaced by its hash.
	Fingerprint string
	// Time the signal was seen; zero means now.
	Time time.Time
	// Count is how many repeats the signal stands for (an event whose count rose by 3); 0 means 1.
	Count int64
}

// Hash is a short, stable hex fingerprint of parts (16 hex digits of their SHA-256), which fits
// both spec.fingerprint and a label value.
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// TargetHash is the value of the opsmesh.dev/target label of an Incident about t: Hash of its
// kind, namespace and name (its apiVersion left out, so apps/v1 and v1beta2 match).
func TargetHash(t opsv1.TargetReference) string {
	return Hash("target", t.Kind, t.Namespace, t.Name)
}

// LabelsHash is the fingerprint of a label set: Hash of its sorted key=value pairs.
func LabelsHash(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return Hash(parts...)
}

// fingerprintOf is the signal's fingerprint as the writer stores it: the given one when it is a
// valid label value (so it can be both spec.fingerprint and the opsmesh.dev/fingerprint label),
// else its hash; a hash of the labels when none is given.
func fingerprintOf(s Signal) string {
	fp := s.Fingerprint
	if fp == "" {
		return LabelsHash(s.Labels)
	}
	if len(validation.IsValidLabelValue(fp)) == 0 {
		return fp
	}
	return Hash(fp)
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// sanitize makes s a piece of a DNS-1123 name: lower case, runs of other characters become '-'.
func sanitize(s string) string {
	s = nonName.ReplaceAllString(strings.ToLower(s), "-")
	return strings.Trim(s, "-")
}

// baseName is the readable part of an Incident's name: the signal's name and its target's, each
// sanitized, at most 56 characters so that "-<5 hex>" fits in 63.
func baseName(s Signal) string {
	parts := []string{}
	if n := sanitize(s.Name); n != "" {
		parts = append(parts, n)
	}
	if s.Target != nil {
		if n := sanitize(s.Target.Name); n != "" {
			parts = append(parts, n)
		}
	}
	b := strings.Join(parts, "-")
	if b == "" {
		b = "incident"
	}
	if len(b) > 56 {
		b = strings.TrimRight(b[:56], "-")
	}
	return b
}

// severityOf maps a severity to one the Incident accepts.
func severityOf(s opsv1.Severity) opsv1.Severity {
	switch opsv1.Severity(strings.ToLower(string(s))) {
	case opsv1.SeverityCritical:
		return opsv1.SeverityCritical
	case opsv1.SeverityInfo:
		return opsv1.SeverityInfo
	default:
		return opsv1.SeverityWarning
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// AlertFiring says whether the alert that raised inc (an Incident from the Alertmanager webhook)
// still fires: Alertmanager has not said it is resolved (annotation opsmesh.dev/resolved-at), or
// it fired again after it did (status.lastSeen later than that). False for Incidents of other
// sources. resolvedAt is when it was resolved, zero when it was not.
func AlertFiring(inc *opsv1.Incident) (firing bool, resolvedAt time.Time) {
	if inc.Spec.Source.Type != opsv1.SourceAlertmanager {
		return false, time.Time{}
	}
	v := inc.Annotations[AnnotationResolvedAt]
	if v == "" {
		return true, time.Time{}
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return true, time.Time{}
	}
	return inc.Status.LastSeen != nil && inc.Status.LastSeen.After(at), at
}
