// Package xidpub publishes the GPU node agent's XID events to NATS JetStream: stream
// OPSMESH_GPU, subject opsmesh.gpu.<node>.xid, one JSON Event per XID with a Nats-Msg-Id header so
// that JetStream stores each event once. Publishing never blocks the agent: events wait in a
// bounded queue (the oldest dropped and counted when it is full) while a background publisher
// retries with backoff until NATS is reachable. It must not read GPUs or serve tools; it only
// carries events the agent hands it.
package xidpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// Config configures a Publisher.
type Config struct {
	// URL is the NATS server (or a comma-separated list), e.g. nats://nats.opsmesh:4222.
	URL string
	// CredsFile, when set, is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// Node names the node; its events go to opsmesh.gpu.<node>.xid.
	Node string
	// Simulated marks every event as coming from simulated GPUs.
	Simulated bool
	// QueueSize bounds the events waiting to be published (default 1024).
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between retries (defaults 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// Logger records connection changes and failures; default discards.
	Logger *slog.Logger
}

// State is what the publisher has done so far.
type State struct {
	URL       string // redacted: no user or password
	Connected bool
	// StreamReady says stream OPSMESH_GPU was found or made with our subjects.
	StreamReady bool
	Published   int // events stored by JetStream
	Duplicates  int // events JetStream had already stored (same Nats-Msg-Id)
	Pending     int // events waiting, including one being published
	Dropped     int // events dropped because the queue was full
	LastError   error
}

// Publisher publishes XID events to NATS JetStream in the background. It implements
// gpu.XIDSink.
type Publisher struct {
	cfg   Config
	token string
	nc    *nats.Conn
	js    jetstream.JetStream
	wake  chan struct{}
	done  chan struct{}
	stop  context.CancelFunc

	mu       sync.Mutex
	queue    []Event // oldest first, at most cfg.QueueSize
	inflight bool
	st       State
}

var _ gpu.XIDSink = (*Publisher)(nil)

// New checks cfg, connects to NATS (retrying in the background while it is down: the agent
// must start without it) and starts publishing until ctx ends or Close is called.
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	tok, err := SubjectToken(cfg.Node)
	if err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("no NATS URL: pass --nats-url nats://host:4222")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{cfg: cfg, token: tok, wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.st.URL = redact(cfg.URL)
	opts := []nats.Option{
		nats.Name("opsmesh-gpu " + cfg.Node),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ConnectHandler(func(*nats.Conn) { p.connChanged(true, nil) }),
		nats.ReconnectHandler(func(*nats.Conn) { p.connChanged(true, nil) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { p.connChanged(false, err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { p.setErr(err) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			p.setErr(fmt.Errorf("connecting to NATS: %w", err))
		}),
	}
	if cfg.CredsFile != "" {
		if _, err := os.Stat(cfg.CredsFile); err != nil {
			return nil, fmt.Errorf("NATS credentials file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", p.st.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream on NATS at %s: %w", p.st.URL, err)
	}
	p.nc, p.js = nc, js
	if nc.IsConnected() {
		p.connChanged(true, nil)
	}
	ctx, p.stop = context.WithCancel(ctx)
	go p.run(ctx)
	return p, nil
}

// Close stops publishing and closes the connection; events still queued are not published.
func (p *Publisher) Close() {
	p.stop()
	<-p.done
	p.nc.Close()
}

// Publish queues e for publishing and returns at once. When the queue is full the oldest
// waiting event is dropped and counted.
func (p *Publisher) Publish(e gpu.XIDEvent) {
	p.enqueue(NewEvent(p.cfg.Node, p.cfg.Simulated, e))
}

func (p *Publisher) enqueue(ev Event) {
	p.mu.Lock()
	p.queue = append(p.queue, ev)
	if n := len(p.queue) - p.cfg.QueueSize; n > 0 {
		p.queue = slices.Delete(p.queue, 0, n)
		p.st.Dropped += n
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// State returns what the publisher has done so far.
func (p *Publisher) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.Pending = len(p.queue)
	if p.inflight {
		s.Pending++
	}
	return s
}

// Status is one line for xid_events, e.g. "published to NATS: 12, pending 0, dropped 0
// (connected to nats://nats:4222, stream OPSMESH_GPU)".
func (p *Publisher) Status() string {
	s := p.State()
	line := fmt.Sprintf("published to NATS: %d, pending %d, dropped %d", s.Published, s.Pending, s.Dropped)
	switch {
	case !s.Connected:
		line += fmt.Sprintf(" (not connected to %s; retrying)", s.URL)
	case !s.StreamReady:
		line += fmt.Sprintf(" (connected to %s; stream %s not ready; retrying)", s.URL, Stream)
	default:
		line += fmt.Sprintf(" (connected to %s, stream %s)", s.URL, Stream)
	}
	if s.LastError != nil {
		line += "; last error: " + s.LastError.Error()
	}
	return line
}

func (p *Publisher) connChanged(up bool, err error) {
	p.mu.Lock()
	p.st.Connected = up
	if err != nil {
		p.st.LastError = fmt.Errorf("disconnected from NATS: %w", err)
	}
	p.mu.Unlock()
	if up {
		p.cfg.Logger.Info("connected to NATS", "url", p.st.URL)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	} else if err != nil {
		p.cfg.Logger.Warn("disconnected from NATS; XID events wait in the queue", "url", p.st.URL, "error", err)
	}
}

func (p *Publisher) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.LastError = err
}

// run ensures the stream, then publishes queued events oldest first, retrying with backoff.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	backoff := p.cfg.MinBackoff
	failed := func(err error) bool {
		p.setErr(err)
		p.cfg.Logger.Warn("publishing XID events to NATS", "url", p.st.URL, "error", err, "retryIn", backoff)
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, p.cfg.MaxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	ready := false
	for {
		if !p.nc.IsConnected() {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			case <-time.After(p.cfg.MaxBackoff):
			}
			continue
		}
		if !ready {
			if err := p.ensureStream(ctx); err != nil {
				if !failed(err) {
					return
				}
				continue
			}
			ready, backoff = true, p.cfg.MinBackoff
			p.mu.Lock()
			p.st.StreamReady, p.st.LastError = true, nil
			p.mu.Unlock()
		}
		ev, ok := p.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			}
			continue
		}
		dup, err := p.send(ctx, ev)
		p.finish(ev, err, dup)
		if err != nil {
			ready = false // the stream may be gone: look again before the next try
			p.mu.Lock()
			p.st.StreamReady = false
			p.mu.Unlock()
			if !failed(err) {
				return
			}
			continue
		}
		backoff = p.cfg.MinBackoff
	}
}

// take moves the oldest queued event in flight.
func (p *Publisher) take() (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return Event{}, false
	}
	ev := p.queue[0]
	p.queue = slices.Delete(p.queue, 0, 1)
	p.inflight = true
	return ev, true
}

// finish records the in-flight event's outcome; a failed event goes back to the front of the
// queue, unless the queue filled meanwhile, when it is the oldest and is dropped.
func (p *Publisher) finish(ev Event, err error, dup bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = false
	switch {
	case err == nil && dup:
		p.st.Duplicates++
	case err == nil:
		p.st.Published++
		p.st.LastError = nil
	case len(p.queue) >= p.cfg.QueueSize:
		p.st.Dropped++
	default:
		p.queue = slices.Insert(p.queue, 0, ev)
	}
}

func (p *Publisher) send(ctx context.Context, ev Event) (dup bool, err error) {
	subject := "opsmesh.gpu." + p.token + ".xid"
	data, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("encoding XID event: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.MsgID()), jetstream.WithExpectStream(Stream))
	if err != nil {
		return false, fmt.Errorf("publishing XID %d of GPU %s to %s: %w", ev.XID, ev.GPUUUID, subject, err)
	}
	return ack.Duplicate, nil
}

// StreamConfig is the configuration the publisher gives stream OPSMESH_GPU.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "opsmesh GPU health events from the node agents (opsmesh.gpu.<node>.<event>)",
		Subjects:    []string{Subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      7 * 24 * time.Hour,
		MaxBytes:    1 << 30,
		MaxMsgSize:  maxEventBytes,
		Duplicates:  10 * time.Minute,
	}
}

// ensureStream creates stream OPSMESH_GPU, or updates it to StreamConfig when it exists with
// our subjects (keeping its storage and replicas, which cannot change). A stream of that name
// with other subjects is not ours to change: that is an error that says how to fix it.
func (p *Publisher) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want := StreamConfig()
	s, err := p.js.Stream(ctx, Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := p.js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("creating stream %s (subjects %s): %w", Stream, Subjects, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("looking up stream %s: %w", Stream, err)
	}
	have := s.CachedInfo().Config
	if !slices.Equal(have.Subjects, want.Subjects) {
		return fmt.Errorf("stream %s exists with subjects %q, but opsmesh publishes GPU events on %q: "+
			"give it those subjects (nats stream edit %s --subjects '%s') or delete it so that opsmesh creates it",
			Stream, have.Subjects, Subjects, Stream, Subjects)
	}
	want.Storage, want.Replicas = have.Storage, have.Replicas
	if have.MaxAge == want.MaxAge && have.Discard == want.Discard && have.MaxBytes == want.MaxBytes &&
		have.MaxMsgSize == want.MaxMsgSize && have.Duplicates == want.Duplicates && have.Retention == want.Retention {
		return nil
	}
	if _, err := p.js.UpdateStream(ctx, want); err != nil {
		return fmt.Errorf("updating stream %s to opsmesh's limits: %w", Stream, err)
	}
	return nil
}

// redact drops users and passwords from a comma-separated list of NATS URLs.
func redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		switch {
		case err != nil && strings.Contains(part, "@"):
			parts[i] = "(a URL that does not parse)"
		case err == nil && u.User != nil:
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
