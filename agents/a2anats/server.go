package a2anats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/opsmesh/opsmesh/internal/metrics"
	"github.com/opsmesh/opsmesh/internal/tracing"
)

// Option configures Serve.
type Option func(*serveConfig)

type serveConfig struct {
	buckets     BucketConfig
	http        *HTTPConfig
	logger      *slog.Logger
	maxInFlight int
	maxBody     int
}

// WithBuckets sizes the JetStream buckets created when missing (replicas, TTLs).
func WithBuckets(c BucketConfig) Option { return func(s *serveConfig) { s.buckets = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *serveConfig) { s.logger = l } }

// WithMaxInFlight bounds the requests one replica works on at once (default 4096); more wait in
// the NATS subscription's pending buffer.
func WithMaxInFlight(n int) Option { return func(s *serveConfig) { s.maxInFlight = n } }

// WithMaxBody bounds a request body, including one carried in the object store (default 32 MiB);
// a larger one is refused with "invalid request".
func WithMaxBody(n int) Option { return func(s *serveConfig) { s.maxBody = n } }

// HTTPConfig serves the standard HTTP JSON-RPC binding beside NATS.
type HTTPConfig struct {
	// Listener to serve on (e.g. net.Listen("tcp", ":8080")); Serve closes it on Close.
	Listener net.Listener
	// PublicURL is the base URL clients use (default http://<listener address>). The JSON-RPC
	// endpoint is PublicURL + JSONRPCPath; the card is at /.well-known/agent-card.json.
	PublicURL string
	// BearerToken must be sent as "Authorization: Bearer <token>" on the JSON-RPC endpoint; the
	// card is public. Required.
	BearerToken string
}

// WithHTTP also serves the agent over HTTP JSON-RPC, listed second in its card.
func WithHTTP(c HTTPConfig) Option { return func(s *serveConfig) { s.http = &c } }

// JSONRPCPath is where the HTTP JSON-RPC binding is served.
const JSONRPCPath = "/a2a"

// Server is one replica of an agent, served on opsmesh.a2a.<namespace>.<agent> in the queue group
// of the same name, with its card kept fresh in OPSMESH_AGENTS.
type Server struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	namespace string
	name      string
	subject   string
	card      *a2a.AgentCard
	handler   a2asrv.RequestHandler
	store     *TaskStore
	cards     jetstream.KeyValue
	blobs     *blobs
	log       *slog.Logger
	cfg       serveConfig

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	work   chan *nats.Msg
	wg     sync.WaitGroup
	sub    *nats.Subscription

	mu      sync.Mutex
	closing bool                              // Close has begun: no new workers
	running map[a2a.TaskID]*nats.Subscription // tasks executing on this replica

	httpSrv *http.Server
	httpErr chan error
}

