package mcppool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Tool is one tool an agent may use: the ToolServer that serves it, what it does, its input
// schema, and what the agent's grant and the server's annotations say about it.
type Tool struct {
	// Server is the ToolServer's name.
	Server string `json:"server"`
	// Name of the tool on that server.
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	// OutputSchema is the JSON schema of the tool's structured content; empty for a tool that
	// returns text only.
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	// ReadOnly and Destructive are the server's MCP annotations (readOnlyHint, destructiveHint).
	ReadOnly    bool `json:"readOnly"`
	Destructive bool `json:"destructive"`
	// NeedsApproval is true when the agent's grant lists the tool in requireApproval.
	NeedsApproval bool `json:"needsApproval,omitempty"`
}

// Result is a tool's answer: its text (redacted, capped), its structured content when the tool
// declares an output schema (redacted), and whether the tool reported an error.
type Result struct {
	Text    string
	IsError bool
	// Structured is the result's structuredContent (MCP 2025-06-18): for opsmesh's builtin
	// tools, a type of package api/contract. Empty when the tool returns text only.
	Structured json.RawMessage
}

// ErrNoStructured is Decode's error for a result that carries no structured content.
var ErrNoStructured = errors.New("the tool returned no structured content (it declares no output schema)")

// Decode decodes the structured content into v (a pointer to the tool's contract type).
func (r Result) Decode(v any) error {
	if len(bytes.TrimSpace(r.Structured)) == 0 {
		return ErrNoStructured
	}
	if err := json.Unmarshal(r.Structured, v); err != nil {
		return fmt.Errorf("structured content does not decode into %T: %w", v, err)
	}
	return nil
}
