package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Limits on a webhook payload; a payload beyond them is refused with 400 (or 413 for the size).
const (
	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes = 1 << 20
	// MaxAlerts is the most alerts one payload may carry (set max_alerts in the receiver).
	MaxAlerts = 1000
	// maxLabels bounds an alert's labels or annotations.
	maxLabels = 64
	// maxLabelValue bounds one label or annotation value.
	maxLabelValue = 4096
)

// Payload is Alertmanager's webhook body, version 4.
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Firing reports whether the alert fires (rather than is resolved).
func (a Alert) Firing() bool { return a.Status == "firing" }

// Decode decodes and checks a whole webhook payload. Every problem found is reported, each
// saying which alert and what to fix; nothing of a payload with a problem should be acted on.
func Decode(data []byte) (*Payload, error) {
	if len(data) > MaxBodyBytes {
		return nil, fmt.Errorf("the payload is %d bytes; at most %d are accepted: lower max_alerts in the Alertmanager receiver", len(data), MaxBodyBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the body is empty: send Alertmanager's webhook payload (JSON, version 4)")
	}
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("the body is not an Alertmanager webhook payload (JSON object with version, status and alerts): %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body has data after the JSON payload: send one payload per request")
	}
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	if p.Version != "4" {
		add("version is %q; this receiver understands Alertmanager's webhook version \"4\"", p.Version)
	}
	if p.Status != "firing" && p.Status != "resolved" {
		add("status is %q; it must be \"firing\" or \"resolved\"", p.Status)
	}
	switch {
	case len(p.Alerts) == 0:
		add("alerts is empty: the payload must carry at least one alert")
	case len(p.Alerts) > MaxAlerts:
		add("alerts has %d entries; at most %d are accepted: set max_alerts: %d in the Alertmanager receiver", len(p.Alerts), MaxAlerts, MaxAlerts)
	}
	if p.TruncatedAlerts < 0 {
		add("truncatedAlerts is %d; it cannot be negative", p.TruncatedAlerts)
	}
	if len(p.Alerts) <= MaxAlerts {
		for i, a := range p.Alerts {
			where := fmt.Sprintf("alerts[%d]", i)
			if n := a.Labels["alertname"]; n != "" {
				where += fmt.Sprintf(" (%s)", truncateName(n))
			}
			if a.Status != "firing" && a.Status != "resolved" {
				add("%s: status is %q; it must be \"firing\" or \"resolved\"", where, a.Status)
			}
			if len(a.Labels) == 0 {
				add("%s: labels are missing; every alert needs labels, alertname among them", where)
			} else if strings.TrimSpace(a.Labels["alertname"]) == "" {
				add("%s: labels have no alertname; every alert needs one (Prometheus alerting rules set it)", where)
			}
			if err := checkMap(a.Labels); err != "" {
				add("%s: labels: %s", where, err)
			}
			if err := checkMap(a.Annotations); err != "" {
				add("%s: annotations: %s", where, err)
			}
			if len(a.Fingerprint) > 128 {
				add("%s: fingerprint is %d characters; Alertmanager's are 16", where, len(a.Fingerprint))
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid Alertmanager payload: %s", strings.Join(problems, "; "))
	}
	return &p, nil
}

func checkMap(m map[string]string) string {
	if len(m) > maxLabels {
		return fmt.Sprintf("%d entries; at most %d are accepted", len(m), maxLabels)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			return "a key is empty"
		}
		if len(k) > 256 {
			return fmt.Sprintf("key %.40q… is %d characters; at most 256", k, len(k))
		}
		if len(m[k]) > maxLabelValue {
			return fmt.Sprintf("%s is %d characters; at most %d", k, len(m[k]), maxLabelValue)
		}
	}
	return ""
}

func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
