package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/opsmesh/opsmesh/agents/runbook"
)

// Request is what an agent is asked, as the data part of an A2A message (docs/agents.md). A
// message with only a text part is read as Request{Question: text}, or as Request{Subject: text}
// when the text is one kind/namespace/name.
type Request struct {
	// Subject is the object to investigate: kind/namespace/name, or node/name.
	Subject string `json:"subject,omitempty"`
	// Namespace to investigate when there is no subject.
	Namespace string `json:"namespace,omitempty"`
	// Question in words: the incident's summary, or what a person asked.
	Question string `json:"question,omitempty"`
}

// maxRequest bounds a request's fields.
const maxRequest = 4096

// ParseRequest reads the Request in an A2A message and checks it; the error says what to send.
func ParseRequest(m *a2a.Message) (Request, error) {
	if m == nil || len(m.Parts) == 0 {
		return Request{}, errors.New(`the message has no parts: send a data part {"subject": "kind/namespace/name", "question": "..."} or a text part`)
	}
	var r Request
	var texts []string
	found := false
	for _, p := range m.Parts {
		if p == nil {
			continue
		}
		if d := p.Data(); d != nil {
			raw, err := json.Marshal(d)
			if err != nil {
				return Request{}, fmt.Errorf("the data part is not JSON: %w", err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				return Request{}, fmt.Errorf(`the data part is not a request {"subject", "namespace", "question"}: %w`, err)
			}
			found = true
			continue
		}
		if t := strings.TrimSpace(p.Text()); t != "" {
			texts = append(texts, t)
		}
	}
	if !found {
		text := strings.Join(texts, "\n")
		if !strings.ContainsAny(text, " \n\t") && strings.Count(text, "/") >= 1 {
			r.Subject = text
		} else {
			r.Question = text
		}
	}
	if r.Subject == "" && r.Namespace == "" && r.Question == "" {
		return Request{}, errors.New(`the request is empty: give a subject (kind/namespace/name), a namespace, or a question`)
	}
	for name, v := range map[string]string{"subject": r.Subject, "namespace": r.Namespace, "question": r.Question} {
		if len(v) > maxRequest {
			return Request{}, fmt.Errorf("the request's %s is %d bytes: at most %d", name, len(v), maxRequest)
		}
	}
	if r.Subject != "" {
		if _, _, _, err := runbook.ParseSubject(r.Subject, r.Namespace); err != nil {
			return Request{}, err
		}
	}
	return r, nil
}

// resolve returns r with its subject's kind resolved by kinds (runbook.Canonical): kind/namespace/name
// with the kind's lower-case name, or kind/name for a cluster-scoped kind.
func (r Request) resolve(ctx context.Context, kinds runbook.Kinds) (Request, error) {
	if r.Subject == "" {
		return r, nil
	}
	s, err := runbook.Canonical(ctx, kinds, r.Subject, r.Namespace)
	if err != nil {
		return Request{}, err
	}
	r.Subject = s
	return r, nil
}

func (r Request) question() runbook.Question {
	return runbook.Question{Subject: r.Subject, Namespace: r.Namespace, Text: r.Question}
}
