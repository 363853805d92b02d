package cluster

import "github.com/opsmesh/opsmesh/mcpservers/mcptool"

// inspectTools declares this family of tools (being built).
func (t *tools) inspectTools() []mcptool.Tool { return nil }
