package gateway

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// The structured results of the gateway's own tools: the API's Agents and Incidents and an
// agent's diagnosis, in the contract's terms (api/contract/gateway.go).

// agentOf is an Agent as list_agents shows it.
func agentOf(ag *opsv1.Agent) contract.Agent {
	reasoning := ag.Status.Reasoning
	if reasoning == "" {
		reasoning = ag.Spec.Reasoning()
	}
	out := contract.Agent{Namespace: ag.Namespace, Name: ag.Name, Role: string(ag.Spec.Role), Ready: condition(ag.Status.Conditions), Reasoning: reasoning}
	for _, s := range ag.Spec.Skills {
		out.Skills = append(out.Skills, s.ID)
	}
	for _, d := range ag.Spec.Delegates {
		out.Delegates = append(out.Delegates, d.Name)
	}
	return out
}

// answerOf is agent's diagnosis as ask_agent answers it; d is nil when the agent answered in
// text only.
func answerOf(agent, task string, d *diagnosis.Diagnosis) contract.AgentAnswer {
	out := contract.AgentAnswer{Agent: agent, TaskID: task}
	if d == nil {
		return out
	}
	out.Subject, out.Agents, out.Notes = d.Subject, d.Agents, d.Notes
	out.RootCause = causeOf(d.RootCause)
	out.Findings = findingsOf(d.Findings)
	for _, a := range d.Plan {
		out.Plan = append(out.Plan, contract.PlannedAction{Tool: a.Tool, ToolServer: a.ToolServer, Agent: a.Agent, Arguments: a.Arguments, Risk: string(a.Risk), Reason: a.Reason})
	}
	return out
}

func causeOf(rc opsv1.RootCause) contract.RootCause {
	out := contract.RootCause{Category: rc.Category, Summary: rc.Summary, Confidence: string(rc.Confidence), Evidence: evidenceOf(rc.Evidence)}
	if c := rc.Cause; c != nil {
		out.Cause = &contract.CauseRef{Category: c.Category, Object: c.Object, Field: c.Field, Summary: c.Summary}
	}
	return out
}

func evidenceOf(ev []opsv1.Evidence) []contract.Evidence {
	var out []contract.Evidence
	for _, e := range ev {
		out = append(out, contract.Evidence{Object: e.Object, Detail: e.Detail})
	}
	return out
}

func findingsOf(fs []opsv1.Finding) []contract.AgentFinding {
	var out []contract.AgentFinding
	for _, f := range fs {
		out = append(out, contract.AgentFinding{Agent: f.Agent, Category: f.Category, Summary: f.Summary, Severity: string(f.Severity), Evidence: evidenceOf(f.Evidence)})
	}
	return out
}

// incidentSummaryOf is an Incident as list_incidents lists it.
func incidentSummaryOf(inc *opsv1.Incident) contract.IncidentSummary {
	count := int(inc.Status.Count)
	if count == 0 {
		count = 1
	}
	out := contract.IncidentSummary{Namespace: inc.Namespace, Name: inc.Name, Severity: severityWord(inc), Phase: phaseWord(inc),
		Count: count, Created: timeOf(inc.CreationTimestamp.Time)}
	if rc := inc.Status.RootCause; rc != nil {
		out.RootCause = rc.Category
	}
	if t := inc.Spec.Target; t != nil {
		out.Target = strings.ToLower(t.Kind) + "/" + t.Name
		if t.Namespace != "" {
			out.Target = strings.ToLower(t.Kind) + "/" + t.Namespace + "/" + t.Name
		}
	}
	return out
}

// incidentOf is an Incident as get_incident shows it, with the last timeline entries of its
// timeline (0 for all).
func incidentOf(inc *opsv1.Incident, timeline int) contract.Incident {
	out := contract.Incident{IncidentSummary: incidentSummaryOf(inc), Summary: inc.Spec.Summary, Source: string(inc.Spec.Source.Type),
		SourceName: inc.Spec.Source.Name, Question: inc.Spec.Question, Coordinator: inc.Status.Coordinator,
		Findings: findingsOf(inc.Status.Findings), Actions: []contract.IncidentAction{}}
	if out.Coordinator == "" {
		out.Coordinator = inc.Spec.Coordinator
	}
	if rc := inc.Status.RootCause; rc != nil {
		c := causeOf(*rc)
		out.Cause = &c
	}
	for _, a := range inc.Status.Actions {
		act := contract.IncidentAction{ID: a.ID, Description: a.Description, Tool: a.Tool, ToolServer: a.ToolServer, Agent: a.Agent,
			Risk: string(a.Risk), State: string(a.State), Message: a.Message}
		if a.Arguments != nil && len(a.Arguments.Raw) > 0 {
			_ = json.Unmarshal(a.Arguments.Raw, &act.Arguments) // the API server checked it is JSON; an array is left out
		}
		out.Actions = append(out.Actions, act)
	}
	for _, a := range inc.Status.Approvals {
		out.Approvals = append(out.Approvals, decisionOf(a))
	}
	tl := inc.Status.Timeline
	if timeline > 0 && len(tl) > timeline {
		out.TimelineTruncated = len(tl) - timeline
		tl = tl[len(tl)-timeline:]
	}
	for _, e := range tl {
		out.Timeline = append(out.Timeline, contract.TimelineEntry{Time: timeOf(e.Time.Time), Event: e.Event, Phase: string(e.Phase), Message: e.Message, Actor: e.Actor})
	}
	return out
}

func decisionOf(a opsv1.Approval) contract.Decision {
	return contract.Decision{Action: a.ActionID, Decision: string(a.Decision), By: a.By, Reason: a.Reason, Time: timeOf(a.Time.Time)}
}

// timeOf is t in RFC 3339, UTC; empty for a zero time.
func timeOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
