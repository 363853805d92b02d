package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ToolServerType says where a ToolServer's MCP server comes from.
// +kubebuilder:validation:Enum=builtin;container;remote
type ToolServerType string

const (
	// ToolServerBuiltin runs one of opsmesh's own MCP servers from the opsmesh image.
	ToolServerBuiltin ToolServerType = "builtin"
	// ToolServerContainer runs any MCP server image in the cluster.
	ToolServerContainer ToolServerType = "container"
	// ToolServerRemote connects to an MCP server that already runs somewhere, by URL.
	ToolServerRemote ToolServerType = "remote"
)

// BuiltinServer names one of opsmesh's own MCP servers.
// +kubebuilder:validation:Enum=cluster;gpu;scheduler
type BuiltinServer string

const (
	// BuiltinCluster serves Kubernetes operations (workloads, events, logs, nodes, analyzers).
	BuiltinCluster BuiltinServer = "cluster"
	// BuiltinGPU serves GPU operations: an NVML node agent on every GPU node and the cluster's
	// GPU view.
	BuiltinGPU BuiltinServer = "gpu"
	// BuiltinScheduler serves scheduling operations: pending pods, Kueue and Volcano queues,
	// GPU fragmentation.
	BuiltinScheduler BuiltinServer = "scheduler"
)

// MCPTransport is how an MCP server is spoken to.
// +kubebuilder:validation:Enum=stdio;http
type MCPTransport string

const (
	// TransportStdio is an MCP server that reads requests on stdin and answers on stdout; the
	// controller wraps it so that agents reach it over streamable HTTP.
	TransportStdio MCPTransport = "stdio"
	// TransportHTTP is an MCP server that serves the streamable HTTP transport itself.
	TransportHTTP MCPTransport = "http"
)