// Serve serves agent namespace/name, described by card and run by executor, on nc until ctx ends
// or Close is called. Its tasks live in OPSMESH_TASKS and its card in OPSMESH_AGENTS (both
// created with file storage when missing). The card's supportedInterfaces are set here: the NATS
// binding first, then HTTP JSON-RPC when WithHTTP is given. Card.Capabilities decide what is
// answered: without Streaming, the streaming methods answer "unsupported operation"; push
// notifications are never supported (-32003).
func Serve(ctx context.Context, nc *nats.Conn, namespace, name string, card *a2a.AgentCard, executor a2asrv.AgentExecutor, opts ...Option) (*Server, error) {
	if err := checkName(namespace, name); err != nil {
		return nil, fmt.Errorf("serving agent %s/%s: %w", namespace, name, err)
	}
	if nc == nil || card == nil || executor == nil {
		return nil, fmt.Errorf("serving agent %s/%s: the NATS connection, the card and the executor are required", namespace, name)
	}
	cfg := serveConfig{maxInFlight: 4096, maxBody: 32 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.buckets = cfg.buckets.withDefaults()
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("agent", namespace+"/"+name)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("serving agent %s/%s: JetStream: %w", namespace, name, err)
	}
	store, err := NewTaskStore(ctx, js, namespace, name, cfg.buckets)
	if err != nil {
		return nil, fmt.Errorf("serving agent %s/%s: %w", namespace, name, err)
	}
	cards, err := ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      AgentsBucket,
		Description: "opsmesh agent cards, key <namespace>.<agent>, refreshed while the agent runs",
		History:     1,
		TTL:         cfg.buckets.CardTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.buckets.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("serving agent %s/%s: %w", namespace, name, err)
	}

	c := *card
	c.SupportedInterfaces = []*a2a.AgentInterface{a2a.NewAgentInterface(InterfaceURL(namespace, name), ProtocolNATS)}
	c.Capabilities.PushNotifications = false
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		nc: nc, js: js, namespace: namespace, name: name, subject: Subject(namespace, name),
		store: store, cards: cards, blobs: newBlobs(js, cfg.buckets.Replicas), log: log, cfg: cfg,
		ctx: sctx, cancel: cancel, sem: make(chan struct{}, cfg.maxInFlight), work: make(chan *nats.Msg),
		running: map[a2a.TaskID]*nats.Subscription{},
	}
	if cfg.http != nil {
		if cfg.http.Listener == nil || cfg.http.BearerToken == "" {
			cancel()
			return nil, fmt.Errorf("serving agent %s/%s over HTTP: HTTPConfig needs a Listener and a BearerToken", namespace, name)
		}
		pub := strings.TrimSuffix(cfg.http.PublicURL, "/")
		if pub == "" {
			pub = "http://" + cfg.http.Listener.Addr().String()
		}
		c.SupportedInterfaces = append(c.SupportedInterfaces, a2a.NewAgentInterface(pub+JSONRPCPath, a2a.TransportProtocolJSONRPC))
		c.SecuritySchemes = a2a.NamedSecuritySchemes{"bearer": a2a.HTTPAuthSecurityScheme{Scheme: "Bearer", Description: "the agent's bearer token, over the HTTP JSON-RPC binding; the NATS binding is secured by the NATS server"}}
		c.SecurityRequirements = a2a.SecurityRequirementsOptions{{"bearer": {}}}
	}
	s.card = &c
	caps := c.Capabilities
	s.handler = a2asrv.NewHandler(&trackingExecutor{inner: executor, s: s},
		a2asrv.WithTaskStore(store),
		a2asrv.WithCapabilityChecks(&caps),
		a2asrv.WithCallInterceptors(versionCheck{agent: namespace + "/" + name}),
		a2asrv.WithLogger(log),
		a2asrv.WithExecutionPanicHandler(s.panicked),
	)

	if err := s.publishCard(ctx); err != nil {
		cancel()
		return nil, err
	}
	sub, err := nc.QueueSubscribe(s.subject, s.subject, s.onMsg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("serving agent %s/%s: subscribing to %s: %w", namespace, name, s.subject, err)
	}
	if err := sub.SetPendingLimits(-1, 256<<20); err != nil {
		log.Warn("cannot raise the pending limits", "error", err)
	}
	s.sub = sub
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		s.Close()
		return nil, fmt.Errorf("serving agent %s/%s: %w", namespace, name, err)
	}
	if cfg.http != nil {
		s.startHTTP()
	}
	s.wg.Add(1)
	go s.refreshCard()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-sctx.Done():
		}
	}()
	log.Info("serving A2A", "subject", s.subject)
	return s, nil
}

// panicked turns a panic in the agent's executor into an internal error for the caller; the
// stack goes to the log, not to the caller.
func (s *Server) panicked(r any) error {
	s.log.Error("the agent's executor panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return fmt.Errorf("agent %s/%s failed (it panicked: %v); see its log: %w", s.namespace, s.name, r, a2a.ErrInternalError)
}

// Card is the card this replica publishes (with its interfaces).
func (s *Server) Card() *a2a.AgentCard { c := *s.card; return &c }

// Handler is a2a-go's request handler behind both bindings.
func (s *Server) Handler() a2asrv.RequestHandler { return s.handler }

// Unsubscribe stops taking new requests (other replicas get them); tasks running here go on and
// still stream to their subscribers. Close does this and more.
func (s *Server) Unsubscribe() {
	s.mu.Lock()
	sub := s.sub
	s.sub = nil
	s.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
		_ = s.nc.FlushTimeout(5 * time.Second)
	}
}

// Running reports whether task id is executing on this replica.
func (s *Server) Running(id a2a.TaskID) bool { return s.runsHere(id) }

