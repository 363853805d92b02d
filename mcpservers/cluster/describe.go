package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) describeTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "describe",
			Description: "Describe one object of any kind, as kubectl describe does but compact: for a Pod its containers' state, restarts, last termination " +
				"(reason, exit code), waiting reason and resources; for a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob its rollout, conditions " +
				"and a table of its pods with why they are not ready; for a Node its conditions, taints and requested vs allocatable resources; for other kinds " +
				"metadata and status conditions. Then its recent events, newest first. Secret values are never shown.",
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Required(), mcp.Description("kind, plural or short name: pod, deploy, node, clusterqueues.kueue.x-k8s.io"), mcp.MaxLength(253)),
				mcp.WithString("name", mcp.Required(), mcp.Description("object name"), mcp.MinLength(1), mcp.MaxLength(253)),
				mcp.WithString("namespace", mcp.Description("namespace (required for namespaced kinds)"), mcp.MaxLength(63)),
			},
		}, t.describe),
	}
}

type describeArgs struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

func (a *describeArgs) Validate() error {
	if strings.TrimSpace(a.Kind) == "" {
		return errors.New(`argument "kind" is required, such as pod, deployment or node`)
	}
	if strings.TrimSpace(a.Name) == "" {
		return errors.New(`argument "name" is required`)
	}
	return nil
}

func (t *tools) describe(ctx context.Context, a describeArgs) (contract.Description, string, error) {
	r, err := t.k.resolve(a.Kind)
	if err != nil {
		return contract.Description{}, "", err
	}
	ns := a.Namespace
	if r.namespaced && ns == "" {
		return contract.Description{}, "", fmt.Errorf(`%s is namespaced: argument "namespace" is required`, r.gvr.Resource)
	}
	if !r.namespaced {
		ns = ""
	}
	if err := t.k.checkScope(r, ns); err != nil {
		return contract.Description{}, "", err
	}
	var out string
	switch r.gvk.GroupKind().String() {
	case "Pod":
		out, err = t.describePod(ctx, ns, a.Name)
	case "Deployment.apps", "StatefulSet.apps", "DaemonSet.apps", "ReplicaSet.apps", "Job.batch", "CronJob.batch":
		out, err = t.describeWorkload(ctx, r.gvk.Kind, ns, a.Name)
	case "Node":
		out, err = t.describeNode(ctx, a.Name)
	case "Service":
		out, err = t.describeService(ctx, ns, a.Name)
	case "Secret", "ConfigMap":
		out, err = t.describeData(ctx, r.gvk.Kind, ns, a.Name)
	default:
		out, err = t.describeOther(ctx, r, ns, a.Name)
	}
	if err != nil {
		return contract.Description{}, "", err
	}
	text := t.k.secrets.Scrub(out)
	return contract.Description{Object: objectRef(strings.ToLower(r.gvk.Kind), ns, a.Name), Text: mcptool.Cap(text, t.maxBytes)}, text, nil
}

// objectEvents reads the events about objs from the cache: one list of the events of ns (every
// namespace, for cluster-scoped objects), indexed once by the object they are about.
func (t *tools) objectEvents(ctx context.Context, ns string, objs ...client.Object) ([]*corev1.Event, error) {
	events, err := t.listEvents(ctx, ns)
	if err != nil {
		return nil, err
	}
	idx := indexEvents(events)
	var out []*corev1.Event
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		if kind == "" {
			kind = kindOf(o)
		}
		out = append(out, idx.of(kind, o.GetNamespace(), o.GetName(), string(o.GetUID()))...)
	}
	return out, nil
}

// kindOf names the kind of the typed objects describe reads (their TypeMeta is empty when they
// come from the cache).
func kindOf(o client.Object) string {
	switch o.(type) {
	case *corev1.Pod:
		return "Pod"
	case *corev1.Node:
		return "Node"
	case *corev1.Service:
		return "Service"
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	case *appsv1.ReplicaSet:
		return "ReplicaSet"
	case *batchv1.Job:
		return "Job"
	case *batchv1.CronJob:
		return "CronJob"
	}
	return ""
}

