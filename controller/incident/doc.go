// Package incident is the incident orchestrator: the reconciler that moves an Incident through
// its lifecycle — Detected → Investigating → Diagnosed → (AwaitingApproval) → Remediating →
// Verifying → Resolved, or Escalated / Failed — by asking its coordinator Agent over A2A, writing
// the diagnosis and plan to status, deciding each action by the coordinator's remediation
// policy, running approved actions through the executing specialist's MCP tools exactly once
// (an idempotency ledger in JetStream KV), and verifying the result by asking again.
//
// It owns the Incident's status except count, firstSeen and lastSeen, which the triggers that
// raise incidents keep. It never runs an action that the policy or a person did not approve, and
// never runs one twice: an action whose outcome a restart left unknown fails and escalates
// rather than running again.
package incident
