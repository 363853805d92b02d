package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opsmesh/opsmesh/api/contract"
)

// The analyzers of pods: each walks the pods of the snapshot once.

// eachContainer calls fn for every init and app container status of a pod, with its spec (nil
// when the status names no container of the spec).
func eachContainer(p *corev1.Pod, fn func(st *corev1.ContainerStatus, spec *corev1.Container, init bool)) {
	for i := range p.Status.InitContainerStatuses {
		st := &p.Status.InitContainerStatuses[i]
		fn(st, containerNamed(p.Spec.InitContainers, st.Name), true)
	}
	for i := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[i]
		fn(st, containerNamed(p.Spec.Containers, st.Name), false)
	}
}

func containerNamed(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// statusPath is the field path of a container's status: status.containerStatuses[app].
func statusPath(init bool, name string) string {
	if init {
		return "status.initContainerStatuses[" + name + "]"
	}
	return "status.containerStatuses[" + name + "]"
}

func specPath(init bool, name string) string {
	if init {
		return "spec.initContainers[" + name + "]"
	}
	return "spec.containers[" + name + "]"
}

// podFinding starts a finding about a pod, with the workload that owns it.
func (s *snapshot) podFinding(p *corev1.Pod, sev severity, category, container string) (finding, *ownerWorkload) {
	f := finding{severity: sev, category: category, object: ref{Kind: "pod", Namespace: p.Namespace, Name: p.Name}, container: container}
	w := s.owner(p)
	if w != nil {
		r := w.ref
		f.owner = &r
		f.related = w.via
	}
	return f, w
}

func ownerFixArgs(w *ownerWorkload) []arg {
	return []arg{{"kind", w.Kind}, {"namespace", w.Namespace}, {"name", w.Name}}
}

// whose names the pod, or its owner, for a person's instructions.
func whose(p *corev1.Pod, w *ownerWorkload) string {
	if w != nil {
		return w.String()
	}
	return objectRef("pod", p.Namespace, p.Name)
}

func terminatedEvidence(path, field string, t *corev1.ContainerStateTerminated, restarts int32) string {
	if t == nil {
		return fmt.Sprintf("%s.%s: <none> (restarts %d)", path, field, restarts)
	}
	e := fmt.Sprintf("%s.%s: reason=%s exitCode=%d", path, field, orNone(t.Reason), t.ExitCode)
	if t.Signal != 0 {
		e += fmt.Sprintf(" signal=%d", t.Signal)
	}
	if t.Message != "" {
		e += " message=" + quoteMessage(t.Message) // verbatim: the program's own last words
	}
	return e + fmt.Sprintf(" (restarts %d)", restarts)
}

// crashLoopBackOff: containers the kubelet is backing off restarting. Those killed for memory
// are left to oomKilled, whose fix is different.
func crashLoopBackOff(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		eachContainer(p, func(st *corev1.ContainerStatus, _ *corev1.Container, init bool) {
			if st.State.Waiting == nil || st.State.Waiting.Reason != "CrashLoopBackOff" {
				return
			}
			last := st.LastTerminationState.Terminated
			if last != nil && last.Reason == "OOMKilled" {
				return
			}
			f, w := s.podFinding(p, critical, "CrashLoopBackOff", st.Name)
			path := statusPath(init, st.Name)
			f.evidence = append(f.evidence, terminatedEvidence(path, "lastState.terminated", last, st.RestartCount))
			if m := st.State.Waiting.Message; m != "" {
				f.evidence = append(f.evidence, path+".state.waiting.message: "+clip(m))
			}
			if !init {
				f.cause = s.probeKills(p, w, st.Name, &f)
			}
			switch {
			case w.restartable() && s.hasPreviousRevision(w):
				f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: "back to the previous revision, if the crashes began with the latest one; else read the container's previous logs"}
				s.noteRevisionChange(&f, p, w, st.Name, init)
			case w.restartable():
				f.fix = fix{tool: "workload_restart", args: ownerFixArgs(w), note: "it has no previous revision to roll back to; if the crashes go on, read the container's previous logs"}
			default:
				f.fix = noFix("read the logs of the previous %s container of %s and fix its command, configuration or image", st.Name, whose(p, w))
			}
			out = append(out, f)
		})
	}
	return out
}

var imagePullReasons = []string{"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}

// imagePullBackOff: containers whose image cannot be pulled.
func imagePullBackOff(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		eachContainer(p, func(st *corev1.ContainerStatus, spec *corev1.Container, init bool) {
			if st.State.Waiting == nil || !slices.Contains(imagePullReasons, st.State.Waiting.Reason) {
				return
			}
			f, w := s.podFinding(p, critical, "ImagePullBackOff", st.Name)
			image := st.Image
			if spec != nil {
				image = spec.Image
			}
			path := statusPath(init, st.Name)
			f.evidence = append(f.evidence,
				fmt.Sprintf("%s.image: %s", specPath(init, st.Name), image),
				fmt.Sprintf("%s.state.waiting: reason=%s message=%s", path, st.State.Waiting.Reason, clip(st.State.Waiting.Message)))
			failure := s.pullFailure(p, image, st.State.Waiting.Message)
			if failure != st.State.Waiting.Message {
				// the registry's answer, which the back-off message does not repeat
				f.evidence = append(f.evidence, "event Failed: "+quoteMessage(failure))
			}
			credentials := s.pullCredentials(p, st.State.Waiting.Message, &f)
			if f.cause = s.serviceAccountPullCause(p, w, image, failure, &f); f.cause != nil {
				credentials = f.cause.Fix.Text
			}
			switch {
			case f.cause != nil:
				f.fix = noFix("%s", credentials)
			case w.restartable() && s.hasPreviousRevision(w):
				f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: "back to the previous revision, whose image pulled"}
				s.noteRevisionChange(&f, p, w, st.Name, init)
			case credentials != "":
				f.fix = noFix("%s", credentials)
			case w.restartable() && !init:
				f.fix = fix{tool: "workload_set_image", args: append(ownerFixArgs(w), arg{"container", st.Name}, arg{"image", "<an image the registry has>"}),
					note: fmt.Sprintf("replace %s with an image that exists; if it does exist, check the registry credentials (imagePullSecrets)", image)}
			default:
				f.fix = noFix("check that image %s exists and that %s may pull it (imagePullSecrets), then correct the image", image, whose(p, w))
			}
			out = append(out, f)
		})
	}
	return out
}

