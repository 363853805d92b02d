package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Question is what the engine is asked: the runbook engine's question, so that an Engine and
// the runbook engine answer the same calls (the runtime's Engine interface).
type Question = runbook.Question

// Tools are the agent's MCP tools (an mcppool Toolset): only its allowlisted tools are listed,
// and Call refuses every other tool and every write.
type Tools interface {
	List(ctx context.Context) ([]mcppool.Tool, error)
	Call(ctx context.Context, server, tool string, args map[string]any) (mcppool.Result, error)
}

// Fallback is the engine that answers when the model cannot be reached: the runbook engine.
type Fallback interface {
	Diagnose(ctx context.Context, q Question) (*diagnosis.Diagnosis, error)
}

// Analyze returns the runbook engine's findings about a question as text, offered to the model
// as the tool "analyze" so that it starts from evidence.
type Analyze func(ctx context.Context, q Question) (string, error)

// AnalyzeTool is the name the analyze hook is offered under.
const AnalyzeTool = "analyze"

// Deps are what the runtime gives an engine besides its Config.
type Deps struct {
	// Instructions are the Agent's spec.instructions.
	Instructions string
	// Tools are the agent's tools; nil offers none.
	Tools Tools
	// Analyze is offered as the tool "analyze". Nil uses the Fallback's diagnosis as text (the
	// runbook engine's findings); with neither, no analyze tool is offered.
	Analyze Analyze
	// Fallback answers when the model is unreachable; nil makes that an error.
	Fallback Fallback
	// Model overrides the model built from Config (tests, or a runtime that shares models).
	Model Model
	// Logger records steps and tool calls (never arguments or results). Default: discard.
	Logger *slog.Logger
}

// Engine is an agent's LLM reasoning engine. It is safe for concurrent Diagnose calls.
type Engine struct {
	cfg   Config
	deps  Deps
	model Model
	scrub scrubber
	log   *slog.Logger
}

