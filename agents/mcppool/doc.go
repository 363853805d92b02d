// Package mcppool keeps the MCP client connections of a runtime's agents: one pooled connection
// per ToolServer endpoint (streamable HTTP, stdio, or an in-process server of the same binary),
// opened on first use, reconnected after a failure, and shared by every agent that uses the
// server. An agent sees the pool through a Toolset built from its grants (the Agent's
// spec.tools): it lists only its allowlisted tools, refuses every other call, and during an
// investigation calls read-only tools only — writes are proposed in a plan, never run here.
// Every answer is redacted again at this client (defence in depth) and capped. The package does
// not reason and does not decide risk.
package mcppool
