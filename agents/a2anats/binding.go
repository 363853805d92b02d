// Package a2anats carries A2A 1.0 (the Agent2Agent protocol) over NATS, the opsmesh agents'
// messaging backbone, and serves the standard HTTP JSON-RPC binding beside it. It owns the NATS
// binding (subjects, headers, streaming frames, error codes; docs/a2a-nats.md), the a2aclient
// transport for it, durable A2A tasks in JetStream KV OPSMESH_TASKS, agent cards in KV
// OPSMESH_AGENTS (discovery), and large bodies in the object store OPSMESH_A2A_BLOBS. The A2A types
// and request handling are a2a-go's (github.com/a2aproject/a2a-go/v2); this package must not
// re-implement them, and it must not reason about tasks: agents plug in as an
// a2asrv.AgentExecutor.
package a2anats

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

// ProtocolNATS names the NATS binding in an agent card's supportedInterfaces (A2A 1.0 §5.8
// allows custom bindings named by a URI).
const ProtocolNATS a2a.TransportProtocol = "https://opsmesh.dev/a2a/bindings/nats/v1"

// Names on NATS.
const (
	// SubjectPrefix starts every agent's request subject: opsmesh.a2a.<namespace>.<agent>.
	SubjectPrefix = "opsmesh.a2a"
	// TasksBucket is the JetStream KV bucket of A2A tasks, key <namespace>.<agent>.<task id>.
	TasksBucket = "OPSMESH_TASKS"
	// AgentsBucket is the JetStream KV bucket of agent cards, key <namespace>.<agent>.
	AgentsBucket = "OPSMESH_AGENTS"
	// BlobsBucket is the JetStream object store for bodies larger than the NATS max payload.
	BlobsBucket = "OPSMESH_A2A_BLOBS"
)

// Headers of the binding beyond the A2A service parameters (A2A-Version, A2A-Extensions, ...),
// which travel as NATS headers of the same name.
const (
	// HeaderFrame marks a streaming frame: "event" for an event (or error) frame, "end" for the
	// last frame of a stream.
	HeaderFrame = "Opsmesh-Frame"
	// HeaderTimeout is the caller's remaining deadline in milliseconds; the agent stops working on
	// the request when it passes.
	HeaderTimeout = "Opsmesh-Timeout-Ms"
	// HeaderBodyObject names the object in BlobsBucket holding this message's body, for bodies
	// beyond the NATS max payload; the message itself has an empty body.
	HeaderBodyObject = "Opsmesh-Body-Object"
	// headerForwarded marks a SubscribeToTask request forwarded from one replica to the one
	// running the task.
	headerForwarded = "Opsmesh-Forwarded"
)

const (
	frameEvent = "event"
	frameEnd   = "end"
)

// ErrAgentNotAvailable is returned (wrapped, with the agent's name) when no replica of an agent
// is running: a NATS "no responders", or no card in OPSMESH_AGENTS.
var ErrAgentNotAvailable = errors.New("agent is not available")

// Kubernetes names: DNS-1123 labels, which are also valid NATS subject tokens and KV keys.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func checkName(namespace, name string) error {
	if !nameRE.MatchString(namespace) {
		return fmt.Errorf("namespace %q is not a Kubernetes name (lower-case letters, digits and '-', at most 63)", namespace)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("agent name %q is not a Kubernetes name (lower-case letters, digits and '-', at most 63)", name)
	}
	return nil
}

// Subject is the NATS subject an agent is served on: opsmesh.a2a.<namespace>.<agent>.
func Subject(namespace, name string) string {
	return SubjectPrefix + "." + namespace + "." + name
}

// InterfaceURL is the NATS binding's URL in an agent card: nats:<subject>. It names the subject
// only; which NATS servers to reach is the client's own connection.
func InterfaceURL(namespace, name string) string { return "nats:" + Subject(namespace, name) }

// ParseRef splits "<namespace>/<name>".
func ParseRef(ref string) (namespace, name string, err error) {
	ns, n, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", fmt.Errorf("agent %q: name an agent as <namespace>/<name>, e.g. ops/gpu-specialist", ref)
	}
	if err := checkName(ns, n); err != nil {
		return "", "", fmt.Errorf("agent %q: %w", ref, err)
	}
	return ns, n, nil
}

// parseInterfaceURL reads the namespace and name back from an InterfaceURL.
func parseInterfaceURL(raw string) (namespace, name string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" || u.Opaque == "" {
		return "", "", fmt.Errorf("interface URL %q is not a NATS binding URL; expected nats:%s.<namespace>.<agent>", raw, SubjectPrefix)
	}
	rest, ok := strings.CutPrefix(u.Opaque, SubjectPrefix+".")
	if !ok {
		return "", "", fmt.Errorf("interface URL %q: subject does not start with %s.", raw, SubjectPrefix)
	}
	ns, n, ok := strings.Cut(rest, ".")
	if !ok {
		return "", "", fmt.Errorf("interface URL %q: expected nats:%s.<namespace>.<agent>", raw, SubjectPrefix)
	}
	if err := checkName(ns, n); err != nil {
		return "", "", fmt.Errorf("interface URL %q: %w", raw, err)
	}
	return ns, n, nil
}
