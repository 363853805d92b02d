// Package runtime hosts many opsmesh Agents in one process: each Agent object becomes an A2A
// agent served over NATS (package a2anats) with its tools drawn from a shared MCP connection pool
// (package mcppool) and its reasoning done by the runbook engine (or a model, when the Agent has
// one). A coordinator delegates to its specialists over A2A by routing rules and merges their
// findings. Agents are cheap: an idle one is a NATS subscription and its card's refresh, not a
// process. The runtime investigates and proposes; it never runs a remediation — the controller
// does.
package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/tracing"
)

// Engine reasons about a question with an agent's tools.
type Engine interface {
	Diagnose(ctx context.Context, q runbook.Question) (*diagnosis.Diagnosis, error)
}

// Tools are what an engine may call: the agent's toolset and, for a coordinator with a model, its
// delegates as tools (server "delegates", one tool per delegate).
type Tools interface {
	List(ctx context.Context) ([]mcppool.Tool, error)
	Call(ctx context.Context, server, tool string, args map[string]any) (mcppool.Result, error)
}

// EngineFactory builds the engine of an Agent that has a model (spec.model), from its tools and
// the runbook engine it falls back to. Without one, such an Agent is refused with a message.
type EngineFactory func(ctx context.Context, agent *opsv1.Agent, tools Tools, fallback Engine) (Engine, error)

// Config configures a Runtime.
type Config struct {
	// NATS is the connection agents are served and delegates reached on.
	NATS *nats.Conn
	// Pool holds the ToolServers' connections; agents' grants refer to its endpoints by name.
	Pool *mcppool.Pool
	// NamespacedEndpoints names the pool's endpoints namespace/name, so that ToolServers of the
	// same name in different namespaces stay apart (the Kubernetes host does so).
	NamespacedEndpoints bool
	// Models builds engines for Agents with a model; nil refuses them.
	Models EngineFactory
	// ServeOptions are passed to a2anats.Serve for every agent (buckets, limits).
	ServeOptions []a2anats.Option
	// DelegateTimeout bounds each call to a delegate (default 5m, or the Agent's spec.limits.timeout).
	DelegateTimeout time.Duration
	// Kinds resolves the kinds of request subjects as kubectl does (deploy, po, hpa, a CRD's
	// short name), from the cluster's discovery: kubeaccess.Shared is one. Nil takes kinds as
	// written.
	Kinds runbook.Kinds
	// Runbooks are the runbook engine's knowledge (knowledge.Load: the built-in runbooks and a
	// user's); nil uses the built-in ones.
	Runbooks *knowledge.Set
	Logger   *slog.Logger
}

// Runtime hosts agents.
type Runtime struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	agents map[string]*hosted // namespace/name
}

type hosted struct {
	agent  *opsv1.Agent
	ref    string
	srv    *a2anats.Server
	engine Engine
	cancel context.CancelFunc
}

// New returns an empty runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.NATS == nil || cfg.Pool == nil {
		return nil, fmt.Errorf("runtime: a NATS connection and an MCP pool are required")
	}
	if cfg.DelegateTimeout <= 0 {
		cfg.DelegateTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{cfg: cfg, log: log, agents: map[string]*hosted{}}, nil
}

// Host serves agent (or serves it anew when it is already hosted, for a changed spec) until ctx
// ends or Remove is called.
func (r *Runtime) Host(ctx context.Context, agent *opsv1.Agent) error {
	ref := agent.Namespace + "/" + agent.Name
	var grants []mcppool.Grant
	for _, t := range agent.Spec.Tools {
		g := mcppool.Grant{Server: t.ToolServer, Allowed: t.AllowedTools, RequireApproval: t.RequireApproval}
		if r.cfg.NamespacedEndpoints {
			g.Endpoint = agent.Namespace + "/" + t.ToolServer
		}
		grants = append(grants, g)
	}
	tools := r.cfg.Pool.Toolset(grants)
	var engine Engine = runbook.New(ref, tools, r.cfg.Kinds).WithRunbooks(r.cfg.Runbooks)
	if agent.Spec.Model != nil {
		if r.cfg.Models == nil {
			return fmt.Errorf("agent %s has spec.model %s/%s, but this runtime has no model support configured", ref, agent.Spec.Model.Provider, agent.Spec.Model.Model)
		}
		var mt Tools = tools
		if agent.Spec.Role == opsv1.RoleCoordinator && len(agent.Spec.Delegates) > 0 {
			mt = &delegateTools{rt: r, agent: agent, tools: tools}
		}
		e, err := r.cfg.Models(ctx, agent, mt, engine)
		if err != nil {
			return fmt.Errorf("agent %s: %w", ref, err)
		}
		engine = e
	}
	h := &hosted{agent: agent.DeepCopy(), ref: ref, engine: engine}
	sctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	srv, err := a2anats.Serve(sctx, r.cfg.NATS, agent.Namespace, agent.Name, card(agent), &executor{rt: r, h: h}, r.cfg.ServeOptions...)
	if err != nil {
		cancel()
		return err
	}
	h.srv = srv
	r.mu.Lock()
	old := r.agents[ref]
	r.agents[ref] = h
	r.mu.Unlock()
	if old != nil {
		old.stop()
	}
	r.log.Info("hosting agent", "agent", ref, "role", agent.Spec.Role, "reasoning", agent.Spec.Reasoning())
	return nil
}

