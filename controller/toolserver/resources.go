package toolserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

const (
	// SecretHashAnnotation is the pod-template annotation holding a hash of the data of every
	// Secret the ToolServer's pods read; a changed Secret changes it and rolls the pods.
	SecretHashAnnotation = "opsmesh.dev/secret-hash"
	// ToolServerLabel names the ToolServer on every object made for it.
	ToolServerLabel = "opsmesh.dev/toolserver"
	// ToolServerNamespaceLabel is the ToolServer's namespace on its cluster-scoped RBAC.
	ToolServerNamespaceLabel = "opsmesh.dev/toolserver-namespace"
	// Finalizer removes a ToolServer's ClusterRole and ClusterRoleBinding, which cannot be
	// owned by a namespaced object.
	Finalizer = "opsmesh.dev/toolserver-rbac"
	// TokenKey is the key of the bearer token in the Secret TokenSecretName names (the one
	// kubehost.Endpoint reads).
	TokenKey = "token"
	// GPUNodeLabel selects GPU nodes for the gpu server's DaemonSet by default.
	GPUNodeLabel = "nvidia.com/gpu.present"

	tokenDir  = "/var/run/opsmesh/token"
	binDir    = "/opsmesh/bin"
	mcpPort   = 8080
	container = "mcp"
)

// TokenSecretName is the Secret holding the bearer token that a builtin or stdio-bridged
// ToolServer's pods require (key TokenKey); clients in the cluster send it.
func TokenSecretName(ts *opsv1.ToolServer) string { return kubehost.TokenSecretName(ts) }

// ClusterRBACName is the name of a ToolServer's ClusterRole and ClusterRoleBinding.
func ClusterRBACName(ts *opsv1.ToolServer) string {
	return "opsmesh-toolserver-" + ts.Namespace + "-" + ts.Name
}

func labels(ts *opsv1.ToolServer) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "opsmesh-toolserver",
		"app.kubernetes.io/instance":   ts.Name,
		"app.kubernetes.io/managed-by": "opsmesh",
		ToolServerLabel:                ts.Name,
	}
}

func selector(ts *opsv1.ToolServer) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "opsmesh-toolserver", ToolServerLabel: ts.Name}
}

// runsPods reports whether the ToolServer runs anything in the cluster.
func runsPods(ts *opsv1.ToolServer) bool { return ts.Spec.Type != opsv1.ToolServerRemote }

// needsToken reports whether the pods serve with opsmesh's bearer token (builtin servers and
// the stdio bridge; an HTTP container server does its own auth).
func needsToken(ts *opsv1.ToolServer) bool {
	switch ts.Spec.Type {
	case opsv1.ToolServerBuiltin:
		return true
	case opsv1.ToolServerContainer:
		return ts.Spec.Container != nil && ts.Spec.Container.Transport == opsv1.TransportStdio
	}
	return false
}

// managesRBAC reports whether the controller makes the ServiceAccount and its role.
func managesRBAC(ts *opsv1.ToolServer) bool {
	return runsPods(ts) && ts.Spec.ServiceAccountName == ""
}

func serviceAccountName(ts *opsv1.ToolServer) string {
	if ts.Spec.ServiceAccountName != "" {
		return ts.Spec.ServiceAccountName
	}
	return ts.Name
}

