package llm

import (
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

// scrubber removes secrets from everything that enters the prompt or leaves in a result:
// redact.Text's shapes and the model's own API key. The MCP servers and the pool redact first;
// this is the last line before text leaves the process.
type scrubber struct {
	apiKey string
}

// Text returns s with every secret shape replaced by redact.Marker.
func (sc scrubber) Text(s string) string {
	if sc.apiKey != "" && len(sc.apiKey) >= 4 {
		s = strings.ReplaceAll(s, sc.apiKey, redact.Marker)
	}
	return redact.Text(s)
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
