package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) resourceTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name:        "namespaces_list",
			Description: "List the namespaces this server may see, with their phase and age.",
		}, t.namespacesList),
		mcptool.NewData(mcptool.Spec{
			Name:        "api_resources",
			Description: "List the kinds this cluster serves (built-in and CRDs): name, short names, API group, kind and whether namespaced. Use the names with resources_list and resource_get.",
			Params: []mcp.ToolOption{
				mcp.WithString("group", mcp.Description("only this API group, such as apps or kueue.x-k8s.io (\"core\" for the core group)"), mcp.MaxLength(253)),
			},
		}, t.apiResources),
		mcptool.NewData(mcptool.Spec{
			Name: "resources_list",
			Description: "List objects of any kind (pods, deployments, nodes, CRDs such as clusterqueues.kueue.x-k8s.io) as a compact table, " +
				"with namespace, label and field selectors and paging. Common kinds are served from a watch cache.",
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Required(), mcp.Description("kind, plural or short name: pods, po, Deployment, deployments.apps"), mcp.MaxLength(253)),
				mcp.WithString("namespace", mcp.Description("namespace; empty lists every namespace the server may see"), mcp.MaxLength(63)),
				mcp.WithString("labelSelector", mcp.Description("label selector, such as app=checkout,tier!=cache"), mcp.MaxLength(1024)),
				mcp.WithString("fieldSelector", mcp.Description("field selector, such as status.phase=Pending or spec.nodeName=node-1"), mcp.MaxLength(1024)),
				mcp.WithInteger("limit", mcp.Description("most items to return (default 200)"), mcp.Min(1), mcp.Max(5000)),
				mcp.WithString("continue", mcp.Description("the continue token a previous call returned, for the next page"), mcp.MaxLength(4096)),
				mcp.WithString("output", mcp.Description("table (default), names, or yaml (full objects, secrets redacted)"), mcp.Enum("table", "names", "yaml")),
			},
		}, t.resourcesList),
		mcptool.NewData(mcptool.Spec{
			Name:        "resource_get",
			Description: "Get one object of any kind as YAML, without managedFields and with Secret values redacted.",
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Required(), mcp.Description("kind, plural or short name"), mcp.MaxLength(253)),
				mcp.WithString("name", mcp.Required(), mcp.Description("object name"), mcp.MinLength(1), mcp.MaxLength(253)),
				mcp.WithString("namespace", mcp.Description("namespace (required for namespaced kinds)"), mcp.MaxLength(63)),
			},
		}, t.resourceGet),
	}
}

type namespacesArgs struct{}

func (t *tools) namespacesList(ctx context.Context, _ namespacesArgs) (contract.NamespaceList, string, error) {
	var out contract.NamespaceList
	r, err := t.k.cached(ctx)
	if err != nil {
		return out, "", err
	}
	if t.k.confined() {
		for _, name := range t.k.Allow {
			var ns corev1.Namespace
			if err := r.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
				out.Namespaces = append(out.Namespaces, contract.Namespace{Name: name, Error: err.Error()})
				continue
			}
			out.Namespaces = append(out.Namespaces, contract.Namespace{Name: ns.Name, Phase: string(ns.Status.Phase), Age: age(ns.CreationTimestamp)})
		}
	} else {
		var list corev1.NamespaceList
		if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return out, "", apiError(err, "list", "namespaces")
		}
		for i := range list.Items {
			ns := &list.Items[i]
			out.Namespaces = append(out.Namespaces, contract.Namespace{Name: ns.Name, Phase: string(ns.Status.Phase), Age: age(ns.CreationTimestamp)})
		}
		sort.SliceStable(out.Namespaces, func(i, j int) bool { return out.Namespaces[i].Name < out.Namespaces[j].Name })
	}
	tbl := mcptool.Table{Header: []string{"NAME", "STATUS", "AGE"}}
	for _, ns := range out.Namespaces {
		if ns.Error != "" {
			tbl.Add(ns.Name, "<unreadable: "+ns.Error+">", "")
			continue
		}
		tbl.Add(ns.Name, ns.Phase, ns.Age)
	}
	text, truncated := renderTable(&tbl, t.maxBytes)
	out.Namespaces, out.Truncated = keepShown(out.Namespaces, truncated), truncated
	if out.Namespaces == nil {
		out.Namespaces = []contract.Namespace{}
	}
	return out, text, nil
}