// authFailure are words of a registry's answer when it refuses the credentials (or their lack).
// pullFailure is what the kubelet said of the failed pull: the waiting message, unless it is
// only the back-off ('Back-off pulling image "x"'), when the pod's latest Failed event about the
// image says it (the registry's answer is there).
func (s *snapshot) pullFailure(p *corev1.Pod, image, waiting string) string {
	var failed []*corev1.Event
	for _, e := range s.eventsFor("Pod", p, "Failed") {
		if strings.Contains(e.Message, image) {
			failed = append(failed, e)
		}
	}
	if e, _ := latest(failed); e != nil && (waiting == "" || strings.HasPrefix(waiting, "Back-off pulling image")) {
		return e.Message
	}
	return waiting
}

var authFailure = []string{"unauthorized", "authentication required", "access denied", "pull access denied", "denied:", "403 forbidden", "no basic auth credentials"}

// pullCredentials checks the pod's imagePullSecrets: each one that does not exist is evidence (a
// pull that needs credentials fails without them). It returns what a person must do when the
// credentials are the problem: a pull secret is missing, or the registry refused the pull and the
// pod has no pull secret at all; "" when the image itself is the likelier cause.
func (s *snapshot) pullCredentials(p *corev1.Pod, message string, f *finding) string {
	var missing []string
	for _, ref := range p.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		l := s.keysOf("Secret", p.Namespace, ref.Name)
		switch {
		case l.err != nil:
			f.evidence = append(f.evidence, fmt.Sprintf("could not check: Secret %s (imagePullSecrets): %v", ref.Name, l.err))
		case !l.found:
			missing = append(missing, ref.Name)
			f.evidence = append(f.evidence, fmt.Sprintf("missing: Secret %s/%s does not exist (spec.imagePullSecrets)", p.Namespace, ref.Name))
		}
	}
	low := strings.ToLower(message)
	refused := slices.ContainsFunc(authFailure, func(w string) bool { return strings.Contains(low, w) })
	switch {
	case len(missing) > 0:
		return fmt.Sprintf("create the image pull Secret %s in namespace %s (type kubernetes.io/dockerconfigjson, with the registry's credentials), or correct spec.imagePullSecrets; the kubelet retries the pull on its own", strings.Join(missing, ", "), p.Namespace)
	case refused && len(p.Spec.ImagePullSecrets) == 0 && p.Spec.ServiceAccountName != "":
		// Admission copies the service account's pull secrets into the pod: it has none either.
		f.evidence = append(f.evidence, fmt.Sprintf("the registry refused the pull, and the pod has no imagePullSecrets (nor does its service account %s)", p.Spec.ServiceAccountName))
		return "give the pod the registry's credentials: an image pull Secret in spec.imagePullSecrets, or on service account " + p.Spec.ServiceAccountName + " (new pods get it)"
	case refused && len(p.Spec.ImagePullSecrets) == 0:
		f.evidence = append(f.evidence, "the registry refused the pull, and the pod has no imagePullSecrets")
		return "give the pod the registry's credentials: an image pull Secret in spec.imagePullSecrets (or on its service account)"
	case refused:
		return "the registry refused the credentials of spec.imagePullSecrets: check that the pull Secret holds valid credentials for the image's registry"
	}
	return ""
}

// oomKilled: containers last (or now) terminated for exceeding their memory.
func oomKilled(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		eachContainer(p, func(st *corev1.ContainerStatus, spec *corev1.Container, init bool) {
			t, field := st.LastTerminationState.Terminated, "lastState.terminated"
			if st.State.Terminated != nil && st.State.Terminated.Reason == "OOMKilled" {
				t, field = st.State.Terminated, "state.terminated"
			}
			if t == nil || t.Reason != "OOMKilled" {
				return
			}
			f, w := s.podFinding(p, critical, "OOMKilled", st.Name)
			path := statusPath(init, st.Name)
			f.evidence = append(f.evidence, terminatedEvidence(path, field, t, st.RestartCount))
			if st.State.Waiting != nil && st.State.Waiting.Reason != "" {
				f.evidence = append(f.evidence, fmt.Sprintf("%s.state.waiting.reason: %s", path, st.State.Waiting.Reason))
			}
			var limit apiresource.Quantity
			if spec != nil {
				limit = *spec.Resources.Limits.Memory()
			}
			if limit.IsZero() {
				f.evidence = append(f.evidence, specPath(init, st.Name)+".resources.limits.memory: <none> (killed by the node running out of memory)")
			} else {
				f.evidence = append(f.evidence, fmt.Sprintf("%s.resources.limits.memory: %s", specPath(init, st.Name), limit.String()))
			}
			var prevLimit apiresource.Quantity
			if c := previousContainer(s.previousSpec(p, w), st.Name, init); c != nil {
				prevLimit = *c.Resources.Limits.Memory()
			}
			switch {
			case !limit.IsZero() && prevLimit.Cmp(limit) > 0:
				// The latest revision lowered the limit: the previous one ran within its own.
				f.evidence = append(f.evidence, fmt.Sprintf("the previous revision of %s gave container %s a memory limit of %s", w, st.Name, prevLimit.String()))
				f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: fmt.Sprintf("back to the previous revision, whose memory limit (%s) was higher than %s", prevLimit.String(), limit.String())}
			case w.restartable() && !limit.IsZero():
				doubled := double(limit)
				f.fix = fix{tool: "workload_set_resources", args: append(ownerFixArgs(w), arg{"container", st.Name}, arg{"limits", map[string]string{"memory": doubled.String()}}),
					note: fmt.Sprintf("twice the memory limit of %s; if it is killed again, look for a leak", limit.String())}
			case limit.IsZero():
				f.fix = noFix("give container %s of %s a memory request and limit above its peak use, or move it to a node with more free memory", st.Name, whose(p, w))
			default:
				f.fix = noFix("raise the memory limit of container %s of %s above %s (its controller, if any, recreates the pod)", st.Name, whose(p, w), limit.String())
			}
			if spec != nil {
				f.cause = memoryVolumeCause(p, w, spec, init, limit)
			}
			if f.cause == nil && spec != nil {
				if c := heapCause(p, w, spec, init, limit); c != nil {
					f.cause = c
					f.fix = noFix("%s", c.Fix.Text)
				}
			}
			if f.cause == nil {
				f.cause = s.limitRangeMemoryCause(p, w, st.Name, init, limit, &f)
			}
			out = append(out, f)
		})
	}
	return out
}