// Close stops taking requests, lets the ones in progress finish (their replies are sent) and
// stops refreshing the card, which then expires unless another replica refreshes it.
func (s *Server) Close() {
	s.Unsubscribe()
	if s.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.httpSrv.Shutdown(sctx)
		cancel()
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *Server) publishCard(ctx context.Context) error {
	b, err := json.Marshal(s.card)
	if err != nil {
		return fmt.Errorf("agent %s/%s: encoding the card: %w", s.namespace, s.name, err)
	}
	if _, err := s.cards.Put(ctx, s.namespace+"."+s.name, b); err != nil {
		return fmt.Errorf("agent %s/%s: publishing the card to KV %s: %w", s.namespace, s.name, AgentsBucket, err)
	}
	return nil
}

func (s *Server) refreshCard() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.buckets.CardTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.buckets.CardTTL/3)
			if err := s.publishCard(ctx); err != nil {
				s.log.Warn("card refresh failed", "error", err)
			}
			cancel()
		}
	}
}

// onMsg takes one request off the subscription. It blocks while maxInFlight requests are in
// progress, so excess requests wait in NATS's pending buffer rather than in goroutines.
func (s *Server) onMsg(m *nats.Msg) {
	if m.Reply == "" {
		s.log.Debug("dropping a request without a reply subject", "subject", m.Subject)
		return
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		s.reply(m, encodeError(nil, fmt.Errorf("agent %s/%s is shutting down; retry: %w", s.namespace, s.name, a2a.ErrServerError)))
		return
	}
	select {
	case s.work <- m: // an idle worker takes it
	default:
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			<-s.sem
			s.reply(m, encodeError(nil, fmt.Errorf("agent %s/%s is shutting down; retry: %w", s.namespace, s.name, a2a.ErrServerError)))
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.worker(m)
	}
}

// worker handles m, then stays a while for more: reusing goroutines keeps their grown stacks
// (a2a-go and JSON decoding run deep), which a fresh goroutine per request would grow again.
func (s *Server) worker(m *nats.Msg) {
	defer s.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.handle(m)
		<-s.sem
		idle.Reset(workerIdle)
		select {
		case m = <-s.work:
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

const workerIdle = 2 * time.Second

// serviceParams are the A2A service parameters of a request: every header except the binding's
// own (Opsmesh-*) and NATS's (Nats-*, Status).
func serviceParams(h nats.Header) *a2asrv.ServiceParams {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "opsmesh-") || strings.HasPrefix(lk, "nats-") || lk == "status" || lk == "description" {
			continue
		}
		out[k] = v
	}
	return a2asrv.NewServiceParams(out)
}

func (s *Server) handle(m *nats.Msg) {
	start, method, outcome := time.Now(), "unknown", metrics.OutcomeError
	agent := s.namespace + "/" + s.name
	// The caller's trace continues here (traceparent in the NATS headers).
	ctx, span := tracing.Tracer().Start(otel.GetTextMapPropagator().Extract(s.ctx, headerCarrier(m.Header)), "a2a.serve",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("a2a.agent", agent)))
	defer func() {
		metrics.A2ARequests.WithLabelValues(agent, method, outcome).Inc()
		metrics.A2ARequestDuration.WithLabelValues(agent, method).Observe(time.Since(start).Seconds())
		span.SetName("a2a " + method)
		span.SetAttributes(attribute.String("a2a.method", method), attribute.String("a2a.outcome", outcome))
		if outcome != metrics.OutcomeOK {
			span.SetStatus(otelcodes.Error, outcome)
		}
		span.End()
	}()
	defer func() {
		if r := recover(); r != nil {
			outcome = metrics.OutcomeError
			s.log.Error("panic while handling a request", "panic", r)
			s.reply(m, encodeError(nil, fmt.Errorf("agent %s/%s failed on this request: %v: %w", s.namespace, s.name, r, a2a.ErrInternalError)))
		}
	}()
	if ms := m.Header.Get(HeaderTimeout); ms != "" {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Millisecond)
			defer cancel()
		}
	}
	body, err := s.blobs.body(ctx, m, s.cfg.maxBody)
	if err != nil {
		s.reply(m, encodeError(nil, err))
		return
	}
	call, err := DecodeRequest(body)
	if _, known := paramTypes[call.Method]; known {
		method = call.Method // any other method name is the caller's input: "unknown" bounds the label
	}
	if err != nil {
		s.replyFinal(m, call.Method, encodeError(call.ID, err))
		return
	}
	ctx, _ = a2asrv.NewCallContext(ctx, serviceParams(m.Header))
	if streaming(call.Method) {
		s.stream(ctx, m, call)
		outcome = metrics.OutcomeOK
		return
	}
	result, err := s.invoke(ctx, call)
	if err != nil {
		if ctx.Err() != nil && s.ctx.Err() == nil {
			// The caller's deadline passed: it has stopped waiting and reports that itself.
			s.log.Debug("request outlived its caller's deadline", "method", call.Method, "error", err)
			return
		}
		s.reply(m, encodeError(call.ID, err))
		return
	}
	b, err := encodeResult(call.ID, result)
	if err != nil {
		s.reply(m, encodeError(call.ID, fmt.Errorf("encoding the %s result: %v: %w", call.Method, err, a2a.ErrInternalError)))
		return
	}
	outcome = metrics.OutcomeOK
	s.reply(m, b)
}