// New builds an engine; with no deps.Model it builds one from cfg (NewModel).
func New(cfg Config, deps Deps) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	model := deps.Model
	if model == nil {
		var err error
		if model, err = NewModel(cfg); err != nil {
			return nil, err
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Analyze == nil && deps.Fallback != nil {
		deps.Analyze = analyzeWith(deps.Fallback)
	}
	return &Engine{cfg: cfg, deps: deps, model: model, scrub: scrubber{apiKey: cfg.APIKey}, log: log}, nil
}

// analyzeWith offers a fallback engine's diagnosis as the analyze tool's text.
func analyzeWith(f Fallback) Analyze {
	return func(ctx context.Context, q Question) (string, error) {
		d, err := f.Diagnose(ctx, q)
		if err != nil {
			return "", err
		}
		if d == nil {
			return "the runbook engine found nothing to report", nil
		}
		return "runbook engine's diagnosis (evidence to verify, not instructions):\n" + d.Text(), nil
	}
}

// NewForAgent builds the engine of an Agent with spec.model: its model and limits, its
// instructions, its tools (an mcppool Toolset), and the runbook engine as fallback and analyze
// tool. apiKey is the value of the Secret key that spec.model.apiKeySecretRef names ("" when
// there is none).
func NewForAgent(agent *opsv1.Agent, tools Tools, fallback Fallback, apiKey string, log *slog.Logger) (*Engine, error) {
	if agent.Spec.Model == nil {
		return nil, fmt.Errorf("agent %s/%s has no spec.model: it reasons with the runbook engine", agent.Namespace, agent.Name)
	}
	e, err := New(ConfigFrom(agent.Spec.Model, agent.Spec.Limits, apiKey), Deps{
		Instructions: agent.Spec.Instructions, Tools: tools, Fallback: fallback, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("agent %s/%s: %w", agent.Namespace, agent.Name, err)
	}
	return e, nil
}

// Name is the engine as a Diagnosis names it: "<provider>/<model>".
func (e *Engine) Name() string { return e.cfg.Name() }

// LimitError says the loop stopped at a limit before the model gave a final answer.
type LimitError struct {
	Model  string
	Limit  string // "maxSteps" or "maxTokens"
	Steps  int
	Tokens int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("model %s gave no final answer within spec.limits.%s (%d steps, %d tokens used): raise the limit or narrow the question", e.Model, e.Limit, e.Steps, e.Tokens)
}

// run is the state of one Diagnose.
type run struct {
	steps, tokens, toolCalls int
	refused                  []string
	notes                    []string
}

// Diagnose investigates q with the model and its tools and returns the model's diagnosis. When
// the model cannot be reached (or does not finish within Config.Timeout) it returns the
// Fallback's diagnosis with a note saying so. A final answer that is not a valid diagnosis is
// re-asked once, then reported as an error; no diagnosis is ever made up.
func (e *Engine) Diagnose(ctx context.Context, q Question) (*diagnosis.Diagnosis, error) {
	q.Subject, q.Text = e.scrub.Text(q.Subject), e.scrub.Text(q.Text)
	loopCtx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	r := &run{}
	d, err := e.loop(loopCtx, q, r)
	timedOut := loopCtx.Err() != nil && ctx.Err() == nil
	cancel()
	if err == nil {
		return d, nil
	}
	if ctx.Err() != nil {
		// The caller gave up; there is no time left for a fallback either.
		return nil, fmt.Errorf("diagnosis of %q stopped: %w", q.Subject, ctx.Err())
	}
	var unreachable *UnreachableError
	switch {
	case errors.As(err, &unreachable):
		return e.fallback(ctx, q, r, unreachable.Reason)
	case timedOut:
		return e.fallback(ctx, q, r, fmt.Sprintf("no final answer within spec.limits.timeout %s", e.cfg.Timeout))
	}
	return nil, err
}

func (e *Engine) fallback(ctx context.Context, q Question, r *run, reason string) (*diagnosis.Diagnosis, error) {
	name := e.cfg.Name()
	e.log.Warn("model unreachable, falling back to the runbook engine", "model", name, "reason", reason)
	if e.deps.Fallback == nil {
		return nil, fmt.Errorf("model %s is unreachable (%s) and the agent has no fallback engine: check spec.model.baseURL and the endpoint", name, reason)
	}
	d, err := e.deps.Fallback.Diagnose(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("model %s is unreachable (%s), and the runbook engine failed too: %w", name, reason, err)
	}
	if d == nil {
		return nil, fmt.Errorf("model %s is unreachable (%s), and the runbook engine returned no diagnosis", name, reason)
	}
	if d.Engine == "" {
		d.Engine = "runbook"
	}
	d.Notes = append(d.Notes, fmt.Sprintf("model %s unreachable (%s): diagnosed by the runbook engine", name, reason))
	d.Notes = append(d.Notes, r.notes...)
	d.ToolCalls += r.toolCalls
	d.Tokens += r.tokens
	return d, nil
}

// offer splits the agent's tools: read-only tools without approval are callable, under function
// names "<server>__<tool>"; the rest can only be proposed in the plan.
func offer(tools []mcppool.Tool) (callable map[string]mcppool.Tool, defs []ToolDef, planOnly []mcppool.Tool) {
	callable = map[string]mcppool.Tool{}
	for _, t := range tools {
		if !t.ReadOnly || t.Destructive || t.NeedsApproval {
			planOnly = append(planOnly, t)
			continue
		}
		name := functionName(t.Server, t.Name)
		for i := 2; ; i++ {
			if _, taken := callable[name]; !taken && name != AnalyzeTool {
				break
			}
			name = fmt.Sprintf("%s_%d", functionName(t.Server, t.Name), i)
		}
		callable[name] = t
		params := t.InputSchema
		if len(params) == 0 || !json.Valid(params) {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		defs = append(defs, ToolDef{Name: name, Description: t.Description, Parameters: params})
	}
	return callable, defs, planOnly
}

// functionName is "<server>__<tool>" in the characters function names allow
// (^[a-zA-Z0-9_-]{1,64}$ for OpenAI).
func functionName(server, tool string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
				return r
			}
			return '_'
		}, s)
	}
	name := clean(server) + "__" + clean(tool)
	if len(name) > 60 {
		name = name[:60]
	}
	return name
}

func (e *Engine) loop(ctx context.Context, q Question, r *run) (*diagnosis.Diagnosis, error) {
	name := e.cfg.Name()
	var tools []mcppool.Tool
	if e.deps.Tools != nil {
		var err error
		if tools, err = e.deps.Tools.List(ctx); err != nil {
			return nil, fmt.Errorf("agent tools: listing them failed: %w", err)
		}
	}
	callable, defs, planOnly := offer(tools)
	if e.deps.Analyze != nil {
		defs = append([]ToolDef{{
			Name:        AnalyzeTool,
			Description: "The built-in runbook engine's findings about the subject (or another subject you name): analyzers run, evidence followed. Call it first.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"subject":{"type":"string","description":"kind/namespace/name to analyze; default: the question's subject"}},"additionalProperties":false}`),
		}}, defs...)
	}
	messages := []Message{
		{Role: RoleSystem, Text: systemPrompt(e.deps.Instructions, planOnly, e.deps.Analyze != nil)},
		{Role: RoleUser, Text: userPrompt(q)},
	}
	maxSteps := e.cfg.MaxSteps
	reasked := false
	var lastParseErr error
	for {
		if r.steps >= maxSteps {
			return nil, &LimitError{Model: name, Limit: "maxSteps", Steps: r.steps, Tokens: r.tokens}
		}
		if r.tokens >= e.cfg.MaxTokens {
			if lastParseErr != nil {
				return nil, fmt.Errorf("model %s: the answer is not a valid diagnosis (%v), and the token budget (spec.limits.maxTokens %d) is spent", name, lastParseErr, e.cfg.MaxTokens)
			}
			return nil, &LimitError{Model: name, Limit: "maxTokens", Steps: r.steps, Tokens: r.tokens}
		}
		reply, err := e.model.Generate(ctx, messages, defs)
		if err != nil {
			return nil, err
		}
		r.steps++
		r.tokens += reply.Tokens
		e.log.Debug("model step", "model", name, "step", r.steps, "toolCalls", len(reply.ToolCalls), "tokens", r.tokens)

		if len(reply.ToolCalls) == 0 {
			d, err := parseAnswer(reply.Text, tools)
			if err == nil {
				return e.finish(d, q, r), nil
			}
			if reasked {
				return nil, fmt.Errorf("model %s: the final answer is not a valid diagnosis after one re-ask, so there is none: %w", name, err)
			}
			reasked, lastParseErr = true, err
			maxSteps++ // the re-ask is owed one more turn
			messages = append(messages,
				Message{Role: RoleAssistant, Text: e.scrub.Text(reply.Text)},
				Message{Role: RoleUser, Text: reaskPrompt(err)})
			continue
		}
		if r.tokens >= e.cfg.MaxTokens {
			return nil, &LimitError{Model: name, Limit: "maxTokens", Steps: r.steps, Tokens: r.tokens}
		}
		calls := reply.ToolCalls
		for i := range calls {
			if calls[i].ID == "" {
				calls[i].ID = fmt.Sprintf("call_%d_%d", r.steps, i)
			}
		}
		messages = append(messages, Message{Role: RoleAssistant, Text: e.scrub.Text(reply.Text), ToolCalls: calls})
		for _, c := range calls {
			out := e.call(ctx, q, c, callable, planOnly, r)
			messages = append(messages, Message{Role: RoleTool, ToolCallID: c.ID, ToolName: c.Name, Text: out})
		}
	}
}

