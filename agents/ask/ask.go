// Package ask is how opsmesh asks an agent for a diagnosis over A2A: one Client, on top of the
// NATS binding (agents/a2anats), shared by a coordinator delegating to its specialists
// (agents/runtime), the controller asking a coordinator about an Incident, the gateway's
// ask_agent tool and the CLI (opsmesh diagnose, opsmesh chat).
//
// It owns the request message (an A2A message whose data part is the request of
// docs/agents.md, or a text part as a person typed it), the reading of the answer (the task's
// state, its diagnosis artifact decoded into agents/diagnosis.Diagnosis, its text) and errors
// that name the agent and say what to do. It must not judge, merge or store a diagnosis (that is
// its callers' work) nor host agents (agents/runtime does); it sets no timeout of its own: the
// caller's context bounds every call.
package ask

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/nats-io/nats.go"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
)

// Client asks agents reached over one NATS connection. It is safe for concurrent use.
type Client struct {
	nc *nats.Conn
}

// New is a client for the agents served on nc (the connection stays the caller's to close).
func New(nc *nats.Conn) *Client { return &Client{nc: nc} }

// Request is what an agent is asked.
type Request struct {
	// Agent to ask, as namespace/name.
	Agent string
	// Subject is the object to investigate: kind/namespace/name, or node/name.
	Subject string
	// Namespace to investigate when there is no subject.
	Namespace string
	// Question in words: an Incident's summary, or what a person asked.
	Question string
	// Text, instead of Subject, Namespace and Question, is a line as a person typed it, sent as
	// a text part: the agent reads one kind/namespace/name as the subject, anything else as the
	// question.
	Text string
}

// payload is a Request as the data part of an A2A message: the shape agents/runtime's
// ParseRequest reads (docs/agents.md).
type payload struct {
	Subject   string `json:"subject,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Question  string `json:"question,omitempty"`
}

// Message is req as the A2A message sent to the agent.
func (req Request) Message() (*a2a.Message, error) {
	p := payload{Subject: req.Subject, Namespace: req.Namespace, Question: req.Question}
	switch {
	case req.Text != "" && p != (payload{}):
		return nil, fmt.Errorf("the request to agent %s has both a text and a subject, namespace or question: send one or the other", req.Agent)
	case req.Text != "":
		return a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(req.Text)), nil
	case p == (payload{}):
		return nil, fmt.Errorf("the request to agent %s is empty: give a subject (kind/namespace/name), a namespace or a question", req.Agent)
	}
	return a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(p)), nil
}

// Reply is what else an agent's answer carries besides its diagnosis.
type Reply struct {
	// Agent that answered, namespace/name.
	Agent string
	// TaskID is the A2A task the agent ran (empty when it answered with no task).
	TaskID string
	// State the task ended in.
	State a2a.TaskState
	// Text is the text parts of the task's artifacts joined: the agent's own rendering of its
	// diagnosis (empty when it wrote none).
	Text string
}

var (
	// ErrNotCompleted is returned (wrapped, with the agent, the task and its status message)
	// when the agent's task ended in a state other than completed: it could not diagnose.
	ErrNotCompleted = errors.New("the agent's task did not complete")
	// ErrNoDiagnosis is returned (wrapped, with the agent and the task) when a completed task
	// carries no diagnosis artifact, or one that does not decode; Reply.Text may still hold
	// the agent's text.
	ErrNoDiagnosis = errors.New("the answer carries no valid diagnosis")
)

// Card reads agent's A2A card (namespace/name): its skills, and whether it is available. An
// agent that is not running is an error wrapping a2anats.ErrAgentNotAvailable that says so.
func (c *Client) Card(ctx context.Context, agent string) (*a2a.AgentCard, error) {
	return a2anats.Resolve(ctx, c.nc, agent)
}

// Diagnose sends req to req.Agent and waits for its diagnosis, as long as ctx allows. Every
// error names the agent: one that is not running wraps a2anats.ErrAgentNotAvailable, a task that
// failed ErrNotCompleted, an answer without a diagnosis ErrNoDiagnosis; an error from the agent
// or the transport is wrapped as it came. The Reply is filled as far as the answer went.
func (c *Client) Diagnose(ctx context.Context, req Request) (*diagnosis.Diagnosis, Reply, error) {
	reply := Reply{Agent: req.Agent}
	msg, err := req.Message()
	if err != nil {
		return nil, reply, err
	}
	ac, err := a2anats.Dial(ctx, c.nc, req.Agent)
	if err != nil {
		return nil, reply, err
	}
	defer func() { _ = ac.Destroy() }()
	res, err := ac.SendMessage(ctx, &a2a.SendMessageRequest{Message: msg})
	if err != nil {
		return nil, reply, fmt.Errorf("asking agent %s over A2A: %w", req.Agent, err)
	}
	task, ok := res.(*a2a.Task)
	if !ok {
		return nil, reply, fmt.Errorf("agent %s answered with a %T, not a task: is it an opsmesh agent? (opsmesh agents answer every request with a task): %w", req.Agent, res, a2a.ErrInvalidAgentResponse)
	}
	reply.TaskID, reply.State, reply.Text = string(task.ID), task.Status.State, artifactText(task)
	if task.Status.State != a2a.TaskStateCompleted {
		return nil, reply, fmt.Errorf("agent %s: task %s %s: %s: %w", req.Agent, task.ID, task.Status.State, StatusText(task), ErrNotCompleted)
	}
	d, err := DiagnosisOf(task)
	if err != nil {
		return nil, reply, fmt.Errorf("agent %s: %w", req.Agent, err)
	}
	return d, reply, nil
}

// DiagnosisOf reads the Diagnosis out of a task's artifacts (the data part agents/runtime
// writes), validating it as diagnosis.Parse does. Its errors wrap ErrNoDiagnosis.
func DiagnosisOf(t *a2a.Task) (*diagnosis.Diagnosis, error) {
	if t == nil {
		return nil, fmt.Errorf("no task: %w", ErrNoDiagnosis)
	}
	for _, a := range t.Artifacts {
		if a == nil {
			continue
		}
		for _, p := range a.Parts {
			if p == nil || p.Data() == nil {
				continue
			}
			raw, err := json.Marshal(p.Data())
			if err != nil {
				return nil, fmt.Errorf("task %s: the diagnosis artifact is not JSON (%v): %w", t.ID, err, ErrNoDiagnosis)
			}
			d, err := diagnosis.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("task %s: %w (%w)", t.ID, err, ErrNoDiagnosis)
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("task %s (%s) has no diagnosis artifact: %s: %w", t.ID, t.Status.State, StatusText(t), ErrNoDiagnosis)
}

// StatusText is the text of a task's status message ("no message" when it has none): why a
// task failed.
func StatusText(t *a2a.Task) string {
	if t == nil || t.Status.Message == nil {
		return "no message"
	}
	var parts []string
	for _, p := range t.Status.Message.Parts {
		if p != nil && p.Text() != "" {
			parts = append(parts, p.Text())
		}
	}
	if len(parts) == 0 {
		return "no message"
	}
	return strings.Join(parts, " ")
}

// artifactText joins the text parts of a task's artifacts.
func artifactText(t *a2a.Task) string {
	var b strings.Builder
	for _, a := range t.Artifacts {
		if a == nil {
			continue
		}
		for _, p := range a.Parts {
			if p != nil {
				b.WriteString(p.Text())
			}
		}
	}
	return b.String()
}
