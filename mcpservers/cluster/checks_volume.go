package cluster

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/accessmodes"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// volume_check: "No space left on device", or a claim that never binds; which volume, claim,
// PersistentVolume and StorageClass are behind a path, and what is wrong with them.

func (t *tools) volumeCheckTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "volume_check",
			Description: "Follow a pod's path to its storage: the container's mount whose mountPath is the longest prefix of path, its " +
				"volume, PersistentVolumeClaim, bound PersistentVolume and StorageClass (provisioner). With problem \"full\" (after " +
				"'No space left on device' / ENOSPC) the claim or emptyDir at that path is the cause, with how to grow it. Every claim of " +
				"the pod (or the claim given) is also checked for an access mode its StorageClass's provisioner cannot give " +
				"(ReadWriteMany from a block or node-local provisioner), quoting its ProvisioningFailed events, and for other pods that " +
				"mount it: with problem \"in-use\", a Deployment whose RollingUpdate starts the new pod while the old one still holds " +
				"the claim is the cause. Pass namespace and pod " +
				"(with path, container, problem), or namespace and claim.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the pod or claim"), mcp.MaxLength(63)),
				mcp.WithString("pod", mcp.Description("the pod whose storage to follow (or pass claim)"), mcp.MaxLength(253)),
				mcp.WithString("claim", mcp.Description("a PersistentVolumeClaim to check on its own (instead of pod)"), mcp.MaxLength(253)),
				mcp.WithString("path", mcp.Description("with pod: the file or directory path the error names, such as /qdrant/storage/wal"), mcp.MaxLength(4096)),
				mcp.WithString("container", mcp.Description("with pod: the container (default: any container that mounts the path)"), mcp.MaxLength(253)),
				mcp.WithString("problem", mcp.Description(`"full" when the error says the device has no space left; "in-use" when it says its data directory is locked by another process or the volume is attached elsewhere (Multi-Attach)`), mcp.Enum("full", "in-use")),
			},
		}, t.volumeCheck),
	}
}