// secretRefs are the Secret names the ToolServer's spec refers to, sorted.
func secretRefs(ts *opsv1.ToolServer) []string {
	set := map[string]bool{}
	if r := ts.Spec.Remote; r != nil && r.BearerTokenSecretRef != nil {
		set[r.BearerTokenSecretRef.Name] = true
	}
	if c := ts.Spec.Container; c != nil {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				set[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// hashSecrets hashes the data of the Secrets, in order of name and key.
func hashSecrets(secrets []*corev1.Secret) string {
	h := sha256.New()
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	for _, s := range secrets {
		fmt.Fprintf(h, "%s\x00", s.Name)
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00%d\x00", k, len(s.Data[k]))
			h.Write(s.Data[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func meta(ts *opsv1.ToolServer, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ts.Namespace, Labels: labels(ts)}
}

func serviceAccount(ts *opsv1.ToolServer) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(ts, ts.Name)}
}

func service(ts *opsv1.ToolServer, port int32) *corev1.Service {
	target := int32(mcpPort)
	if c := ts.Spec.Container; c != nil && c.Transport == opsv1.TransportHTTP && c.Port != nil {
		target = *c.Port
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(ts, ts.Name),
		Spec: corev1.ServiceSpec{
			Selector: selector(ts),
			Ports:    []corev1.ServicePort{{Name: "mcp", Port: port, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// readVerbs and writeVerbs are the verbs of the read-only and read-write roles.
var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch", "delete"}
)

// readRules are what every opsmesh tool server reads: workloads, pods and their logs, events,
// nodes, networking, storage, autoscaling, and the Kueue and Volcano queues; RBAC objects and
// SubjectAccessReviews, for the cluster server's access_check (a review changes nothing).
// Secrets are not readable.
func readRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "events", "nodes", "services", "endpoints", "configmaps",
			"persistentvolumeclaims", "persistentvolumes", "namespaces", "replicationcontrollers", "resourcequotas", "limitranges", "serviceaccounts"}, Verbs: readVerbs},
		{APIGroups: []string{"apps", "batch", "autoscaling", "policy", "events.k8s.io", "discovery.k8s.io", "networking.k8s.io",
			"storage.k8s.io", "scheduling.k8s.io", "node.k8s.io", "kueue.x-k8s.io", "scheduling.volcano.sh", "batch.volcano.sh",
			"metrics.k8s.io", "apiextensions.k8s.io", "opsmesh.dev"}, Resources: []string{"*"}, Verbs: readVerbs},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}, Verbs: readVerbs},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
}

// writeRules are what the write tools change: restart, scale, roll back, set image or
// resources (workloads), delete and evict pods, cordon and drain (nodes), resume jobs, and
// queue quotas and workload queues.
func writeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets", "replicasets", "deployments/scale", "statefulsets/scale"}, Verbs: writeVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"services", "configmaps", "persistentvolumeclaims"}, Verbs: writeVerbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: writeVerbs},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: writeVerbs},
		{APIGroups: []string{"kueue.x-k8s.io"}, Resources: []string{"clusterqueues", "localqueues", "workloads"}, Verbs: writeVerbs},
		{APIGroups: []string{"scheduling.volcano.sh", "batch.volcano.sh"}, Resources: []string{"*"}, Verbs: writeVerbs},
	}
}

func clusterRole(ts *opsv1.ToolServer) *rbacv1.ClusterRole {
	rules := readRules()
	if !ts.Spec.IsReadOnly() {
		rules = append(rules, writeRules()...)
	}
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRBACName(ts), Labels: clusterLabels(ts)},
		Rules:      rules,
	}
}

func clusterLabels(ts *opsv1.ToolServer) map[string]string {
	l := labels(ts)
	l[ToolServerNamespaceLabel] = ts.Namespace
	return l
}

func clusterRoleBinding(ts *opsv1.ToolServer) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRBACName(ts), Labels: clusterLabels(ts)},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ClusterRBACName(ts)},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccountName(ts), Namespace: ts.Namespace}},
	}
}

func tokenSecret(ts *opsv1.ToolServer, token string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(ts, TokenSecretName(ts)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{TokenKey: []byte(token)},
	}
}

// builtinArgs are the command line of a builtin server: `opsmesh mcp <server>` over HTTP on
// :8080 with the token, read-only unless spec.readOnly is false, then spec.builtin.args.
func builtinArgs(ts *opsv1.ToolServer) []string {
	b := ts.Spec.Builtin
	args := []string{"mcp", string(b.Server), "--transport", "http", "--listen", ":" + strconv.Itoa(mcpPort), "--token-file", tokenDir + "/" + TokenKey}
	if ts.Spec.IsReadOnly() {
		args = append(args, "--read-only")
	}
	return append(args, b.Args...)
}

func tokenVolume(ts *opsv1.ToolServer) (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: TokenSecretName(ts)}}},
		corev1.VolumeMount{Name: "token", MountPath: tokenDir, ReadOnly: true}
}

func probes(c *corev1.Container) {
	// /healthz answers without auth on opsmesh's own servers.
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(mcpPort)}}, PeriodSeconds: 10}
}