// metadataLines writes what every describe starts with.
func metadataLines(b *strings.Builder, kind string, o metav1.Object) {
	fmt.Fprintf(b, "%s %s\n", kind, strings.TrimPrefix(o.GetNamespace()+"/"+o.GetName(), "/"))
	fmt.Fprintf(b, "Created: %s ago\n", age(o.GetCreationTimestamp()))
	if o.GetDeletionTimestamp() != nil {
		fmt.Fprintf(b, "Deleting: since %s ago (finalizers: %s)\n", age(*o.GetDeletionTimestamp()), join(o.GetFinalizers(), ", "))
	}
	if len(o.GetLabels()) > 0 {
		fmt.Fprintf(b, "Labels: %s\n", labels.Set(o.GetLabels()).String())
	}
	var owners []string
	for _, r := range o.GetOwnerReferences() {
		owners = append(owners, r.Kind+"/"+r.Name)
	}
	if len(owners) > 0 {
		fmt.Fprintf(b, "Owned by: %s\n", strings.Join(owners, ", "))
	}
}

func (t *tools) describePod(ctx context.Context, ns, name string) (string, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return "", err
	}
	var p corev1.Pod
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return "", apiError(err, "get", objectRef("pod", ns, name))
	}
	var b strings.Builder
	metadataLines(&b, "Pod", &p)
	fmt.Fprintf(&b, "Phase: %s   Status: %s   Ready: %s   Restarts: %d\n", orNone(string(p.Status.Phase)), podStatus(&p), podReady(&p), podRestarts(&p))
	fmt.Fprintf(&b, "Node: %s   IP: %s   QoS: %s\n", orNone(p.Spec.NodeName), orNone(p.Status.PodIP), orNone(string(p.Status.QOSClass)))
	if p.Status.Message != "" {
		fmt.Fprintf(&b, "Message: %s\n", oneLine(p.Status.Message, 300))
	}
	var conds []string
	for _, c := range p.Status.Conditions {
		s := string(c.Type) + "=" + string(c.Status)
		if c.Status != corev1.ConditionTrue && c.Reason != "" {
			s += " (" + c.Reason
			if c.Message != "" {
				s += ": " + oneLine(c.Message, 200)
			}
			s += ")"
		}
		conds = append(conds, s)
	}
	if len(conds) > 0 {
		fmt.Fprintf(&b, "Conditions: %s\n", strings.Join(conds, ", "))
	}
	if len(p.Spec.InitContainers) > 0 {
		b.WriteString("Init containers:\n")
		for _, c := range p.Spec.InitContainers {
			containerLines(&b, &c, containerStatus(p.Status.InitContainerStatuses, c.Name))
		}
	}
	b.WriteString("Containers:\n")
	for _, c := range p.Spec.Containers {
		containerLines(&b, &c, containerStatus(p.Status.ContainerStatuses, c.Name))
	}
	events, err := t.objectEvents(ctx, ns, &p)
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, false, t.maxBytes-b.Len()-200), nil
}

func containerStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// containerLines describes one container: image, state, readiness, restarts, last termination,
// resources and the names (never the values) of its environment.
func containerLines(b *strings.Builder, c *corev1.Container, s *corev1.ContainerStatus) {
	fmt.Fprintf(b, "  %s:\n    image: %s\n", c.Name, c.Image)
	if s != nil {
		fmt.Fprintf(b, "    state: %s\n", containerState(s.State))
		fmt.Fprintf(b, "    ready: %t   restarts: %d\n", s.Ready, s.RestartCount)
		if lt := s.LastTerminationState.Terminated; lt != nil {
			fmt.Fprintf(b, "    last termination: %s", termination(lt))
			if !lt.FinishedAt.IsZero() {
				fmt.Fprintf(b, ", %s ago", age(lt.FinishedAt))
			}
			if lt.Message != "" {
				fmt.Fprintf(b, ": %s", oneLine(lt.Message, 200))
			}
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("    state: <no status yet>\n")
	}
	if r := resourcesLine(c.Resources); r != "" {
		fmt.Fprintf(b, "    %s\n", r)
	}
	if env := envLine(c); env != "" {
		fmt.Fprintf(b, "    %s\n", env)
	}
}

func containerState(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "Running, started " + age(s.Running.StartedAt) + " ago"
	case s.Waiting != nil:
		out := "Waiting: " + orNone(s.Waiting.Reason)
		if s.Waiting.Message != "" {
			out += ": " + oneLine(s.Waiting.Message, 200)
		}
		return out
	case s.Terminated != nil:
		out := "Terminated: " + termination(s.Terminated)
		if s.Terminated.Message != "" {
			out += ": " + oneLine(s.Terminated.Message, 200)
		}
		return out
	}
	return "<unknown>"
}

