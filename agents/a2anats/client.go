package a2anats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel"
)

// Transport is the a2aclient transport of the NATS binding: requests go to
// opsmesh.a2a.<namespace>.<agent> (any replica), streams come back on an inbox.
type Transport struct {
	nc        *nats.Conn
	namespace string
	name      string
	subject   string
	blobs     *blobs
}

var _ a2aclient.Transport = (*Transport)(nil)

// NewTransport is a transport to agent namespace/name over nc.
func NewTransport(nc *nats.Conn, namespace, name string) (*Transport, error) {
	if err := checkName(namespace, name); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("agent %s/%s: JetStream: %w", namespace, name, err)
	}
	return &Transport{nc: nc, namespace: namespace, name: name, subject: Subject(namespace, name), blobs: newBlobs(js, 0)}, nil
}

// WithNATSTransport lets an a2aclient.Factory (a2aclient.NewFromCard, ...) reach agents over the
// NATS binding on nc.
func WithNATSTransport(nc *nats.Conn) a2aclient.FactoryOption {
	return a2aclient.WithTransport(ProtocolNATS, a2aclient.TransportFactoryFn(
		func(_ context.Context, _ *a2a.AgentCard, iface *a2a.AgentInterface) (a2aclient.Transport, error) {
			ns, name, err := parseInterfaceURL(iface.URL)
			if err != nil {
				return nil, err
			}
			return NewTransport(nc, ns, name)
		}))
}

// Resolve reads agent "<namespace>/<name>"'s card from OPSMESH_AGENTS. An agent none of whose
// replicas has refreshed its card within the bucket's TTL is not available.
func Resolve(ctx context.Context, nc *nats.Conn, ref string) (*a2a.AgentCard, error) {
	ns, name, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("resolving agent %s: JetStream: %w", ref, err)
	}
	kv, err := js.KeyValue(ctx, AgentsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("agent %s is not available: KV bucket %s does not exist, so no agent has ever run on this NATS; start the agent: %w", ref, AgentsBucket, ErrAgentNotAvailable)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving agent %s: KV %s: %w", ref, AgentsBucket, err)
	}
	e, err := kv.Get(ctx, ns+"."+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("agent %s is not available: no card in KV %s (the agent is not running, or stopped and its card expired); start it, or check the namespace and name: %w", ref, AgentsBucket, ErrAgentNotAvailable)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving agent %s: KV %s: %w", ref, AgentsBucket, err)
	}
	var card a2a.AgentCard
	if err := json.Unmarshal(e.Value(), &card); err != nil {
		return nil, fmt.Errorf("agent %s: the card in KV %s is not an A2A agent card: %w", ref, AgentsBucket, err)
	}
	return &card, nil
}

// Dial resolves agent "<namespace>/<name>" and returns an ordinary a2a-go client for it, speaking
// the NATS binding (the first interface of opsmesh cards) over nc. More factory options (call
// interceptors, config) may be given.
func Dial(ctx context.Context, nc *nats.Conn, ref string, opts ...a2aclient.FactoryOption) (*a2aclient.Client, error) {
	card, err := Resolve(ctx, nc, ref)
	if err != nil {
		return nil, err
	}
	c, err := a2aclient.NewFromCard(ctx, card, append([]a2aclient.FactoryOption{WithNATSTransport(nc)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", ref, err)
	}
	return c, nil
}

type rpcClientRequest struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
	ID      string `json:"id"`
}

func (t *Transport) ref() string { return t.namespace + "/" + t.name }

func (t *Transport) unavailable() error {
	return fmt.Errorf("agent %s is not available: nothing serves %s (NATS: no responders); start the agent, or check its namespace and name: %w", t.ref(), t.subject, ErrAgentNotAvailable)
}

// newRequest encodes a request, offloading a body beyond the max payload to the object store.
func (t *Transport) newRequest(ctx context.Context, method string, params a2aclient.ServiceParams, payload any) (*nats.Msg, error) {
	body, err := json.Marshal(rpcClientRequest{JSONRPC: rpcVersion, Method: method, Params: payload, ID: nuid.Next()})
	if err != nil {
		return nil, fmt.Errorf("agent %s: encoding the %s request: %w", t.ref(), method, err)
	}
	m := &nats.Msg{Subject: t.subject, Header: nats.Header{}, Data: body}
	for k, v := range params {
		m.Header[k] = v
	}
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier(m.Header))
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			return nil, context.DeadlineExceeded
		}
		m.Header.Set(HeaderTimeout, strconv.FormatInt(ms, 10))
	}
	if len(body) > maxInline(t.nc) {
		if err := t.blobs.offload(ctx, m); err != nil {
			return nil, fmt.Errorf("agent %s: the %s request is %d bytes, beyond the NATS max payload of %d, and %w", t.ref(), method, len(body), t.nc.MaxPayload(), err)
		}
	}
	return m, nil
}