type apiResourcesArgs struct {
	Group string `json:"group,omitempty"`
}

func (t *tools) apiResources(ctx context.Context, a apiResourcesArgs) (contract.APIResourceList, string, error) {
	out := contract.APIResourceList{Resources: []contract.APIResource{}}
	lists, err := t.k.disco.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return out, "", fmt.Errorf("discovery: %w", err)
	}
	for _, l := range lists {
		group := strings.Split(l.GroupVersion, "/")[0]
		if !strings.Contains(l.GroupVersion, "/") {
			group = "core"
		}
		if a.Group != "" && a.Group != group {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out.Resources = append(out.Resources, contract.APIResource{Name: r.Name, ShortNames: r.ShortNames, APIVersion: l.GroupVersion, Namespaced: r.Namespaced, Kind: r.Kind})
		}
	}
	sort.SliceStable(out.Resources, func(i, j int) bool { return out.Resources[i].Name < out.Resources[j].Name })
	if len(out.Resources) == 0 {
		return out, fmt.Sprintf("no resources in API group %q; call api_resources without a group to see them all", a.Group), nil
	}
	tbl := mcptool.Table{Header: []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}}
	for _, r := range out.Resources {
		tbl.Add(r.Name, strings.Join(r.ShortNames, ","), r.APIVersion, strconv.FormatBool(r.Namespaced), r.Kind)
	}
	text, truncated := renderTable(&tbl, t.maxBytes)
	out.Resources, out.Truncated = keepShown(out.Resources, truncated), truncated
	return out, text, nil
}

type listArgs struct {
	Kind          string `json:"kind"`
	Namespace     string `json:"namespace,omitempty"`
	LabelSelector string `json:"labelSelector,omitempty"`
	FieldSelector string `json:"fieldSelector,omitempty"`
	Limit         int64  `json:"limit,omitempty"`
	Continue      string `json:"continue,omitempty"`
	Output        string `json:"output,omitempty"`
}

func (a *listArgs) Validate() error {
	if strings.TrimSpace(a.Kind) == "" {
		return errors.New(`argument "kind" is required, such as pods, deployments or nodes`)
	}
	if a.Limit < 0 || a.Limit > 5000 {
		return fmt.Errorf(`argument "limit" must be between 1 and 5000, not %d`, a.Limit)
	}
	if a.Limit == 0 {
		a.Limit = 200
	}
	switch a.Output {
	case "", "table", "names", "yaml":
	default:
		return fmt.Errorf(`argument "output" must be table, names or yaml, not %q`, a.Output)
	}
	if a.LabelSelector != "" {
		if _, err := labels.Parse(a.LabelSelector); err != nil {
			return fmt.Errorf(`argument "labelSelector" %q is not a label selector: %v`, a.LabelSelector, err)
		}
	}
	return nil
}

func (t *tools) resourcesList(ctx context.Context, a listArgs) (contract.ResourceList, string, error) {
	r, err := t.k.resolve(a.Kind)
	if err != nil {
		return contract.ResourceList{}, "", err
	}
	if err := t.k.checkScope(r, a.Namespace); err != nil {
		return contract.ResourceList{}, "", err
	}
	if a.Output == "yaml" {
		return t.listYAML(ctx, r, a)
	}
	if render, ok := cachedRenderers[r.gvr.Resource]; ok && r.gvr.Group == render.group && a.FieldSelector == "" {
		return t.listCached(ctx, r, a, render)
	}
	return t.listServerTable(ctx, r, a)
}

// cachedRenderer renders one common kind listed from the watch cache.
type cachedRenderer struct {
	group  string
	header []string
	proto  func() client.Object     // the kind, for the informer
	list   func() client.ObjectList // the kind's list, for the cache's List
	row    func(obj any) row        // one object (a pointer to the kind)
}

// row is one listed object: its sort key, and its cells, formatted only for the rows shown.
type row struct {
	ns, name string
	cells    func() []string
}