func resourcesLine(r corev1.ResourceRequirements) string {
	list := func(l corev1.ResourceList) string {
		names := make([]string, 0, len(l))
		for name := range l {
			names = append(names, string(name))
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, name := range names {
			q := l[corev1.ResourceName(name)]
			parts[i] = name + "=" + q.String()
		}
		return strings.Join(parts, ",")
	}
	var parts []string
	if len(r.Requests) > 0 {
		parts = append(parts, "requests: "+list(r.Requests))
	}
	if len(r.Limits) > 0 {
		parts = append(parts, "limits: "+list(r.Limits))
	}
	return strings.Join(parts, "   ")
}

// envLine names a container's environment variables and where they come from; values are never
// shown, as they may be credentials.
func envLine(c *corev1.Container) string {
	var parts []string
	for _, e := range c.Env {
		s := e.Name
		if f := e.ValueFrom; f != nil {
			switch {
			case f.SecretKeyRef != nil:
				s += " (secret " + f.SecretKeyRef.Name + "/" + f.SecretKeyRef.Key + ")"
			case f.ConfigMapKeyRef != nil:
				s += " (configmap " + f.ConfigMapKeyRef.Name + "/" + f.ConfigMapKeyRef.Key + ")"
			case f.FieldRef != nil:
				s += " (field " + f.FieldRef.FieldPath + ")"
			case f.ResourceFieldRef != nil:
				s += " (resource " + f.ResourceFieldRef.Resource + ")"
			}
		}
		parts = append(parts, s)
	}
	var from []string
	for _, f := range c.EnvFrom {
		switch {
		case f.SecretRef != nil:
			from = append(from, "secret "+f.SecretRef.Name)
		case f.ConfigMapRef != nil:
			from = append(from, "configmap "+f.ConfigMapRef.Name)
		}
	}
	out := ""
	if len(parts) > 0 {
		out = "env (names only): " + strings.Join(parts, ", ")
	}
	if len(from) > 0 {
		if out != "" {
			out += "   "
		}
		out += "envFrom: " + strings.Join(from, ", ")
	}
	return out
}

func (t *tools) describeWorkload(ctx context.Context, kind, ns, name string) (string, error) {
	set, err := t.loadWorkloads(ctx, ns, kind, name)
	if err != nil {
		return "", err
	}
	if len(set.items) == 0 {
		return "", fmt.Errorf("%s not found", objectRef(strings.ToLower(kind), ns, name))
	}
	w := set.items[0]
	var b strings.Builder
	metadataLines(&b, kind, w.obj)
	var template *corev1.PodTemplateSpec
	var selector *metav1.LabelSelector
	related := []client.Object{w.obj}
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		template, selector = &o.Spec.Template, o.Spec.Selector
		st := o.Status
		desired := replicas(o.Spec.Replicas)
		fmt.Fprintf(&b, "Replicas: %d desired, %d ready, %d updated, %d available, %d unavailable\n",
			desired, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas, max(st.UnavailableReplicas, desired-st.AvailableReplicas))
		strategy := string(o.Spec.Strategy.Type)
		if ru := o.Spec.Strategy.RollingUpdate; ru != nil {
			strategy += fmt.Sprintf(" (maxUnavailable %s, maxSurge %s)", intOrString(ru.MaxUnavailable), intOrString(ru.MaxSurge))
		}
		fmt.Fprintf(&b, "Strategy: %s\n", orNone(strategy))
		conds := make([][4]string, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, [4]string{string(c.Type), string(c.Status), c.Reason, c.Message})
		}
		conditionTable(&b, conds)
	case *appsv1.StatefulSet:
		template, selector = &o.Spec.Template, o.Spec.Selector
		st := o.Status
		fmt.Fprintf(&b, "Replicas: %d desired, %d ready, %d updated, %d available\n", replicas(o.Spec.Replicas), st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas)
		fmt.Fprintf(&b, "Revision: current %s, update %s\n", orNone(st.CurrentRevision), orNone(st.UpdateRevision))
		conds := make([][4]string, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, [4]string{string(c.Type), string(c.Status), c.Reason, c.Message})
		}
		conditionTable(&b, conds)
	case *appsv1.DaemonSet:
		template, selector = &o.Spec.Template, o.Spec.Selector
		st := o.Status
		fmt.Fprintf(&b, "Nodes: %d desired, %d ready, %d updated, %d available, %d misscheduled\n",
			st.DesiredNumberScheduled, st.NumberReady, st.UpdatedNumberScheduled, st.NumberAvailable, st.NumberMisscheduled)
		conds := make([][4]string, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, [4]string{string(c.Type), string(c.Status), c.Reason, c.Message})
		}
		conditionTable(&b, conds)
	case *appsv1.ReplicaSet:
		template, selector = &o.Spec.Template, o.Spec.Selector
		st := o.Status
		fmt.Fprintf(&b, "Replicas: %d desired, %d ready, %d available\n", replicas(o.Spec.Replicas), st.ReadyReplicas, st.AvailableReplicas)
		conds := make([][4]string, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, [4]string{string(c.Type), string(c.Status), c.Reason, c.Message})
		}
		conditionTable(&b, conds)
	case *batchv1.Job:
		template, selector = &o.Spec.Template, o.Spec.Selector
		jobLines(&b, o)
	case *batchv1.CronJob:
		template = &o.Spec.JobTemplate.Spec.Template
		fmt.Fprintf(&b, "Schedule: %q", o.Spec.Schedule)
		if o.Spec.TimeZone != nil {
			fmt.Fprintf(&b, " (%s)", *o.Spec.TimeZone)
		}
		suspended := o.Spec.Suspend != nil && *o.Spec.Suspend
		fmt.Fprintf(&b, "   Suspended: %t   Concurrency: %s\n", suspended, o.Spec.ConcurrencyPolicy)
		last, success := "never", "never"
		if o.Status.LastScheduleTime != nil {
			last = age(*o.Status.LastScheduleTime) + " ago"
		}
		if o.Status.LastSuccessfulTime != nil {
			success = age(*o.Status.LastSuccessfulTime) + " ago"
		}
		fmt.Fprintf(&b, "Last scheduled: %s   Last succeeded: %s   Active jobs: %d\n", last, success, len(o.Status.Active))
		jobs := mcptool.Table{Header: []string{"JOB", "STATUS", "COMPLETIONS", "ACTIVE", "FAILED", "AGE"}}
		for i := len(w.jobs) - 1; i >= 0; i-- {
			j := w.jobs[i]
			jobs.Add(j.Name, jobStatus(j), fmt.Sprintf("%d/%d", j.Status.Succeeded, replicas(j.Spec.Completions)), itoa(j.Status.Active), itoa(j.Status.Failed), age(j.CreationTimestamp))
			related = append(related, j)
		}
		if len(jobs.Rows) > 0 {
			b.WriteString("Jobs (newest first):\n" + jobs.Render(t.maxBytes/8))
		}
	}
	if selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(selector); err == nil {
			fmt.Fprintf(&b, "Selector: %s\n", s.String())
		}
	}
	if template != nil {
		b.WriteString("Pod template:\n")
		for _, c := range template.Spec.Containers {
			fmt.Fprintf(&b, "  %s: %s", c.Name, c.Image)
			if r := resourcesLine(c.Resources); r != "" {
				b.WriteString("   " + r)
			}
			b.WriteByte('\n')
			if env := envLine(&c); env != "" {
				fmt.Fprintf(&b, "    %s\n", env)
			}
		}
	}
	health := "healthy"
	if !w.healthy {
		health = "UNHEALTHY"
	}
	fmt.Fprintf(&b, "Health: %s: %s\n", health, w.summary)
	for _, p := range append(append([]string(nil), w.problems...), w.notes...) {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	b.WriteString(podTable(w.pods, t.maxBytes/3))
	if d, ok := w.obj.(*appsv1.Deployment); ok {
		rss, err := t.ownedReplicaSets(ctx, d)
		if err != nil {
			return "", err
		}
		related = append(related, rss...)
	}
	for _, p := range w.pods {
		related = append(related, p)
	}
	events, err := t.objectEvents(ctx, ns, related...)
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, len(related) > 1, t.maxBytes-b.Len()-200), nil
}

