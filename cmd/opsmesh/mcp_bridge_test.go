package main

import (
	"strings"
	"testing"
)

// TestMCPBridgeFlags checks that the bridge refuses a missing command and an unreadable token
// file, saying what to do, and that `opsmesh mcp` lists it.
func TestMCPBridgeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp", "bridge"}, "give the stdio MCP server's command after --"},
		{[]string{"mcp", "bridge", "npx", "server"}, "give the stdio MCP server's command after --"},
		{[]string{"mcp", "bridge", "--token-file", "/no/such/token", "--", "npx"}, "reading the token file"},
	} {
		if _, _, err := run(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	out, _, err := run(t, "mcp", "--help")
	if err != nil || !strings.Contains(out, "bridge      Serve a stdio MCP server over streamable HTTP") {
		t.Errorf("opsmesh mcp --help does not list the bridge: %v\n%s", err, out)
	}
}