var cachedRenderers = map[string]cachedRenderer{
	"pods": {group: "", header: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"},
		proto: func() client.Object { return &corev1.Pod{} }, list: func() client.ObjectList { return &corev1.PodList{} },
		row: func(o any) row {
			p := o.(*corev1.Pod)
			return row{p.Namespace, p.Name, func() []string {
				return []string{p.Name, podReady(p), podStatus(p), strconv.Itoa(int(podRestarts(p))), age(p.CreationTimestamp), orNone(p.Spec.NodeName)}
			}}
		}},
	"deployments": {group: "apps", header: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		proto: func() client.Object { return &appsv1.Deployment{} }, list: func() client.ObjectList { return &appsv1.DeploymentList{} },
		row: func(o any) row {
			d := o.(*appsv1.Deployment)
			return row{d.Namespace, d.Name, func() []string {
				return []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)), itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas), age(d.CreationTimestamp)}
			}}
		}},
	"statefulsets": {group: "apps", header: []string{"NAME", "READY", "AGE"},
		proto: func() client.Object { return &appsv1.StatefulSet{} }, list: func() client.ObjectList { return &appsv1.StatefulSetList{} },
		row: func(o any) row {
			s := o.(*appsv1.StatefulSet)
			return row{s.Namespace, s.Name, func() []string {
				return []string{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), age(s.CreationTimestamp)}
			}}
		}},
	"daemonsets": {group: "apps", header: []string{"NAME", "DESIRED", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		proto: func() client.Object { return &appsv1.DaemonSet{} }, list: func() client.ObjectList { return &appsv1.DaemonSetList{} },
		row: func(o any) row {
			d := o.(*appsv1.DaemonSet)
			return row{d.Namespace, d.Name, func() []string {
				st := d.Status
				return []string{d.Name, itoa(st.DesiredNumberScheduled), itoa(st.NumberReady), itoa(st.UpdatedNumberScheduled), itoa(st.NumberAvailable), age(d.CreationTimestamp)}
			}}
		}},
	"jobs": {group: "batch", header: []string{"NAME", "STATUS", "COMPLETIONS", "ACTIVE", "FAILED", "AGE"},
		proto: func() client.Object { return &batchv1.Job{} }, list: func() client.ObjectList { return &batchv1.JobList{} },
		row: func(o any) row {
			j := o.(*batchv1.Job)
			return row{j.Namespace, j.Name, func() []string {
				return []string{j.Name, jobStatus(j), fmt.Sprintf("%d/%d", j.Status.Succeeded, replicas(j.Spec.Completions)), itoa(j.Status.Active), itoa(j.Status.Failed), age(j.CreationTimestamp)}
			}}
		}},
	"services": {group: "", header: []string{"NAME", "TYPE", "CLUSTER-IP", "PORTS", "SELECTOR", "AGE"},
		proto: func() client.Object { return &corev1.Service{} }, list: func() client.ObjectList { return &corev1.ServiceList{} },
		row: func(o any) row {
			s := o.(*corev1.Service)
			return row{s.Namespace, s.Name, func() []string {
				var ports []string
				for _, p := range s.Spec.Ports {
					ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
				}
				return []string{s.Name, string(s.Spec.Type), orNone(s.Spec.ClusterIP), join(ports, ","), orNone(labels.Set(s.Spec.Selector).String()), age(s.CreationTimestamp)}
			}}
		}},
	"persistentvolumeclaims": {group: "", header: []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "STORAGECLASS", "AGE"},
		proto: func() client.Object { return &corev1.PersistentVolumeClaim{} }, list: func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} },
		row: func(o any) row {
			c := o.(*corev1.PersistentVolumeClaim)
			return row{c.Namespace, c.Name, func() []string {
				capacity := ""
				if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
					capacity = q.String()
				}
				return []string{c.Name, string(c.Status.Phase), orNone(c.Spec.VolumeName), orNone(capacity), orNone(ptrString(c.Spec.StorageClassName)), age(c.CreationTimestamp)}
			}}
		}},
	"nodes": {group: "", header: []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"},
		proto: func() client.Object { return &corev1.Node{} }, list: func() client.ObjectList { return &corev1.NodeList{} },
		row: func(o any) row {
			n := o.(*corev1.Node)
			return row{"", n.Name, func() []string {
				return []string{n.Name, nodeStatus(n), nodeRoles(n), age(n.CreationTimestamp), n.Status.NodeInfo.KubeletVersion}
			}}
		}},
}