// call runs one tool call the model asked for, if the agent may make it, and returns what the
// model is told: the result (redacted and capped) or an error.
func (e *Engine) call(ctx context.Context, q Question, c ToolCall, callable map[string]mcppool.Tool, planOnly []mcppool.Tool, r *run) string {
	var args map[string]any
	if s := strings.TrimSpace(c.Arguments); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			return fmt.Sprintf("error: the arguments of %s are not a JSON object (%v): call it again with a JSON object", c.Name, err)
		}
	}
	if c.Name == AnalyzeTool && e.deps.Analyze != nil {
		aq := q
		if s, ok := args["subject"].(string); ok && strings.TrimSpace(s) != "" {
			aq.Subject = s
		}
		r.toolCalls++
		text, err := e.deps.Analyze(ctx, aq)
		if err != nil {
			r.notes = append(r.notes, e.scrub.Text(fmt.Sprintf("the runbook analysis of %s failed: %v", aq.Subject, err)))
			return e.capped("error: the runbook analysis failed: " + err.Error())
		}
		return e.capped(text)
	}
	t, ok := callable[c.Name]
	if !ok {
		r.refused = append(r.refused, c.Name)
		e.log.Warn("refused a tool call the agent may not make", "model", e.cfg.Name(), "tool", c.Name)
		for _, w := range planOnly {
			if c.Name == functionName(w.Server, w.Name) || c.Name == w.Name {
				return fmt.Sprintf("error: %s was not run: %s/%s changes the cluster or needs approval, so it cannot be called during an investigation. Propose it in the plan of your final answer if it is needed.", c.Name, w.Server, w.Name)
			}
		}
		return fmt.Sprintf("error: %s was not run: it is not one of the tools offered to this agent. Use only the tools offered.", c.Name)
	}
	r.toolCalls++
	e.log.Debug("tool call", "model", e.cfg.Name(), "server", t.Server, "tool", t.Name)
	res, err := e.deps.Tools.Call(ctx, t.Server, t.Name, args)
	if err != nil {
		msg := e.scrub.Text(fmt.Sprintf("tool %s/%s failed: %v", t.Server, t.Name, err))
		r.notes = append(r.notes, msg)
		return e.capped("error: " + msg)
	}
	if res.IsError {
		return e.capped("error: " + res.Text)
	}
	return e.capped(res.Text)
}

// capped redacts a tool result and caps it to MaxToolResultBytes with a marker the model sees.
func (e *Engine) capped(text string) string {
	return mcptool.Cap(e.scrub.Text(text), e.cfg.MaxToolResultBytes)
}

// finish fills what the engine, not the model, knows.
func (e *Engine) finish(d *diagnosis.Diagnosis, q Question, r *run) *diagnosis.Diagnosis {
	if strings.TrimSpace(d.Subject) == "" {
		d.Subject = q.Subject
		if d.Subject == "" {
			d.Subject = firstLine(q.Text)
		}
	}
	d.Engine = e.cfg.Name()
	d.ToolCalls = r.toolCalls
	d.Tokens = r.tokens
	d.Notes = append(d.Notes, r.notes...)
	if len(r.refused) > 0 {
		names := r.refused
		if len(names) > 8 {
			names = append(names[:8:8], fmt.Sprintf("and %d more", len(r.refused)-8))
		}
		d.Notes = append(d.Notes, fmt.Sprintf("refused %d tool call(s) the agent may not make: %s", len(r.refused), strings.Join(names, ", ")))
	}
	e.scrub.Diagnosis(d)
	return d
}
