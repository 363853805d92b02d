// Package manager assembles the opsmesh controller: one controller-runtime Manager, with leader
// election so that of several replicas only one acts, running the ToolServer and Agent
// reconcilers, the incident orchestrator and the incident triggers. It wires; the reconcilers
// own their logic.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/agent"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/controller/trigger"
)

// Options configure the controller.
type Options struct {
	RestConfig *rest.Config
	NATS       *nats.Conn
	JetStream  jetstream.JetStream
	// Namespaces to watch; empty watches every namespace.
	Namespaces []string
	// Builtins are the builtin ToolServers served in this process (opsmesh controller --runtime).
	Builtins map[opsv1.BuiltinServer]*server.MCPServer

	// LeaderElection makes replicas elect one leader (Lease LeaderElectionID in
	// LeaderElectionNamespace); only the leader reconciles.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Identity names this replica (default: the host name); it is the lease holder's name and
	// the actor of the replica's timeline entries.
	Identity string

	// MetricsAddr and ProbeAddr are where /metrics and /healthz,/readyz are served ("0": off).
	MetricsAddr, ProbeAddr string

	// Incident tunes the orchestrator; its Client, NATS, JetStream, Builtins and Identity are
	// filled in here.
	Incident incident.Config
	// ToolServer tunes the ToolServer reconciler (image, rediscovery); its Builtins are filled in
	// here. Agent tunes the Agent reconciler; its NATS is filled in here.
	ToolServer toolserver.Config
	Agent      agent.Config
	// Triggers raise Incidents from Alertmanager, Warning events and GPU XID events (nil: none).
	Triggers *trigger.Options
	Logger   logr.Logger
}

// Scheme holds every kind the controller reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1.AddToScheme(s)
	return s
}

// Controller is the controller built and not yet running: New makes it, Run runs it. Between
// the two, its watch cache (Cache) may be handed to the rest of the process.
type Controller struct {
	// Builtins are the builtin ToolServers served in this process: Options.Builtins to begin
	// with; set them before Run when they are built over Cache (opsmesh controller --runtime).
	Builtins map[opsv1.BuiltinServer]*server.MCPServer

	o   Options
	mgr ctrl.Manager
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, o Options) error {
	c, err := New(o)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// Cache is the controller's watch cache (its manager's). It holds client-go's kinds and
// opsmesh's (Scheme), is confined to Options.Namespaces (empty: every namespace), and is started
// by Run, before and whether or not this replica wins the leader election (controller-runtime
// starts a manager's caches before it campaigns), so that the rest of a process with the same
// identity and namespaces (opsmesh controller --runtime: the agent host, and the builtin servers
// when they watch every namespace too) may read through it rather than watch the same resources
// again. Reads before Run has started it fail; wait with WaitForCacheSync. Informers for kinds
// the controller does not watch start on their first read, as in any controller-runtime cache.
func (c *Controller) Cache() cache.Cache { return c.mgr.GetCache() }

// New builds the controller without starting anything.
func New(o Options) (*Controller, error) {
	if o.RestConfig == nil || o.NATS == nil || o.JetStream == nil {
		return nil, errors.New("controller: a Kubernetes config, a NATS connection and JetStream are all needed")
	}
	if o.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("controller: naming this replica: %w; pass an identity", err)
		}
		o.Identity = h
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "opsmesh-controller"
	}
	if o.LeaderElection && o.LeaderElectionNamespace == "" {
		return nil, errors.New("controller: leader election needs a namespace for its Lease: pass --leader-election-namespace (usually opsmesh)")
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		o.ProbeAddr = "0"
	}
	mo := ctrl.Options{
		Scheme:                        Scheme(),
		Logger:                        o.Logger,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		// Several controllers may run in one process (tests); names stay per manager.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if o.LeaseDuration > 0 {
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = &o.LeaseDuration, &o.RenewDeadline, &o.RetryPeriod
	}
	if len(o.Namespaces) > 0 {
		mo.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{}}
		for _, ns := range o.Namespaces {
			mo.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	cfg := agent.RateLimits(rest.CopyConfig(o.RestConfig))
	if o.LeaderElection {
		// The Lease names its holder by this replica's identity (controller-runtime would use
		// the host name and a random suffix).
		lc := rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
		lc.Timeout = 5 * time.Second
		cs, err := kubernetes.NewForConfig(lc)
		if err != nil {
			return nil, fmt.Errorf("controller: leader election: %w", err)
		}
		lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.LeaderElectionNamespace, o.LeaderElectionID,
			cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: o.Identity})
		if err != nil {
			return nil, fmt.Errorf("controller: leader election: %w", err)
		}
		mo.LeaderElectionResourceLockInterface = lock
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	return &Controller{Builtins: o.Builtins, o: o, mgr: mgr}, nil
}

// Run sets up the reconcilers, the orchestrator and the triggers, and runs them (and the cache)
// until ctx ends. A Controller runs once.
func (c *Controller) Run(ctx context.Context) error {
	o, mgr := c.o, c.mgr
	o.Builtins = c.Builtins
	ic := o.Incident
	ic.Client, ic.NATS, ic.JetStream, ic.Builtins, ic.Identity, ic.Logger = mgr.GetClient(), o.NATS, o.JetStream, o.Builtins, o.Identity, o.Logger.WithName("incident")
	r, err := incident.New(ctx, ic)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("controller: setting up the incident orchestrator: %w", err)
	}
	tc := o.ToolServer
	tc.Builtins = o.Builtins
	if err := (&toolserver.Reconciler{Config: tc}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("controller: setting up the ToolServer reconciler: %w", err)
	}
	ac := o.Agent
	ac.NATS = o.NATS
	if err := (&agent.Reconciler{Config: ac}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("controller: setting up the Agent reconciler: %w", err)
	}
	if o.Triggers != nil {
		if _, err := trigger.SetupWithManager(mgr, o.Triggers, o.JetStream); err != nil {
			return fmt.Errorf("controller: setting up the incident triggers: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
