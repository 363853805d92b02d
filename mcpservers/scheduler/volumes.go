package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/opsmesh/opsmesh/api/contract"
)

// volumeCheck is what a pod's PersistentVolumeClaims demand of nodes: a problem that no node can
// get past (a claim missing, or one that cannot bind), or the node affinity of bound volumes.
type volumeCheck struct {
	problem *volumeProblem
	bound   []boundVolume
}

// volumeProblem is a claim that keeps the pod off every node.
type volumeProblem struct {
	short   string // for the table
	verdict string // for the verdict
	fix     string
	cause   *contract.Cause // the claim's field at fault, when one is known
}

type boundVolume struct {
	claim, pv string
	sel       *nodeaffinity.NodeSelector
	volume    *corev1.PersistentVolume
	class     string // the claim's StorageClass
}

// nodeConflict says when a bound volume may not be used on node.
func (v *volumeCheck) nodeConflict(node *corev1.Node) string {
	for _, b := range v.bound {
		if !b.sel.Match(node) {
			return fmt.Sprintf("PV %s node affinity", b.pv)
		}
	}
	return ""
}

// claimNames lists the PVCs a pod uses: its persistentVolumeClaim volumes and the claims its
// generic ephemeral volumes create (<pod>-<volume>).
func claimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil && pod.Name != "":
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// checkVolumes reads the pod's claims, their volumes and StorageClasses; nil when the pod uses
// no claims.
func (t *tools) checkVolumes(ctx context.Context, pod *corev1.Pod) (*volumeCheck, error) {
	claims := claimNames(pod)
	if len(claims) == 0 {
		return nil, nil
	}
	vc := &volumeCheck{}
	var classes []storagev1.StorageClass
	classesRead := false
	readClasses := func() ([]storagev1.StorageClass, error) {
		if !classesRead {
			var err error
			if classes, err = t.k.storageClasses(ctx); err != nil {
				return nil, err
			}
			classesRead = true
		}
		return classes, nil
	}
	for _, name := range claims {
		ref := "PersistentVolumeClaim " + pod.Namespace + "/" + name
		pvc, err := t.k.pvc(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		if pvc == nil {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + " missing",
				verdict: fmt.Sprintf("it mounts %s, which does not exist", ref),
				fix:     fmt.Sprintf("create %s (or correct the claimName in the pod's volumes)", ref),
			}
			return vc, nil
		}
		if pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "" {
			pv, err := t.k.pv(ctx, pvc.Spec.VolumeName)
			if err != nil {
				return nil, err
			}
			if pv != nil && pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
				if err == nil {
					class := ""
					if pvc.Spec.StorageClassName != nil {
						class = *pvc.Spec.StorageClassName
					}
					vc.bound = append(vc.bound, boundVolume{claim: name, pv: pv.Name, sel: sel, volume: pv, class: class})
				}
			}
			continue
		}
		if pvc.Status.Phase == corev1.ClaimLost {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + " lost",
				verdict: fmt.Sprintf("%s has lost its PersistentVolume %s", ref, pvc.Spec.VolumeName),
				fix:     fmt.Sprintf("recreate %s: its volume %s is gone", ref, pvc.Spec.VolumeName),
			}
			return vc, nil
		}
		// Unbound: whether it can bind depends on its StorageClass.
		scs, err := readClasses()
		if err != nil {
			return nil, err
		}
		var names []string
		var def *storagev1.StorageClass
		for i := range scs {
			names = append(names, scs[i].Name)
			if scs[i].Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
				def = &scs[i]
			}
		}
		known := "there are no StorageClasses"
		if len(names) > 0 {
			known = "StorageClasses: " + strings.Join(names, ", ")
		}
		className := ""
		if pvc.Spec.StorageClassName != nil {
			className = *pvc.Spec.StorageClassName
		}
		if pvc.Spec.StorageClassName == nil && def != nil {
			className = def.Name
		}
		// A claim of no StorageClass, or one with a selector (which no provisioner serves), binds
		// only to an existing PersistentVolume: whether one would, and what keeps those near it off.
		if className == "" || pvc.Spec.Selector != nil && pvc.Spec.VolumeName == "" {
			p, err := t.staticProblem(ctx, pvc, className, known)
			if err != nil {
				return nil, err
			}
			if p != nil {
				vc.problem = p
				return vc, nil
			}
			continue // a volume fits: the PV controller binds it
		}
		var sc *storagev1.StorageClass
		for i := range scs {
			if scs[i].Name == className {
				sc = &scs[i]
			}
		}
		if sc == nil {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + ": no StorageClass " + className,
				verdict: fmt.Sprintf("%s is unbound: its StorageClass %q does not exist", ref, className),
				fix:     fmt.Sprintf("create StorageClass %s, or recreate %s with an existing one (%s)", className, ref, known),
			}
			return vc, nil
		}
		// A mode its provisioner cannot give: the claim never binds, whatever its binding mode.
		p, err := t.accessModeProblem(ctx, pvc, sc, scs)
		if err != nil {
			return nil, err
		}
		if p != nil {
			vc.problem = p
			return vc, nil
		}
		if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
			continue // binds once the pod is placed
		}
		vc.problem = &volumeProblem{
			short:   "PVC " + name + " unbound",
			verdict: fmt.Sprintf("%s is unbound and its StorageClass %s binds immediately, so the pod waits for a volume that its provisioner %s has not made", ref, sc.Name, sc.Provisioner),
			fix:     fmt.Sprintf("check provisioner %s of StorageClass %s (its events on %s), or use a StorageClass with volumeBindingMode WaitForFirstConsumer", sc.Provisioner, sc.Name, ref),
		}
		return vc, nil
	}
	return vc, nil
}