func (t *tools) ownedReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]client.Object, error) {
	var list appsv1.ReplicaSetList
	var out []client.Object
	err := t.cacheList(ctx, d.Namespace, &list, "replicasets", func() {
		for i := range list.Items {
			if c := metav1.GetControllerOf(&list.Items[i]); c != nil && c.UID == d.UID {
				out = append(out, &list.Items[i])
			}
		}
	})
	return out, err
}

func jobLines(b *strings.Builder, j *batchv1.Job) {
	backoff := "6 (default)"
	if j.Spec.BackoffLimit != nil {
		backoff = itoa(*j.Spec.BackoffLimit)
	}
	fmt.Fprintf(b, "Status: %s   Completions: %d/%d   Parallelism: %d   Active: %d   Failed: %d   BackoffLimit: %s\n",
		jobStatus(j), j.Status.Succeeded, replicas(j.Spec.Completions), replicas(j.Spec.Parallelism), j.Status.Active, j.Status.Failed, backoff)
	if j.Status.StartTime != nil {
		fmt.Fprintf(b, "Started: %s ago", age(*j.Status.StartTime))
		if j.Status.CompletionTime != nil {
			fmt.Fprintf(b, "   Completed: %s ago", age(*j.Status.CompletionTime))
		}
		b.WriteByte('\n')
	}
	conds := make([][4]string, 0, len(j.Status.Conditions))
	for _, c := range j.Status.Conditions {
		conds = append(conds, [4]string{string(c.Type), string(c.Status), c.Reason, c.Message})
	}
	conditionTable(b, conds)
}

