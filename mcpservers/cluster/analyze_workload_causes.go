package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/opsmesh/opsmesh/api/contract"
)

// The causes behind a Deployment whose replicas do not come up, read from what its controllers
// and its newest pods met: a ResourceQuota that refuses its pods, a ReadWriteOnce claim that
// another node holds.

// deploymentCause is the cause that keeps d's replicas from coming up, when its ReplicaSets'
// FailedCreate events or its pods' attach events name one; nil otherwise. It may set f's fix.
func (s *snapshot) deploymentCause(d *appsv1.Deployment, f *finding) *contract.Cause {
	var pods []*corev1.Pod
	var refused *corev1.Event
	var failed []*corev1.Event // FailedCreate events of its ReplicaSets
	for i := range s.replicaSets {
		rs := &s.replicaSets[i]
		if c := metav1.GetControllerOfNoCopy(rs); c == nil || c.UID != d.UID {
			continue
		}
		for _, e := range s.eventsFor("ReplicaSet", rs, "FailedCreate") {
			failed = append(failed, e)
			if e.Type == corev1.EventTypeWarning && isQuotaRefusal(e.Message) && (refused == nil || refused.LastTimestamp.Before(&e.LastTimestamp)) {
				refused = e
			}
		}
		pods = append(pods, s.podsOf(rs.UID)...)
	}
	if refused != nil {
		if r, ok := parseQuotaRefusal(refused.Message); ok {
			q := s.quotaByName[types.NamespacedName{Namespace: d.Namespace, Name: r.quota}]
			c := quotaCause(r, d.Namespace, deploymentWorkload(d).String(), q, &d.Spec.Template.Spec, "event FailedCreate on replicaset "+refused.InvolvedObject.Name+": "+quoteMessage(refused.Message))
			if len(r.missing) == 0 {
				s.surgeNote(c, d.Namespace, d.Name)
			}
			if f.fix.tool == "" {
				f.fix = noFix("%s", c.Fix.Text)
			}
			return c
		}
	}
	// A webhook that fails, a reference that does not exist, a LimitRange's bound.
	if c := s.refusalCause(failed, refusedWorkload{ref: deploymentWorkload(d).ref, spec: &d.Spec.Template.Spec}, f); c != nil {
		return c
	}
	var newest *corev1.Pod
	var attach *corev1.Event
	for _, p := range pods {
		if p.DeletionTimestamp != nil || podIsReady(p) || p.Status.Phase != corev1.PodPending {
			continue
		}
		if e := multiAttachEvent(s, p); e != nil && (newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp)) {
			newest, attach = p, e
		}
	}
	if newest == nil {
		return nil
	}
	c := s.multiAttachCause(newest, deploymentWorkload(d), attach)
	if c != nil && (d.Spec.Strategy.Type == "" || d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType) {
		c.Summary += fmt.Sprintf("; Deployment %s (strategy RollingUpdate) starts a new pod before the old one stops, which a ReadWriteOnce claim does not allow (strategy Recreate does)", d.Name)
		f.fix = fix{tool: "resource_patch", args: []arg{{"kind", "deployment"}, {"namespace", d.Namespace}, {"name", d.Name}, {"patchType", "merge"},
			{"patch", `{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}`}},
			note: "strategy Recreate stops the old pod before the new one starts, so the ReadWriteOnce volume detaches first; the new pod then mounts it"}
	}
	return c
}

// multiAttach reads the attach/detach controller's refusal: `Multi-Attach error for volume
// "pv-1" Volume is already exclusively attached to one node and can't be attached to another`.
var multiAttach = regexp.MustCompile(`Multi-Attach error for volume "([^"]+)"`)

// multiAttachEvent is the latest FailedAttachVolume event of p that is a Multi-Attach error.
func multiAttachEvent(s *snapshot, p *corev1.Pod) *corev1.Event {
	var out []*corev1.Event
	for _, e := range s.eventsFor("Pod", p, "FailedAttachVolume") {
		if multiAttach.MatchString(e.Message) {
			out = append(out, e)
		}
	}
	last, _ := latest(out)
	return last
}

// multiAttachCause: pod p cannot attach a volume that is attached to another node already, as
// a ReadWriteOnce volume can be to one node only. The claim of p that the volume is bound to is
// the object (it is what the workload names and a person changes), the PersistentVolume and the
// pods on the other node in its summary and evidence; nil when p mounts no claim of that volume.
func (s *snapshot) multiAttachCause(p *corev1.Pod, w *ownerWorkload, e *corev1.Event) *contract.Cause {
	m := multiAttach.FindStringSubmatch(e.Message)
	if m == nil {
		return nil
	}
	pv := m[1]
	var claimNames []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claimNames = append(claimNames, v.PersistentVolumeClaim.ClaimName)
		}
	}
	var claim *corev1.PersistentVolumeClaim
	for i := range s.claims {
		c := &s.claims[i]
		if c.Namespace == p.Namespace && slices.Contains(claimNames, c.Name) && (c.Spec.VolumeName == pv || c.Name == pv) {
			claim = c
		}
	}
	name := ""
	switch {
	case claim != nil:
		name = claim.Name
	case len(claimNames) == 1:
		name = claimNames[0] // the claim is not in the snapshot: the pod's only one
	default:
		return nil
	}
	modes := "ReadWriteOnce"
	if claim != nil && len(claim.Spec.AccessModes) > 0 {
		var ms []string
		for _, am := range claim.Spec.AccessModes {
			ms = append(ms, string(am))
		}
		modes = strings.Join(ms, ", ")
	}
	// The pods that hold it: the others that mount the claim and run on a node.
	var holders []string
	for i := range s.pods {
		o := &s.pods[i]
		if o.UID == p.UID || o.Namespace != p.Namespace || o.Spec.NodeName == "" || o.Spec.NodeName == p.Spec.NodeName || podTerminated(o) {
			continue
		}
		for _, v := range o.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
				holders = append(holders, fmt.Sprintf("pod %s on node %s", o.Name, o.Spec.NodeName))
			}
		}
	}
	held := "another node"
	if len(holders) > 0 {
		held = strings.Join(holders, ", ")
	}
	on := ""
	if p.Spec.NodeName != "" {
		on = " on node " + p.Spec.NodeName
	}
	summary := fmt.Sprintf("claim %s (volume %s, access modes %s) is attached to one node at a time and is held by %s, so pod %s%s cannot attach it and waits in ContainerCreating",
		name, pv, modes, held, p.Name, on)
	c := &contract.Cause{Category: contract.AccessModeUnsupported, Object: objectRef("persistentvolumeclaim", p.Namespace, name), Field: "spec.accessModes",
		Summary: summary,
		Evidence: []string{
			fmt.Sprintf("pod %s event FailedAttachVolume: %s", p.Name, quoteMessage(e.Message)),
			fmt.Sprintf("persistentvolumeclaim/%s/%s spec.accessModes: [%s]; bound to persistentvolume/%s", p.Namespace, name, modes, pv),
		},
		Fix: &contract.Fix{Text: fmt.Sprintf("let one pod at a time mount claim %s: strategy Recreate on %s (resource_patch), or run its pods on the node that holds the volume; "+
			"or move the data to a ReadWriteMany claim", name, whose(p, w))}}
	if len(holders) > 0 {
		c.Evidence = append(c.Evidence, "mounted by "+strings.Join(holders, ", "))
	}
	return c
}
