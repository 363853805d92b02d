package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// ownToolNames are the gateway's own tools; a ToolServer tool that would be exposed under one of
// these names is left out.
var ownToolNames = map[string]struct{}{"list_agents": {}, "ask_agent": {}, "list_incidents": {}, "get_incident": {}, "approve_action": {}}

const (
	defaultAskTimeout = 120
	maxAskTimeout     = 600
	defaultLimit      = 50
	maxLimit          = 500
)

func namespaceParam(what string) mcp.ToolOption {
	return mcp.WithString("namespace", mcp.MinLength(1), mcp.MaxLength(63), mcp.Description(what))
}

// ownTools are the gateway's own tools, approve_action only when approvals are allowed.
func (g *Gateway) ownTools() []mcptool.Tool {
	tools := []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name:        "list_agents",
			Description: "List the opsmesh Agents: namespace, name, role (coordinator or specialist), Ready, reasoning (runbook or provider/model), A2A skills and delegates. Ask one with ask_agent.",
			Effect:      mcptool.Read,
			Params:      []mcp.ToolOption{namespaceParam("only this namespace (default: every namespace the gateway watches)")},
		}, g.listAgents),
		mcptool.NewData(mcptool.Spec{
			Name: "ask_agent",
			Description: "Ask an opsmesh Agent to diagnose something, over A2A: it investigates with its own tools (and, for a coordinator, its specialists) and " +
				"answers with a root cause, evidence and a proposed remediation plan. Nothing is changed. Give a subject (kind/namespace/name, or node/name) " +
				"when the question is about one object.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				mcp.WithString("agent", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(127), mcp.Description("the Agent, as namespace/name, or name when only one watched namespace has it (see list_agents)")),
				mcp.WithString("question", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(4096), mcp.Description("what to find out, in words, such as \"why is training-job-7 pending?\"")),
				mcp.WithString("subject", mcp.MaxLength(512), mcp.Description("the object to investigate: kind/namespace/name (pod, deployment, statefulset, daemonset, job, service, pvc, hpa, workload, ...) or node/name")),
				mcp.WithInteger("timeoutSeconds", mcp.Min(1), mcp.Max(maxAskTimeout), mcp.Description(fmt.Sprintf("how long to wait for the answer (default %d, at most %d)", defaultAskTimeout, maxAskTimeout))),
			},
		}, g.askAgent),
		mcptool.NewData(mcptool.Spec{
			Name:        "list_incidents",
			Description: "List opsmesh Incidents, newest first: name, severity, phase, root cause, target, count and age. See one with get_incident.",
			Effect:      mcptool.Read,
			Params: []mcp.ToolOption{
				namespaceParam("only this namespace (default: every namespace the gateway watches)"),
				mcp.WithString("phase", mcp.Enum(phases()...), mcp.Description("only incidents in this phase")),
				mcp.WithInteger("limit", mcp.Min(1), mcp.Max(maxLimit), mcp.Description(fmt.Sprintf("at most this many (default %d)", defaultLimit))),
			},
		}, g.listIncidents),
		mcptool.NewData(mcptool.Spec{
			Name:        "get_incident",
			Description: "Show one opsmesh Incident: summary, phase, root cause with its evidence, the remediation actions with their id, state and risk, approvals, and the last timeline entries.",
			Effect:      mcptool.Read,
			Params: []mcp.ToolOption{
				mcp.WithString("name", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the Incident's name")),
				namespaceParam("its namespace (default: the one watched namespace that has an Incident of that name)"),
				mcp.WithString("output", mcp.Enum("text", "json"), mcp.Description("text (default) or json (the Incident's spec and status)")),
			},
		}, g.getIncident),
	}
	if g.cfg.AllowApprovals {
		tools = append(tools, mcptool.NewData(mcptool.Spec{
			Name: "approve_action",
			Description: "Approve or reject remediation actions of an opsmesh Incident that wait for approval; the controller then runs (or skips) them. " +
				"Without action, decides every waiting action. The decision is recorded in the Incident's status with who decided (" + g.cfg.Approver + ") and the reason. " +
				"Show the actions with get_incident first, and approve only what the user asked for.",
			Effect: mcptool.Write,
			Params: []mcp.ToolOption{
				mcp.WithString("incident", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the Incident's name")),
				namespaceParam("its namespace (default: the one watched namespace that has an Incident of that name)"),
				mcp.WithString("action", mcp.MaxLength(253), mcp.Description("the id of the action (see get_incident); default: every action waiting for approval")),
				mcp.WithString("decision", mcp.Required(), mcp.Enum("approve", "reject"), mcp.Description("approve or reject")),
				mcp.WithString("reason", mcp.MaxLength(1024), mcp.Description("why, recorded with the decision")),
			},
		}, g.approveAction))
	}
	return tools
}

