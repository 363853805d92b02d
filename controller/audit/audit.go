// Package audit keeps the incident audit trail on the JetStream stream OPSMESH_INCIDENTS: one
// message per timeline entry of an Incident, on opsmesh.incidents.<namespace>.<name>.<event>,
// de-duplicated by its Nats-Msg-Id (<incident uid>.<seq>), so publishing an entry again — after
// a controller restart or a NATS outage — stores it once. It publishes and reads; it does not
// decide what happens to an incident.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Stream is the audit stream, Subjects its subjects.
const (
	Stream   = "OPSMESH_INCIDENTS"
	Subjects = "opsmesh.incidents.>"
)

// DuplicateWindow is how long the stream remembers a Nats-Msg-Id. An entry published again
// within it (the controller restarted between publishing and recording that it did) is stored
// once.
const DuplicateWindow = 30 * time.Minute

// Event is one audit message: a timeline entry and the incident it belongs to.
type Event struct {
	Namespace string              `json:"namespace"`
	Incident  string              `json:"incident"`
	UID       string              `json:"uid"`
	Seq       int64               `json:"seq"`
	Time      time.Time           `json:"time"`
	Event     string              `json:"event"`
	Phase     opsv1.IncidentPhase `json:"phase,omitempty"`
	Message   string              `json:"message,omitempty"`
	Actor     string              `json:"actor,omitempty"`
	// ActionID and IdempotencyKey name the remediation action an Action* event is about.
	ActionID       string `json:"actionID,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// MsgID is the event's Nats-Msg-Id.
func (e Event) MsgID() string { return fmt.Sprintf("%s.%d", e.UID, e.Seq) }

// Subject is opsmesh.incidents.<namespace>.<name>.<event>. Namespaces and names are DNS labels
// and subdomains; a name's dots become '_' so that it stays one subject token.
func (e Event) Subject() string {
	return "opsmesh.incidents." + token(e.Namespace) + "." + token(e.Incident) + "." + token(e.Event)
}

func token(s string) string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_").Replace(s)
}

// Trail publishes audit events.
type Trail struct {
	js jetstream.JetStream
}

// New makes sure the stream exists (file storage, the duplicate window above) and returns a
// Trail on it.
func New(ctx context.Context, js jetstream.JetStream) (*Trail, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "opsmesh incident audit trail: one message per Incident timeline entry",
		Subjects:    []string{Subjects},
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		MaxAge:      90 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("creating JetStream stream %s: %w", Stream, err)
	}
	return &Trail{js: js}, nil
}

// Publish stores the timeline entries of inc whose Seq is above inc.Status.AuditedSeq, in order,
// and returns the Seq of the last one stored. It stops at the first failure, returning the Seq
// stored so far with the error; the caller records the Seq and retries later.
func (t *Trail) Publish(ctx context.Context, inc *opsv1.Incident) (int64, error) {
	done := inc.Status.AuditedSeq
	for _, e := range inc.Status.Timeline {
		if e.Seq <= done {
			continue
		}
		ev := Of(inc, e)
		body, err := json.Marshal(ev)
		if err != nil {
			return done, err
		}
		m := nats.NewMsg(ev.Subject())
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, ev.MsgID())
		if _, err := t.js.PublishMsg(ctx, m); err != nil {
			return done, fmt.Errorf("publishing the audit event %s of Incident %s/%s on %s: %w", e.Event, inc.Namespace, inc.Name, Stream, err)
		}
		done = e.Seq
	}
	return done, nil
}

// Of is the audit event of timeline entry e of inc. An entry of an action names the action in
// its message as "action <id>: ..."; Of copies the id and the action's idempotency key.
func Of(inc *opsv1.Incident, e opsv1.TimelineEntry) Event {
	ev := Event{Namespace: inc.Namespace, Incident: inc.Name, UID: string(inc.UID), Seq: e.Seq,
		Time: e.Time.UTC(), Event: e.Event, Phase: e.Phase, Message: e.Message, Actor: e.Actor}
	if rest, ok := strings.CutPrefix(e.Message, "action "); ok {
		id, _, _ := strings.Cut(rest, ":")
		for _, a := range inc.Status.Actions {
			if a.ID == id {
				ev.ActionID, ev.IdempotencyKey = a.ID, a.IdempotencyKey
			}
		}
	}
	return ev
}

// Read returns the audit events stored for one incident (namespace/name), oldest first. Tests and
// `opsmesh incidents get --audit` read the trail with it.
func Read(ctx context.Context, js jetstream.JetStream, namespace, name string) ([]Event, error) {
	subject := "opsmesh.incidents." + token(namespace) + "." + token(name) + ".>"
	c, err := js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("reading %s for Incident %s/%s: %w", Stream, namespace, name, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []Event
	pending := info.NumPending
	for pending > 0 {
		batch, err := c.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				return out, fmt.Errorf("%s: message on %s is not an audit event: %w", Stream, m.Subject(), err)
			}
			out = append(out, ev)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return out, err
		}
		if n == 0 {
			break
		}
		pending -= uint64(n)
	}
	return out, nil
}
