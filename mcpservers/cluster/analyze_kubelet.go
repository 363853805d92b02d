package cluster

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
)

// Causes the kubelet and the eviction API state in their own words: a container the kubelet
// cannot set up (a hostPath of the wrong type, a ConfigMap, Secret or key that is missing, a
// non-root policy the image breaks, a subPath it cannot prepare), a Job's pod that never ends
// because a sidecar outlives its main container, and pods that more than one
// PodDisruptionBudget covers (which the eviction API refuses outright).

// sidecarGrace is how long a regular container may keep running after another one of a Job's
// pod ended before it is said to keep the pod (and the Job) from finishing.
const sidecarGrace = 2 * time.Minute

// jobSidecarOutlives: Jobs whose active pod's main container has ended while another regular
// container (a proxy, a log shipper; not a native sidecar, an init container with restartPolicy
// Always) keeps running past sidecarGrace: the pod never finishes, nor does the Job.
func jobSidecarOutlives(s *snapshot) []finding {
	jobs := map[string]*batchv1.Job{}
	for i := range s.jobs {
		j := &s.jobs[i]
		jobs[string(j.UID)] = j
	}
	byJob := map[string]*finding{}
	var order []string
	for i := range s.pods {
		p := &s.pods[i]
		c := metav1.GetControllerOfNoCopy(p)
		if c == nil || c.Kind != "Job" || p.DeletionTimestamp != nil || podTerminated(p) {
			continue
		}
		j := jobs[string(c.UID)]
		if j == nil || jobFailedCondition(j) != nil || jobComplete(j) {
			continue
		}
		var ended []*corev1.ContainerStatus
		var running []string
		for k := range p.Status.ContainerStatuses {
			st := &p.Status.ContainerStatuses[k]
			switch {
			case st.State.Terminated != nil && time.Since(st.State.Terminated.FinishedAt.Time) > sidecarGrace:
				ended = append(ended, st)
			case st.State.Running != nil:
				running = append(running, st.Name)
			}
		}
		if len(ended) == 0 || len(running) == 0 {
			continue
		}
		main, sidecar := ended[0], running[0]
		key := string(j.UID)
		f := byJob[key]
		if f == nil {
			obj := ref{Kind: "job", Namespace: j.Namespace, Name: j.Name}
			f = &finding{severity: critical, category: "JobFailed", object: obj, container: sidecar}
			if cj := metav1.GetControllerOfNoCopy(j); cj != nil && cj.Kind == "CronJob" {
				f.related = append(f.related, ref{Kind: "cronjob", Namespace: j.Namespace, Name: cj.Name})
			}
			field := "spec.template.spec.containers[" + sidecar + "]"
			summary := fmt.Sprintf("container %s of Job %s keeps running after its main container %s ended (exit code %d, %s ago), so the pod %s never finishes and the Job never completes",
				sidecar, j.Name, main.Name, main.State.Terminated.ExitCode, age(main.State.Terminated.FinishedAt), p.Name)
			text := fmt.Sprintf("make container %s a native sidecar: move it to spec.template.spec.initContainers with restartPolicy: Always (Kubernetes 1.29+), which the kubelet stops once the main container ends; "+
				"or have container %s tell it to exit when done (istio-proxy: POST localhost:15020/quitquitquit; cloud-sql-proxy: --quitquitquit; a log shipper: a shared file it watches); then delete pod %s so the Job finishes",
				sidecar, main.Name, p.Name)
			f.cause = &contract.Cause{Category: contract.ApplicationConfig, Object: obj.String(), Field: field, Summary: summary, Fix: &contract.Fix{Text: text}}
			f.fix = noFix("%s", text)
			byJob[key] = f
			order = append(order, key)
		}
		f.related = append(f.related, ref{Kind: "pod", Namespace: p.Namespace, Name: p.Name})
		if len(f.evidence) < 6 {
			ev := []string{
				fmt.Sprintf("pod %s %s.state.terminated: reason=%s exitCode=%d finishedAt=%s (%s ago)", p.Name, statusPath(false, main.Name),
					orNone(main.State.Terminated.Reason), main.State.Terminated.ExitCode, main.State.Terminated.FinishedAt.UTC().Format(time.RFC3339), age(main.State.Terminated.FinishedAt)),
				fmt.Sprintf("pod %s %s.state.running (phase %s): %s", p.Name, statusPath(false, sidecar), p.Status.Phase, strings.Join(running, ", ")),
			}
			f.evidence = append(f.evidence, ev...)
			f.cause.Evidence = append(f.cause.Evidence, ev...)
		}
	}
	out := make([]finding, 0, len(order))
	for _, k := range order {
		out = append(out, *byJob[k])
	}
	return out
}

