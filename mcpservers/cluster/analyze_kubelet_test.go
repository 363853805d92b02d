package cluster_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// ownerFinding is the finding of category whose object or owner is object, with a cause, or nil.
func ownerFinding(a contract.Analysis, category, object string) *contract.Finding {
	for i := range a.Findings {
		if f := &a.Findings[i]; f.Category == category && (f.Object == object || f.Owner == object) && f.Cause != nil {
			return f
		}
	}
	return nil
}

// TestAnalyzeJobSidecarOutlivesMain: a Job whose pod's main container ended while its istio-proxy
// keeps running never completes; a focus on the Job says so and names the sidecar.
func TestAnalyzeJobSidecarOutlivesMain(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "an-sidecar")
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-migrate"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}, {Name: "istio-proxy", Image: "registry.example/proxyv2:1"}}}}}}
	create(t, job)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-migrate-x7k2p",
		OwnerReferences: []metav1.OwnerReference{controllerRef("batch/v1", "Job", job)}}, Spec: *job.Spec.Template.Spec.DeepCopy()}
	create(t, p)
	ended := metav1.NewTime(time.Now().Add(-20 * time.Minute))
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "migrate", Image: "registry.example/migrate:1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0, StartedAt: ended, FinishedAt: ended}}},
		{Name: "istio-proxy", Image: "registry.example/proxyv2:1", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ended}}},
	}}
	setStatus(t, p)
	// A Job whose sidecar ended with it: nothing to say.
	fine := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "report"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "report", Image: "registry.example/report:1"}}}}}}
	create(t, fine)

	args := map[string]any{"namespace": ns, "kind": "job", "name": "db-migrate"}
	s.Eventually("analyze", args, "istio-proxy")
	var a contract.Analysis
	text := s.Data("analyze", args, &a)
	f := causeFinding(a, "JobFailed", "job/an-sidecar/db-migrate", "spec.template.spec.containers[istio-proxy]")
	if f == nil || f.Cause.Category != contract.ApplicationConfig || f.Cause.Object != "job/an-sidecar/db-migrate" {
		t.Fatalf("want a JobFailed finding with an ApplicationConfig cause on the Job's istio-proxy container:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "istio-proxy", "keeps running after its main container migrate ended", "never completes")
	mustContain(t, f.Cause.Fix.Text, "initContainers with restartPolicy: Always", "quitquitquit")
	mustContain(t, strings.Join(f.Cause.Evidence, "\n"), "status.containerStatuses[migrate].state.terminated: reason=Completed exitCode=0")
	mustNotContain(t, s.OK("analyze", map[string]any{"namespace": ns, "kind": "job", "name": "report"}), "istio-proxy")
}

// TestAnalyzeKubeletRefusals: pods the kubelet does not start, for a hostPath of the wrong type
// (a DaemonSet, each of whose pods waits in ContainerCreating), a missing key, and a non-root
// policy the image breaks: each is a cause on the field at fault, with the kubelet's words.
func TestAnalyzeKubeletRefusals(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "an-kubelet")

	socket := corev1.HostPathSocket
	labels := map[string]string{"app": "node-agent"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "node-agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "cri-socket", MountPath: "/run/cri.sock"}}}},
				Volumes: []corev1.Volume{{Name: "cri-socket", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: "/run/containerd/containerd.sock", Type: &socket}}}}}}}}
	create(t, ds)
	for _, n := range []string{"gpu-a", "gpu-b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "node-agent-" + n, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "DaemonSet", ds)}},
			Spec: *ds.Spec.Template.Spec.DeepCopy()}
		p.Spec.NodeName = n
		create(t, p)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", Image: "registry.example/agent:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}
		setStatus(t, p)
		warningEvent(t, p, "Pod", "FailedMount", `MountVolume.SetUp failed for volume "cri-socket" : hostPath type check failed: /run/containerd/containerd.sock is not a socket file`, "")
	}

	// A mount the table does not read (an NFS server that refuses): still a finding, with the
	// kubelet's event, not "no problem found".
	logs := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "log-shipper"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "log-shipper"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "log-shipper"}}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "shipper", Image: "registry.example/shipper:1"}},
				Volumes:    []corev1.Volume{{Name: "archive", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/logs"}}}}}}}}
	create(t, logs)
	lp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "log-shipper-gpu-a", Labels: logs.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "DaemonSet", logs)}}, Spec: *logs.Spec.Template.Spec.DeepCopy()}
	lp.Spec.NodeName = "gpu-a"
	create(t, lp)
	lp.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "shipper", Image: "registry.example/shipper:1",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}
	setStatus(t, lp)
	warningEvent(t, lp, "Pod", "FailedMount", `MountVolume.SetUp failed for volume "archive" : mount failed: exit status 32`, "")

	_, rs := deploymentWithRevisions(t, ns, "web", 1, func(p *corev1.PodSpec) {
		p.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	})
	ownedPod(t, rs, ns, "web-h1-0", waiting("CreateContainerConfigError", "container has runAsNonRoot and image will run as root (pod: \"web-h1-0_an-kubelet(1234)\", container: app)", nil))

	args := map[string]any{"namespace": ns, "kind": "daemonset", "name": "node-agent"}
	s.Eventually("analyze", args, "cri-socket")
	var a contract.Analysis
	text := s.Data("analyze", args, &a)
	f := ownerFinding(a, "CreateContainerConfigError", "daemonset/an-kubelet/node-agent")
	if f == nil || f.Cause.Category != contract.ApplicationConfig || f.Cause.Object != "daemonset/an-kubelet/node-agent" ||
		f.Cause.Field != "spec.template.spec.volumes[cri-socket].hostPath.path" {
		t.Fatalf("want a cause on the DaemonSet's hostPath volume cri-socket:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "/run/containerd/containerd.sock (type Socket)", "not a socket file")
	mustContain(t, strings.Join(f.Cause.Evidence, "\n"), `hostPath type check failed: /run/containerd/containerd.sock is not a socket file`)
	mustContain(t, f.Cause.Fix.Text, "/var/run/crio/crio.sock")
	mustContain(t, text, "cause: ApplicationConfig daemonset/an-kubelet/node-agent (spec.template.spec.volumes[cri-socket].hostPath.path)")

	out := s.Eventually("analyze", map[string]any{"namespace": ns, "kind": "daemonset", "name": "log-shipper"}, "exit status 32")
	mustContain(t, out, "CreateContainerConfigError pod/an-kubelet/log-shipper-gpu-a (owner daemonset/an-kubelet/log-shipper)", "the kubelet cannot mount a volume of container shipper")

	args = map[string]any{"namespace": ns, "kind": "deployment", "name": "web"}
	text = s.Data("analyze", args, &a)
	f = ownerFinding(a, "CreateContainerConfigError", "deployment/an-kubelet/web")
	if f == nil || f.Cause.Category != contract.ApplicationConfig || f.Cause.Field != "spec.template.spec.securityContext.runAsNonRoot" {
		t.Fatalf("want a cause on the Deployment's runAsNonRoot:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "container app", "runs as root")
	mustContain(t, f.Fix.Text, "runAsUser")
	mustNotContain(t, text, "make sure every ConfigMap")

	// A container the runtime cannot create (CreateContainerError): a Localhost seccomp profile
	// the node does not have, said by the kubelet's Failed event.
	shell := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ir-toolbox"}, Spec: corev1.PodSpec{NodeName: "gpu-b",
		SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/ir-audit.json")}},
		Containers:      []corev1.Container{{Name: "shell", Image: "registry.example/toolbox:1"}}}}
	create(t, shell)
	shell.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "shell", Image: "registry.example/toolbox:1",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: "failed to generate container spec"}}}}}
	setStatus(t, shell)
	warningEvent(t, shell, "Pod", "Failed", `Error: failed to generate security options for container "shell": failed to generate seccomp security options for container: cannot load seccomp profile "/var/lib/kubelet/seccomp/profiles/ir-audit.json": open /var/lib/kubelet/seccomp/profiles/ir-audit.json: no such file or directory`, "")
	args = map[string]any{"namespace": ns, "kind": "pod", "name": "ir-toolbox"}
	s.Eventually("analyze", args, "seccomp")
	text = s.Data("analyze", args, &a)
	f = ownerFinding(a, "CreateContainerConfigError", "pod/an-kubelet/ir-toolbox")
	if f == nil || f.Cause == nil || f.Cause.Category != contract.ReferenceMissing || f.Cause.Field != "spec.securityContext.seccompProfile.localhostProfile" {
		t.Fatalf("want a cause on the pod's Localhost seccomp profile:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "profiles/ir-audit.json", "/var/lib/kubelet/seccomp/profiles/ir-audit.json on node gpu-b")
	mustNotContain(t, text, "pod_delete")
}

// TestAnalyzePodUnderTwoBudgets: pods two PodDisruptionBudgets select cannot be evicted at all;
// a focus on their node and disruption_check for it say so and name both budgets.
func TestAnalyzePodUnderTwoBudgets(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "an-twopdb")
	node := testNode(t, "an-twopdb-node", true)
	d, rs := deploymentWithRevisions(t, ns, "search", 1, nil)
	_ = d
	for _, name := range []string{"search-h1-a", "search-h1-b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}},
			Spec: *rs.Spec.Template.Spec.DeepCopy()}
		p.Spec.NodeName = node.Name
		create(t, p)
		readyPod(p)
		setStatus(t, p)
	}
	create(t,
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "search-pdb"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "search"}}}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-all"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("50%")), Selector: &metav1.LabelSelector{}}})

	args := map[string]any{"kind": "node", "name": node.Name}
	s.Eventually("analyze", args, "team-all")
	var a contract.Analysis
	text := s.Data("analyze", args, &a)
	f := ownerFinding(a, "NodeCordoned", "deployment/an-twopdb/search")
	if f == nil || f.Cause.Category != contract.DisruptionBudgetBlocks || f.Cause.Object != "poddisruptionbudget/an-twopdb/search-pdb" {
		t.Fatalf("want a DisruptionBudgetBlocks cause on the first of the two budgets:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "2 PodDisruptionBudgets (search-pdb, team-all)", "more than one PodDisruptionBudget", "a drain of its node fails")
	mustContain(t, f.Cause.Fix.Text, "keep one PodDisruptionBudget per pod", "without force")
	// The node is cordoned (a drain has begun): the drain is proposed again, never forced, so
	// that it moves what may move and reports what the budgets hold.
	if f.Cause.Fix.Tool != "node_drain" || f.Cause.Fix.Arguments["name"] != node.Name || f.Cause.Fix.Arguments["force"] != nil {
		t.Errorf("want the cause to propose node_drain of %s without force, got %+v", node.Name, f.Cause.Fix)
	}

	// The API server's eviction refuses them; a dry-run drain says the drain fails, and why.
	out := s.OK("node_drain", map[string]any{"name": node.Name, "dryRun": true})
	mustContain(t, out, "search-h1-a", "would fail", "more than one PodDisruptionBudget selects pod an-twopdb/search-h1-a", "keep one budget per pod")

	runChecks(t, s, "disruption_check", []checkCase{{
		name:     "a drain of the node fails on pods under two budgets",
		args:     map[string]any{"node": node.Name},
		category: contract.DisruptionBudgetBlocks, object: "poddisruptionbudget/an-twopdb/search-pdb", field: "spec.selector",
		summary:  []string{"search-pdb, team-all", "the eviction API refuses", "(and 1 more of its pods there)"},
		evidence: []string{"poddisruptionbudget/an-twopdb/team-all spec.selector"},
		fix:      []string{"deployment/search"},
		checked:  []string{"2 pods selected by more than one budget", "the drain fails"},
	}})
}

// TestReferenceCheckExternalName: a Service of type ExternalName says the name it points at,
// and one pointing at an in-cluster Service that does not exist is the cause; so is one pointing
// outside the cluster when the caller says its lookup fails (failure=resolve).
func TestReferenceCheckExternalName(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "rc-extname")
	service(t, ns, "postgres-primary", corev1.ServicePort{Name: "pg", Port: 5432})
	create(t,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "postgres.rc-extname.svc.cluster.local"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-ok"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "postgres-primary.rc-extname.svc.cluster.local"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.payments.example.com"}})
	runChecks(t, s, "reference_check", []checkCase{
		{
			name:     "an ExternalName for a Service that does not exist",
			args:     map[string]any{"kind": "service", "namespace": ns, "name": "db"},
			category: contract.ReferenceMissing, object: "service/rc-extname/db", field: "spec.externalName",
			summary:  []string{"ExternalName for postgres.rc-extname.svc.cluster.local", "Service postgres in namespace rc-extname, which does not exist"},
			evidence: []string{"spec.externalName: postgres.rc-extname.svc.cluster.local", "service/rc-extname/postgres: not found"},
			fix:      []string{"correct spec.externalName of Service rc-extname/db"},
			checked:  []string{"an ExternalName for postgres.rc-extname.svc.cluster.local"},
		},
		{
			name:    "an ExternalName for a Service that exists",
			args:    map[string]any{"kind": "service", "namespace": ns, "name": "db-ok"},
			checked: []string{"an ExternalName for postgres-primary.rc-extname.svc.cluster.local"},
		},
		{
			name:    "an ExternalName outside the cluster",
			args:    map[string]any{"kind": "service", "namespace": ns, "name": "payments"},
			checked: []string{"an ExternalName for api.payments.example.com"},
		},
		{
			name:    "a dependency that is an ExternalName outside the cluster, called without saying how it fails",
			args:    map[string]any{"host": "payments", "namespace": ns},
			checked: []string{"an ExternalName for api.payments.example.com"},
		},
		{
			name:     "a dependency that is an ExternalName outside the cluster whose lookup fails",
			args:     map[string]any{"host": "payments:443", "namespace": ns, "failure": "resolve"},
			category: contract.DNSFailure, object: "service/rc-extname/payments", field: "spec.externalName",
			summary:  []string{"the dependency payments:443", "ExternalName (a CNAME) for api.payments.example.com, outside the cluster", "api.payments.example.com does not resolve"},
			evidence: []string{"spec.externalName: api.payments.example.com"},
			fix:      []string{"set spec.externalName of Service rc-extname/payments"},
			checked:  []string{"an ExternalName for api.payments.example.com"},
		},
		{
			name:     "a dependency whose Service is an ExternalName for a missing Service",
			args:     map[string]any{"host": "db." + ns + ":5432", "namespace": ns},
			category: contract.ReferenceMissing, object: "service/rc-extname/db", field: "spec.externalName",
			summary: []string{"the dependency db.rc-extname:5432", "which does not exist"},
			fix:     []string{"create Service postgres in namespace rc-extname"},
			checked: []string{"an ExternalName for postgres.rc-extname.svc.cluster.local"},
		},
	})
}