// resourceItem is one listed object with its table row: cells in the order of columns.
func resourceItem(ns, name string, columns, cells []string) contract.ResourceItem {
	it := contract.ResourceItem{Namespace: ns, Name: name, Cells: cells}
	for i, c := range columns {
		if i >= len(cells) {
			break
		}
		switch c {
		case "STATUS":
			it.Status = cells[i]
		case "AGE":
			it.Age = cells[i]
		}
	}
	return it
}

// newResourceList is the answer of resources_list for r, before its items.
func newResourceList(r resource, a listArgs) contract.ResourceList {
	out := contract.ResourceList{Resource: r.gvr.Resource, Items: []contract.ResourceItem{}}
	if r.namespaced {
		out.Namespace = a.Namespace
	}
	return out
}

func (t *tools) listCached(ctx context.Context, r resource, a listArgs, render cachedRenderer) (contract.ResourceList, string, error) {
	out := newResourceList(r, a)
	var sel labels.Selector = labels.Everything()
	if a.LabelSelector != "" {
		sel, _ = labels.Parse(a.LabelSelector) // validated in listArgs.Validate
	}
	var rows []row
	add := func(o any) {
		m, ok := o.(metav1.Object)
		if ok && sel.Matches(labels.Set(m.GetLabels())) {
			rows = append(rows, render.row(o))
		}
	}
	namespaces := t.k.namespaces(a.Namespace)
	if !r.namespaced || len(namespaces) == 0 {
		namespaces = []string{""}
	}
	for _, ns := range namespaces {
		if err := t.k.eachCached(ctx, render.proto(), render.list(), ns, add); err != nil {
			return out, "", apiError(err, "list", r.gvr.Resource)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ns != rows[j].ns {
			return rows[i].ns < rows[j].ns
		}
		return rows[i].name < rows[j].name
	})
	offset := 0
	if a.Continue != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(a.Continue, "offset:"))
		if err != nil || !strings.HasPrefix(a.Continue, "offset:") || n < 0 {
			return out, "", fmt.Errorf(`argument "continue" %q is not a token this server returned; start again without it`, a.Continue)
		}
		offset = min(n, len(rows))
	}
	total := len(rows)
	page := rows[offset:min(offset+int(a.Limit), total)]
	next := ""
	if offset+len(page) < total {
		next = "offset:" + strconv.Itoa(offset+len(page))
	}
	withNS := a.Namespace == "" && r.namespaced
	out.Total, out.Continue = total, next
	if a.Output == "names" {
		var b strings.Builder
		for _, rw := range page {
			if withNS {
				b.WriteString(rw.ns + "/")
			}
			b.WriteString(rw.name + "\n")
			out.Items = append(out.Items, contract.ResourceItem{Namespace: rw.ns, Name: rw.name})
		}
		text := b.String() + footer(len(page), total, next, r)
		out.Truncated = len(out.Items) - linesShown(text, len(out.Items), t.maxBytes)
		out.Items = keepShown(out.Items, out.Truncated)
		return out, text, nil
	}
	out.Columns = render.header
	tbl := mcptool.Table{Header: render.header}
	if withNS {
		tbl.Header = append([]string{"NAMESPACE"}, render.header...)
	}
	for _, rw := range page {
		cells := rw.cells()
		out.Items = append(out.Items, resourceItem(rw.ns, rw.name, render.header, cells))
		if withNS {
			tbl.Add(append([]string{rw.ns}, cells...)...)
		} else {
			tbl.Add(cells...)
		}
	}
	// Leave room for the footer, so that the paging hint is never the part truncated.
	text, truncated := renderTable(&tbl, t.maxBytes-200)
	out.Items, out.Truncated = keepShown(out.Items, truncated), truncated
	return out, text + footer(len(page), total, next, r), nil
}

