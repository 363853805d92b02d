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
//
// Failures of pods are kwok Stages (deploy/sandbox/stages), chosen by pod annotations, and shaped
// as a kubelet reports them: demo.opsmesh.dev/fault names the failure (CrashLoopBackOff,
// OOMKilled, LivenessProbe, StartupProbe, ReadinessProbe, Fail, Complete, Hold), with the kubelet's
// events (Unhealthy with the probe's own URL, Killing, BackOff), exit codes (1, 137) and restart
// states; demo.opsmesh.dev/fault-when ties the failure to its cause on the pod's own spec (an env
// var, an image, an arg, a command, any container or pod field), so that fixing only that field
// clears it; demo.opsmesh.dev/fault-pods fails only some pods of several (by name or index).
// Stages select pods with one jq expression kwok evaluates, so the sandbox, the demo, opsmesh
// sandbox fault and the evals share them and need no process of their own; pod-ready.yaml
// documents the annotations, and sandbox/stagetest plays the stages with kwok's own engine.
package sandbox
