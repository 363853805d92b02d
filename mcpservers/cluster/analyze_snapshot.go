package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// snapshot is what the analyzers read: every object of the kinds they need in the namespaces
// analyzed, listed once from the informer cache without deep copies (so nothing here may be
// modified), with the indexes that keep each analyzer linear in the number of objects.
type snapshot struct {
	ctx    context.Context
	cached client.Reader
	direct client.Reader
	scope  []string // namespaces listed; nil means every namespace
	// cluster is true when the whole cluster is analyzed (nodes included).
	cluster bool

	pods         []corev1.Pod
	events       []corev1.Event
	replicaSets  []appsv1.ReplicaSet
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	daemonSets   []appsv1.DaemonSet
	jobs         []batchv1.Job
	services     []corev1.Service
	slices       []discoveryv1.EndpointSlice
	claims       []corev1.PersistentVolumeClaim
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	quotas       []corev1.ResourceQuota
	nodes        []corev1.Node
	ingresses    []networkingv1.Ingress
	cronJobs     []batchv1.CronJob
	budgets      []policyv1.PodDisruptionBudget

	// nodesAllowed says whether the server may read nodes outside a cluster-wide analysis (it
	// is not confined to namespaces): DaemonSet placement reads them then (allNodes).
	nodesAllowed bool
	nodesRead    bool

	eventsByObject map[string][]*corev1.Event // involvedObject Kind/namespace/name
	rsByName       map[types.NamespacedName]*appsv1.ReplicaSet
	rsPerOwner     map[types.UID]int // ReplicaSets (revisions) of each Deployment
	quotaByName    map[types.NamespacedName]*corev1.ResourceQuota

	// Built on first use.
	revisions   map[types.UID]int         // ControllerRevisions of each StatefulSet and DaemonSet
	podsByLabel map[string][]int          // namespace\x00key\x00value -> indexes into pods
	podsByOwner map[types.UID][]int       // controller UID -> indexes into pods
	lookups     map[string]lookup         // direct reads of referenced objects
	slicesBySvc map[string][]int          // namespace/service -> indexes into slices
	limitRanges map[string]limitRangeList // namespace -> its LimitRanges, read directly
	webhooks    *webhookList              // admission webhooks, read directly on first use
	accounts    map[string]accountLookup  // namespace/name -> a ServiceAccount, read directly
	skipped     []string                  // kinds that could not be read, with why
}

// lookup is the result of reading one referenced object directly: whether it exists and its key
// names (never values).
type lookup struct {
	found bool
	keys  map[string]bool
	err   error
}

// maxLookups bounds the direct reads one analyze call makes.
const maxLookups = 50