// heapSettings read the heap a runtime is told it may grow to, in bytes: V8's
// --max-old-space-size (MiB), the JVM's -Xmx, Go's GOMEMLIMIT.
var heapSettings = []struct {
	runtime string
	re      *regexp.Regexp
	bytes   func(m []string) int64
}{
	{"the V8 heap (Node.js)", regexp.MustCompile(`--max[-_]old[-_]space[-_]size[= ](\d+)`), func(m []string) int64 { return atoi64(m[1]) << 20 }},
	{"the JVM heap", regexp.MustCompile(`-Xmx(\d+)([kKmMgGtT]?)\b`), func(m []string) int64 { return atoi64(m[1]) * unitBytes(m[2]) }},
	{"the Go runtime's memory limit", regexp.MustCompile(`^GOMEMLIMIT=(\d+)([KMGT]i?B)?$`), func(m []string) int64 { return atoi64(m[1]) * unitBytes(m[2]) }},
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// unitBytes is the multiplier of a size suffix: k, m, g, t (the JVM's, powers of 1024) or
// KiB, MiB, GiB, TiB (Go's).
func unitBytes(u string) int64 {
	switch strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(u, "B"), "i")) {
	case "k":
		return 1 << 10
	case "m":
		return 1 << 20
	case "g":
		return 1 << 30
	case "t":
		return 1 << 40
	}
	return 1
}

// heapCause: a container killed for its memory whose runtime is told it may grow its heap to
// (nearly) its memory limit or past it — NODE_OPTIONS=--max-old-space-size=3072 under a 1Gi
// limit, -Xmx2g under 2Gi — is killed by the kernel before the runtime's collector is pushed:
// the setting and the limit disagree. nil when no such setting is found (inline env values and
// arguments only; a ConfigMap's values are not read here).
func heapCause(p *corev1.Pod, w *ownerWorkload, c *corev1.Container, init bool, limit apiresource.Quantity) *contract.Cause {
	if limit.IsZero() {
		return nil
	}
	object, prefix := objectRef("pod", p.Namespace, p.Name), ""
	if w != nil && w.Kind != "job" {
		object, prefix = w.String(), "spec.template."
	}
	type place struct{ field, text string }
	var places []place
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			places = append(places, place{fmt.Sprintf("%s%s.env[%s]", prefix, specPath(init, c.Name), e.Name), e.Name + "=" + e.Value})
		}
	}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		places = append(places, place{fmt.Sprintf("%s%s.args", prefix, specPath(init, c.Name)), a})
	}
	for _, pl := range places {
		for _, h := range heapSettings {
			m := h.re.FindStringSubmatch(pl.text) // an env entry as NAME=value, an argument as it is
			if m == nil {
				continue
			}
			heap := h.bytes(m)
			if heap <= 0 || float64(heap) < 0.9*float64(limit.Value()) {
				continue
			}
			heapQ := apiresource.NewQuantity(heap, apiresource.BinarySI)
			than := "more than"
			if heap <= limit.Value() {
				than = "nearly all of"
			}
			return &contract.Cause{
				Category: contract.MemoryLimit, Object: object, Field: pl.field,
				Summary: fmt.Sprintf("%s lets %s grow to %s, %s the container's memory limit of %s, so the kernel kills the process (OOMKilled) before the runtime collects its garbage",
					strings.TrimSpace(m[0]), h.runtime, heapQ.String(), than, limit.String()),
				Evidence: []string{fmt.Sprintf("%s: %s", pl.field, clip(pl.text)), fmt.Sprintf("%s.resources.limits.memory: %s", specPath(init, c.Name), limit.String())},
				Fix:      &contract.Fix{Text: fmt.Sprintf("make the heap setting and the limit agree in %s: lower %s to about three quarters of the limit, or raise the memory limit of container %s above the heap plus the runtime's own memory", object, strings.TrimSpace(m[0]), c.Name)},
			}
		}
	}
	return nil
}