func phases() []string {
	return []string{string(opsv1.PhaseDetected), string(opsv1.PhaseInvestigating), string(opsv1.PhaseDiagnosed), string(opsv1.PhaseAwaitingApproval),
		string(opsv1.PhaseRemediating), string(opsv1.PhaseVerifying), string(opsv1.PhaseResolved), string(opsv1.PhaseEscalated), string(opsv1.PhaseFailed)}
}

// watched checks that ns is one the gateway watches.
func (g *Gateway) watched(ns string) error {
	if ns == "" || len(g.cfg.Namespaces) == 0 || slices.Contains(g.cfg.Namespaces, ns) {
		return nil
	}
	return fmt.Errorf("namespace %s is not watched by this gateway (it watches %s); restart it with -n %s to include it", ns, strings.Join(g.cfg.Namespaces, ", "), ns)
}

// list lists objects of the namespace ns, or of every watched namespace.
func (g *Gateway) list(ctx context.Context, ns string, into client.ObjectList, each func(client.ObjectList)) error {
	if err := g.watched(ns); err != nil {
		return err
	}
	spaces := []string{ns}
	if ns == "" && len(g.cfg.Namespaces) > 0 {
		spaces = g.cfg.Namespaces
	}
	for _, s := range spaces {
		var opts []client.ListOption
		if s != "" {
			opts = append(opts, client.InNamespace(s))
		}
		l := into.DeepCopyObject().(client.ObjectList)
		if err := g.client.List(ctx, l, opts...); err != nil {
			return fmt.Errorf("listing %T: %w", into, err)
		}
		each(l)
	}
	return nil
}

type listAgentsArgs struct {
	Namespace string `json:"namespace"`
}

func (g *Gateway) listAgents(ctx context.Context, a listAgentsArgs) (contract.AgentList, string, error) {
	out := contract.AgentList{Agents: []contract.Agent{}}
	var agents []opsv1.Agent
	if err := g.list(ctx, a.Namespace, &opsv1.AgentList{}, func(l client.ObjectList) { agents = append(agents, l.(*opsv1.AgentList).Items...) }); err != nil {
		return out, "", err
	}
	if len(agents) == 0 {
		return out, "no Agents in " + where(a.Namespace, g.cfg.Namespaces) + "; apply one (see deploy/samples)", nil
	}
	sort.Slice(agents, func(i, j int) bool {
		return agents[i].Namespace+"/"+agents[i].Name < agents[j].Namespace+"/"+agents[j].Name
	})
	t := mcptool.Table{Header: []string{"NAMESPACE", "NAME", "ROLE", "READY", "REASONING", "SKILLS", "DELEGATES"}}
	for i := range agents {
		ag := agentOf(&agents[i])
		out.Agents = append(out.Agents, ag)
		t.Add(ag.Namespace, ag.Name, ag.Role, ag.Ready, ag.Reasoning, dash(strings.Join(ag.Skills, ",")), dash(strings.Join(ag.Delegates, ",")))
	}
	return out, t.Render(g.cfg.MaxBytes), nil
}

func where(ns string, watched []string) string {
	switch {
	case ns != "":
		return "namespace " + ns
	case len(watched) > 0:
		return "namespaces " + strings.Join(watched, ", ")
	}
	return "any namespace"
}

func condition(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, opsv1.ConditionReady)
	if c == nil {
		return "Unknown"
	}
	return string(c.Status)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type askArgs struct {
	Agent          string `json:"agent"`
	Question       string `json:"question"`
	Subject        string `json:"subject"`
	TimeoutSeconds int    `json:"timeoutSeconds"`
}