func footer(shown, total int, next string, r resource) string {
	if total == 0 {
		return fmt.Sprintf("no %s found\n", r.gvr.Resource)
	}
	s := fmt.Sprintf("%d of %d %s", shown, total, r.gvr.Resource)
	if next != "" {
		s += fmt.Sprintf("; more with continue=%q", next)
	}
	return s + "\n"
}

// listServerTable asks the API server for the table kubectl prints, which works for every kind
// (CRDs included) and pages on the server.
func (t *tools) listServerTable(ctx context.Context, r resource, a listArgs) (contract.ResourceList, string, error) {
	out := newResourceList(r, a)
	namespaces := t.k.namespaces(a.Namespace)
	if !r.namespaced || len(namespaces) == 0 {
		namespaces = []string{a.Namespace}
		if !r.namespaced {
			namespaces = []string{""}
		}
	} else if len(namespaces) > 1 && a.Continue != "" {
		return out, "", errors.New(`argument "continue" needs a namespace on a server confined to several namespaces; name one`)
	}
	var names strings.Builder
	var header []string
	tbl := mcptool.Table{}
	shown, next := 0, ""
	for _, ns := range namespaces {
		req := t.k.clientset.Discovery().RESTClient().Get().AbsPath(apiPath(r, ns)...).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
			Param("includeObject", "Metadata").
			Param("limit", strconv.FormatInt(a.Limit, 10))
		if a.LabelSelector != "" {
			req = req.Param("labelSelector", a.LabelSelector)
		}
		if a.FieldSelector != "" {
			req = req.Param("fieldSelector", a.FieldSelector)
		}
		if a.Continue != "" {
			req = req.Param("continue", a.Continue)
		}
		body, err := req.DoRaw(ctx)
		if err != nil {
			return out, "", apiError(err, "list", r.gvr.Resource)
		}
		var table metav1.Table
		if err := json.Unmarshal(body, &table); err != nil {
			return out, "", fmt.Errorf("decoding the API server's table for %s: %w", r.gvr.Resource, err)
		}
		var cols []int
		if header == nil {
			if a.Namespace == "" && r.namespaced {
				header = append(header, "NAMESPACE")
			}
		}
		for i, c := range table.ColumnDefinitions {
			if c.Priority == 0 {
				cols = append(cols, i)
				if len(tbl.Header) == 0 {
					header = append(header, strings.ToUpper(c.Name))
					out.Columns = append(out.Columns, strings.ToUpper(c.Name))
				}
			}
		}
		if len(tbl.Header) == 0 {
			tbl.Header = header
		}
		for _, rw := range table.Rows {
			var cells []string
			var m metav1.PartialObjectMetadata
			_ = json.Unmarshal(rw.Object.Raw, &m)
			if a.Namespace == "" && r.namespaced {
				cells = append(cells, m.Namespace)
			}
			var own []string
			for _, i := range cols {
				if i < len(rw.Cells) {
					own = append(own, fmt.Sprint(rw.Cells[i]))
				}
			}
			cells = append(cells, own...)
			if m.Name == "" && len(own) > 0 {
				m.Name = own[0]
			}
			if a.Output == "names" {
				names.WriteString(strings.Join(cells[:len(cells)-len(cols)+1], "/") + "\n")
				out.Items = append(out.Items, contract.ResourceItem{Namespace: m.Namespace, Name: m.Name})
			} else {
				out.Items = append(out.Items, resourceItem(m.Namespace, m.Name, out.Columns, own))
			}
			tbl.Add(cells...)
			shown++
		}
		next = table.Continue
	}
	foot := fmt.Sprintf("%d %s", shown, r.gvr.Resource)
	if shown == 0 {
		foot = "no " + r.gvr.Resource + " found"
	}
	if next != "" {
		foot += fmt.Sprintf("; more with continue=%q", next)
	}
	out.Continue = next
	if a.Output == "names" {
		out.Columns = nil
		text := names.String() + foot + "\n"
		out.Truncated = len(out.Items) - linesShown(text, len(out.Items), t.maxBytes)
		out.Items = keepShown(out.Items, out.Truncated)
		return out, text, nil
	}
	text, truncated := renderTable(&tbl, t.maxBytes-200)
	out.Items, out.Truncated = keepShown(out.Items, truncated), truncated
	return out, text + foot + "\n", nil
}