// kubeletSignature reads one refusal of the kubelet (a FailedMount event, a container's waiting
// message) and names the field at fault.
type kubeletSignature struct {
	re *regexp.Regexp
	// cause builds the cause from the match; nil when the pod does not have what it names.
	cause func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause
}

// kubeletSignatures are the kubelet's messages analyze follows to a cause, in the order tried.
var kubeletSignatures = []kubeletSignature{
	{re: regexp.MustCompile(`MountVolume\.SetUp failed for volume "([^"]+)" : hostPath type check failed: (\S+) is not a ([a-z ]+)`), cause: hostPathCause},
	{re: regexp.MustCompile(`MountVolume\.SetUp failed for volume "([^"]+)"[\s\S]*?mount(?:\.nfs4?)?: (?:mounting )?([\w.-]+):(/\S*) failed, reason given by server: ([^\n"]+)`), cause: nfsExportCause},
	{re: regexp.MustCompile(`couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/([^\s"]+)`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		obj := objectRef(strings.ToLower(m[2]), m[3], m[4])
		return &contract.Cause{Category: contract.ReferenceMissing, Object: obj, Field: "data[" + m[1] + "]",
			Summary: fmt.Sprintf("%s %s/%s has no key %s, which %s reads, so its container cannot start", m[2], m[3], m[4], m[1], whose(p, w)),
			Fix:     &contract.Fix{Text: fmt.Sprintf("add key %s to %s %s, or correct the key %s reads (or mark the reference optional)", m[1], m[2], m[4], whose(p, w))}}
	}},
	{re: regexp.MustCompile(`(configmap|secret)s? "([^"]+)" not found`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		kind := map[string]string{"configmap": "ConfigMap", "secret": "Secret"}[m[1]]
		return &contract.Cause{Category: contract.ReferenceMissing, Object: objectRef(m[1], p.Namespace, m[2]),
			Summary: fmt.Sprintf("%s %s does not exist in namespace %s; %s references it, so its container cannot start", kind, m[2], p.Namespace, whose(p, w)),
			Fix:     &contract.Fix{Text: fmt.Sprintf("create %s %s in namespace %s, or correct the reference in %s (or mark it optional)", kind, m[2], p.Namespace, whose(p, w))}}
	}},
	{re: regexp.MustCompile(`container has runAsNonRoot and image (will run as root|has non-numeric user \([^)]*\), cannot verify user is non-root)(?:.*container: ([a-z0-9-]+))?`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		return securityCause(p, w, m[2], "runAsNonRoot", "the image runs as root (or as a user name the kubelet cannot check), which runAsNonRoot forbids",
			"set securityContext.runAsUser to a non-zero UID the image supports (e.g. 65532), or use an image built with a numeric non-root USER")
	}},
	{re: regexp.MustCompile(`container's runAsUser breaks non-root policy(?:.*container: ([a-z0-9-]+))?`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		return securityCause(p, w, m[1], "runAsUser", "runAsUser is 0 (root) while runAsNonRoot is set",
			"set securityContext.runAsUser to a non-zero UID, or drop runAsNonRoot if the container must run as root")
	}},
	{re: regexp.MustCompile(`cannot load seccomp profile "([^"]+)"`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		obj, prefix := causeObject(p, w)
		field, local := prefix+"securityContext.seccompProfile.localhostProfile", ""
		if sc := p.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.LocalhostProfile != nil {
			local = *sc.SeccompProfile.LocalhostProfile
		}
		for _, c := range p.Spec.Containers {
			if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil && c.SecurityContext.SeccompProfile.LocalhostProfile != nil {
				field, local = fmt.Sprintf("%scontainers[%s].securityContext.seccompProfile.localhostProfile", prefix, c.Name), *c.SecurityContext.SeccompProfile.LocalhostProfile
			}
		}
		on := "its node"
		if p.Spec.NodeName != "" {
			on = "node " + p.Spec.NodeName
		}
		return &contract.Cause{Category: contract.ReferenceMissing, Object: obj, Field: field,
			Summary: fmt.Sprintf("%s asks for the Localhost seccomp profile %s, which the kubelet cannot load from %s on %s (the profile is not installed there), so it cannot create the container", whose(p, w), orNone(local), m[1], on),
			Fix:     &contract.Fix{Text: fmt.Sprintf("install the profile at %s on the nodes the pod may run on (the Security Profiles Operator, or a DaemonSet), or constrain the pod to nodes that have it (nodeSelector/affinity); do not switch it to Unconfined without the owner's decision", m[1])}}
	}},
	{re: regexp.MustCompile(`failed to prepare subPath for volumeMount "([^"]+)" of container "([^"]+)"`), cause: func(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
		obj, prefix := causeObject(p, w)
		sub := ""
		if c := containerNamed(p.Spec.Containers, m[2]); c != nil {
			for _, vm := range c.VolumeMounts {
				if vm.Name == m[1] {
					sub = vm.SubPath + vm.SubPathExpr
				}
			}
		}
		return &contract.Cause{Category: contract.ApplicationConfig, Object: obj, Field: fmt.Sprintf("%scontainers[%s].volumeMounts[%s].subPath", prefix, m[2], m[1]),
			Summary: fmt.Sprintf("the kubelet cannot prepare subPath %q of volume %s for container %s of %s (the path is missing in the volume, or is a dangling or escaping link)", sub, m[1], m[2], whose(p, w)),
			Fix:     &contract.Fix{Text: fmt.Sprintf("correct the subPath of volumeMount %s of container %s to a path that exists in the volume, or mount the volume without subPath", m[1], m[2])}}
	}},
}

