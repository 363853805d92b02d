// Package sandbox runs the whole opsmesh platform on one machine, for the demo and for trying it
// out: a real control plane (etcd, kube-apiserver, kube-scheduler, kube-controller-manager, built
// from their Go modules by hack/testbins.sh), kwok simulating the kubelets of three CPU nodes and
// three GPU nodes (8 simulated H100 each, one MIG-partitioned), a simulated GPU node agent process
// per GPU node, the opsmesh controller with the agent runtime and embedded NATS, and the MCP
// gateway, with the sample Agents and ToolServers applied. Everything it starts is a local process
// recorded in a state directory (pid files, logs, ports, the kubeconfig, the tokens), so that
// Down stops all of it and Status reports on it from another process.
//
// It owns the sandbox's processes and its state directory, nothing else: it must not touch a real
// cluster or a kubeconfig other than its own, must not run anything in containers, and must label
// what it simulates (nodes, GPUs) as simulated. The demo's scenarios live in package demo.
package sandbox