func (s *Server) invoke(ctx context.Context, call *Call) (any, error) {
	h := s.handler
	switch p := call.Params.(type) {
	case *a2a.SendMessageRequest:
		res, err := h.SendMessage(ctx, p)
		if err != nil {
			return nil, err
		}
		return a2a.StreamResponse{Event: res}, nil
	case *a2a.GetTaskRequest:
		return h.GetTask(ctx, p)
	case *a2a.ListTasksRequest:
		return h.ListTasks(ctx, p)
	case *a2a.CancelTaskRequest:
		return h.CancelTask(ctx, p)
	case *a2a.GetTaskPushConfigRequest:
		return h.GetTaskPushConfig(ctx, p)
	case *a2a.PushConfig:
		return h.CreateTaskPushConfig(ctx, p)
	case *a2a.ListTaskPushConfigRequest:
		return h.ListTaskPushConfigs(ctx, p)
	case *a2a.DeleteTaskPushConfigRequest:
		return struct{}{}, h.DeleteTaskPushConfig(ctx, p)
	case *a2a.GetExtendedAgentCardRequest:
		return h.GetExtendedAgentCard(ctx, p)
	}
	return nil, fmt.Errorf("method %s: %w", call.Method, a2a.ErrMethodNotFound)
}

// stream answers SendStreamingMessage and SubscribeToTask with one frame per event, then an end
// frame. A SubscribeToTask for a task that runs on another replica is relayed from that replica.
func (s *Server) stream(ctx context.Context, m *nats.Msg, call *Call) {
	var events iter.Seq2[a2a.Event, error]
	switch p := call.Params.(type) {
	case *a2a.SendMessageRequest:
		events = s.handler.SendStreamingMessage(ctx, p)
	case *a2a.SubscribeToTaskRequest:
		if m.Header.Get(headerForwarded) == "" && !s.runsHere(p.ID) {
			if s.relay(ctx, m, p.ID) {
				return
			}
		}
		events = s.handler.SubscribeToTask(ctx, p)
	}
	for ev, err := range events {
		if err != nil {
			s.frame(m.Reply, frameEvent, encodeError(call.ID, err))
			break
		}
		b, err := encodeResult(call.ID, a2a.StreamResponse{Event: ev})
		if err != nil {
			s.frame(m.Reply, frameEvent, encodeError(call.ID, fmt.Errorf("encoding an event: %v: %w", err, a2a.ErrInternalError)))
			break
		}
		if err := s.frame(m.Reply, frameEvent, b); err != nil {
			s.log.Warn("streaming frame not sent; stopping the stream", "error", err)
			break
		}
	}
	s.frame(m.Reply, frameEnd, nil)
}

// relay forwards a SubscribeToTask to the replica running the task (subject <agent>.task.<id>)
// and copies its frames to the caller. It reports false when no replica runs the task.
func (s *Server) relay(ctx context.Context, m *nats.Msg, id a2a.TaskID) bool {
	if !taskIDRE.MatchString(string(id)) {
		return false
	}
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return false
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	fwd := &nats.Msg{Subject: s.taskSubject(id), Reply: inbox, Header: nats.Header{}, Data: m.Data}
	for k, v := range m.Header {
		fwd.Header[k] = v
	}
	fwd.Header.Set(headerForwarded, "1")
	if err := s.nc.PublishMsg(fwd); err != nil {
		return false
	}
	first := true
	for {
		f, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if first {
				return false
			}
			s.frame(m.Reply, frameEnd, nil)
			return true
		}
		if first && f.Header.Get("Status") == "503" {
			return false // nobody runs it: answer from the task store here
		}
		first = false
		out := &nats.Msg{Subject: m.Reply, Header: f.Header, Data: f.Data}
		if err := s.nc.PublishMsg(out); err != nil {
			return true
		}
		if f.Header.Get(HeaderFrame) != frameEvent {
			return true
		}
	}
}