// memoryVolumeCause: a container killed for its memory that writes into an emptyDir of medium
// Memory (a tmpfs) is killed by what it writes there, which counts toward its memory limit
// (Kubernetes "Volumes", emptyDir): the volume is the cause, not a leak. nil when it mounts none.
func memoryVolumeCause(p *corev1.Pod, w *ownerWorkload, c *corev1.Container, init bool, limit apiresource.Quantity) *contract.Cause {
	for _, m := range c.VolumeMounts {
		for _, v := range p.Spec.Volumes {
			if v.Name != m.Name || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
				continue
			}
			object, field := objectRef("pod", p.Namespace, p.Name), "spec.volumes["+v.Name+"].emptyDir"
			if w != nil && w.Kind != "job" {
				object, field = w.String(), "spec.template.spec.volumes["+v.Name+"].emptyDir"
			}
			size := "no sizeLimit"
			if v.EmptyDir.SizeLimit != nil {
				size = "sizeLimit " + v.EmptyDir.SizeLimit.String()
			}
			lim := "its memory limit"
			if !limit.IsZero() {
				lim += " of " + limit.String()
			}
			what := "container"
			if init {
				what = "init container"
			}
			return &contract.Cause{Category: contract.MemoryLimit, Object: object, Field: field,
				Summary: fmt.Sprintf("%s %s writes into volume %s (mounted at %s), an emptyDir with medium: Memory (a tmpfs, %s): what it writes there counts toward %s, so the kernel kills it",
					what, c.Name, v.Name, m.MountPath, size, lim),
				Evidence: []string{fmt.Sprintf("spec.volumes[%s].emptyDir: medium=Memory, %s", v.Name, size), fmt.Sprintf("%s.volumeMounts[%s].mountPath: %s", specPath(init, c.Name), v.Name, m.MountPath)},
				Fix:      &contract.Fix{Text: fmt.Sprintf("raise the memory limit of %s above what it writes into %s plus its own use, or make volume %s disk-backed (emptyDir without medium: Memory)", c.Name, v.Name, v.Name)}}
		}
	}
	return nil
}

// double returns twice q, in q's format (64Mi → 128Mi, 500m → 1).
func double(q apiresource.Quantity) apiresource.Quantity {
	d := q.DeepCopy()
	d.Add(q)
	return d
}

// configRef is one reference of a pod template to a ConfigMap or Secret (a key of it, when Key
// is set); Via says where it is made (env X, envFrom, volume v).
type configRef struct{ Kind, Name, Key, Via string }

// configRefs lists the non-optional references of container c (env and envFrom), and, with
// volumes, those of the pod's volumes.
func configRefs(c *corev1.Container, spec *corev1.PodSpec, volumes bool) []configRef {
	var out []configRef
	if c != nil {
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
			case e.ValueFrom.ConfigMapKeyRef != nil && !isTrue(e.ValueFrom.ConfigMapKeyRef.Optional):
				out = append(out, configRef{"ConfigMap", e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key, "env " + e.Name})
			case e.ValueFrom.SecretKeyRef != nil && !isTrue(e.ValueFrom.SecretKeyRef.Optional):
				out = append(out, configRef{"Secret", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, "env " + e.Name})
			}
		}
		for _, e := range c.EnvFrom {
			switch {
			case e.ConfigMapRef != nil && !isTrue(e.ConfigMapRef.Optional):
				out = append(out, configRef{"ConfigMap", e.ConfigMapRef.Name, "", "envFrom"})
			case e.SecretRef != nil && !isTrue(e.SecretRef.Optional):
				out = append(out, configRef{"Secret", e.SecretRef.Name, "", "envFrom"})
			}
		}
	}
	if !volumes || spec == nil {
		return out
	}
	for _, v := range spec.Volumes {
		via := "volume " + v.Name
		switch {
		case v.ConfigMap != nil && !isTrue(v.ConfigMap.Optional):
			for _, it := range v.ConfigMap.Items {
				out = append(out, configRef{"ConfigMap", v.ConfigMap.Name, it.Key, via})
			}
			if len(v.ConfigMap.Items) == 0 {
				out = append(out, configRef{"ConfigMap", v.ConfigMap.Name, "", via})
			}
		case v.Secret != nil && !isTrue(v.Secret.Optional):
			for _, it := range v.Secret.Items {
				out = append(out, configRef{"Secret", v.Secret.SecretName, it.Key, via})
			}
			if len(v.Secret.Items) == 0 {
				out = append(out, configRef{"Secret", v.Secret.SecretName, "", via})
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.ConfigMap != nil && !isTrue(src.ConfigMap.Optional):
					out = append(out, configRef{"ConfigMap", src.ConfigMap.Name, "", via})
				case src.Secret != nil && !isTrue(src.Secret.Optional):
					out = append(out, configRef{"Secret", src.Secret.Name, "", via})
				}
			}
		}
	}
	return out
}

