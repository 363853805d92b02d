package cluster

import "github.com/opsmesh/opsmesh/mcpservers/mcptool"

// analyzeTools declares this family of tools (being built).
func (t *tools) analyzeTools() []mcptool.Tool { return nil }