func (t *Transport) decode(ctx context.Context, m *nats.Msg) (json.RawMessage, error) {
	body, err := t.blobs.body(ctx, m, 0)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", t.ref(), err)
	}
	var resp rpcClientResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("agent %s answered with something other than JSON-RPC (%v): %w", t.ref(), err, a2a.ErrInvalidAgentResponse)
	}
	if resp.Error != nil {
		return nil, fromRPCError(resp.Error)
	}
	return resp.Result, nil
}

// DefaultRequestTimeout bounds a non-streaming call whose context has no deadline (as a2a-go's
// HTTP client does): a request NATS delivered to a replica that then died gets no reply, and the
// caller must not wait forever.
const DefaultRequestTimeout = 3 * time.Minute

func (t *Transport) call(ctx context.Context, method string, params a2aclient.ServiceParams, payload, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRequestTimeout)
		defer cancel()
	}
	m, err := t.newRequest(ctx, method, params, payload)
	if err != nil {
		return err
	}
	resp, err := t.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return t.unavailable()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("agent %s: %s: %w", t.ref(), method, ctx.Err())
		}
		return fmt.Errorf("agent %s: %s over NATS: %w", t.ref(), method, err)
	}
	raw, err := t.decode(ctx, resp)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("agent %s: %s: %w", t.ref(), method, ctx.Err())
		}
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("agent %s: the %s result does not decode (%v): %w", t.ref(), method, err, a2a.ErrInvalidAgentResponse)
	}
	return nil
}

// stream sends a streaming request and yields each event until the end frame.
func (t *Transport) stream(ctx context.Context, method string, params a2aclient.ServiceParams, payload any) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		m, err := t.newRequest(ctx, method, params, payload)
		if err != nil {
			yield(nil, err)
			return
		}
		inbox := t.nc.NewRespInbox()
		sub, err := t.nc.SubscribeSync(inbox)
		if err != nil {
			yield(nil, fmt.Errorf("agent %s: subscribing to the stream inbox: %w", t.ref(), err))
			return
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			yield(nil, err)
			return
		}
		m.Reply = inbox
		if err := t.nc.PublishMsg(m); err != nil {
			yield(nil, fmt.Errorf("agent %s: %s over NATS: %w", t.ref(), method, err))
			return
		}
		for {
			f, err := sub.NextMsgWithContext(ctx)
			if errors.Is(err, nats.ErrNoResponders) {
				yield(nil, t.unavailable())
				return
			}
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				yield(nil, fmt.Errorf("agent %s: %s: %w", t.ref(), method, err))
				return
			}
			if f.Header.Get("Status") == "503" {
				yield(nil, t.unavailable())
				return
			}
			kind := f.Header.Get(HeaderFrame)
			if kind == frameEnd {
				return
			}
			raw, err := t.decode(ctx, f)
			if err != nil {
				yield(nil, err)
				return
			}
			var sr a2a.StreamResponse
			if err := json.Unmarshal(raw, &sr); err != nil {
				yield(nil, fmt.Errorf("agent %s: a %s event does not decode (%v): %w", t.ref(), method, err, a2a.ErrInvalidAgentResponse))
				return
			}
			if !yield(sr.Event, nil) {
				return
			}
			if kind != frameEvent {
				return // a plain reply is the whole answer
			}
		}
	}
}