func (g *Gateway) askAgent(ctx context.Context, a askArgs) (contract.AgentAnswer, string, error) {
	var none contract.AgentAnswer
	if g.cfg.NATS == nil {
		return none, "", errors.New("this gateway has no NATS connection to reach agents (its log says why): start it with --nats-url pointing at the NATS the opsmesh runtime serves agents on")
	}
	ref, err := g.agentRef(ctx, a.Agent)
	if err != nil {
		return none, "", err
	}
	timeout := time.Duration(a.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = defaultAskTimeout * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, reply, err := ask.New(g.cfg.NATS).Diagnose(ctx, ask.Request{Agent: ref, Subject: a.Subject, Question: a.Question})
	switch {
	case err == nil:
	case errors.Is(err, ask.ErrNoDiagnosis) && reply.Text != "":
		// An agent that answers in text only: its text is the answer.
	case ctx.Err() != nil:
		return none, "", fmt.Errorf("agent %s did not answer within %s; ask again with a longer timeoutSeconds (at most %d), or a narrower subject", ref, timeout, maxAskTimeout)
	case errors.Is(err, a2anats.ErrAgentNotAvailable):
		return none, "", fmt.Errorf("%w (is `opsmesh runtime` running, on the NATS this gateway uses? kubectl get agent -n %s shows whether it is Ready)", err, strings.Split(ref, "/")[0])
	default:
		return none, "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "agent %s answered (task %s):\n", ref, reply.TaskID)
	if reply.Text != "" {
		b.WriteString(reply.Text)
	} else {
		b.WriteString(d.Text())
	}
	if d != nil && !strings.Contains(reply.Text, d.RootCause.Summary) {
		fmt.Fprintf(&b, "\nroot cause: %s: %s", d.RootCause.Category, d.RootCause.Summary)
	}
	return answerOf(ref, reply.TaskID, d), b.String(), nil
}

// agentRef resolves "ns/name" or "name" to an Agent of a watched namespace.
func (g *Gateway) agentRef(ctx context.Context, ref string) (string, error) {
	if ns, _, ok := strings.Cut(ref, "/"); ok {
		if err := g.watched(ns); err != nil {
			return "", err
		}
		return ref, nil
	}
	var agents []opsv1.Agent
	if err := g.list(ctx, "", &opsv1.AgentList{}, func(l client.ObjectList) { agents = append(agents, l.(*opsv1.AgentList).Items...) }); err != nil {
		return "", err
	}
	var match, all []string
	for _, a := range agents {
		all = append(all, a.Namespace+"/"+a.Name)
		if a.Name == ref {
			match = append(match, a.Namespace+"/"+a.Name)
		}
	}
	sort.Strings(all)
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("no Agent %q in %s; Agents: %s", ref, where("", g.cfg.Namespaces), listOr(all))
	}
	sort.Strings(match)
	return "", fmt.Errorf("Agent %q exists in several namespaces (%s); name it as namespace/name", ref, strings.Join(match, ", "))
}

func listOr(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	if len(s) > 20 {
		return strings.Join(s[:20], ", ") + fmt.Sprintf(" and %d more", len(s)-20)
	}
	return strings.Join(s, ", ")
}

type listIncidentsArgs struct {
	Namespace string `json:"namespace"`
	Phase     string `json:"phase"`
	Limit     int    `json:"limit"`
}

func (g *Gateway) listIncidents(ctx context.Context, a listIncidentsArgs) (contract.IncidentList, string, error) {
	out := contract.IncidentList{Incidents: []contract.IncidentSummary{}}
	var items []opsv1.Incident
	if err := g.list(ctx, a.Namespace, &opsv1.IncidentList{}, func(l client.ObjectList) { items = append(items, l.(*opsv1.IncidentList).Items...) }); err != nil {
		return out, "", err
	}
	if a.Phase != "" {
		items = slices.DeleteFunc(items, func(i opsv1.Incident) bool { return string(i.Status.Phase) != a.Phase })
	}
	if len(items) == 0 {
		what := "no Incidents"
		if a.Phase != "" {
			what += " in phase " + a.Phase
		}
		return out, what + " in " + where(a.Namespace, g.cfg.Namespaces), nil
	}
	limit := a.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	SortIncidents(items)
	for i := range items {
		if i == limit {
			out.Truncated = len(items) - limit
			break
		}
		out.Incidents = append(out.Incidents, incidentSummaryOf(&items[i]))
	}
	return out, IncidentTable(items, time.Now(), limit, g.cfg.MaxBytes), nil
}

type getIncidentArgs struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Output    string `json:"output"`
}