// createContainerConfigError: containers that cannot start because a ConfigMap, Secret or key
// they reference is missing: waiting in CreateContainerConfigError (env, envFrom), or in
// ContainerCreating with FailedMount events (volumes). The references are read directly (names
// and keys only). When the workload's previous revision does not make the missing references,
// rolling back to it is the fix.
func createContainerConfigError(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		var mounts []*corev1.Event
		mountsRead := false
		eachContainer(p, func(st *corev1.ContainerStatus, spec *corev1.Container, init bool) {
			if st.State.Waiting == nil {
				return
			}
			volumes := false
			createErr := st.State.Waiting.Reason == "CreateContainerError"
			switch st.State.Waiting.Reason {
			case "CreateContainerConfigError":
			case "CreateContainerError":
				// the runtime could not create the container (a seccomp profile, a mount, a
				// device): the kubelet's Failed events say why
				if !mountsRead {
					mountsRead = true
					for _, e := range s.eventsFor("Pod", p, "Failed") {
						if e.Type == corev1.EventTypeWarning {
							mounts = append(mounts, e)
						}
					}
				}
			case "ContainerCreating", "PodInitializing":
				if !mountsRead {
					mountsRead = true
					for _, e := range s.eventsFor("Pod", p, "FailedMount") {
						if e.Type == corev1.EventTypeWarning {
							mounts = append(mounts, e)
						}
					}
				}
				if len(mounts) == 0 {
					return
				}
				volumes = true
			default:
				return
			}
			var refs []configRef
			if spec != nil {
				refs = configRefs(spec, &p.Spec, volumes)
			}
			var missing []configRef
			var missingText, unchecked []string
			for _, r := range refs {
				l := s.keysOf(r.Kind, p.Namespace, r.Name)
				var m string
				switch {
				case l.err != nil:
					unchecked = append(unchecked, fmt.Sprintf("%s %s (%s): %v", r.Kind, r.Name, r.Via, l.err))
				case !l.found:
					m = fmt.Sprintf("%s %s/%s does not exist (%s)", r.Kind, p.Namespace, r.Name, r.Via)
				case r.Key != "" && !l.keys[r.Key]:
					m = fmt.Sprintf("%s %s/%s has no key %q (%s)", r.Kind, p.Namespace, r.Name, r.Key, r.Via)
				}
				if m != "" && !slices.Contains(missingText, m) {
					missing = append(missing, r)
					missingText = append(missingText, m)
				}
			}
			// The kubelet's own words name the field at fault (a hostPath's type, a missing
			// key, a non-root policy, a subPath).
			messages := []string{st.State.Waiting.Message}
			for _, e := range mounts {
				messages = append(messages, e.Message)
			}
			sig := kubeletCause(p, s.owner(p), messages)
			unexplained := volumes && len(missing) == 0 && len(unchecked) == 0 && sig == nil
			if unexplained && s.mountsUnboundClaim(p) {
				return // the mount waits for a claim (pvcPending and volume_check follow it)
			}
			f, w := s.podFinding(p, critical, "CreateContainerConfigError", st.Name)
			f.cause = sig
			if volumes {
				f.evidence = append(f.evidence, fmt.Sprintf("%s.state.waiting.reason: %s", statusPath(init, st.Name), st.State.Waiting.Reason), eventEvidence(mounts))
			} else {
				f.evidence = append(f.evidence, fmt.Sprintf("%s.state.waiting.message: %s", statusPath(init, st.Name), clip(st.State.Waiting.Message)))
			}
			if createErr && len(mounts) > 0 {
				f.evidence = append(f.evidence, eventEvidence(mounts))
			}
			for _, m := range missingText {
				f.evidence = append(f.evidence, "missing: "+m)
			}
			for _, u := range unchecked {
				f.evidence = append(f.evidence, "could not check: "+u)
			}
			switch {
			case len(missing) > 0 && s.previousRevisionLacks(p, w, st.Name, init, missing):
				f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w),
					note: "back to the previous revision, which does not reference what is missing; or create what is missing (above; values are not shown)"}
				f.evidence = append(f.evidence, fmt.Sprintf("the previous revision of %s does not reference what is missing", w))
			case len(missing) > 0:
				f.fix = noFix("create what is missing (above; values are not shown), or correct the references in %s", whose(p, w))
			case sig != nil && len(missing) == 0:
				f.fix = noFix("%s", sig.Fix.Text)
			case createErr:
				f.fix = noFix("the container runtime cannot create container %s of %s (its waiting message and Failed events, above, say why): correct what they name", st.Name, whose(p, w))
			case unexplained:
				f.fix = noFix("the kubelet cannot mount a volume of container %s (its FailedMount event, above, names the volume and why): correct that volume in %s, or what it needs on node %s",
					st.Name, whose(p, w), orNone(p.Spec.NodeName))
			case len(unchecked) == 0 && w != nil:
				f.fix = fix{tool: "pod_delete", args: []arg{{"namespace", p.Namespace}, {"name", p.Name}},
					note: "every ConfigMap and Secret it references exists now; the kubelet retries on its own, and a new pod from " + w.String() + " starts at once"}
			default:
				f.fix = noFix("make sure every ConfigMap and Secret (and key) that container %s of %s references exists", st.Name, whose(p, w))
			}
			out = append(out, f)
		})
	}
	return out
}