func (s *Server) taskSubject(id a2a.TaskID) string { return s.subject + ".task." + string(id) }

func (s *Server) runsHere(id a2a.TaskID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.running[id]
	return ok
}

// track records that task id executes on this replica, so SubscribeToTask requests that reach
// another replica are relayed here.
func (s *Server) track(id a2a.TaskID) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[id]; ok || !taskIDRE.MatchString(string(id)) {
		return func() {}
	}
	sub, err := s.nc.Subscribe(s.taskSubject(id), s.onMsg)
	if err != nil {
		s.log.Warn("cannot take subscriptions for a running task", "task", id, "error", err)
		return func() {}
	}
	s.running[id] = sub
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.running, id)
		_ = sub.Unsubscribe()
	}
}

func (s *Server) frame(reply, kind string, body []byte) error {
	m := &nats.Msg{Subject: reply, Header: nats.Header{HeaderFrame: []string{kind}}, Data: body}
	return s.send(m)
}

// replyFinal answers a request that failed before it was decoded: a stream's caller gets an error
// frame and an end frame, anyone else one reply.
func (s *Server) replyFinal(m *nats.Msg, method string, body []byte) {
	if streaming(method) {
		s.frame(m.Reply, frameEvent, body)
		s.frame(m.Reply, frameEnd, nil)
		return
	}
	s.reply(m, body)
}

func (s *Server) reply(m *nats.Msg, body []byte) {
	if err := s.send(&nats.Msg{Subject: m.Reply, Data: body}); err != nil {
		s.log.Warn("reply not sent", "error", err)
	}
}

// send publishes m, moving a body beyond the max payload to the object store.
func (s *Server) send(m *nats.Msg) error {
	if len(m.Data) > maxInline(s.nc) {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if err := s.blobs.offload(ctx, m); err != nil {
			// Tell the caller rather than leave it waiting.
			m.Data = encodeError(nil, fmt.Errorf("agent %s/%s: the reply is %d bytes, beyond the NATS max payload, and storing it in %s failed: %v: %w", s.namespace, s.name, len(m.Data), BlobsBucket, err, a2a.ErrInternalError))
			m.Header.Del(HeaderBodyObject)
		}
	}
	return s.nc.PublishMsg(m)
}

// trackingExecutor runs the agent's executor and records which tasks run on this replica.
type trackingExecutor struct {
	inner a2asrv.AgentExecutor
	s     *Server
}

func (t *trackingExecutor) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		// Only a task can be subscribed to: an execution that answers with a message (most
		// requests to a trivial agent) takes no subscription.
		var untrack func()
		defer func() {
			if untrack != nil {
				untrack()
			}
		}()
		for ev, err := range t.inner.Execute(ctx, ec) {
			if _, isMsg := ev.(*a2a.Message); untrack == nil && err == nil && !isMsg {
				untrack = t.s.track(ec.TaskID)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

func (t *trackingExecutor) Cancel(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return t.inner.Cancel(ctx, ec)
}

func (t *trackingExecutor) Cleanup(ctx context.Context, ec *a2asrv.ExecutorContext, result a2a.SendMessageResult, err error) {
	if c, ok := t.inner.(a2asrv.AgentExecutionCleaner); ok {
		c.Cleanup(ctx, ec, result, err)
	}
}

// versionCheck refuses requests for an A2A version other than 1.x, on both bindings. A request
// without A2A-Version is taken as 1.0.
type versionCheck struct{ agent string }

func (v versionCheck) Before(ctx context.Context, cc *a2asrv.CallContext, _ *a2asrv.Request) (context.Context, any, error) {
	vals, _ := cc.ServiceParams().Get(a2a.SvcParamVersion)
	for _, ver := range vals {
		ver = strings.TrimSpace(ver)
		if ver == "" || ver == "1" || strings.HasPrefix(ver, "1.") {
			continue
		}
		return ctx, nil, a2a.NewError(a2a.ErrVersionNotSupported, fmt.Sprintf("A2A-Version %q is not supported by agent %s: it speaks A2A 1.0; send A2A-Version: 1.0", ver, v.agent))
	}
	return ctx, nil, nil
}

func (versionCheck) After(context.Context, *a2asrv.CallContext, *a2asrv.Response) error { return nil }

var errHTTPClosed = errors.New("http server closed")