// causeObject is the object a cause about p's spec names (its workload, else the pod) and the
// prefix of its pod spec's fields.
func causeObject(p *corev1.Pod, w *ownerWorkload) (string, string) {
	if w != nil {
		return w.String(), "spec.template.spec."
	}
	return objectRef("pod", p.Namespace, p.Name), "spec."
}

// nfsExportCause: an NFS volume whose server refuses the path it names ("reason given by server:
// No such file or directory" — a path the server does not export, or "Permission denied"): the
// path (or the export) is what is wrong. The volume is the pod's own (inline nfs) or the
// PersistentVolume of that name behind a claim.
func nfsExportCause(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
	volume, server, exportPath, reason := m[1], m[2], m[3], strings.TrimSpace(m[4])
	object, field := objectRef("persistentvolume", "", volume), "spec.nfs.path"
	for _, v := range p.Spec.Volumes {
		if v.Name == volume && v.NFS != nil {
			obj, prefix := causeObject(p, w)
			object, field = obj, fmt.Sprintf("%svolumes[%s].nfs.path", prefix, volume)
		}
	}
	what := "does not export it (or the path does not exist on it)"
	if strings.Contains(strings.ToLower(reason), "denied") {
		what = "refuses this node access to it (the export's client list or permissions)"
	}
	return &contract.Cause{Category: contract.ReferenceMissing, Object: object, Field: field,
		Summary: fmt.Sprintf("volume %s mounts %s:%s, and NFS server %s %s (\"%s\"), so %s waits in ContainerCreating", volume, server, exportPath, server, what, reason, whose(p, w)),
		Fix:     &contract.Fix{Text: fmt.Sprintf("correct the NFS path of volume %s to a path server %s exports (a PersistentVolume's nfs.path cannot be edited: recreate it), or export %s on the server", volume, server, exportPath)}}
}