// A claim binds to an existing PersistentVolume when the volume is free (unclaimed, or claimed
// by this very claim), matches its selector, has its StorageClass name, holds at least its
// request, and gives every access mode and the volume mode it asks for: the PV controller's
// test, restated so that each volume near the claim can say what keeps it from binding.

// pvMiss is one thing that keeps a volume from binding a claim, and the claim's field that asks
// for it.
type pvMiss struct {
	words string // "5Gi, less than the 10Gi requested"
	field string // "spec.resources.requests[storage]"
}

// pvNear is a volume measured against a claim.
type pvNear struct {
	pv       *corev1.PersistentVolume
	labelled bool   // matches the claim's selector (true without one)
	matched  int    // of the selector's requirements, how many it meets
	keyed    bool   // has a label of a key the selector names
	labels   string // its values of the selector's keys: "crawl=CC-MAIN-2025-21, no label dataset"
	misses   []pvMiss
}

// words: "pv-a (crawl=CC-MAIN-2025-21; 5Gi, less than the 10Gi requested)".
func (n pvNear) words() string {
	var parts []string
	if n.labels != "" {
		parts = append(parts, n.labels)
	}
	for _, m := range n.misses {
		parts = append(parts, m.words)
	}
	if len(parts) == 0 {
		return n.pv.Name
	}
	return n.pv.Name + " (" + strings.Join(parts, "; ") + ")"
}

// evidence quotes the fields of the volume that decide whether it binds.
func (n pvNear) evidence() string {
	pv := n.pv
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	claimed := "unclaimed"
	if r := pv.Spec.ClaimRef; r != nil {
		claimed = "claimRef " + r.Namespace + "/" + r.Name
	}
	phase := string(pv.Status.Phase)
	if phase == "" {
		phase = "unset"
	}
	return fmt.Sprintf("PersistentVolume %s labels: %s; capacity %s; accessModes [%s]; storageClassName %q; phase %s; %s",
		pv.Name, labelWords(pv.Labels), size.String(), modeList(pv.Spec.AccessModes), pv.Spec.StorageClassName, phase, claimed)
}

