package cluster

import "github.com/opsmesh/opsmesh/mcpservers/mcptool"

// inspectTools declares the read tools that look closer than a list: describe, events_list,
// pod_logs, nodes_status and workload_health, one family per file. All are Read and list from the
// informer cache without copying (read-only), with no per-pod API calls.
func (t *tools) inspectTools() []mcptool.Tool {
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{
		t.describeTools,
		t.eventTools,
		t.logTools,
		t.nodeTools,
		t.workloadTools,
	} {
		all = append(all, family()...)
	}
	return all
}