// previousSpec is the pod spec of the revision before the one pod p runs, when p's owner is a
// Deployment with one (its ReplicaSets are the revisions); nil otherwise.
func (s *snapshot) previousSpec(p *corev1.Pod, w *ownerWorkload) *corev1.PodSpec {
	if w == nil || w.Kind != "deployment" || len(w.via) == 0 || !s.hasPreviousRevision(w) {
		return nil
	}
	current, ok := s.rsByName[types.NamespacedName{Namespace: p.Namespace, Name: w.via[0].Name}]
	if !ok {
		return nil
	}
	rev := func(rs *appsv1.ReplicaSet) int64 {
		n, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	cur := rev(current)
	var prev *appsv1.ReplicaSet
	for i := range s.replicaSets {
		rs := &s.replicaSets[i]
		if c := metav1.GetControllerOfNoCopy(rs); c == nil || c.UID != w.uid || rs.Namespace != p.Namespace {
			continue
		}
		if r := rev(rs); r >= 0 && r < cur && (prev == nil || r > rev(prev)) {
			prev = rs
		}
	}
	if prev == nil {
		return nil
	}
	return &prev.Spec.Template.Spec
}

// previousContainer is container name (an init container with init) of the previous revision's
// pod spec, or nil.
func previousContainer(prev *corev1.PodSpec, name string, init bool) *corev1.Container {
	if prev == nil {
		return nil
	}
	if init {
		return containerNamed(prev.InitContainers, name)
	}
	return containerNamed(prev.Containers, name)
}

// previousRevisionLacks reports whether p's owner is a Deployment whose revision before the pod's
// own makes none of the missing references from the same container: rolling back to it removes
// the cause.
func (s *snapshot) previousRevisionLacks(p *corev1.Pod, w *ownerWorkload, container string, init bool, missing []configRef) bool {
	prev := s.previousSpec(p, w)
	if prev == nil {
		return false
	}
	for _, r := range configRefs(previousContainer(prev, container, init), prev, true) {
		for _, m := range missing {
			if r.Kind == m.Kind && r.Name == m.Name && (m.Key == "" || r.Key == m.Key) {
				return false
			}
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

// mountsUnboundClaim reports whether p mounts a PersistentVolumeClaim (its own or a generic
// ephemeral one) that is not bound (or not in the snapshot): its mount waits for the claim.
func (s *snapshot) mountsUnboundClaim(p *corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		name := ""
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			name = p.Name + "-" + v.Name
		default:
			continue
		}
		bound := false
		for i := range s.claims {
			if c := &s.claims[i]; c.Namespace == p.Namespace && c.Name == name {
				bound = c.Status.Phase == corev1.ClaimBound
				break
			}
		}
		if !bound {
			return true
		}
	}
	return false
}

// probeFailing: pods with Unhealthy events (failed readiness, liveness or startup probes), or,
// without such events, running containers that are not ready and have a readiness probe.
func probeFailing(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		var unhealthy []*corev1.Event
		for _, e := range s.eventsFor("Pod", p, "Unhealthy") {
			if e.Type == corev1.EventTypeWarning {
				unhealthy = append(unhealthy, e)
			}
		}
		if len(unhealthy) > 0 {
			last, _ := latest(unhealthy)
			probe := probeType(last.Message)
			container := fieldPathContainer(last.InvolvedObject.FieldPath)
			if container == "" {
				container = probedContainer(p, probe)
			}
			f, w := s.podFinding(p, warning, "ProbeFailing", container)
			f.evidence = append(f.evidence, probe+" probe failing: "+eventEvidence(unhealthy))
			if c := containerNamed(p.Spec.Containers, container); c != nil {
				if d := describeProbe(c, probe); d != "" {
					f.evidence = append(f.evidence, d)
				}
			}
			f.fix = probeFix(probe, p, w)
			s.probeChanged(p, w, container, probe, &f)
			f.cause = probeCause(p, w, container, probe, unhealthy)
			out = append(out, f)
			continue
		}
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		for j := range p.Status.ContainerStatuses {
			st := &p.Status.ContainerStatuses[j]
			spec := containerNamed(p.Spec.Containers, st.Name)
			if st.Ready || st.State.Running == nil || spec == nil || spec.ReadinessProbe == nil {
				continue
			}
			f, w := s.podFinding(p, warning, "ProbeFailing", st.Name)
			f.evidence = append(f.evidence, fmt.Sprintf("%s: running, ready=false, since %s", statusPath(false, st.Name), age(st.State.Running.StartedAt)))
			f.evidence = append(f.evidence, describeProbe(spec, "readiness"))
			f.fix = probeFix("readiness", p, w)
			s.probeChanged(p, w, st.Name, "readiness", &f)
			out = append(out, f)
		}
	}
	return out
}

// probeType reads the probe from the kubelet's message: "Readiness probe failed: ...".
func probeType(message string) string {
	for _, t := range []string{"Readiness", "Liveness", "Startup"} {
		if strings.HasPrefix(message, t+" probe") {
			return strings.ToLower(t)
		}
	}
	return "a"
}

// probedContainer is the one container of p with a probe of that type (or p's only container)
// when an event does not say which container it is about; "" when that is ambiguous.
func probedContainer(p *corev1.Pod, probe string) string {
	var with []string
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		if (probe == "readiness" && c.ReadinessProbe != nil) || (probe == "liveness" && c.LivenessProbe != nil) || (probe == "startup" && c.StartupProbe != nil) {
			with = append(with, c.Name)
		}
	}
	switch {
	case len(with) == 1:
		return with[0]
	case len(with) == 0 && len(p.Spec.Containers) == 1:
		return p.Spec.Containers[0].Name
	}
	return ""
}

// fieldPathContainer reads the container from an event's fieldPath: spec.containers{app}.
func fieldPathContainer(fp string) string {
	if _, rest, ok := strings.Cut(fp, "{"); ok {
		name, _, _ := strings.Cut(rest, "}")
		return name
	}
	return ""
}

// describeProbe says what a container's probe checks, without exec commands (which may carry
// credentials).
func describeProbe(c *corev1.Container, probe string) string {
	var pr *corev1.Probe
	field := probe + "Probe"
	switch probe {
	case "readiness":
		pr = c.ReadinessProbe
	case "liveness":
		pr = c.LivenessProbe
	case "startup":
		pr = c.StartupProbe
	}
	if pr == nil {
		return ""
	}
	var what string
	switch h := pr.ProbeHandler; {
	case h.HTTPGet != nil:
		what = fmt.Sprintf("httpGet %s:%s", h.HTTPGet.Path, h.HTTPGet.Port.String())
	case h.TCPSocket != nil:
		what = "tcpSocket :" + h.TCPSocket.Port.String()
	case h.GRPC != nil:
		what = fmt.Sprintf("grpc :%d", h.GRPC.Port)
	case h.Exec != nil:
		what = fmt.Sprintf("exec %q", h.Exec.Command)
	}
	// unset fields are the API's defaults: every 10s, timeout 1s, failureThreshold 3
	orDefault := func(v, d int32) int32 {
		if v == 0 {
			return d
		}
		return v
	}
	return fmt.Sprintf("spec.containers[%s].%s: %s every %ds, timeout %ds, failureThreshold %d, initialDelaySeconds %d",
		c.Name, field, what, orDefault(pr.PeriodSeconds, 10), orDefault(pr.TimeoutSeconds, 1), orDefault(pr.FailureThreshold, 3), pr.InitialDelaySeconds)
}

