// Package contract is what crosses package lines in opsmesh: the typed results of the builtin MCP
// tools (the structuredContent each tool returns, whose JSON shape is the tool's outputSchema) and
// the diagnosis taxonomy (the symptom and cause categories every engine, the controller, the CLI
// and the evals speak). Tool servers produce these types; agents, the controller, the gateway,
// the CLI and the evals consume them, so no consumer imports a server to read its answers.
//
// It is a leaf: it imports the standard library only, never another opsmesh package nor a
// Kubernetes or MCP library (imports_test.go fails otherwise). It holds types, constants and
// pure functions on them; it must not do I/O.
//
// Conventions for result types: JSON names in lowerCamel; objects are written kind/namespace/name
// (kind/name when cluster-scoped) with the kind in lower case, as kubectl prints them; a list that
// a tool bounds carries the count it left out in a Truncated field; optional fields are omitempty.
package contract
