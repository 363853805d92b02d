// Package metrics owns opsmesh's Prometheus series: their names, labels and buckets, the registry
// they live in, and the /metrics handler that serves it. The packages that do the work (mcptool,
// mcppool, a2anats, the incident orchestrator) record into the collectors declared here, each at
// one place, so every series has one definition and the Grafana dashboard's test can check its
// queries against Names.
//
// The registry is controller-runtime's (sigs.k8s.io/controller-runtime/pkg/metrics.Registry), so
// `opsmesh controller`'s --metrics-bind-address serves these series beside controller-runtime's
// own; `opsmesh runtime` and `opsmesh mcp <server>` serve the same registry with Handler.
//
// It must not hold anything but collectors: no I/O, no Kubernetes or NATS clients. Every label's
// values are bounded sets (server and tool names declared in code or by ToolServer objects, agent
// names, A2A method names, incident phases, fixed outcome words); never put an object's name,
// an error message or a user's input in a label.
package metrics

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Registry is where every opsmesh series is registered: controller-runtime's registry.
var Registry = ctrlmetrics.Registry

// Outcomes of a tool call or an A2A request, the values of the outcome label.
const (
	// OutcomeOK: the call returned a result.
	OutcomeOK = "ok"
	// OutcomeError: the tool or agent answered with an error (a tool result with isError, a
	// JSON-RPC error).
	OutcomeError = "error"
	// OutcomeInvalid: the arguments were refused before anything ran.
	OutcomeInvalid = "invalid"
	// OutcomeRefused: the caller's grants or read-only view refused the call before it was sent.
	OutcomeRefused = "refused"
	// OutcomeUnreachable: the transport failed (connection, timeout).
	OutcomeUnreachable = "unreachable"
	// OutcomePanic: the handler panicked (a bug).
	OutcomePanic = "panic"
)

// callBuckets spans a fast in-process read (1 ms) to a slow write that waits on the cluster (2 m).
var callBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

var (
	// ToolCalls counts tool calls served by opsmesh's MCP servers (mcpservers/mcptool).
	ToolCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsmesh_mcp_tool_calls_total",
		Help: "Tool calls served by opsmesh's MCP servers, by server, tool and outcome (ok, error, invalid, panic).",
	}, []string{"server", "tool", "outcome"})
	// ToolCallDuration is how long served tool calls took.
	ToolCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsmesh_mcp_tool_call_duration_seconds",
		Help:    "Time to serve one tool call, by server and tool.",
		Buckets: callBuckets,
	}, []string{"server", "tool"})

	// ClientCalls counts tool calls made by agents and the controller through the MCP client
	// pool (agents/mcppool); server is the ToolServer's name.
	ClientCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsmesh_mcp_client_calls_total",
		Help: "Tool calls made through the MCP client pool, by ToolServer, tool and outcome (ok, error, refused, unreachable).",
	}, []string{"server", "tool", "outcome"})
	// ClientCallDuration is how long pooled tool calls took, as the caller saw them.
	ClientCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsmesh_mcp_client_call_duration_seconds",
		Help:    "Time for one tool call through the MCP client pool, connection included, by ToolServer and tool.",
		Buckets: callBuckets,
	}, []string{"server", "tool"})

	// A2ARequests counts A2A requests served over NATS (agents/a2anats); agent is namespace/name.
	A2ARequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsmesh_a2a_requests_total",
		Help: "A2A requests served over NATS, by agent (namespace/name), method and outcome (ok, error).",
	}, []string{"agent", "method", "outcome"})
	// A2ARequestDuration is how long served A2A requests took (a streaming one until its end frame).
	A2ARequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsmesh_a2a_request_duration_seconds",
		Help:    "Time to serve one A2A request over NATS, by agent and method.",
		Buckets: []float64{.005, .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"agent", "method"})

	// Incidents is how many Incidents are in each phase, as the orchestrator last saw them.
	Incidents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "opsmesh_incidents",
		Help: "Incidents by phase, as the incident orchestrator last reconciled them.",
	}, []string{"phase"})
	// IncidentTransitions counts the phases Incidents entered.
	IncidentTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsmesh_incident_transitions_total",
		Help: "Phases entered by Incidents (each transition once, when its status is written).",
	}, []string{"phase"})
	// TimeToDiagnosis is from an Incident's detection to its diagnosis.
	TimeToDiagnosis = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "opsmesh_incident_time_to_diagnosis_seconds",
		Help:    "Time from an Incident's detection to its diagnosis.",
		Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600},
	})
	// TimeToResolution is from an Incident's detection to its resolution.
	TimeToResolution = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "opsmesh_incident_time_to_resolution_seconds",
		Help:    "Time from an Incident's detection to its resolution (Resolved only; escalations are counted by opsmesh_incident_transitions_total).",
		Buckets: []float64{5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400},
	})
	// RemediationActions counts remediation actions that reached an end state.
	RemediationActions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsmesh_remediation_actions_total",
		Help: "Remediation actions that reached an end state, by outcome (Succeeded, Failed, Rejected, Skipped) and risk (safe, disruptive, destructive).",
	}, []string{"outcome", "risk"})
)

var all = []prometheus.Collector{
	ToolCalls, ToolCallDuration, ClientCalls, ClientCallDuration, A2ARequests, A2ARequestDuration,
	Incidents, IncidentTransitions, TimeToDiagnosis, TimeToResolution, RemediationActions,
}

func init() {
	Registry.MustRegister(all...)
}

// names of the series, as registered (histograms add _bucket, _sum and _count).
var names = []string{
	"opsmesh_mcp_tool_calls_total", "opsmesh_mcp_tool_call_duration_seconds",
	"opsmesh_mcp_client_calls_total", "opsmesh_mcp_client_call_duration_seconds",
	"opsmesh_a2a_requests_total", "opsmesh_a2a_request_duration_seconds",
	"opsmesh_incidents", "opsmesh_incident_transitions_total",
	"opsmesh_incident_time_to_diagnosis_seconds", "opsmesh_incident_time_to_resolution_seconds",
	"opsmesh_remediation_actions_total",
}

// Names returns the name of every opsmesh metric family, sorted.
func Names() []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return out
}

// Handler serves Registry in the Prometheus text format (for `opsmesh runtime` and `opsmesh mcp`
// --metrics-listen).
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}
