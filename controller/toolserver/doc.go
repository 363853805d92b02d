// Package toolserver reconciles ToolServer objects: it runs what a builtin or container
// ToolServer needs in the cluster (a Deployment, or a DaemonSet on GPU nodes for the gpu server;
// a Service on port 8080; a ServiceAccount; a ClusterRole and ClusterRoleBinding chosen by
// spec.readOnly; a bearer-token Secret), wraps stdio servers with `opsmesh mcp bridge`, then
// connects to the server's MCP endpoint with a short-lived client and writes the tools it serves
// into status with the Accepted and Ready conditions. Namespaced objects are owned by the
// ToolServer; the cluster-scoped RBAC is removed by a finalizer.
//
// It must not host agents or hold MCP connections open between reconciles (the agent runtime
// does that), and it never copies a Secret's value into status, events or logs.
package toolserver