func labelWords(l map[string]string) string {
	if len(l) == 0 {
		return "none"
	}
	var out []string
	for k, v := range l {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// measurePV says how far pv is from binding pvc, whose StorageClass name is className.
func measurePV(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim, sel labels.Selector, className string) pvNear {
	n := pvNear{pv: pv, labelled: true}
	if sel != nil {
		set := labels.Set(pv.Labels)
		n.labelled = sel.Matches(set)
		reqs, _ := sel.Requirements()
		var ls []string
		for _, r := range reqs {
			if r.Matches(set) {
				n.matched++
			}
			if v, ok := pv.Labels[r.Key()]; ok {
				n.keyed = true
				ls = append(ls, r.Key()+"="+v)
			} else {
				ls = append(ls, "no label "+r.Key())
			}
		}
		n.labels = strings.Join(slices.Compact(ls), ", ")
	}
	if r := pv.Spec.ClaimRef; r != nil && (r.Namespace != pvc.Namespace || r.Name != pvc.Name || r.UID != "" && r.UID != pvc.UID) {
		n.misses = append(n.misses, pvMiss{words: fmt.Sprintf("claimed by %s/%s, phase %s", r.Namespace, r.Name, pv.Status.Phase), field: "spec.selector"})
	} else if pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
		n.misses = append(n.misses, pvMiss{words: "phase " + string(pv.Status.Phase), field: "spec.selector"})
	}
	if pv.Spec.StorageClassName != className {
		n.misses = append(n.misses, pvMiss{words: fmt.Sprintf("StorageClass %q, not %q", pv.Spec.StorageClassName, className), field: "spec.storageClassName"})
	}
	want, have := pvc.Spec.Resources.Requests[corev1.ResourceStorage], pv.Spec.Capacity[corev1.ResourceStorage]
	if have.Cmp(want) < 0 {
		n.misses = append(n.misses, pvMiss{words: fmt.Sprintf("%s, less than the %s requested", have.String(), want.String()), field: "spec.resources.requests[storage]"})
	}
	var lacking []string
	for _, m := range pvc.Spec.AccessModes {
		if !slices.Contains(pv.Spec.AccessModes, m) {
			lacking = append(lacking, string(m))
		}
	}
	if len(lacking) > 0 {
		n.misses = append(n.misses, pvMiss{words: fmt.Sprintf("gives %s, not %s", modeList(pv.Spec.AccessModes), strings.Join(lacking, ", ")), field: "spec.accessModes"})
	}
	mode := func(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
		if m == nil {
			return corev1.PersistentVolumeFilesystem
		}
		return *m
	}
	if mode(pv.Spec.VolumeMode) != mode(pvc.Spec.VolumeMode) {
		n.misses = append(n.misses, pvMiss{words: fmt.Sprintf("volumeMode %s, not %s", mode(pv.Spec.VolumeMode), mode(pvc.Spec.VolumeMode)), field: "spec.volumeMode"})
	}
	return n
}

// staticVolumes measures every PersistentVolume against a claim that binds only to an existing
// one, nearest first: those its selector matches, then those that meet more of its
// requirements, then those with fewer misses. ok is true when one would bind it now.
func (t *tools) staticVolumes(ctx context.Context, pvc *corev1.PersistentVolumeClaim, className string) (near []pvNear, ok bool, err error) {
	var sel labels.Selector
	if pvc.Spec.Selector != nil && pvc.Spec.VolumeName == "" { // a claim that names its volume is not matched by labels
		if sel, err = metav1.LabelSelectorAsSelector(pvc.Spec.Selector); err != nil {
			return nil, false, fmt.Errorf("PersistentVolumeClaim %s/%s: spec.selector: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	pvs, err := t.k.pvs(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, pv := range pvs {
		if pvc.Spec.VolumeName != "" && pv.Name != pvc.Spec.VolumeName {
			continue // a claim that names its volume binds to that one only
		}
		n := measurePV(pv, pvc, sel, className)
		if n.labelled && len(n.misses) == 0 {
			return nil, true, nil
		}
		near = append(near, n)
	}
	slices.SortStableFunc(near, func(a, b pvNear) int {
		if a.labelled != b.labelled {
			return boolInt(b.labelled) - boolInt(a.labelled)
		}
		if a.matched != b.matched {
			return b.matched - a.matched
		}
		return len(a.misses) - len(b.misses)
	})
	return near, false, nil
}

// staticProblem explains an unbound claim that only an existing PersistentVolume can bind (one
// that names no StorageClass, or one with a selector, which no provisioner serves) when no volume
// would bind it: the volumes near it and what keeps each off. With a selector, that is the cause
// (ReferenceMissing: the claim selects a volume that does not exist). Nil when a volume would
// bind it (the PV controller binds it shortly).
func (t *tools) staticProblem(ctx context.Context, pvc *corev1.PersistentVolumeClaim, className, known string) (*volumeProblem, error) {
	near, ok, err := t.staticVolumes(ctx, pvc, className)
	if err != nil || ok {
		return nil, err
	}
	ref := "PersistentVolumeClaim " + pvc.Namespace + "/" + pvc.Name
	nearWords := func(ns []pvNear) string {
		var ws []string
		for _, n := range ns[:min(len(ns), 3)] {
			ws = append(ws, n.words())
		}
		s := strings.Join(ws, ", ")
		if len(ns) > 3 {
			s += fmt.Sprintf(" and %d more", len(ns)-3)
		}
		return s
	}
	if pvc.Spec.Selector == nil || pvc.Spec.VolumeName != "" {
		fits := "there are no PersistentVolumes"
		if pvc.Spec.VolumeName != "" {
			fits = fmt.Sprintf("its volumeName %s names no PersistentVolume", pvc.Spec.VolumeName)
		}
		if len(near) > 0 {
			fits = "no PersistentVolume fits it: " + nearWords(near)
		}
		return &volumeProblem{
			short:   "PVC " + pvc.Name + " unbound",
			verdict: fmt.Sprintf("%s is unbound, names no StorageClass, and no PersistentVolume is bound to it; %s", ref, fits),
			fix:     fmt.Sprintf("set storageClassName on %s to a provisioning class (%s), or create a PersistentVolume for it", ref, known),
		}, nil
	}
	selector := metav1.FormatLabelSelector(pvc.Spec.Selector)
	var labelled []pvNear
	for _, n := range near {
		if n.labelled {
			labelled = append(labelled, n)
		}
	}
	c := &contract.Cause{
		Category: contract.ReferenceMissing,
		Object:   "persistentvolumeclaim/" + pvc.Namespace + "/" + pvc.Name,
		Field:    "spec.selector",
		Evidence: []string{fmt.Sprintf("%s spec.selector: %s; storageClassName %q; requests %s; accessModes [%s]", ref, selector, className,
			quantityOf(pvc.Spec.Resources.Requests, corev1.ResourceStorage), modeList(pvc.Spec.AccessModes))},
	}
	for _, n := range near[:min(len(near), 3)] {
		c.Evidence = append(c.Evidence, n.evidence())
	}
	var found, fix string
	switch {
	case len(labelled) == 0:
		// The volumes with a label of a key it selects on are the ones it may have meant.
		var keyed []pvNear
		for _, n := range near {
			if n.keyed {
				keyed = append(keyed, n)
			}
		}
		others := fmt.Sprintf("none of the %d PersistentVolumes has a label %s", len(near), selectorKeys(pvc.Spec.Selector))
		switch {
		case len(near) == 0:
			others = "there are no PersistentVolumes"
		case len(keyed) > 0:
			others = "volumes near it: " + nearWords(keyed)
		}
		found = fmt.Sprintf("no PersistentVolume has those labels (%s)", others)
		fix = fmt.Sprintf("create a PersistentVolume labelled %s (or label the volume that holds the data the claim means), or recreate %s (its selector cannot be changed) with a selector that an existing volume matches", selector, ref)
		if len(keyed) > 0 {
			fix += fmt.Sprintf(" (%s has %s)", keyed[0].pv.Name, keyed[0].labels)
		}
	default:
		best := labelled[0]
		c.Field = best.misses[0].field
		found = "the volumes with those labels cannot bind it: " + nearWords(labelled)
		switch c.Field {
		case "spec.selector":
			fix = fmt.Sprintf("volume %s, which %s selects, is %s: free it (a Released volume binds again once its spec.claimRef is removed), or create another PersistentVolume labelled %s",
				best.pv.Name, ref, best.misses[0].words, selector)
		default:
			fix = fmt.Sprintf("recreate %s so that %s matches volume %s (%s), or create a PersistentVolume labelled %s that fits it", ref, c.Field, best.pv.Name, best.misses[0].words, selector)
		}
	}
	c.Summary = fmt.Sprintf("claim %s selects volumes labelled %s; %s", pvc.Name, selector, found)
	events, err := t.k.events(ctx, pvc.Namespace, "PersistentVolumeClaim", pvc.Name)
	if err != nil {
		return nil, err
	}
	var last *corev1.Event
	for _, e := range events {
		if last == nil || e.LastTimestamp.After(last.LastTimestamp.Time) {
			last = e
		}
	}
	if last != nil {
		c.Evidence = append(c.Evidence, fmt.Sprintf("event %s: %s", last.Reason, last.Message))
	}
	c.Fix = &contract.Fix{Text: fix}
	return &volumeProblem{
		short: "PVC " + pvc.Name + ": selector matches no free PV",
		verdict: fmt.Sprintf("%s is unbound: it selects volumes labelled %s, and %s; a claim with a selector binds only to an existing PersistentVolume (no provisioner makes one for it)",
			ref, selector, found),
		fix:   fix,
		cause: c,
	}, nil
}

// selectorKeys names the keys a selector tests: "tiles or region".
func selectorKeys(sel *metav1.LabelSelector) string {
	var keys []string
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, x := range sel.MatchExpressions {
		keys = append(keys, x.Key)
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), " or ")
}

// quantityOf renders l's quantity of r, or "nothing" when l has none.
func quantityOf(l corev1.ResourceList, r corev1.ResourceName) string {
	q, ok := l[r]
	if !ok {
		return "nothing"
	}
	return q.String()
}