// probeChanged: when the workload's previous revision probed the container differently, the
// probe came with the latest revision, and rolling back is the fix.
func (s *snapshot) probeChanged(p *corev1.Pod, w *ownerWorkload, container, probe string, f *finding) {
	now := containerNamed(p.Spec.Containers, container)
	before := previousContainer(s.previousSpec(p, w), container, false)
	if now == nil || before == nil {
		return
	}
	get := func(c *corev1.Container) *corev1.Probe {
		switch probe {
		case "readiness":
			return c.ReadinessProbe
		case "liveness":
			return c.LivenessProbe
		case "startup":
			return c.StartupProbe
		}
		return nil
	}
	if apiequality.Semantic.DeepEqual(get(now), get(before)) {
		return
	}
	was := describeProbe(before, probe)
	if was == "" {
		was = fmt.Sprintf("spec.containers[%s].%sProbe: <none>", container, probe)
	}
	f.evidence = append(f.evidence, "the previous revision of "+w.String()+" had "+was)
	f.fix = fix{tool: "workload_rollback", args: ownerFixArgs(w), note: "back to the previous revision, whose " + probe + " probe differed; then correct the probe in the new revision"}
}

// probeKills: when the kubelet restarts the container because a probe fails (a Killing event
// "Container app failed liveness probe, will be restarted"), the restarts come from the probe:
// the event is evidence on f, and the probe's failure the cause.
func (s *snapshot) probeKills(p *corev1.Pod, w *ownerWorkload, container string, f *finding) *contract.Cause {
	var kills []*corev1.Event
	probe := ""
	for _, e := range s.eventsFor("Pod", p, "Killing") {
		for _, t := range []string{"liveness", "startup"} {
			if strings.Contains(e.Message, "failed "+t+" probe") && (fieldPathContainer(e.InvolvedObject.FieldPath) == container || strings.Contains(e.Message, "Container "+container+" ")) {
				kills, probe = append(kills, e), t
			}
		}
	}
	if len(kills) == 0 {
		return nil
	}
	f.evidence = append(f.evidence, eventEvidence(kills))
	var unhealthy []*corev1.Event
	for _, e := range s.eventsFor("Pod", p, "Unhealthy") {
		if probeType(e.Message) == probe {
			unhealthy = append(unhealthy, e)
		}
	}
	return probeCause(p, w, container, probe, unhealthy)
}

var probeStatus = regexp.MustCompile(`statuscode: (\d{3})`)

// probeCause reads what the kubelet met in the latest of a probe's failure events: an HTTP 4xx
// (the path is not served), a refused connection (nothing listens on the port), a timeout (the
// check takes longer than timeoutSeconds). Each is a ProbeMisconfigured cause on the workload
// (the pod, without one), its field the probe's path, port or timeoutSeconds; nil for other
// failures (a 5xx is the application saying it is unwell).
func probeCause(p *corev1.Pod, w *ownerWorkload, container, probe string, events []*corev1.Event) *contract.Cause {
	last, _ := latest(events)
	c := containerNamed(p.Spec.Containers, container)
	if last == nil || c == nil {
		return nil
	}
	var pr *corev1.Probe
	switch probe {
	case "readiness":
		pr = c.ReadinessProbe
	case "liveness":
		pr = c.LivenessProbe
	case "startup":
		pr = c.StartupProbe
	}
	if pr == nil {
		return nil
	}
	base := fmt.Sprintf("spec.containers[%s].%sProbe", container, probe)
	var handler, target, port string
	switch h := pr.ProbeHandler; {
	case h.HTTPGet != nil:
		handler, target, port = "httpGet", h.HTTPGet.Path, h.HTTPGet.Port.String()
	case h.TCPSocket != nil:
		handler, port = "tcpSocket", h.TCPSocket.Port.String()
	case h.GRPC != nil:
		handler, port = "grpc", strconv.Itoa(int(h.GRPC.Port))
	case h.Exec != nil:
		handler = "exec"
	}
	timeout := max(pr.TimeoutSeconds, 1)
	effect := map[string]string{
		"liveness":  "so the kubelet restarts a container that may otherwise work",
		"readiness": "so the pod gets no Service traffic",
		"startup":   "so the kubelet restarts the container before it is up",
	}[probe]
	msg := strings.ToLower(last.Message)
	object := objectRef("pod", p.Namespace, p.Name)
	if w != nil {
		object = w.ref.String()
	}
	where := fmt.Sprintf("the %s probe of container %s", probe, container)
	cause := contract.Cause{Category: contract.ProbeMisconfigured, Object: object}
	var fixText string
	switch m := probeStatus.FindStringSubmatch(last.Message); {
	case handler == "httpGet" && pr.HTTPGet.Scheme != corev1.URISchemeHTTPS && m != nil && m[1] == "400" && tlsPort(c, pr.HTTPGet.Port):
		// a TLS server answers a plain HTTP request with 400 ("Client sent an HTTP request to
		// an HTTPS server", "The plain HTTP request was sent to HTTPS port")
		cause.Field = base + ".httpGet.scheme"
		cause.Summary = fmt.Sprintf("%s sends plain HTTP (scheme HTTP, the default) to port %s, which serves HTTPS: the TLS server answers a plain request with HTTP 400, %s", where, port, effect)
		fixText = fmt.Sprintf("set %s.httpGet.scheme of %s to HTTPS (the kubelet does not verify the certificate) (resource_patch)", base, object)
	case handler == "httpGet" && pr.HTTPGet.Scheme == corev1.URISchemeHTTPS && strings.Contains(msg, "http response to https client"):
		cause.Field = base + ".httpGet.scheme"
		cause.Summary = fmt.Sprintf("%s speaks HTTPS (scheme HTTPS) to port %s, which serves plain HTTP (\"server gave HTTP response to HTTPS client\"), %s", where, port, effect)
		fixText = fmt.Sprintf("set %s.httpGet.scheme of %s to HTTP, or probe the port that serves HTTPS (resource_patch)", base, object)
	case m != nil && m[1][0] == '4' && handler == "httpGet":
		cause.Field = base + ".httpGet.path"
		cause.Summary = fmt.Sprintf("%s gets HTTP %s from %s on port %s (timeoutSeconds %d): the path it checks is not served, %s", where, m[1], target, port, timeout, effect)
		fixText = fmt.Sprintf("set %s.httpGet.path of %s to the health endpoint the application serves (resource_patch)", base, object)
	case strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout") || strings.Contains(msg, "timed out"):
		cause.Field = base + ".timeoutSeconds"
		on := ""
		if target != "" {
			on = " on " + target
		}
		if port != "" {
			on += " (port " + port + ")"
		}
		cause.Summary = fmt.Sprintf("%s times out after %ds%s: the check takes longer than timeoutSeconds allows, %s", where, timeout, on, effect)
		fixText = fmt.Sprintf("raise %s.timeoutSeconds of %s above how long the check takes (resource_patch), or point the probe at a cheaper endpoint", base, object)
	case strings.Contains(msg, "connection refused") && port != "":
		cause.Field = base + "." + handler + ".port"
		declared := ""
		var ports []string
		for _, cp := range c.Ports {
			if cp.Name != "" {
				ports = append(ports, fmt.Sprintf("%d (%s)", cp.ContainerPort, cp.Name))
			} else {
				ports = append(ports, strconv.Itoa(int(cp.ContainerPort)))
			}
		}
		if len(ports) > 0 {
			declared = "; the container declares " + strings.Join(ports, ", ")
		}
		cause.Summary = fmt.Sprintf("%s is refused on port %s%s: nothing listens there%s, %s", where, port, map[bool]string{true: " (" + target + ")", false: ""}[target != ""], declared, effect)
		fixText = fmt.Sprintf("set %s.%s.port of %s to the port the application listens on (resource_patch)", base, handler, object)
	default:
		return nil
	}
	cause.Evidence = []string{"event " + last.Reason + ": " + quoteMessage(last.Message)}
	if d := describeProbe(c, probe); d != "" {
		cause.Evidence = append(cause.Evidence, d)
	}
	cause.Fix = &contract.Fix{Text: fixText}
	return &cause
}

