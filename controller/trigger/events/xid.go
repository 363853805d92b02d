package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go/jetstream"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xid"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

// XIDSubjects are the subjects the XID watcher consumes: every node's XID events.
const XIDSubjects = "opsmesh.gpu.*.xid"

// XIDConfig configures the GPU XID watcher.
type XIDConfig struct {
	// Durable names the JetStream consumer, so that a restarted controller continues where it
	// stopped. Default "opsmesh-controller-xid".
	Durable string
	// Window: when the consumer is first created, it starts with events this old. Default 1m.
	Window time.Duration
	// Retry is how long to wait before trying again when NATS cannot be reached. Default 5s.
	Retry time.Duration
	// Log records messages that are not XID events, and events that could not be raised.
	Log logr.Logger
}

// XIDs consumes the GPU node agents' XID events from stream OPSMESH_GPU.
type XIDs struct {
	js     jetstream.JetStream
	raiser Raiser
	cfg    XIDConfig
}

// NewXIDs returns a watcher that consumes XID events from js and raises through raiser.
func NewXIDs(js jetstream.JetStream, raiser Raiser, cfg XIDConfig) *XIDs {
	if cfg.Durable == "" {
		cfg.Durable = "opsmesh-controller-xid"
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	return &XIDs{js: js, raiser: raiser, cfg: cfg}
}

// NeedLeaderElection is true: one replica consumes, so each event is raised once.
func (x *XIDs) NeedLeaderElection() bool { return true }

// Start consumes until ctx ends. It creates stream OPSMESH_GPU when no node agent has yet, and
// the durable consumer the first time.
// While NATS cannot be reached it logs and tries again every few seconds; it never stops the
// manager for that.
func (x *XIDs) Start(ctx context.Context) error {
	var cc jetstream.ConsumeContext
	for {
		cons, err := x.consumer(ctx)
		if err == nil {
			cc, err = cons.Consume(func(m jetstream.Msg) { x.handle(ctx, m) },
				jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
					x.cfg.Log.Error(err, "consuming GPU XID events", "stream", xidpub.Stream, "consumer", x.cfg.Durable)
				}))
			if err == nil {
				break
			}
			err = fmt.Errorf("consuming XID events from stream %s (consumer %s): %w", xidpub.Stream, x.cfg.Durable, err)
		}
		x.cfg.Log.Error(err, "GPU XID watcher not running yet; retrying", "retryIn", x.cfg.Retry.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(x.cfg.Retry):
		}
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

func (x *XIDs) consumer(ctx context.Context) (jetstream.Consumer, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := x.js.Stream(sctx, xidpub.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = x.js.CreateStream(sctx, xidpub.StreamConfig())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = x.js.Stream(sctx, xidpub.Stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening stream %s for GPU XID events: %w", xidpub.Stream, err)
	}
	cons, err := stream.Consumer(sctx, x.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		since := time.Now().Add(-x.cfg.Window)
		cons, err = stream.CreateConsumer(sctx, jetstream.ConsumerConfig{
			Durable:       x.cfg.Durable,
			Description:   "opsmesh controller: GPU XID events raise Incidents",
			FilterSubject: XIDSubjects,
			DeliverPolicy: jetstream.DeliverByStartTimePolicy,
			OptStartTime:  &since,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       time.Minute,
			MaxDeliver:    20,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = stream.Consumer(sctx, x.cfg.Durable)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening consumer %s on stream %s: %w", x.cfg.Durable, xidpub.Stream, err)
	}
	return cons, nil
}

// handle raises one message's XID event; a message that is not one is logged and terminated.
func (x *XIDs) handle(ctx context.Context, m jetstream.Msg) {
	ev, err := xidpub.DecodeEvent(m.Data())
	if err == nil {
		if want, _ := ev.Subject(); want != m.Subject() {
			err = fmt.Errorf("XID event from node %s arrived on %s, not %s", ev.Node, m.Subject(), want)
		}
	}
	if err != nil {
		x.cfg.Log.Error(err, "dropping a message that is not an XID event", "subject", m.Subject(), "bytes", len(m.Data()))
		_ = m.Term()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := x.raiser.Raise(rctx, XIDSignal(ev)); err != nil {
		x.cfg.Log.Error(err, "raising an Incident for a GPU XID event; it will be redelivered", "node", ev.Node, "xid", ev.XID)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	_ = m.Ack()
}

// XIDSignal is the signal an XID event raises: target the Node, name GPUXid<N>, severity from
// the XID's verdict (failed: critical, degraded: warning, healthy: info), one Incident per GPU
// and XID code.
func XIDSignal(ev xidpub.Event) dedup.Signal {
	gpuName := "GPU " + strconv.Itoa(ev.GPUIndex)
	if ev.GPUIndex < 0 {
		gpuName = "a GPU"
		if ev.GPUUUID != "" {
			gpuName = "GPU " + ev.GPUUUID
		}
	}
	what := ev.Reason
	if e := xid.Lookup(ev.XID); e.Name != "" {
		what = e.Name
	}
	summary := fmt.Sprintf("%s on node %s reports XID %d (%s)", gpuName, ev.Node, ev.XID, what)
	if ev.Simulated {
		summary += " (simulated)"
	}
	sev := opsv1.SeverityWarning
	switch ev.Verdict {
	case "failed":
		sev = opsv1.SeverityCritical
	case "healthy":
		sev = opsv1.SeverityInfo
	}
	labels := map[string]string{
		"node": ev.Node, "xid": strconv.Itoa(ev.XID), "gpu": strconv.Itoa(ev.GPUIndex),
		"verdict": ev.Verdict, "action": ev.Action, "simulated": strconv.FormatBool(ev.Simulated),
	}
	if ev.GPUUUID != "" {
		labels["gpuUUID"] = ev.GPUUUID
	}
	gpuID := ev.GPUUUID
	if gpuID == "" {
		gpuID = strconv.Itoa(ev.GPUIndex)
	}
	return dedup.Signal{
		Source:      opsv1.SourceEvent,
		Name:        "GPUXid" + strconv.Itoa(ev.XID),
		Labels:      labels,
		Severity:    sev,
		Summary:     summary,
		Target:      &opsv1.TargetReference{APIVersion: "v1", Kind: "Node", Name: ev.Node},
		Fingerprint: dedup.Hash("xid", ev.Node, gpuID, strconv.Itoa(ev.XID)),
		Time:        ev.Time,
	}
}