// podTemplate is the pod of a builtin or container ToolServer.
func podTemplate(ts *opsv1.ToolServer, image, binary, secretHash string) (corev1.PodTemplateSpec, error) {
	pt := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels(ts), Annotations: map[string]string{
			SecretHashAnnotation: secretHash, "opsmesh.dev/mcp-port": strconv.Itoa(mcpPort)}},
		Spec: corev1.PodSpec{ServiceAccountName: serviceAccountName(ts)},
	}
	main := corev1.Container{Name: container, Ports: []corev1.ContainerPort{{Name: "mcp", ContainerPort: mcpPort, Protocol: corev1.ProtocolTCP}}}
	switch ts.Spec.Type {
	case opsv1.ToolServerBuiltin:
		main.Image = image
		main.Command = []string{binary}
		main.Args = builtinArgs(ts)
		v, m := tokenVolume(ts)
		pt.Spec.Volumes = append(pt.Spec.Volumes, v)
		main.VolumeMounts = append(main.VolumeMounts, m)
		probes(&main)
		if ts.Spec.Builtin.Server == opsv1.BuiltinGPU {
			gpuPod(ts, &pt, &main)
		} else {
			pt.Spec.NodeSelector = ts.Spec.Builtin.NodeSelector
		}
	case opsv1.ToolServerContainer:
		c := ts.Spec.Container
		main.Image = c.Image
		main.Env = c.Env
		if c.Resources != nil {
			main.Resources = *c.Resources
		}
		switch c.Transport {
		case opsv1.TransportHTTP:
			main.Command, main.Args = c.Command, c.Args
			main.Ports[0].ContainerPort = *c.Port
		case opsv1.TransportStdio:
			if len(c.Command) == 0 {
				return pt, fmt.Errorf("ToolServer %s/%s: spec.container.command is required with transport stdio: the bridge starts it as a child process (an image's entrypoint cannot be read from here); set it to the server's command", ts.Namespace, ts.Name)
			}
			// An init container copies the opsmesh binary into an emptyDir; the bridge runs the
			// stdio server as its child and serves it over streamable HTTP on :8080.
			pt.Spec.Volumes = append(pt.Spec.Volumes, corev1.Volume{Name: "opsmesh-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			pt.Spec.InitContainers = []corev1.Container{{
				Name: "opsmesh-bin", Image: image,
				Command:      []string{"cp", binary, binDir + "/opsmesh"},
				VolumeMounts: []corev1.VolumeMount{{Name: "opsmesh-bin", MountPath: binDir}},
			}}
			main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: "opsmesh-bin", MountPath: binDir, ReadOnly: true})
			v, m := tokenVolume(ts)
			pt.Spec.Volumes = append(pt.Spec.Volumes, v)
			main.VolumeMounts = append(main.VolumeMounts, m)
			main.Command = []string{binDir + "/opsmesh"}
			main.Args = append([]string{"mcp", "bridge", "--listen", ":" + strconv.Itoa(mcpPort), "--token-file", tokenDir + "/" + TokenKey, "--"}, c.Command...)
			main.Args = append(main.Args, c.Args...)
			probes(&main)
			// The bridge's /healthz fails once the child has exited: restart the container.
			main.LivenessProbe = &corev1.Probe{ProbeHandler: main.ReadinessProbe.ProbeHandler, PeriodSeconds: 10, FailureThreshold: 3}
		}
	}
	pt.Spec.Containers = []corev1.Container{main}
	return pt, nil
}

// gpuPod places the gpu server's node agent on GPU nodes with what NVML needs: the NVIDIA
// container runtime's environment (all GPUs and the utility capability, so the toolkit mounts
// libnvidia-ml.so.1 and the device files), the node's name, a privileged container for the
// device files, and a toleration for the nvidia.com/gpu taint.
func gpuPod(ts *opsv1.ToolServer, pt *corev1.PodTemplateSpec, main *corev1.Container) {
	pt.Labels["app.kubernetes.io/component"] = "gpu-node-agent"
	pt.Spec.NodeSelector = ts.Spec.Builtin.NodeSelector
	if len(pt.Spec.NodeSelector) == 0 {
		pt.Spec.NodeSelector = map[string]string{GPUNodeLabel: "true"}
	}
	pt.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}
	main.Env = append(main.Env,
		corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		corev1.EnvVar{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"},
		corev1.EnvVar{Name: "NVIDIA_DRIVER_CAPABILITIES", Value: "utility"},
	)
	// Privileged sees the host's /dev/nvidia* even where the NVIDIA runtime does not inject them.
	main.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
}

func replicas(ts *opsv1.ToolServer) *int32 {
	if b := ts.Spec.Builtin; b != nil && b.Replicas != nil {
		return b.Replicas
	}
	if c := ts.Spec.Container; c != nil && c.Replicas != nil {
		return c.Replicas
	}
	return ptr.To[int32](1)
}

func isDaemonSet(ts *opsv1.ToolServer) bool {
	return ts.Spec.Builtin != nil && ts.Spec.Builtin.Server == opsv1.BuiltinGPU
}

func deployment(ts *opsv1.ToolServer, pt corev1.PodTemplateSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(ts, ts.Name),
		Spec:       appsv1.DeploymentSpec{Replicas: replicas(ts), Selector: &metav1.LabelSelector{MatchLabels: selector(ts)}, Template: pt},
	}
}

func daemonSet(ts *opsv1.ToolServer, pt corev1.PodTemplateSpec) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: meta(ts, ts.Name),
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: selector(ts)}, Template: pt},
	}
}