// conditionTable writes conditions (type, status, reason, message) as a table.
func conditionTable(b *strings.Builder, conds [][4]string) {
	if len(conds) == 0 {
		b.WriteString("Conditions: <none>\n")
		return
	}
	tbl := mcptool.Table{Header: []string{"CONDITION", "STATUS", "REASON", "MESSAGE"}}
	for _, c := range conds {
		tbl.Add(c[0], c[1], orNone(c[2]), oneLine(c[3], 200))
	}
	b.WriteString("Conditions:\n" + tbl.Render(4096))
}

func intOrString(v *intstr.IntOrString) string {
	if v == nil {
		return "<none>"
	}
	return v.String()
}

func (t *tools) describeNode(ctx context.Context, name string) (string, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return "", err
	}
	var n corev1.Node
	if err := reader.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		return "", apiError(err, "get", "node/"+name)
	}
	byNode, err := t.podsByNode(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(nodeDetails(&n, byNode[n.Name], t.maxBytes/2))
	if len(n.Labels) > 0 {
		fmt.Fprintf(&b, "Labels: %s\n", labels.Set(n.Labels).String())
	}
	events, err := t.objectEvents(ctx, "", &n)
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, false, t.maxBytes-b.Len()-200), nil
}

func (t *tools) describeService(ctx context.Context, ns, name string) (string, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return "", err
	}
	var s corev1.Service
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return "", apiError(err, "get", objectRef("service", ns, name))
	}
	var b strings.Builder
	metadataLines(&b, "Service", &s)
	var ports []string
	for _, p := range s.Spec.Ports {
		port := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.Name != "" {
			port = p.Name + " " + port
		}
		if p.TargetPort.String() != "0" {
			port += " -> " + p.TargetPort.String()
		}
		if p.NodePort != 0 {
			port += fmt.Sprintf(" (nodePort %d)", p.NodePort)
		}
		ports = append(ports, port)
	}
	fmt.Fprintf(&b, "Type: %s   ClusterIP: %s\nPorts: %s\n", s.Spec.Type, orNone(s.Spec.ClusterIP), join(ports, ", "))
	if len(s.Spec.Selector) == 0 {
		b.WriteString("Selector: <none> (endpoints are managed by hand or by another controller)\n")
	} else {
		sel := labels.SelectorFromSet(s.Spec.Selector)
		var pods []*corev1.Pod
		var list corev1.PodList
		if err := t.cacheList(ctx, ns, &list, "pods", func() {
			for i := range list.Items {
				if sel.Matches(labels.Set(list.Items[i].Labels)) {
					pods = append(pods, &list.Items[i])
				}
			}
		}); err != nil {
			return "", err
		}
		ready := 0
		for _, p := range pods {
			if podIsReady(p) {
				ready++
			}
		}
		fmt.Fprintf(&b, "Selector: %s   Pods: %d selected, %d ready (only ready pods receive traffic)\n", sel.String(), len(pods), ready)
		if why := summarizeUnready(pods); why != "" {
			fmt.Fprintf(&b, "  not ready: %s\n", why)
		}
	}
	events, err := t.objectEvents(ctx, ns, &s)
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, false, t.maxBytes-b.Len()-200), nil
}