func (g *Gateway) getIncident(ctx context.Context, a getIncidentArgs) (contract.Incident, string, error) {
	inc, err := g.incident(ctx, a.Namespace, a.Name)
	if err != nil {
		return contract.Incident{}, "", err
	}
	out := incidentOf(inc, timelineShown)
	if a.Output == "json" {
		b, err := json.Marshal(struct {
			Name      string               `json:"name"`
			Namespace string               `json:"namespace"`
			Spec      opsv1.IncidentSpec   `json:"spec"`
			Status    opsv1.IncidentStatus `json:"status"`
		}{inc.Name, inc.Namespace, inc.Spec, inc.Status})
		if err != nil {
			return contract.Incident{}, "", err
		}
		return out, string(b), nil
	}
	return out, DescribeIncident(inc, time.Now(), timelineShown), nil
}

// timelineShown is how many of the last timeline entries get_incident shows.
const timelineShown = 10

// incident finds the Incident name in ns, or in the one watched namespace that has it.
func (g *Gateway) incident(ctx context.Context, ns, name string) (*opsv1.Incident, error) {
	if ns == "" && len(g.cfg.Namespaces) == 1 {
		ns = g.cfg.Namespaces[0]
	}
	if ns != "" {
		if err := g.watched(ns); err != nil {
			return nil, err
		}
		var inc opsv1.Incident
		err := g.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &inc)
		if err == nil {
			return &inc, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Incident %s/%s: %w", ns, name, err)
		}
	}
	var items []opsv1.Incident
	if err := g.list(ctx, "", &opsv1.IncidentList{}, func(l client.ObjectList) { items = append(items, l.(*opsv1.IncidentList).Items...) }); err != nil {
		return nil, err
	}
	var match []*opsv1.Incident
	var all []string
	for i := range items {
		all = append(all, items[i].Namespace+"/"+items[i].Name)
		if items[i].Name == name && (ns == "" || items[i].Namespace == ns) {
			match = append(match, &items[i])
		}
	}
	sort.Strings(all)
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		in := where(ns, g.cfg.Namespaces)
		return nil, fmt.Errorf("no Incident %q in %s; Incidents: %s (see list_incidents)", name, in, listOr(all))
	}
	var refs []string
	for _, m := range match {
		refs = append(refs, m.Namespace+"/"+m.Name)
	}
	sort.Strings(refs)
	return nil, fmt.Errorf("Incident %q exists in several namespaces (%s); give the namespace", name, strings.Join(refs, ", "))
}

type approveArgs struct {
	Incident  string `json:"incident"`
	Namespace string `json:"namespace"`
	Action    string `json:"action"`
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
}

func (g *Gateway) approveAction(ctx context.Context, a approveArgs) (contract.Approval, string, error) {
	inc, err := g.incident(ctx, a.Namespace, a.Incident)
	if err != nil {
		return contract.Approval{}, "", err
	}
	d := opsv1.DecisionApproved
	if a.Decision == "reject" {
		d = opsv1.DecisionRejected
	}
	key := types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}
	ids, err := inc.PendingApprovals(a.Action)
	if err != nil {
		return contract.Approval{}, "", err
	}
	out, err := approval.Decide(ctx, g.client, key, a.Action, d, g.cfg.Approver, a.Reason)
	if err != nil {
		return contract.Approval{}, "", err
	}
	res := contract.Approval{Incident: out.Namespace + "/" + out.Name, Decisions: []contract.Decision{}}
	var b strings.Builder
	for _, act := range out.Status.Actions {
		if !slices.Contains(ids, act.ID) {
			continue
		}
		rec, _ := out.ApprovalOf(act.ID)
		fmt.Fprintf(&b, "Incident %s/%s: action %s (%s, %s) %s by %s\n", out.Namespace, out.Name, act.ID, act.Tool, act.Risk, strings.ToLower(string(rec.Decision)), rec.By)
		dec := decisionOf(rec)
		dec.Tool, dec.Risk = act.Tool, string(act.Risk)
		res.Decisions = append(res.Decisions, dec)
	}
	b.WriteString("the controller runs approved actions and skips rejected ones; follow with get_incident")
	return res, b.String(), nil
}