// hostPathCause: a hostPath volume whose type the path on the node does not have (the socket of
// another container runtime, a file where a directory is expected).
func hostPathCause(m []string, p *corev1.Pod, w *ownerWorkload) *contract.Cause {
	obj, prefix := causeObject(p, w)
	var hp *corev1.HostPathVolumeSource
	for _, v := range p.Spec.Volumes {
		if v.Name == m[1] && v.HostPath != nil {
			hp = v.HostPath
		}
	}
	field := fmt.Sprintf("%svolumes[%s].hostPath.path", prefix, m[1])
	typ := ""
	if hp != nil && hp.Type != nil {
		typ = string(*hp.Type)
	}
	on := "its node"
	if p.Spec.NodeName != "" {
		on = "node " + p.Spec.NodeName
	}
	return &contract.Cause{Category: contract.ApplicationConfig, Object: obj, Field: field,
		Summary: fmt.Sprintf("hostPath volume %s of %s names %s (type %s), which is not a %s on %s, so the kubelet does not mount it and the pod waits in ContainerCreating",
			m[1], whose(p, w), m[2], orNone(typ), m[3], on),
		Fix: &contract.Fix{Text: fmt.Sprintf("correct %s to the path the node has (a container runtime's socket: /run/containerd/containerd.sock for containerd, /var/run/crio/crio.sock for CRI-O; check the node), "+
			"or its type (hostPath.type) to what the path is", field)}}
}

// securityCause: the kubelet refuses container (or, unnamed, the only one) of p for its
// securityContext's field (runAsNonRoot, runAsUser): the container's own when it sets it, else
// the pod's.
func securityCause(p *corev1.Pod, w *ownerWorkload, container, field, why, fixText string) *contract.Cause {
	obj, prefix := causeObject(p, w)
	if container == "" && len(p.Spec.Containers) == 1 {
		container = p.Spec.Containers[0].Name
	}
	path := prefix + "securityContext." + field
	if c := containerNamed(p.Spec.Containers, container); c != nil && c.SecurityContext != nil &&
		((field == "runAsNonRoot" && c.SecurityContext.RunAsNonRoot != nil) || (field == "runAsUser" && c.SecurityContext.RunAsUser != nil)) {
		path = fmt.Sprintf("%scontainers[%s].securityContext.%s", prefix, container, field)
	}
	return &contract.Cause{Category: contract.ApplicationConfig, Object: obj, Field: path,
		Summary: fmt.Sprintf("the kubelet refuses to start container %s of %s: %s", orNone(container), whose(p, w), why),
		Fix:     &contract.Fix{Text: fmt.Sprintf("%s (%s of %s)", fixText, path, whose(p, w))}}
}

// kubeletCause is the cause the first of messages that a kubelet signature reads names, with
// that message quoted as its evidence; nil when none does.
func kubeletCause(p *corev1.Pod, w *ownerWorkload, messages []string) *contract.Cause {
	for _, sig := range kubeletSignatures {
		for _, msg := range messages {
			if m := sig.re.FindStringSubmatch(msg); m != nil {
				if c := sig.cause(m, p, w); c != nil {
					c.Evidence = append(c.Evidence, fmt.Sprintf("pod %s: %s", p.Name, quoteMessage(msg)))
					return c
				}
			}
		}
	}
	return nil
}

