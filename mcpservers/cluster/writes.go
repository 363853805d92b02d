package cluster

import "github.com/opsmesh/opsmesh/mcpservers/mcptool"

// writeTools declares this family of tools (being built).
func (t *tools) writeTools() []mcptool.Tool { return nil }