func (h *hosted) stop() {
	h.srv.Close()
	h.cancel()
}

// Remove stops serving namespace/name.
func (r *Runtime) Remove(namespace, name string) {
	r.mu.Lock()
	h := r.agents[namespace+"/"+name]
	delete(r.agents, namespace+"/"+name)
	r.mu.Unlock()
	if h != nil {
		h.stop()
	}
}

// Agents lists the hosted agents, namespace/name, sorted.
func (r *Runtime) Agents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.agents))
	for k := range r.agents {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Close stops every agent.
func (r *Runtime) Close() {
	r.mu.Lock()
	all := r.agents
	r.agents = map[string]*hosted{}
	r.mu.Unlock()
	for _, h := range all {
		h.stop()
	}
}

// card is the A2A card of an Agent: its description and skills (their tags drive routing).
func card(agent *opsv1.Agent) *a2a.AgentCard {
	c := &a2a.AgentCard{
		Name:               agent.Namespace + "/" + agent.Name,
		Description:        agent.Spec.Description,
		Version:            "v1alpha1",
		DefaultInputModes:  []string{"application/json", "text/plain"},
		DefaultOutputModes: []string{"application/json", "text/plain"},
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
	}
	if c.Description == "" {
		c.Description = fmt.Sprintf("opsmesh %s agent", agent.Spec.Role)
	}
	for _, s := range agent.Spec.Skills {
		c.Skills = append(c.Skills, a2a.AgentSkill{ID: s.ID, Name: s.Name, Description: s.Description, Tags: s.Tags, Examples: s.Examples})
	}
	if len(c.Skills) == 0 {
		c.Skills = []a2a.AgentSkill{{ID: "diagnose", Name: "Diagnose", Description: "Diagnoses an object or a question and proposes a remediation plan.", Tags: []string{string(agent.Spec.Role)}}}
	}
	return c
}

// executor runs one hosted agent's tasks.
type executor struct {
	rt *Runtime
	h  *hosted
}

func (x *executor) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		req, err := ParseRequest(ec.Message)
		if err == nil {
			req, err = req.resolve(ctx, x.rt.cfg.Kinds)
		}
		if err != nil {
			yield(nil, fmt.Errorf("%w: agent %s: %v", a2a.ErrInvalidParams, x.h.ref, err))
			return
		}
		if ec.StoredTask == nil {
			if !yield(a2a.NewSubmittedTask(ec, ec.Message), nil) {
				return
			}
		}
		if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, nil), nil) {
			return
		}
		ctx, span := tracing.Tracer().Start(ctx, "agent "+x.h.ref, trace.WithAttributes(attribute.String("a2a.agent", x.h.ref)))
		defer span.End()
		if lim := x.h.agent.Spec.Limits; lim != nil && lim.Timeout != nil && lim.Timeout.Duration > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, lim.Timeout.Duration)
			defer cancel()
		}
		var d *diagnosis.Diagnosis
		if x.h.agent.Spec.Role == opsv1.RoleCoordinator && len(x.h.agent.Spec.Delegates) > 0 && x.h.agent.Spec.Model == nil {
			d, err = x.coordinate(ctx, req)
		} else {
			d, err = x.h.engine.Diagnose(ctx, req.question())
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			msg := a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart(fmt.Sprintf("agent %s could not diagnose: %v", x.h.ref, err)))
			yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateFailed, msg), nil)
			return
		}
		data, err := asData(d)
		if err != nil {
			yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateFailed, a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart(err.Error()))), nil)
			return
		}
		if !yield(a2a.NewArtifactEvent(ec, a2a.NewDataPart(data), a2a.NewTextPart(d.Text())), nil) {
			return
		}
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, nil), nil)
	}
}

func (x *executor) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

// asData turns v into the plain JSON values (maps, slices, strings, numbers) an A2A data part
// carries: a2a-go copies parts with encoding/gob, which knows no opsmesh types.
func asData(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the diagnosis: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encoding the diagnosis: %w", err)
	}
	return m, nil
}

// area is what a specialist covers, read from its card's skill tags.
type area string

const (
	areaCluster   area = "cluster"
	areaGPU       area = "gpu"
	areaScheduler area = "scheduler"
)

// areaOf routes by skill tags: scheduling, scheduler, kueue, volcano or queues → scheduler; gpu,
// nvml or xid → gpu; anything else → cluster. Scheduling is checked first, since a scheduler
// specialist often lists gpu too.
func areaOf(c *a2a.AgentCard) area {
	var tags []string
	for _, s := range c.Skills {
		for _, t := range s.Tags {
			tags = append(tags, strings.ToLower(t))
		}
	}
	has := func(ts ...string) bool {
		return slices.ContainsFunc(ts, func(t string) bool { return slices.Contains(tags, t) })
	}
	switch {
	case has("scheduling", "scheduler", "kueue", "volcano", "queues"):
		return areaScheduler
	case has("gpu", "nvml", "xid"):
		return areaGPU
	}
	return areaCluster
}