// GetTask implements a2aclient.Transport.
func (t *Transport) GetTask(ctx context.Context, p a2aclient.ServiceParams, req *a2a.GetTaskRequest) (*a2a.Task, error) {
	var out a2a.Task
	if err := t.call(ctx, MethodGetTask, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTasks implements a2aclient.Transport.
func (t *Transport) ListTasks(ctx context.Context, p a2aclient.ServiceParams, req *a2a.ListTasksRequest) (*a2a.ListTasksResponse, error) {
	var out a2a.ListTasksResponse
	if err := t.call(ctx, MethodListTasks, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelTask implements a2aclient.Transport.
func (t *Transport) CancelTask(ctx context.Context, p a2aclient.ServiceParams, req *a2a.CancelTaskRequest) (*a2a.Task, error) {
	var out a2a.Task
	if err := t.call(ctx, MethodCancelTask, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SendMessage implements a2aclient.Transport.
func (t *Transport) SendMessage(ctx context.Context, p a2aclient.ServiceParams, req *a2a.SendMessageRequest) (a2a.SendMessageResult, error) {
	var sr a2a.StreamResponse
	if err := t.call(ctx, MethodSendMessage, p, req, &sr); err != nil {
		return nil, err
	}
	switch e := sr.Event.(type) {
	case *a2a.Task:
		return e, nil
	case *a2a.Message:
		return e, nil
	}
	return nil, fmt.Errorf("agent %s: SendMessage answered with %T, not a task or a message: %w", t.ref(), sr.Event, a2a.ErrInvalidAgentResponse)
}

// SubscribeToTask implements a2aclient.Transport.
func (t *Transport) SubscribeToTask(ctx context.Context, p a2aclient.ServiceParams, req *a2a.SubscribeToTaskRequest) iter.Seq2[a2a.Event, error] {
	return t.stream(ctx, MethodSubscribeToTask, p, req)
}

// SendStreamingMessage implements a2aclient.Transport.
func (t *Transport) SendStreamingMessage(ctx context.Context, p a2aclient.ServiceParams, req *a2a.SendMessageRequest) iter.Seq2[a2a.Event, error] {
	return t.stream(ctx, MethodSendStreamingMessage, p, req)
}

// GetTaskPushConfig implements a2aclient.Transport.
func (t *Transport) GetTaskPushConfig(ctx context.Context, p a2aclient.ServiceParams, req *a2a.GetTaskPushConfigRequest) (*a2a.PushConfig, error) {
	var out a2a.PushConfig
	if err := t.call(ctx, MethodGetPushConfig, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTaskPushConfigs implements a2aclient.Transport.
func (t *Transport) ListTaskPushConfigs(ctx context.Context, p a2aclient.ServiceParams, req *a2a.ListTaskPushConfigRequest) ([]*a2a.PushConfig, error) {
	var out a2a.ListTaskPushConfigResponse
	if err := t.call(ctx, MethodListPushConfigs, p, req, &out); err != nil {
		return nil, err
	}
	return out.Configs, nil
}

// CreateTaskPushConfig implements a2aclient.Transport.
func (t *Transport) CreateTaskPushConfig(ctx context.Context, p a2aclient.ServiceParams, req *a2a.PushConfig) (*a2a.PushConfig, error) {
	var out a2a.PushConfig
	if err := t.call(ctx, MethodCreatePushConfig, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTaskPushConfig implements a2aclient.Transport.
func (t *Transport) DeleteTaskPushConfig(ctx context.Context, p a2aclient.ServiceParams, req *a2a.DeleteTaskPushConfigRequest) error {
	return t.call(ctx, MethodDeletePushConfig, p, req, nil)
}

// GetExtendedAgentCard implements a2aclient.Transport.
func (t *Transport) GetExtendedAgentCard(ctx context.Context, p a2aclient.ServiceParams, req *a2a.GetExtendedAgentCardRequest) (*a2a.AgentCard, error) {
	var out a2a.AgentCard
	if err := t.call(ctx, MethodGetExtendedAgentCard, p, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Destroy implements a2aclient.Transport; the NATS connection belongs to the caller.
func (t *Transport) Destroy() error { return nil }