// ToolServerSpec declares an MCP tool server: exactly one of builtin, container or remote, named
// by type.
//
// +kubebuilder:validation:XValidation:rule="[has(self.builtin), has(self.container), has(self.remote)].exists_one(x, x)",message="exactly one of spec.builtin, spec.container or spec.remote must be set"
// +kubebuilder:validation:XValidation:rule="self.type == 'builtin' ? has(self.builtin) : self.type == 'container' ? has(self.container) : has(self.remote)",message="spec.type must name the block that is set: type builtin needs spec.builtin, container needs spec.container, remote needs spec.remote"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountName) || self.type != 'remote'",message="spec.serviceAccountName does not apply to a remote ToolServer: nothing runs in the cluster",fieldPath=.serviceAccountName
type ToolServerSpec struct {
	// Type says which block describes the server: builtin, container or remote. It cannot be
	// changed; delete and re-create the ToolServer instead.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable; delete and re-create the ToolServer to change it"
	// +required
	Type ToolServerType `json:"type"`

	// Description says what the server is for, in a sentence. Agents and chat clients see it.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`

	// Builtin runs one of opsmesh's own MCP servers. Required when type is builtin.
	// +optional
	Builtin *BuiltinToolServer `json:"builtin,omitempty"`

	// Container runs an MCP server image in the cluster. Required when type is container.
	// +optional
	Container *ContainerToolServer `json:"container,omitempty"`

	// Remote connects to an MCP server by URL. Required when type is remote.
	// +optional
	Remote *RemoteToolServer `json:"remote,omitempty"`

	// ReadOnly serves only tools that change nothing, and runs the server with a read-only
	// ClusterRole. Set it to false to serve write tools (each still subject to the calling
	// Agent's approval policy) with a read-write role. Default: true.
	// +kubebuilder:default=true
	// +optional
	ReadOnly *bool `json:"readOnly,omitempty"`

	// ServiceAccountName runs the server as an existing ServiceAccount, whose RBAC you manage.
	// When empty the controller creates a ServiceAccount with the role that readOnly selects.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// BuiltinToolServer runs one of opsmesh's own MCP servers from the opsmesh image.
//
// +kubebuilder:validation:XValidation:rule="self.server != 'gpu' || !has(self.replicas)",message="builtin.replicas does not apply to the gpu server, which runs one node agent per GPU node; use builtin.nodeSelector to choose the nodes",fieldPath=.replicas
type BuiltinToolServer struct {
	// Server names the builtin server: cluster, gpu or scheduler. It cannot be changed.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="builtin.server is immutable; delete and re-create the ToolServer to change it"
	// +required
	Server BuiltinServer `json:"server"`

	// Replicas of the server's Deployment (cluster and scheduler servers).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// NodeSelector limits the nodes the server's pods run on; for the gpu server it selects the
	// GPU nodes that get a node agent (default: nodes labelled nvidia.com/gpu.present=true).
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Args are extra command-line flags for the server (see `opsmesh mcp <server> --help`).
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	// +optional
	Args []string `json:"args,omitempty"`
}

// ContainerToolServer runs any MCP server image in the cluster.
//
// +kubebuilder:validation:XValidation:rule="self.transport != 'http' || has(self.port)",message="container.port is required when container.transport is http: it is the port the server listens on",fieldPath=.port
type ContainerToolServer struct {
	// Image of the MCP server.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Image string `json:"image"`

	// Transport the server speaks: stdio (wrapped by opsmesh into streamable HTTP) or http
	// (streamable HTTP served by the image itself).
	// +required
	Transport MCPTransport `json:"transport"`

	// Command overrides the image's entrypoint.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	// +optional
	Command []string `json:"command,omitempty"`

	// Args are the arguments to the command.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	// +optional
	Args []string `json:"args,omitempty"`

	// Env sets environment variables in the container; take secrets from Secrets with valueFrom.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Port the server listens on; required with transport http.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`

	// Path of the MCP endpoint on that port. Default: /mcp.
	// +kubebuilder:default="/mcp"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`

	// Resources are the container's compute requests and limits.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Replicas of the server's Deployment.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// RemoteToolServer connects to an MCP server that already runs, by URL.
type RemoteToolServer struct {
	// URL of the server's streamable HTTP endpoint, http or https.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="remote.url must be an absolute http or https URL, such as https://mcp.example.com/mcp"
	// +required
	URL string `json:"url"`

	// BearerTokenSecretRef names the Secret key that holds a bearer token sent with every request.
	// +optional
	BearerTokenSecretRef *SecretKeyReference `json:"bearerTokenSecretRef,omitempty"`

	// Timeout for one tool call, between 1s and 10m. Default: 30s.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="remote.timeout must be a duration between 1s and 10m, such as 30s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// DiscoveredTool is one tool a ToolServer serves, as its MCP tools/list answered, with the
// annotations the server set.
type DiscoveredTool struct {
	// Name of the tool.
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// Description of the tool, as the server gives it (shortened to its first sentences).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`

	// ReadOnly is the server's readOnlyHint: the tool changes nothing.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`

	// Destructive is the server's destructiveHint: the tool may delete or overwrite state.
	// +optional
	Destructive bool `json:"destructive,omitempty"`

	// Idempotent is the server's idempotentHint: calling it twice has the effect of calling once.
	// +optional
	Idempotent bool `json:"idempotent,omitempty"`
}

// ToolServerStatus is what the controller observed of a ToolServer.
type ToolServerStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (serving and tools discovered) and Accepted (spec resolved).
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Endpoint is the URL agents use to reach the server's MCP endpoint.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// ToolCount is the number of tools discovered (the length of tools).
	// +optional
	ToolCount int32 `json:"toolCount,omitempty"`

	// Tools the server serves, as last discovered.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	// +optional
	Tools []DiscoveredTool `json:"tools,omitempty"`

	// LastDiscoveryTime is when the tools were last listed.
	// +optional
	LastDiscoveryTime *metav1.Time `json:"lastDiscoveryTime,omitempty"`
}

// ToolServer is an MCP tool server that Agents may use: one of opsmesh's builtin servers, any MCP
// server image run in the cluster, or a remote MCP server.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ts,categories=opsmesh
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.builtin.server`,priority=1
// +kubebuilder:printcolumn:name="Read-Only",type=boolean,JSONPath=`.spec.readOnly`,priority=1
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.toolCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ToolServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec declares the server.
	// +required
	Spec ToolServerSpec `json:"spec"`

	// Status is what the controller observed.
	// +optional
	Status ToolServerStatus `json:"status,omitempty"`
}

// ToolServerList is a list of ToolServers.
//
// +kubebuilder:object:root=true
type ToolServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ToolServer `json:"items"`
}
