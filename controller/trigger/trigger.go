// Package trigger wires the incident triggers into the controller: its flags, and
// SetupWithManager, which adds to a controller-runtime manager the de-duplicating Incident
// writer (package dedup) and the Alertmanager webhook receiver (package alertmanager) on every
// replica, and the Warning-event and GPU XID watchers (package events) on the leader only.
//
// It owns the wiring and nothing else: no Incident is written, and no alert or event read, here.
// It must not create the `opsmesh controller` command (the orchestrator's package does).
package trigger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/opsmesh/opsmesh/controller/trigger/alertmanager"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
)

// Options are the triggers' settings, as the flags set them.
type Options struct {
	// WebhookListen is the Alertmanager webhook's address (host:port); empty: no webhook.
	WebhookListen string
	// WebhookTokenFile holds the bearer token Alertmanager must send; required with WebhookListen.
	WebhookTokenFile string
	// DefaultNamespace receives Incidents about nodes and alerts without a namespace.
	DefaultNamespace string
	// Cooldown: a repeat within this long after an Incident finished counts into it.
	Cooldown time.Duration
	// EventReasons are the Warning event reasons that raise Incidents.
	EventReasons []string
	// EventExcludeNamespaces are namespaces whose events are ignored.
	EventExcludeNamespaces []string
	// WatchEvents turns the Warning-event watcher on.
	WatchEvents bool
	// EventsFromCache has the Warning-event watcher read Events from the manager's cache, which
	// then holds every Event, instead of a Warning-only watch of its own: for a process whose
	// builtin servers share that cache and read every Event anyway (controller --runtime).
	EventsFromCache bool
	// WatchGPUXID turns the GPU XID watcher on (it needs JetStream).
	WatchGPUXID bool
}

// RegisterFlags adds the triggers' flags to fs and returns the Options they fill.
func RegisterFlags(fs *pflag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.WebhookListen, "webhook-listen", "", "address (host:port) of the Alertmanager webhook, served at "+alertmanager.Path+"; empty: no webhook")
	fs.StringVar(&o.WebhookTokenFile, "webhook-token-file", "", "file holding the bearer token the Alertmanager receiver sends (required with --webhook-listen)")
	fs.StringVar(&o.DefaultNamespace, "incident-default-namespace", "opsmesh", "namespace for Incidents about nodes and alerts without a namespace label")
	fs.DurationVar(&o.Cooldown, "incident-cooldown", 10*time.Minute, "a repeat this long after its Incident finished still counts into it instead of raising a new one")
	fs.StringSliceVar(&o.EventReasons, "event-reasons", events.DefaultReasons, "Warning event reasons that raise Incidents")
	fs.StringSliceVar(&o.EventExcludeNamespaces, "event-exclude-namespaces", nil, "namespaces whose Warning events raise nothing")
	fs.BoolVar(&o.WatchEvents, "watch-events", true, "raise Incidents from Warning events (on the leader)")
	fs.BoolVar(&o.WatchGPUXID, "watch-gpu-xid", true, "raise Incidents from the GPU node agents' XID events on NATS (on the leader)")
	return o
}

// Validate checks the options, naming the flag to fix.
func (o *Options) Validate() error {
	var errs []error
	if o.WebhookListen != "" {
		if _, _, err := net.SplitHostPort(o.WebhookListen); err != nil {
			errs = append(errs, fmt.Errorf("--webhook-listen %q is not host:port (such as :9095): %v", o.WebhookListen, err))
		}
		if o.WebhookTokenFile == "" {
			errs = append(errs, errors.New("--webhook-listen needs --webhook-token-file: the webhook never accepts alerts without a bearer token"))
		}
	}
	if e := validation.IsDNS1123Label(o.DefaultNamespace); len(e) > 0 {
		errs = append(errs, fmt.Errorf("--incident-default-namespace %q is not a namespace name: %s", o.DefaultNamespace, e[0]))
	}
	if o.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("--incident-cooldown %s is negative; use a duration such as 10m", o.Cooldown))
	}
	return errors.Join(errs...)
}

// token reads the webhook token from its file.
func (o *Options) token() (string, error) {
	b, err := os.ReadFile(o.WebhookTokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the webhook token (--webhook-token-file): %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--webhook-token-file %s is empty: put the bearer token the Alertmanager receiver sends in it", o.WebhookTokenFile)
	}
	return tok, nil
}

// Triggers is what SetupWithManager added.
type Triggers struct {
	// Writer raises Incidents; others may raise through it too.
	Writer *dedup.Writer
	// Webhook is the Alertmanager receiver's handler, nil without --webhook-listen.
	Webhook http.Handler
}

// SetupWithManager adds the triggers o asks for to mgr. js is the JetStream the GPU XID
// watcher consumes; nil turns that watcher off.
func SetupWithManager(mgr manager.Manager, o *Options, js jetstream.JetStream) (*Triggers, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := mgr.GetLogger().WithName("trigger")
	w, err := dedup.New(mgr.GetClient(), mgr.GetAPIReader(), dedup.Config{
		DefaultNamespace: o.DefaultNamespace, Cooldown: o.Cooldown, Log: log.WithName("writer"),
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(w); err != nil {
		return nil, fmt.Errorf("adding the incident writer: %w", err)
	}
	t := &Triggers{Writer: w}
	if o.WebhookListen != "" {
		tok, err := o.token()
		if err != nil {
			return nil, err
		}
		h, err := alertmanager.NewHandler(tok, w, log.WithName("alertmanager"))
		if err != nil {
			return nil, err
		}
		h.FollowOwners(mgr.GetAPIReader())
		t.Webhook = h
		if err := mgr.Add(&webhookServer{addr: o.WebhookListen, h: h, log: log}); err != nil {
			return nil, fmt.Errorf("adding the Alertmanager webhook: %w", err)
		}
	}
	if o.WatchEvents {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("Warning-event watcher: %w", err)
		}
		ecfg := events.WarningsConfig{Reasons: o.EventReasons, ExcludeNamespaces: o.EventExcludeNamespaces, Log: log.WithName("events")}
		if o.EventsFromCache {
			ecfg.Informers = mgr.GetCache()
		}
		ew, err := events.NewWarnings(cs, mgr.GetAPIReader(), w, ecfg)
		if err != nil {
			return nil, fmt.Errorf("--event-reasons or --event-exclude-namespaces: %w", err)
		}
		if err := mgr.Add(ew); err != nil {
			return nil, fmt.Errorf("adding the Warning-event watcher: %w", err)
		}
	}
	if o.WatchGPUXID && js != nil {
		if err := mgr.Add(events.NewXIDs(js, w, events.XIDConfig{Log: log.WithName("gpu-xid")})); err != nil {
			return nil, fmt.Errorf("adding the GPU XID watcher: %w", err)
		}
	}
	return t, nil
}

// webhookServer serves the Alertmanager receiver on every replica.
type webhookServer struct {
	addr string
	h    http.Handler
	log  logr.Logger
}

func (s *webhookServer) NeedLeaderElection() bool { return false }

func (s *webhookServer) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(alertmanager.Path, s.h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("Alertmanager webhook: listening on %s (--webhook-listen): %w", s.addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.log.Info("serving the Alertmanager webhook", "address", ln.Addr().String(), "path", alertmanager.Path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("Alertmanager webhook on %s: %w", s.addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
