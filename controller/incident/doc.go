// Package incident is the incident orchestrator: the reconciler that moves an Incident through
// its lifecycle — Detected → Investigating → Diagnosed → (AwaitingApproval) → Remediating →
// Verifying → Resolved, or Escalated / Failed — by asking its coordinator Agent over A2A, writing
// the diagnosis and plan to status, deciding each action by the coordinator's remediation
// policy, running approved actions through the executing specialist's MCP tools exactly once
// (an idempotency ledger in JetStream KV), and verifying the result by asking again and by the
// health of the workload behind the target (health.go: a Deployment's rollout complete with every
// replica ready, a Node Ready...).
//
// Endings are honest: a diagnosis that finds no problem (NoProblemFound) or cannot name one
// (Unknown) resolves an incident only when its signal is gone — the alert resolved, no repeats or
// Warning events since the diagnosis started, the workload healthy (ending.go); otherwise the
// incident escalates as Inconclusive, saying what was checked and which signal persists. A
// remediation whose workload never gets healthy within the verify timeout escalates as
// NotVerified.
//
// It owns the Incident's status except count, firstSeen and lastSeen, which the triggers that
// raise incidents keep. It never runs an action that the policy or a person did not approve, and
// never runs one twice: an action whose outcome a restart left unknown fails and escalates
// rather than running again.
package incident