func loadSnapshot(ctx context.Context, r, direct client.Reader, scope []string, cluster bool) (*snapshot, error) {
	s := &snapshot{ctx: ctx, cached: r, direct: direct, scope: scope, cluster: cluster}
	var err error
	// Pods are what most analyzers read: failing to read them fails the call.
	if s.pods, err = listIn(s, "pods", &corev1.PodList{}, func(l *corev1.PodList) []corev1.Pod { return l.Items }); err != nil {
		return nil, err
	}
	// The rest degrade to a note saying what was not analyzed; without events, findings rest on
	// status fields alone.
	optional := func(err error) {
		if err != nil {
			s.skipped = append(s.skipped, err.Error())
		}
	}
	s.events, err = listIn(s, "events", &corev1.EventList{}, func(l *corev1.EventList) []corev1.Event { return l.Items })
	optional(err)
	s.replicaSets, err = listIn(s, "replicasets", &appsv1.ReplicaSetList{}, func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items })
	optional(err)
	s.deployments, err = listIn(s, "deployments", &appsv1.DeploymentList{}, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items })
	optional(err)
	s.statefulSets, err = listIn(s, "statefulsets", &appsv1.StatefulSetList{}, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items })
	optional(err)
	s.daemonSets, err = listIn(s, "daemonsets", &appsv1.DaemonSetList{}, func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items })
	optional(err)
	s.jobs, err = listIn(s, "jobs", &batchv1.JobList{}, func(l *batchv1.JobList) []batchv1.Job { return l.Items })
	optional(err)
	s.services, err = listIn(s, "services", &corev1.ServiceList{}, func(l *corev1.ServiceList) []corev1.Service { return l.Items })
	optional(err)
	s.slices, err = listIn(s, "endpointslices", &discoveryv1.EndpointSliceList{}, func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items })
	optional(err)
	s.claims, err = listIn(s, "persistentvolumeclaims", &corev1.PersistentVolumeClaimList{}, func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items })
	optional(err)
	s.hpas, err = listIn(s, "horizontalpodautoscalers", &autoscalingv2.HorizontalPodAutoscalerList{}, func(l *autoscalingv2.HorizontalPodAutoscalerList) []autoscalingv2.HorizontalPodAutoscaler {
		return l.Items
	})
	optional(err)
	s.quotas, err = listIn(s, "resourcequotas", &corev1.ResourceQuotaList{}, func(l *corev1.ResourceQuotaList) []corev1.ResourceQuota { return l.Items })
	optional(err)
	s.ingresses, err = listIn(s, "ingresses", &networkingv1.IngressList{}, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items })
	optional(err)
	s.cronJobs, err = listIn(s, "cronjobs", &batchv1.CronJobList{}, func(l *batchv1.CronJobList) []batchv1.CronJob { return l.Items })
	optional(err)
	s.budgets, err = listIn(s, "poddisruptionbudgets", &policyv1.PodDisruptionBudgetList{}, func(l *policyv1.PodDisruptionBudgetList) []policyv1.PodDisruptionBudget {
		return l.Items
	})
	optional(err)
	if cluster {
		var nodes corev1.NodeList
		if err := r.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
			optional(apiError(err, "list", "nodes"))
		}
		s.nodes = nodes.Items
	}

	s.eventsByObject = make(map[string][]*corev1.Event, len(s.events)/2+1)
	for i := range s.events {
		e := &s.events[i]
		k := eventKey(e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name)
		s.eventsByObject[k] = append(s.eventsByObject[k], e)
	}
	s.rsByName = make(map[types.NamespacedName]*appsv1.ReplicaSet, len(s.replicaSets))
	s.rsPerOwner = map[types.UID]int{}
	for i := range s.replicaSets {
		rs := &s.replicaSets[i]
		s.rsByName[types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}] = rs
		if c := metav1.GetControllerOfNoCopy(rs); c != nil && c.Kind == "Deployment" {
			s.rsPerOwner[c.UID]++
		}
	}
	s.quotaByName = make(map[types.NamespacedName]*corev1.ResourceQuota, len(s.quotas))
	for i := range s.quotas {
		q := &s.quotas[i]
		s.quotaByName[types.NamespacedName{Namespace: q.Namespace, Name: q.Name}] = q
	}
	return s, nil
}

// listIn lists one kind from the cache in every namespace of the snapshot's scope.
func listIn[L any, PL interface {
	*L
	client.ObjectList
}, T any](s *snapshot, what string, list PL, items func(PL) []T) ([]T, error) {
	if len(s.scope) == 0 {
		if err := s.cached.List(s.ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, apiError(err, "list", what)
		}
		return items(list), nil
	}
	if len(s.scope) == 1 {
		if err := s.cached.List(s.ctx, list, client.InNamespace(s.scope[0]), client.UnsafeDisableDeepCopy); err != nil {
			return nil, apiError(err, "list", what+" in namespace "+s.scope[0])
		}
		return items(list), nil
	}
	var out []T
	for _, ns := range s.scope {
		l := PL(new(L))
		if err := s.cached.List(s.ctx, l, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return nil, apiError(err, "list", what+" in namespace "+ns)
		}
		out = append(out, items(l)...)
	}
	return out, nil
}

// checked says how much was looked at, for the summary line.
func (s *snapshot) checked() string {
	parts := []string{
		fmt.Sprintf("%d pods", len(s.pods)),
		fmt.Sprintf("%d deployments", len(s.deployments)),
		fmt.Sprintf("%d statefulsets", len(s.statefulSets)),
		fmt.Sprintf("%d daemonsets", len(s.daemonSets)),
		fmt.Sprintf("%d jobs", len(s.jobs)),
		fmt.Sprintf("%d services", len(s.services)),
		fmt.Sprintf("%d pvcs", len(s.claims)),
		fmt.Sprintf("%d hpas", len(s.hpas)),
		fmt.Sprintf("%d quotas", len(s.quotas)),
		fmt.Sprintf("%d events", len(s.events)),
	}
	// Kinds added later are counted when there are some, so that earlier summaries read as before.
	for _, more := range []struct {
		n    int
		noun string
	}{{len(s.ingresses), "ingresses"}, {len(s.cronJobs), "cronjobs"}, {len(s.budgets), "pdbs"}} {
		if more.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", more.n, more.noun))
		}
	}
	if s.cluster {
		parts = append(parts, fmt.Sprintf("%d nodes", len(s.nodes)))
	}
	return strings.Join(parts, ", ")
}