// apiPath is the REST path of a resource's collection in a namespace ("" for all or for
// cluster-scoped kinds).
func apiPath(r resource, ns string) []string {
	var p []string
	if r.gvr.Group == "" {
		p = []string{"api", r.gvr.Version}
	} else {
		p = []string{"apis", r.gvr.Group, r.gvr.Version}
	}
	if r.namespaced && ns != "" {
		p = append(p, "namespaces", ns)
	}
	return append(p, r.gvr.Resource)
}

func (t *tools) listYAML(ctx context.Context, r resource, a listArgs) (contract.ResourceList, string, error) {
	out := newResourceList(r, a)
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(r.gvk.GroupVersion().WithKind(r.gvk.Kind + "List"))
	opts := []client.ListOption{client.Limit(a.Limit)}
	if r.namespaced && a.Namespace != "" {
		opts = append(opts, client.InNamespace(a.Namespace))
	} else if r.namespaced && t.k.confined() {
		if len(t.k.Allow) > 1 {
			return out, "", errors.New(`output "yaml" needs a namespace on a server confined to several namespaces; name one`)
		}
		opts = append(opts, client.InNamespace(t.k.Allow[0]))
	}
	if a.LabelSelector != "" {
		sel, _ := labels.Parse(a.LabelSelector)
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	if a.FieldSelector != "" {
		opts = append(opts, client.MatchingFieldsSelector{Selector: fieldSelector(a.FieldSelector)})
	}
	if a.Continue != "" {
		opts = append(opts, client.Continue(a.Continue))
	}
	if err := t.k.Direct.List(ctx, list, opts...); err != nil {
		return out, "", apiError(err, "list", r.gvr.Resource)
	}
	items := make([]map[string]any, 0, len(list.Items))
	for i := range list.Items {
		cleanForOutput(&list.Items[i])
		items = append(items, list.Items[i].Object)
		out.Items = append(out.Items, contract.ResourceItem{Namespace: list.Items[i].GetNamespace(), Name: list.Items[i].GetName()})
	}
	text, err := toYAML(items)
	if err != nil {
		return out, "", err
	}
	// The YAML as the text shows it, within the output cap.
	out.YAML, out.Total, out.Continue = mcptool.Cap(text, t.maxBytes), len(items), list.GetContinue()
	return out, text + footer(len(items), len(items), list.GetContinue(), r), nil
}

type getArgs struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

func (a *getArgs) Validate() error {
	if strings.TrimSpace(a.Kind) == "" {
		return errors.New(`argument "kind" is required, such as pod or deployment`)
	}
	if strings.TrimSpace(a.Name) == "" {
		return errors.New(`argument "name" is required`)
	}
	return nil
}

func (t *tools) resourceGet(ctx context.Context, a getArgs) (contract.ObjectYAML, string, error) {
	u, r, err := t.getObject(ctx, a.Kind, a.Namespace, a.Name)
	if err != nil {
		return contract.ObjectYAML{}, "", err
	}
	cleanForOutput(u)
	text, err := toYAML(u.Object)
	if err != nil {
		return contract.ObjectYAML{}, "", err
	}
	return contract.ObjectYAML{Object: objectRef(strings.ToLower(r.gvk.Kind), u.GetNamespace(), u.GetName()), YAML: mcptool.Cap(text, t.maxBytes)}, text, nil
}

// getObject reads one object of any kind, checking scope and confinement first.
func (t *tools) getObject(ctx context.Context, kind, ns, name string) (*unstructured.Unstructured, resource, error) {
	r, err := t.k.resolve(kind)
	if err != nil {
		return nil, r, err
	}
	if r.namespaced && ns == "" {
		return nil, r, fmt.Errorf(`%s is namespaced: argument "namespace" is required`, r.gvr.Resource)
	}
	if !r.namespaced {
		ns = ""
	}
	if err := t.k.checkScope(r, ns); err != nil {
		return nil, r, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.gvk)
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return nil, r, apiError(err, "get", objectRef(strings.ToLower(r.gvk.Kind), ns, name))
	}
	return u, r, nil
}