// multipleBudgets: pods a drain would evict that more than one PodDisruptionBudget selects. The
// eviction API refuses them outright ("This pod has more than one PodDisruptionBudget, which the
// eviction subresource does not support."), whatever the budgets allow, so a drain of their
// node fails.
func multipleBudgets(s *snapshot) []finding {
	if len(s.budgets) < 2 {
		return nil
	}
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		if !drainWouldEvict(p) {
			continue
		}
		var bs []*policyv1.PodDisruptionBudget
		for k := range s.budgets {
			if b := &s.budgets[k]; budgetSelects(b, p) {
				bs = append(bs, b)
			}
		}
		if len(bs) < 2 {
			continue
		}
		c := multiBudgetCause(p, bs, whose(p, s.owner(p)))
		f, _ := s.podFinding(p, warning, "NodeCordoned", "")
		for _, b := range bs {
			f.related = append(f.related, ref{Kind: "poddisruptionbudget", Namespace: b.Namespace, Name: b.Name})
		}
		if p.Spec.NodeName != "" {
			f.related = append(f.related, ref{Kind: "node", Name: p.Spec.NodeName})
		}
		f.evidence = append(f.evidence, c.Evidence...)
		if n := s.cordoned(p.Spec.NodeName); n != "" {
			resumeDrain(&c, n)
		}
		f.cause = &c
		f.fix = noFix("%s", c.Fix.Text)
		out = append(out, f)
	}
	return out
}

// cordoned is name when node name is cordoned (a drain of it has begun), else "".
func (s *snapshot) cordoned(name string) string {
	if name == "" {
		return ""
	}
	for _, n := range s.allNodes("drains blocked by disruption budgets") {
		if n.Name == name && n.Spec.Unschedulable {
			return name
		}
	}
	return ""
}

// drainRetrySeconds bounds the drain a budget's block proposes: long enough for evictions the
// budget allows again soon, short enough to report the ones it does not.
const drainRetrySeconds = 60

// resumeDrain has a budget's block of cordoned node's drain propose the drain again (node_drain,
// never forced): it evicts what the budgets allow, stops at the pods they protect and reports
// them with the budgets' own words, so a person sees what still blocks; it changes no budget.
func resumeDrain(c *contract.Cause, node string) {
	text := ""
	if c.Fix != nil {
		text = c.Fix.Text
	}
	c.Fix = &contract.Fix{Tool: "node_drain", Arguments: map[string]any{"name": node, "timeoutSeconds": drainRetrySeconds},
		Text: fmt.Sprintf("resume the drain of node %s without force: it evicts what the budgets allow and stops, reporting the pods they protect; to let it finish, %s", node, text)}
}

// multiBudgetEviction is the eviction API's refusal of a pod more than one budget selects.
const multiBudgetEviction = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."

// multiBudgetCause: pod p (of whose) is selected by budgets bs (two or more); the first (by name)
// is the object, the summary names them all.
func multiBudgetCause(p *corev1.Pod, bs []*policyv1.PodDisruptionBudget, whose string) contract.Cause {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
	var names, ev []string
	for _, b := range bs {
		names = append(names, b.Name)
		sel, _ := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		ev = append(ev, fmt.Sprintf("poddisruptionbudget/%s/%s spec.selector: %s (%s)", b.Namespace, b.Name, sel, budgetRule(b)))
	}
	on := ""
	if p.Spec.NodeName != "" {
		on = " on node " + p.Spec.NodeName
	}
	ev = append(ev, fmt.Sprintf("pod %s/%s%s labels: %s", p.Namespace, p.Name, on, labelsText(p.Labels, nil)))
	return contract.Cause{
		Category: contract.DisruptionBudgetBlocks, Object: objectRef("poddisruptionbudget", bs[0].Namespace, bs[0].Name), Field: "spec.selector",
		Summary: fmt.Sprintf("pod %s%s (%s) is selected by %d PodDisruptionBudgets (%s); the eviction API refuses to evict such a pod whatever the budgets allow (%q), so a drain of its node fails",
			p.Name, on, whose, len(bs), strings.Join(names, ", "), multiBudgetEviction),
		Evidence: ev,
		Fix: &contract.Fix{Text: fmt.Sprintf("keep one PodDisruptionBudget per pod: delete one of %s or narrow its spec.selector so that it no longer selects the pods of %s; the drain then evicts them",
			strings.Join(names, ", "), whose)},
	}
}
