package mcppool

import "encoding/json"

// Tool is one tool an agent may use: the ToolServer that serves it, what it does, its input
// schema, and what the agent's grant and the server's annotations say about it.
type Tool struct {
	// Server is the ToolServer's name.
	Server string `json:"server"`
	// Name of the tool on that server.
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	// ReadOnly and Destructive are the server's MCP annotations (readOnlyHint, destructiveHint).
	ReadOnly    bool `json:"readOnly"`
	Destructive bool `json:"destructive"`
	// NeedsApproval is true when the agent's grant lists the tool in requireApproval.
	NeedsApproval bool `json:"needsApproval,omitempty"`
}

// Result is a tool's answer: its text (redacted, capped) and whether the tool reported an error.
type Result struct {
	Text    string
	IsError bool
}
