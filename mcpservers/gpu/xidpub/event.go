package xidpub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xid"
)

// Stream is the JetStream stream that keeps GPU events, and Subjects its subjects.
const (
	Stream   = "OPSMESH_GPU"
	Subjects = "opsmesh.gpu.>"
)

// maxEventBytes bounds an event message; DecodeEvent refuses larger ones.
const maxEventBytes = 64 << 10

// Event is one XID event as published on opsmesh.gpu.<node>.xid, JSON-encoded.
type Event struct {
	Node      string    `json:"node"`
	GPUIndex  int       `json:"gpuIndex"`
	GPUUUID   string    `json:"gpuUUID"`
	XID       int       `json:"xid"`
	Time      time.Time `json:"time"`
	Verdict   string    `json:"verdict"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
	Simulated bool      `json:"simulated"`
}

// NewEvent is the event of e seen on node, with the XID catalog's verdict, action and reason.
func NewEvent(node string, simulated bool, e gpu.XIDEvent) Event {
	entry := xid.Lookup(e.Code)
	return Event{
		Node: node, GPUIndex: e.Index, GPUUUID: e.UUID, XID: e.Code, Time: e.Time.UTC(),
		Verdict: entry.Verdict.String(), Action: entry.Action.String(), Reason: entry.Reason,
		Simulated: simulated,
	}
}

// MsgID is the event's Nats-Msg-Id, "<node>/<gpuUUID>/<xid>/<unix-nanos>": JetStream stores an
// event once however often it is published within the stream's duplicate window.
func (e Event) MsgID() string {
	return fmt.Sprintf("%s/%s/%d/%d", e.Node, e.GPUUUID, e.XID, e.Time.UnixNano())
}

// Subject is the subject the event is published on, opsmesh.gpu.<node>.xid.
func (e Event) Subject() (string, error) {
	tok, err := SubjectToken(e.Node)
	if err != nil {
		return "", err
	}
	return "opsmesh.gpu." + tok + ".xid", nil
}

// SubjectToken is node's name as one NATS subject token. A node name is a DNS name (letters,
// digits, '-' and '.'; at most 253 characters); its dots, which would split the token, become
// '_', which no node name contains, so two nodes never share a subject. Anything else (spaces,
// wildcards, '_', control characters) is refused.
func SubjectToken(node string) (string, error) {
	if node == "" {
		return "", errors.New("the node name is empty: NATS subject opsmesh.gpu.<node>.xid needs one; pass --node-name or set $NODE_NAME")
	}
	if len(node) > 253 {
		return "", fmt.Errorf("node name %.40q… is %d characters long; a node name has at most 253", node, len(node))
	}
	for _, r := range node {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return "", fmt.Errorf("node name %q cannot name the NATS subject opsmesh.gpu.<node>.xid: it contains %q, and a node name has only letters, digits, '-' and '.'; pass --node-name", node, r)
		}
	}
	if strings.HasPrefix(node, ".") || strings.HasSuffix(node, ".") || strings.Contains(node, "..") {
		return "", fmt.Errorf("node name %q cannot name the NATS subject opsmesh.gpu.<node>.xid: it has an empty label (a leading, trailing or double '.'); pass --node-name", node)
	}
	return strings.ReplaceAll(node, ".", "_"), nil
}

// DecodeEvent decodes and checks one event message, as a consumer (the controller) reads it
// from the stream. Unknown fields are ignored, so that publishers may add fields.
func DecodeEvent(data []byte) (Event, error) {
	if len(data) > maxEventBytes {
		return Event{}, fmt.Errorf("XID event is %d bytes; at most %d are accepted", len(data), maxEventBytes)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("decoding XID event: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, errors.New("decoding XID event: data after the JSON object")
	}
	if _, err := SubjectToken(e.Node); err != nil {
		return Event{}, fmt.Errorf("XID event: %w", err)
	}
	switch {
	case e.XID <= 0:
		return Event{}, fmt.Errorf("XID event from node %s: xid %d is not an XID code (they are positive)", e.Node, e.XID)
	case e.GPUIndex < -1:
		return Event{}, fmt.Errorf("XID event from node %s: gpuIndex %d is not a GPU index (-1 means unknown)", e.Node, e.GPUIndex)
	case e.Time.IsZero():
		return Event{}, fmt.Errorf("XID event from node %s: time is missing", e.Node)
	}
	return e, nil
}