type volumeArgs struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod,omitempty"`
	Claim     string `json:"claim,omitempty"`
	Path      string `json:"path,omitempty"`
	Container string `json:"container,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

func (a *volumeArgs) Validate() error {
	if err := checkName("namespace", &a.Namespace, true, "pass the namespace of the pod or claim"); err != nil {
		return err
	}
	if err := checkName("pod", &a.Pod, false, "pass the pod's name"); err != nil {
		return err
	}
	if err := checkName("claim", &a.Claim, false, "pass the PersistentVolumeClaim's name"); err != nil {
		return err
	}
	switch {
	case a.Pod == "" && a.Claim == "":
		return fmt.Errorf(`pass "pod" (the pod whose storage to follow, with "path" from the error) or "claim" (a PersistentVolumeClaim to check)`)
	case a.Pod != "" && a.Claim != "":
		return fmt.Errorf(`pass either "pod" or "claim", not both: with pod, the claims it mounts are checked`)
	}
	a.Path, a.Container = strings.TrimSpace(a.Path), strings.TrimSpace(a.Container)
	if a.Pod == "" && (a.Path != "" || a.Container != "") {
		return fmt.Errorf(`arguments "path" and "container" need "pod": they say where in a pod to look`)
	}
	if a.Path != "" {
		if !strings.HasPrefix(a.Path, "/") {
			return fmt.Errorf(`argument "path" must be an absolute path inside the container, such as /data/wal, not %q`, a.Path)
		}
		a.Path = path.Clean(a.Path)
	}
	switch a.Problem = strings.ToLower(strings.TrimSpace(a.Problem)); a.Problem {
	case "", "full", "in-use":
	default:
		return fmt.Errorf(`argument "problem" must be "full" (no space left on device), "in-use" (the data directory is locked or the volume attached elsewhere) or left out, not %q`, a.Problem)
	}
	return nil
}

// claimInfo is a claim with what it rests on.
type claimInfo struct {
	pvc   *corev1.PersistentVolumeClaim
	pv    *corev1.PersistentVolume
	class *storagev1.StorageClass
	// classes are the StorageClasses that exist, read when the claim's does not ("missing"
	// then holds the claim's class name)
	missing string
	classes string
}

func (c claimInfo) className() string { return ptrString(c.pvc.Spec.StorageClassName) }

// size is the claim's capacity, or what it requests while unbound.
func (c claimInfo) size() string {
	if q, ok := c.pvc.Status.Capacity[corev1.ResourceStorage]; ok {
		return q.String()
	}
	if q, ok := c.pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		return q.String()
	}
	return "no size"
}

func (c claimInfo) classText() string {
	if c.className() == "" {
		return "no StorageClass"
	}
	return "StorageClass " + c.className()
}

func (t *tools) volumeCheck(ctx context.Context, a volumeArgs) (contract.CheckReport, string, error) {
	r := &checkReport{}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return r.CheckReport, "", err
	}
	if a.Claim != "" {
		c, err := t.readClaim(ctx, r, a.Namespace, a.Claim)
		if err != nil {
			return r.CheckReport, "", err
		}
		r.Checked = fmt.Sprintf("claim %s/%s: %s, %s, %s, access modes %s%s", a.Namespace, a.Claim, c.pvc.Status.Phase, c.size(), c.classText(), modesText(c.pvc.Spec.AccessModes), boundText(c))
		if a.Problem == "full" {
			r.cause(t.claimFull(c, "", "", nil))
		}
		t.checkDataSource(ctx, r, c)
		checkClassExists(r, c)
		if err := t.checkAccessModes(ctx, r, c); err != nil {
			return r.CheckReport, "", err
		}
		return r.done(t.maxBytes)
	}

	pod, err := t.readPod(ctx, a.Namespace, a.Pod)
	if err != nil {
		return r.CheckReport, "", err
	}
	containers := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	if a.Container != "" && !slices.ContainsFunc(containers, func(c corev1.Container) bool { return c.Name == a.Container }) {
		names := make([]string, len(containers))
		for i, c := range containers {
			names[i] = c.Name
		}
		return r.CheckReport, "", fmt.Errorf("pod %s/%s has no container %q; its containers are %s", a.Namespace, a.Pod, a.Container, strings.Join(names, ", "))
	}
	volumes := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		volumes[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}

	// The claims of the pod, read once.
	claims := map[string]claimInfo{}
	var claimOrder []string
	for _, v := range pod.Spec.Volumes {
		name := claimOfVolume(pod, &v)
		if name == "" {
			continue
		}
		c, err := t.readClaim(ctx, r, a.Namespace, name)
		if err != nil {
			r.fact("volume %s: %v", v.Name, err)
			continue
		}
		claims[v.Name] = c
		claimOrder = append(claimOrder, v.Name)
	}
	for _, c := range containers {
		if a.Container != "" && c.Name != a.Container {
			continue
		}
		for _, m := range c.VolumeMounts {
			r.fact("container %s mounts volume %s at %s%s (%s)", c.Name, m.Name, m.MountPath, map[bool]string{true: " read-only", false: ""}[m.ReadOnly], volumeText(volumes[m.Name], claims[m.Name]))
		}
	}
	r.Checked = fmt.Sprintf("pod %s/%s: %s, %s", a.Namespace, a.Pod, nOf(len(pod.Spec.Volumes), "volume"), nOf(len(claimOrder), "claim"))

	if a.Path != "" || a.Problem == "full" {
		container, mount := mountAt(containers, a.Container, a.Path)
		if mount == nil && a.Path == "" && len(claimOrder) == 1 {
			// "full" without a path: the pod's one claim is where it writes.
			container, mount = mountOf(containers, a.Container, claimOrder[0])
		}
		switch {
		case mount == nil && a.Path != "":
			r.Checked += fmt.Sprintf("; no volume is mounted at or above %s: it is on the container's own writable layer, on the node's ephemeral storage", a.Path)
		case mount == nil:
			r.Checked += `; pass "path" (from the error) to say which volume is full`
		default:
			v := volumes[mount.Name]
			r.Checked += fmt.Sprintf("; %s is on volume %s, mounted at %s in container %s", orWhole(a.Path, mount.MountPath), mount.Name, mount.MountPath, container)
			if a.Problem == "full" {
				r.cause(t.volumeFull(pod, v, claims[mount.Name], mount.MountPath, container))
			}
		}
	}
	for _, name := range claimOrder {
		t.checkDataSource(ctx, r, claims[name])
		checkClassExists(r, claims[name])
		if err := t.checkAccessModes(ctx, r, claims[name]); err != nil {
			return r.CheckReport, "", err
		}
		if err := t.checkSharedClaim(ctx, r, pod, claims[name], a.Problem == "in-use"); err != nil {
			return r.CheckReport, "", err
		}
	}
	// Causes without an object (a volume the cause cannot be pinned on) are dropped.
	r.Causes = slices.DeleteFunc(r.Causes, func(c contract.Cause) bool { return c.Object == "" })
	return r.done(t.maxBytes)
}

func orWhole(p, mountPath string) string {
	if p == "" {
		return mountPath
	}
	return p
}

// claimOfVolume is the claim a pod volume uses: its persistentVolumeClaim, or the claim an
// ephemeral volume's template creates (<pod>-<volume>).
func claimOfVolume(pod *corev1.Pod, v *corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.Ephemeral != nil:
		return pod.Name + "-" + v.Name
	}
	return ""
}

// mountAt finds the mount whose mountPath is the longest prefix of p, in container (any when
// ""): the container's name and the mount, or nil.
func mountAt(containers []corev1.Container, container, p string) (string, *corev1.VolumeMount) {
	if p == "" {
		return "", nil
	}
	bestLen, bestC := -1, ""
	var best *corev1.VolumeMount
	for i := range containers {
		c := &containers[i]
		if container != "" && c.Name != container {
			continue
		}
		for j := range c.VolumeMounts {
			m := &c.VolumeMounts[j]
			mp := path.Clean(m.MountPath)
			if (p == mp || mp == "/" || strings.HasPrefix(p, mp+"/")) && len(mp) > bestLen {
				bestLen, bestC, best = len(mp), c.Name, m
			}
		}
	}
	return bestC, best
}

// mountOf finds where volume is mounted, in container (any when "").
func mountOf(containers []corev1.Container, container, volume string) (string, *corev1.VolumeMount) {
	for i := range containers {
		c := &containers[i]
		if container != "" && c.Name != container {
			continue
		}
		for j := range c.VolumeMounts {
			if c.VolumeMounts[j].Name == volume && !c.VolumeMounts[j].ReadOnly {
				return c.Name, &c.VolumeMounts[j]
			}
		}
	}
	return "", nil
}

// readClaim reads a claim from the watch cache and, when it may, its PersistentVolume and
// StorageClass directly (cluster-scoped; facts say what could not be read).
func (t *tools) readClaim(ctx context.Context, r *checkReport, ns, name string) (claimInfo, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return claimInfo{}, err
	}
	var pvc corev1.PersistentVolumeClaim
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pvc); err != nil {
		return claimInfo{}, apiError(err, "get", objectRef("persistentvolumeclaim", ns, name))
	}
	c := claimInfo{pvc: &pvc}
	if err := t.clusterScoped("PersistentVolumes and StorageClasses"); err != nil {
		r.fact("%v", err)
		return c, nil
	}
	if pvc.Spec.VolumeName != "" {
		var pv corev1.PersistentVolume
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, &pv); err != nil {
			r.fact("claim %s: %v", name, apiError(err, "get", objectRef("persistentvolume", "", pvc.Spec.VolumeName)))
		} else {
			c.pv = &pv
		}
	}
	if class := c.className(); class != "" {
		var sc storagev1.StorageClass
		switch err := t.k.Direct.Get(ctx, client.ObjectKey{Name: class}, &sc); {
		case apierrors.IsNotFound(err):
			var list storagev1.StorageClassList
			lerr := t.k.Direct.List(ctx, &list)
			names := make([]string, len(list.Items))
			for i := range list.Items {
				names[i] = list.Items[i].Name
			}
			c.missing, c.classes = class, existing("StorageClass", names, lerr, class)
		case err != nil:
			r.fact("claim %s: %v", name, apiError(err, "get", objectRef("storageclass", "", class)))
		default:
			c.class = &sc
		}
	}
	return c, nil
}

// volumeFull is the cause of "no space left" on a volume: the claim, or the emptyDir's size
// limit; other volume kinds are named in a cause without an object, which is dropped.
func (t *tools) volumeFull(pod *corev1.Pod, v *corev1.Volume, c claimInfo, mountPath, container string) contract.Cause {
	evidence := noSpaceLines(pod)
	switch {
	case c.pvc != nil:
		return t.claimFull(c, mountPath, container, evidence)
	case v != nil && v.EmptyDir != nil:
		field := fmt.Sprintf("spec.volumes[%s].emptyDir.sizeLimit", v.Name)
		limit := "no sizeLimit: it shares the node's ephemeral storage"
		fix := fmt.Sprintf("free space in %s, or raise the node's ephemeral storage; set a sizeLimit so one pod cannot fill the node", mountPath)
		if v.EmptyDir.SizeLimit != nil {
			limit = "sizeLimit " + v.EmptyDir.SizeLimit.String()
			fix = fmt.Sprintf("raise %s of the pod's workload template above %s, or free space in %s", field, v.EmptyDir.SizeLimit, mountPath)
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			limit += ", in memory: it counts against the container's memory limit"
		}
		return contract.Cause{
			Category: contract.VolumeFull, Object: objectRef("pod", pod.Namespace, pod.Name), Field: field,
			Summary:  fmt.Sprintf("emptyDir volume %s (%s) mounted at %s in container %s is full", v.Name, limit, mountPath, container),
			Evidence: append([]string{fmt.Sprintf("volume %s: emptyDir %s", v.Name, limit)}, evidence...),
			Fix:      &contract.Fix{Text: fix},
		}
	}
	return contract.Cause{}
}

// claimFull is the VolumeFull cause of a claim, mounted at mountPath in container when known.
func (t *tools) claimFull(c claimInfo, mountPath, container string, evidence []string) contract.Cause {
	where := ""
	if mountPath != "" {
		where = fmt.Sprintf(" mounted at %s in container %s", mountPath, container)
	}
	ev := []string{fmt.Sprintf("claim %s spec.resources.requests.storage: %s", c.pvc.Name, quantityOr(c.pvc.Spec.Resources.Requests, "none"))}
	if q, ok := c.pvc.Status.Capacity[corev1.ResourceStorage]; ok {
		ev = append(ev, fmt.Sprintf("claim %s status.capacity.storage: %s", c.pvc.Name, q.String()))
	}
	if c.pv != nil {
		ev = append(ev, fmt.Sprintf("PersistentVolume %s: %s, %s", c.pv.Name, quantityOr(c.pv.Spec.Capacity, "no capacity"), pvSource(c.pv)))
	}
	expandable := c.class != nil && c.class.AllowVolumeExpansion != nil && *c.class.AllowVolumeExpansion
	if c.class != nil {
		ev = append(ev, fmt.Sprintf("StorageClass %s: provisioner %s, allowVolumeExpansion %t", c.class.Name, c.class.Provisioner, expandable))
	}
	free := "free space on it (delete or compact old data)"
	if mountPath != "" {
		free = "free space in " + mountPath + " (delete or compact old data)"
	}
	fix := fmt.Sprintf("expand the claim: raise spec.resources.requests.storage of claim %s above %s (%s allows volume expansion), or %s", c.pvc.Name, c.size(), c.classText(), free)
	if !expandable {
		why := c.classText() + " does not allow volume expansion"
		if c.class == nil && c.className() != "" {
			why = c.classText() + " could not be read to see whether it allows volume expansion"
		}
		fix = fmt.Sprintf("%s; %s is the claim's %s, and %s, or copy the data to a larger claim", free, c.size(), c.classText(), why)
		fix = strings.ToUpper(fix[:1]) + fix[1:]
	}
	return contract.Cause{
		Category: contract.VolumeFull, Object: objectRef("persistentvolumeclaim", c.pvc.Namespace, c.pvc.Name), Field: "spec.resources.requests.storage",
		Summary:  fmt.Sprintf("claim %s (%s, %s)%s is full", c.pvc.Name, c.size(), c.classText(), where),
		Evidence: append(ev, evidence...),
		Fix:      &contract.Fix{Text: fix},
	}
}

// noSpaceLines quotes what the pod's containers last said about running out of space.
func noSpaceLines(pod *corev1.Pod) []string {
	var out []string
	for _, s := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		for _, term := range []*corev1.ContainerStateTerminated{s.State.Terminated, s.LastTerminationState.Terminated} {
			if term == nil {
				continue
			}
			msg := strings.ToLower(term.Message)
			if strings.Contains(msg, "no space left") || strings.Contains(msg, "enospc") || strings.Contains(msg, "os error 28") || strings.Contains(msg, "disk full") {
				out = append(out, fmt.Sprintf("container %s terminated (%s): %s", s.Name, termination(term), strings.TrimSpace(term.Message)))
			}
		}
	}
	return out
}

// checkAccessModes adds an AccessModeUnsupported cause when the claim asks for an access mode
// its class's provisioner cannot give (provisionerModes), and quotes the claim's
// ProvisioningFailed events.
func (t *tools) checkAccessModes(ctx context.Context, r *checkReport, c claimInfo) error {
	events, err := t.eventLines(ctx, "PersistentVolumeClaim", c.pvc.Namespace, c.pvc.Name, string(c.pvc.UID), func(e *corev1.Event) bool {
		return e.Type == corev1.EventTypeWarning
	})
	if err != nil {
		r.fact("claim %s: events not read: %v", c.pvc.Name, err)
	}
	for _, e := range events {
		r.fact("%s", e)
	}
	if c.class == nil || (c.pvc.Spec.VolumeMode != nil && *c.pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock) {
		return nil
	}
	gives, known := accessmodes.Of(c.class.Provisioner)
	if !known {
		return nil
	}
	var refused []string
	for _, m := range accessmodes.Refused(c.class.Provisioner, c.pvc.Spec.AccessModes) {
		refused = append(refused, string(m))
	}
	if len(refused) == 0 {
		return nil
	}
	gave := make([]string, len(gives))
	for i, m := range gives {
		gave[i] = string(m)
	}
	evidence := []string{
		fmt.Sprintf("claim %s spec.accessModes: %s", c.pvc.Name, modesText(c.pvc.Spec.AccessModes)),
		fmt.Sprintf("StorageClass %s: provisioner %s", c.class.Name, c.class.Provisioner),
		fmt.Sprintf("claim %s status.phase: %s", c.pvc.Name, c.pvc.Status.Phase),
	}
	for _, e := range events {
		if strings.Contains(e, "ProvisioningFailed") {
			evidence = append(evidence, e)
		}
	}
	r.cause(contract.Cause{
		Category: contract.AccessModeUnsupported, Object: objectRef("persistentvolumeclaim", c.pvc.Namespace, c.pvc.Name), Field: "spec.accessModes",
		Summary: fmt.Sprintf("claim %s asks for %s, but StorageClass %s (provisioner %s) only gives %s",
			c.pvc.Name, strings.Join(refused, ", "), c.class.Name, c.class.Provisioner, strings.Join(gave, "/")),
		Evidence: evidence,
		Fix: &contract.Fix{Text: fmt.Sprintf("a claim's access modes and class cannot be changed: recreate claim %s with accessModes [ReadWriteOnce] and run its pods on one node (one writer), "+
			"or with a StorageClass whose provisioner gives %s (a file provisioner: %s)", c.pvc.Name, strings.Join(refused, ", "), strings.Join(accessmodes.FileProvisioners(), ", "))},
	})
	return nil
}

func modesText(modes []corev1.PersistentVolumeAccessMode) string {
	out := make([]string, len(modes))
	for i, m := range modes {
		out[i] = string(m)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func boundText(c claimInfo) string {
	if c.pvc.Spec.VolumeName == "" {
		return ", not bound to a PersistentVolume"
	}
	return ", bound to PersistentVolume " + c.pvc.Spec.VolumeName
}

func quantityOr(l corev1.ResourceList, none string) string {
	if q, ok := l[corev1.ResourceStorage]; ok {
		return q.String()
	}
	return none
}

// volumeText says what a pod volume is: "claim data (Bound, 20Gi, StorageClass fast-ssd)",
// "emptyDir (sizeLimit 1Gi)", "configMap settings".
func volumeText(v *corev1.Volume, c claimInfo) string {
	switch {
	case v == nil:
		return "no such volume in the pod"
	case c.pvc != nil:
		return fmt.Sprintf("claim %s: %s, %s, %s", c.pvc.Name, c.pvc.Status.Phase, c.size(), c.classText())
	case claimOfVolume(&corev1.Pod{}, v) != "":
		return "claim not read"
	case v.EmptyDir != nil:
		if v.EmptyDir.SizeLimit != nil {
			return "emptyDir, sizeLimit " + v.EmptyDir.SizeLimit.String()
		}
		return "emptyDir, no sizeLimit"
	case v.HostPath != nil:
		return "hostPath " + v.HostPath.Path
	case v.ConfigMap != nil:
		return "configMap " + v.ConfigMap.Name
	case v.Secret != nil:
		return "secret " + v.Secret.SecretName
	case v.Projected != nil:
		return "projected"
	}
	return "other volume source"
}

// pvSource names where a PersistentVolume's data lives.
func pvSource(pv *corev1.PersistentVolume) string {
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.CSI != nil:
		return "CSI driver " + s.CSI.Driver
	case s.HostPath != nil:
		return "hostPath " + s.HostPath.Path
	case s.Local != nil:
		return "local " + s.Local.Path
	case s.NFS != nil:
		return "NFS " + s.NFS.Server + ":" + s.NFS.Path
	}
	return "in-tree volume"
}

// checkDataSource checks, for a claim not yet bound, the object it is to be made from
// (spec.dataSourceRef, or spec.dataSource): a VolumeSnapshot or claim to restore or clone, or a
// populator's object. One that does not exist — or whose kind the cluster does not serve (the
// snapshot CRDs not installed) — leaves the claim Pending: the provisioner has nothing to make
// its volume from.
func (t *tools) checkDataSource(ctx context.Context, r *checkReport, c claimInfo) {
	pvc := c.pvc
	if pvc == nil || pvc.Status.Phase == corev1.ClaimBound {
		return
	}
	var kind, group, name, ns, field string
	switch {
	case pvc.Spec.DataSourceRef != nil:
		d := pvc.Spec.DataSourceRef
		kind, group, name, ns, field = d.Kind, ptrString(d.APIGroup), d.Name, ptrString(d.Namespace), "spec.dataSourceRef"
	case pvc.Spec.DataSource != nil:
		d := pvc.Spec.DataSource
		kind, group, name, field = d.Kind, ptrString(d.APIGroup), d.Name, "spec.dataSource"
	default:
		return
	}
	if ns == "" {
		ns = pvc.Namespace
	}
	what := kind + " " + name
	if group != "" {
		what = fmt.Sprintf("%s %s (%s)", kind, name, group)
	}
	r.fact("claim %s is to be made from %s (%s)", pvc.Name, what, field)
	cause := func(summary string) {
		r.cause(contract.Cause{Category: contract.ReferenceMissing, Object: objectRef("persistentvolumeclaim", pvc.Namespace, pvc.Name), Field: field,
			Summary:  summary,
			Evidence: []string{fmt.Sprintf("persistentvolumeclaim/%s/%s %s: kind %s, name %s%s; status.phase %s", pvc.Namespace, pvc.Name, field, kind, name, map[bool]string{true: ", apiGroup " + group, false: ""}[group != ""], pvc.Status.Phase)},
			Fix:      &contract.Fix{Text: fmt.Sprintf("create %s in namespace %s (or point %s of claim %s at one that exists); the claim cannot change its source once created, so recreate it if needed", what, ns, field, pvc.Name)}})
	}
	mapping, err := t.k.Mapper.RESTMapping(schema.GroupKind{Group: group, Kind: kind})
	if meta.IsNoMatchError(err) {
		cause(fmt.Sprintf("claim %s is to be made from %s, but the cluster serves no kind %s in API group %q (its CRDs are not installed), so its volume cannot be provisioned and the claim stays %s", pvc.Name, what, kind, group, pvc.Status.Phase))
		return
	} else if err != nil {
		r.fact("claim %s: the kind of its data source: %v", pvc.Name, err)
		return
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(mapping.GroupVersionKind)
	key := client.ObjectKey{Namespace: ns, Name: name}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		key.Namespace = ""
	}
	switch err := t.k.Direct.Get(ctx, key, u); {
	case apierrors.IsNotFound(err):
		cause(fmt.Sprintf("claim %s is to be made from %s, which does not exist in namespace %s, so its volume cannot be provisioned and the claim stays %s", pvc.Name, what, ns, pvc.Status.Phase))
	case err != nil:
		r.fact("claim %s: %v", pvc.Name, apiError(err, "get", objectRef(strings.ToLower(kind), key.Namespace, name)))
	default:
		if ready, ok, _ := unstructured.NestedBool(u.Object, "status", "readyToUse"); ok && !ready {
			r.fact("%s is not ready to use yet (status.readyToUse false): the claim waits for it", what)
		}
	}
}

// sameDeployment says whether a and b are the same Deployment (a nil one is none).
func sameDeployment(a, b *appsv1.Deployment) bool {
	return a != nil && b != nil && a.Namespace == b.Namespace && a.Name == b.Name
}

// checkSharedClaim looks for the other live pods that mount claim c beside pod. Each is a fact;
// with inUse (the program says its data directory is locked, or the volume is attached to
// another node), one of the same Deployment from another ReplicaSet — the update's old pod,
// still running because the strategy is RollingUpdate — makes the strategy the cause: a single
// writer's volume wants Recreate (or a StatefulSet). Another workload's pod is named as the
// holder.
func (t *tools) checkSharedClaim(ctx context.Context, r *checkReport, pod *corev1.Pod, c claimInfo, inUse bool) error {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return err
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(pod.Namespace)); err != nil {
		r.fact("the pods that share claim %s were not read: %v", c.pvc.Name, err)
		return nil
	}
	rsOf := func(p *corev1.Pod) string {
		if o := metav1.GetControllerOf(p); o != nil && o.Kind == "ReplicaSet" {
			return o.Name
		}
		return ""
	}
	deploymentOf := func(rs string) *appsv1.Deployment {
		if rs == "" {
			return nil
		}
		var set appsv1.ReplicaSet
		if reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: rs}, &set) != nil {
			return nil
		}
		o := metav1.GetControllerOf(&set)
		if o == nil || o.Kind != "Deployment" {
			return nil
		}
		var d appsv1.Deployment
		if reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: o.Name}, &d) != nil {
			return nil
		}
		return &d
	}
	mine := rsOf(pod)
	var own *appsv1.Deployment // read once, when an in-use problem asks for it
	ownRead := false
	for i := range pods.Items {
		o := &pods.Items[i]
		if o.Name == pod.Name || o.DeletionTimestamp != nil || o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			continue
		}
		if !slices.ContainsFunc(o.Spec.Volumes, func(v corev1.Volume) bool { return claimOfVolume(o, &v) == c.pvc.Name }) {
			continue
		}
		where := "not yet scheduled"
		if o.Spec.NodeName != "" {
			where = "on node " + o.Spec.NodeName
		}
		r.fact("claim %s (%s) is also mounted by pod %s (%s, %s)", c.pvc.Name, modesText(c.pvc.Spec.AccessModes), o.Name, orNone(string(o.Status.Phase)), where)
		if !inUse {
			continue
		}
		if !ownRead {
			own, ownRead = deploymentOf(mine), true
		}
		theirs := rsOf(o)
		if d := own; d != nil && theirs != "" && theirs != mine && sameDeployment(deploymentOf(theirs), d) &&
			(d.Spec.Strategy.Type == "" || d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType) {
			r.cause(contract.Cause{
				Category: contract.ApplicationConfig, Object: objectRef("deployment", d.Namespace, d.Name), Field: "spec.strategy.type",
				Summary: fmt.Sprintf("Deployment %s updates with the RollingUpdate strategy, so its new pod %s starts while the old pod %s (ReplicaSet %s, %s) still runs on claim %s (%s): two pods on one single-writer volume, and the new one cannot take it",
					d.Name, pod.Name, o.Name, theirs, orNone(string(o.Status.Phase)), c.pvc.Name, modesText(c.pvc.Spec.AccessModes)),
				Evidence: []string{
					fmt.Sprintf("deployment/%s/%s spec.strategy.type: %s", d.Namespace, d.Name, orNone(string(d.Spec.Strategy.Type))),
					fmt.Sprintf("pod %s (ReplicaSet %s) and pod %s (ReplicaSet %s) both mount claim %s", pod.Name, mine, o.Name, theirs, c.pvc.Name),
				},
				Fix: &contract.Fix{Text: fmt.Sprintf("set spec.strategy.type: Recreate on Deployment %s (the old pod stops before the new one starts), or run it as a StatefulSet", d.Name)},
			})
			return nil
		}
		if holder := metav1.GetControllerOf(o); holder != nil {
			r.fact("pod %s, of %s %s, holds claim %s: the program of pod %s finds the volume or its lock taken", o.Name, holder.Kind, holder.Name, c.pvc.Name, pod.Name)
		}
	}
	return nil
}

// checkClassExists names an unbound claim's StorageClass that does not exist as the cause: no
// provisioner is asked to create its volume, so it stays Pending (and its pods with it).
func checkClassExists(r *checkReport, c claimInfo) {
	if c.missing == "" || c.pvc.Status.Phase == corev1.ClaimBound {
		return
	}
	r.cause(missingClassCause(c.pvc, c.missing, c.classes))
}