// describeData lists a Secret's or ConfigMap's keys with their sizes; never their values.
func (t *tools) describeData(ctx context.Context, kind, ns, name string) (string, error) {
	var b strings.Builder
	sizes := map[string]int{}
	var obj client.Object
	switch kind {
	case "Secret":
		var s corev1.Secret
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return "", apiError(err, "get", objectRef("secret", ns, name))
		}
		for k, v := range s.Data {
			sizes[k] = len(v)
		}
		obj = &s
		metadataLines(&b, kind, &s)
		fmt.Fprintf(&b, "Type: %s\n", s.Type)
	default:
		var c corev1.ConfigMap
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
			return "", apiError(err, "get", objectRef("configmap", ns, name))
		}
		for k, v := range c.Data {
			sizes[k] = len(v)
		}
		for k, v := range c.BinaryData {
			sizes[k] = len(v)
		}
		obj = &c
		metadataLines(&b, kind, &c)
	}
	keys := make([]string, 0, len(sizes))
	for k := range sizes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tbl := mcptool.Table{Header: []string{"KEY", "BYTES"}}
	for _, k := range keys {
		tbl.Add(k, strconv.Itoa(sizes[k]))
	}
	if len(keys) == 0 {
		b.WriteString("Data: <none>\n")
	} else {
		b.WriteString("Data (keys and sizes; values are not shown):\n" + tbl.Render(t.maxBytes/2))
	}
	events, err := t.objectEvents(ctx, ns, withKind(obj, kind))
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, false, t.maxBytes-b.Len()-200), nil
}

func withKind(o client.Object, kind string) client.Object {
	o.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return o
}

// describeOther describes any other kind from its metadata and status.
func (t *tools) describeOther(ctx context.Context, r resource, ns, name string) (string, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.gvk)
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return "", apiError(err, "get", objectRef(strings.ToLower(r.gvk.Kind), ns, name))
	}
	cleanForOutput(u)
	var b strings.Builder
	metadataLines(&b, r.gvk.Kind, u)
	fmt.Fprintf(&b, "API version: %s\n", u.GetAPIVersion())
	if keys := sortedKeys(u.GetAnnotations()); len(keys) > 0 {
		fmt.Fprintf(&b, "Annotations (keys): %s\n", strings.Join(keys, ", "))
	}
	if phase, ok, _ := unstructured.NestedString(u.Object, "status", "phase"); ok {
		fmt.Fprintf(&b, "Phase: %s\n", phase)
	}
	if conds, ok, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); ok {
		rows := make([][4]string, 0, len(conds))
		for _, c := range conds {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			s := func(k string) string { v, _ := m[k].(string); return v }
			rows = append(rows, [4]string{s("type"), s("status"), s("reason"), s("message")})
		}
		conditionTable(&b, rows)
	}
	fmt.Fprintf(&b, "(the full object: resource_get kind=%s name=%s", r.gvr.Resource, name)
	if ns != "" {
		fmt.Fprintf(&b, " namespace=%s", ns)
	}
	b.WriteString(")\n")
	events, err := t.objectEvents(ctx, ns, u)
	if err != nil {
		return "", err
	}
	return b.String() + renderEvents(events, false, t.maxBytes-b.Len()-200), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
