package main

const gpuLong = `Serve this node's NVIDIA GPUs as MCP tools, read through NVML: gpu_list, gpu_metrics,
gpu_health (a verdict and a recommended action per GPU from NVIDIA's XID catalog), gpu_processes
(mapped to pods), xid_events, and gpu_reset (destructive; takes dryRun; refuses while processes
use the GPU). Runs on each GPU node, usually as a DaemonSet.

Without an NVIDIA driver, --simulate=dgxh100 (or dgxa100, dgxh200) serves 8 simulated GPUs, with
faults from --fault-file; every result then starts with "simulated: true".

Over stdio (the default) an MCP client starts this command itself. Over HTTP every request must
carry "Authorization: Bearer <token>" with the token from --token-file.`