// allNodes returns every node: those of a cluster-wide analysis, or, on a server that may read
// them, the nodes read from the cache on first use. It returns nil, with a note, on a server
// confined to namespaces (nodes are cluster-scoped) or when they cannot be read.
func (s *snapshot) allNodes(why string) []corev1.Node {
	if s.cluster || s.nodesRead {
		return s.nodes
	}
	s.nodesRead = true
	if !s.nodesAllowed {
		s.skipped = append(s.skipped, why+": nodes are cluster-scoped, and this server is confined to namespaces")
		return nil
	}
	var nodes corev1.NodeList
	if err := s.cached.List(s.ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		s.skipped = append(s.skipped, why+": "+apiError(err, "list", "nodes").Error())
		return nil
	}
	s.nodes = nodes.Items
	return s.nodes
}

// service returns the Service ns/name of the snapshot, or nil.
func (s *snapshot) service(ns, name string) *corev1.Service {
	for i := range s.services {
		if svc := &s.services[i]; svc.Namespace == ns && svc.Name == name {
			return svc
		}
	}
	return nil
}

// serviceNames lists the Services of namespace ns, sorted.
func (s *snapshot) serviceNames(ns string) []string {
	var out []string
	for i := range s.services {
		if s.services[i].Namespace == ns {
			out = append(out, s.services[i].Name)
		}
	}
	sort.Strings(out)
	return out
}

func eventKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// eventsFor returns the events about an object (Kind as the API spells it), with reason when
// reason is not empty, skipping events about an earlier object of the same name.
func (s *snapshot) eventsFor(kind string, obj metav1.Object, reason string) []*corev1.Event {
	var out []*corev1.Event
	for _, e := range s.eventsByObject[eventKey(kind, obj.GetNamespace(), obj.GetName())] {
		if e.InvolvedObject.UID != "" && obj.GetUID() != "" && e.InvolvedObject.UID != obj.GetUID() {
			continue
		}
		if reason == "" || e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// latest returns the most recent of events, and how many times they happened in all.
func latest(events []*corev1.Event) (*corev1.Event, int32) {
	var last *corev1.Event
	var count int32
	for _, e := range events {
		n := e.Count
		if e.Series != nil && e.Series.Count > n {
			n = e.Series.Count
		}
		count += max(n, 1)
		if last == nil || eventLastSeen(e).After(eventLastSeen(last)) {
			last = e
		}
	}
	return last, count
}

// eventEvidence describes the latest of events: "event Reason (xN): message".
func eventEvidence(events []*corev1.Event) string {
	e, n := latest(events)
	if e == nil {
		return ""
	}
	return fmt.Sprintf("event %s (x%d, last %s ago): %s", e.Reason, n, age(metav1.NewTime(eventLastSeen(e))), clip(e.Message))
}

// ownerWorkload is the controller at the top of a pod's owner chain.
type ownerWorkload struct {
	ref
	uid types.UID
	// via are the owners between the pod and the workload (a ReplicaSet).
	via []ref
}

// owner resolves the workload that controls a pod: Pod → ReplicaSet → Deployment, or a
// StatefulSet, DaemonSet or Job; nil for a pod without a controller.
func (s *snapshot) owner(p *corev1.Pod) *ownerWorkload {
	c := metav1.GetControllerOfNoCopy(p)
	if c == nil {
		return nil
	}
	w := &ownerWorkload{ref: ref{Kind: strings.ToLower(c.Kind), Namespace: p.Namespace, Name: c.Name}, uid: c.UID}
	if c.Kind == "ReplicaSet" {
		if rs, ok := s.rsByName[types.NamespacedName{Namespace: p.Namespace, Name: c.Name}]; ok {
			if d := metav1.GetControllerOfNoCopy(rs); d != nil && d.Kind == "Deployment" {
				w.via = []ref{w.ref}
				w.ref = ref{Kind: "deployment", Namespace: p.Namespace, Name: d.Name}
				w.uid = d.UID
			}
		}
	}
	return w
}

// restartable reports whether workload_restart and workload_rollback take this kind.
func (w *ownerWorkload) restartable() bool {
	return w != nil && (w.Kind == "deployment" || w.Kind == "statefulset" || w.Kind == "daemonset")
}

// hasPreviousRevision reports whether workload_rollback has a revision to go back to.
func (s *snapshot) hasPreviousRevision(w *ownerWorkload) bool {
	switch {
	case w == nil:
		return false
	case w.Kind == "deployment":
		return s.rsPerOwner[w.uid] > 1
	case w.Kind == "statefulset" || w.Kind == "daemonset":
		if s.revisions == nil {
			s.revisions = map[types.UID]int{}
			revs, err := listIn(s, "controllerrevisions", &appsv1.ControllerRevisionList{}, func(l *appsv1.ControllerRevisionList) []appsv1.ControllerRevision { return l.Items })
			if err != nil {
				s.skipped = append(s.skipped, err.Error())
			}
			for i := range revs {
				if c := metav1.GetControllerOfNoCopy(&revs[i]); c != nil {
					s.revisions[c.UID]++
				}
			}
		}
		return s.revisions[w.uid] > 1
	}
	return false
}

// podsOf returns the pods a controller (by UID) owns directly.
func (s *snapshot) podsOf(uid types.UID) []*corev1.Pod {
	if s.podsByOwner == nil {
		s.podsByOwner = map[types.UID][]int{}
		for i := range s.pods {
			if c := metav1.GetControllerOfNoCopy(&s.pods[i]); c != nil {
				s.podsByOwner[c.UID] = append(s.podsByOwner[c.UID], i)
			}
		}
	}
	idx := s.podsByOwner[uid]
	out := make([]*corev1.Pod, len(idx))
	for i, n := range idx {
		out[i] = &s.pods[n]
	}
	return out
}

// podsMatching returns the live pods of a namespace whose labels carry every pair of selector.
// It indexes pods by label pair once, then starts from the rarest pair.
func (s *snapshot) podsMatching(ns string, selector map[string]string) []*corev1.Pod {
	if s.podsByLabel == nil {
		s.podsByLabel = map[string][]int{}
		for i := range s.pods {
			p := &s.pods[i]
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			for k, v := range p.Labels {
				key := p.Namespace + "\x00" + k + "\x00" + v
				s.podsByLabel[key] = append(s.podsByLabel[key], i)
			}
		}
	}
	var rarest []int
	first := true
	for k, v := range selector {
		c := s.podsByLabel[ns+"\x00"+k+"\x00"+v]
		if first || len(c) < len(rarest) {
			rarest, first = c, false
		}
	}
	var out []*corev1.Pod
	for _, i := range rarest {
		p := &s.pods[i]
		ok := true
		for k, v := range selector {
			if got, has := p.Labels[k]; !has || got != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// slicesOf returns the EndpointSlices of a Service.
func (s *snapshot) slicesOf(ns, service string) []*discoveryv1.EndpointSlice {
	if s.slicesBySvc == nil {
		s.slicesBySvc = map[string][]int{}
		for i := range s.slices {
			sl := &s.slices[i]
			if name := sl.Labels[discoveryv1.LabelServiceName]; name != "" {
				s.slicesBySvc[sl.Namespace+"/"+name] = append(s.slicesBySvc[sl.Namespace+"/"+name], i)
			}
		}
	}
	var out []*discoveryv1.EndpointSlice
	for _, i := range s.slicesBySvc[ns+"/"+service] {
		out = append(out, &s.slices[i])
	}
	return out
}

// keysOf reads a ConfigMap or Secret directly (they are not cached) and keeps its key names
// only. Reads are remembered for the call and bounded by maxLookups.
func (s *snapshot) keysOf(kind, ns, name string) lookup {
	k := kind + "/" + ns + "/" + name
	if l, ok := s.lookups[k]; ok {
		return l
	}
	if s.lookups == nil {
		s.lookups = map[string]lookup{}
	}
	if len(s.lookups) >= maxLookups {
		return lookup{err: fmt.Errorf("not checked: more than %d references in this call", maxLookups)}
	}
	var l lookup
	switch kind {
	case "ConfigMap":
		var cm corev1.ConfigMap
		l.err = s.direct.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm)
		l.keys = map[string]bool{}
		for key := range cm.Data {
			l.keys[key] = true
		}
		for key := range cm.BinaryData {
			l.keys[key] = true
		}
	case "Secret":
		var sec corev1.Secret
		l.err = s.direct.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec)
		l.keys = map[string]bool{}
		for key := range sec.Data {
			l.keys[key] = true
		}
		clear(sec.Data) // the values are not needed past this point
	case "StorageClass":
		var sc storagev1.StorageClass
		l.err = s.direct.Get(s.ctx, client.ObjectKey{Name: name}, &sc)
	case "ServiceAccount":
		var sa corev1.ServiceAccount
		l.err = s.direct.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &sa)
	}
	l.found = l.err == nil
	if apierrors.IsNotFound(l.err) {
		l.err = nil
	} else if l.err != nil {
		l.err = apiError(l.err, "get", strings.ToLower(kind)+" "+name)
	}
	s.lookups[k] = l
	return l
}