// tlsPorts are the port numbers TLS servers conventionally listen on.
var tlsPorts = map[int32]bool{443: true, 4443: true, 6443: true, 8443: true, 9443: true}

// tlsPort says whether the probe's port looks like a TLS server's: a conventional TLS port
// number, or a container port (by number or name) whose name says https or tls.
func tlsPort(c *corev1.Container, port intstr.IntOrString) bool {
	tlsName := func(n string) bool {
		n = strings.ToLower(n)
		return strings.Contains(n, "https") || strings.Contains(n, "tls")
	}
	if port.Type == intstr.String {
		return tlsName(port.StrVal)
	}
	if tlsPorts[port.IntVal] {
		return true
	}
	for _, cp := range c.Ports {
		if cp.ContainerPort == port.IntVal && tlsName(cp.Name) {
			return true
		}
	}
	return false
}

func probeFix(probe string, p *corev1.Pod, w *ownerWorkload) fix {
	effect := "so the pod gets no Service traffic"
	switch probe {
	case "liveness":
		effect = "so the kubelet keeps restarting the container"
	case "startup":
		effect = "so the container is restarted before it finishes starting"
	}
	return noFix("the %s probe fails, %s: check the endpoint it calls and the app's logs; if the app only needs longer, "+
		"raise the probe's initialDelaySeconds or failureThreshold on %s (resource_patch)", probe, effect, whose(p, w))
}

// unschedulable: pending pods the scheduler could not place, with its reason.
func unschedulable(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		var cond *corev1.PodCondition
		for j := range p.Status.Conditions {
			if c := &p.Status.Conditions[j]; c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				cond = c
			}
		}
		events := s.eventsFor("Pod", p, "FailedScheduling")
		if (cond == nil || cond.Reason != corev1.PodReasonUnschedulable) && len(events) == 0 {
			continue
		}
		f, w := s.podFinding(p, warning, "Unschedulable", "")
		message := ""
		if cond != nil {
			message = cond.Message
			f.evidence = append(f.evidence, fmt.Sprintf("status.conditions[PodScheduled]: status=False reason=%s message=%s", cond.Reason, clip(cond.Message)))
		}
		if len(events) > 0 {
			f.evidence = append(f.evidence, eventEvidence(events))
			if last, _ := latest(events); message == "" {
				message = last.Message
			}
		}
		f.fix = noFix("%s", schedulingHint(message, p, w))
		out = append(out, f)
	}
	return out
}

// schedulingHint says what a person can do about the scheduler's message.
func schedulingHint(message string, p *corev1.Pod, w *ownerWorkload) string {
	switch m := strings.ToLower(message); {
	case strings.Contains(m, "insufficient"):
		return fmt.Sprintf("no node has room for the pod's requests: add nodes, free capacity, or lower the requests of %s (workload_set_resources)", whose(p, w))
	case strings.Contains(m, "persistentvolumeclaim"):
		return "the pod waits for a PersistentVolumeClaim: see the PVCPending findings"
	case strings.Contains(m, "taint"):
		return fmt.Sprintf("every fitting node has a taint the pod does not tolerate: add a toleration to %s, or remove the taint", whose(p, w))
	case strings.Contains(m, "affinity") || strings.Contains(m, "selector"):
		return fmt.Sprintf("no node matches the pod's nodeSelector or affinity: correct them on %s, or label a node to match", whose(p, w))
	case strings.Contains(m, "unschedulable"):
		return "the fitting nodes are cordoned: uncordon one (node_uncordon) if it is healthy, or add nodes"
	}
	return "read the scheduler's message and add capacity or relax the pod's constraints on " + whose(p, w)
}
