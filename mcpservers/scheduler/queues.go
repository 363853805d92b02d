package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type queueArgs struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func (a *queueArgs) Validate() error {
	if a.Kind == "localqueue" && a.Name != "" && a.Namespace == "" {
		return errors.New(`argument "namespace" is required with kind localqueue and a name`)
	}
	if a.Name != "" && a.Kind == "" {
		return errors.New(`argument "kind" is required with a name: clusterqueue, localqueue or volcano`)
	}
	return nil
}

func (t *tools) queueTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.New(mcptool.Spec{
			Name: "queue_status",
			Description: "Kueue ClusterQueues (usage vs nominal quota and borrowing limit per flavor, pending and admitted counts), " +
				"LocalQueues, and Volcano Queues (state, weight, capability, pending and running); or one queue in detail with its " +
				"pending workloads in the order they would be admitted. Says when Kueue or Volcano is not installed.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Enum("clusterqueue", "localqueue", "volcano"), mcp.Description("the kind of queue to show in detail (with name), or to list alone")),
				mcp.WithString("name", mcp.MaxLength(253), mcp.Description("one queue to show in detail")),
				mcp.WithString("namespace", mcp.MaxLength(63), mcp.Description("namespace of the LocalQueue, or to list only its LocalQueues")),
			},
		}, t.queueStatus),
	}
}

func (t *tools) queueStatus(ctx context.Context, a queueArgs) (string, error) {
	if a.Namespace != "" {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return "", err
		}
	}
	kv, err := t.kueueVersion()
	if err != nil {
		return "", err
	}
	vv, err := t.volcanoVersion()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if a.Name != "" {
		switch a.Kind {
		case "clusterqueue", "localqueue":
			if kv == "" {
				return "", fmt.Errorf("Kueue is not installed in this cluster (no %s CRDs): there are no %ss", kueueGroup, a.Kind)
			}
			return t.kueueQueueDetail(ctx, kv, a)
		case "volcano":
			if vv == "" {
				return "", fmt.Errorf("Volcano is not installed in this cluster (no %s CRDs): there are no Volcano Queues", volcanoGroup)
			}
			return t.volcanoQueueDetail(ctx, vv, a.Name)
		}
	}
	if a.Kind == "" || a.Kind == "clusterqueue" || a.Kind == "localqueue" {
		if kv == "" {
			b.WriteString("Kueue: not installed (no kueue.x-k8s.io CRDs).\n")
		} else if err := t.kueueOverview(ctx, &b, kv, a); err != nil {
			return "", err
		}
	}
	if a.Kind == "" || a.Kind == "volcano" {
		if vv == "" {
			b.WriteString("Volcano: not installed (no scheduling.volcano.sh CRDs).\n")
		} else {
			qs, err := t.k.dynList(ctx, volcanoGVR(vv, "queues"), "", false)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "Volcano Queues (%s/%s): %d\n", volcanoGroup, vv, len(qs))
			tbl := mcptool.Table{Header: []string{"QUEUE", "STATE", "WEIGHT", "CAPABILITY", "PENDING", "INQUEUE", "RUNNING"}}
			for i := range qs {
				tbl.Add(volcanoQueueRow(&qs[i])...)
			}
			b.WriteString(tbl.Render(t.maxBytes / 3))
		}
	}
	return b.String(), nil
}

// usageSummary renders a ClusterQueue's use per flavor and resource: "h100: gpu 32/32 (limit 0)".
func usageSummary(cq *clusterQueue) string {
	var parts []string
	for _, g := range cq.groups {
		for _, f := range g.flavors {
			var rs []string
			for _, r := range g.covered {
				q, ok := f.quotas[r]
				if !ok {
					continue
				}
				s := fmt.Sprintf("%s %s/%s", shortRes(r), qty(r, cq.usage[f.name][r][0]), qty(r, q.nominal))
				if b := cq.usage[f.name][r][1]; b > 0 {
					s += fmt.Sprintf(" (borrowed %s)", qty(r, b))
				}
				if q.borrowing != nil {
					s += fmt.Sprintf(" (borrowing limit %s)", qty(r, *q.borrowing))
				}
				rs = append(rs, s)
			}
			parts = append(parts, f.name+": "+strings.Join(rs, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

func (t *tools) kueueOverview(ctx context.Context, b *strings.Builder, version string, a queueArgs) error {
	if a.Kind != "localqueue" {
		if len(t.k.Allow) > 0 {
			fmt.Fprintf(b, "Kueue ClusterQueues: not shown; they are cluster-scoped and this server is confined to %s (--allow-namespaces).\n", strings.Join(t.k.Allow, ", "))
		} else {
			cqs, err := t.k.dynList(ctx, kueueGVR(version, "clusterqueues"), "", false)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "Kueue ClusterQueues (%s/%s): %d\n", kueueGroup, version, len(cqs))
			tbl := mcptool.Table{Header: []string{"CLUSTERQUEUE", "COHORT", "PENDING", "ADMITTED", "USAGE (used/nominal per flavor)"}}
			for i := range cqs {
				cq := parseClusterQueue(&cqs[i])
				cohort := cq.cohort
				if cq.stopPolicy != "" && cq.stopPolicy != "None" {
					cohort += " stopped:" + cq.stopPolicy
				}
				tbl.Add(cq.name, orDash(cohort), fmt.Sprint(cq.pending), fmt.Sprint(cq.admitted), usageSummary(cq))
			}
			b.WriteString(tbl.Render(t.maxBytes / 3))
		}
	}
	if a.Kind != "clusterqueue" {
		lqs, err := t.k.dynList(ctx, kueueGVR(version, "localqueues"), a.Namespace, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "Kueue LocalQueues: %d\n", len(lqs))
		tbl := mcptool.Table{Header: []string{"LOCALQUEUE", "CLUSTERQUEUE", "PENDING", "ADMITTED"}}
		for _, lq := range lqs {
			pending, _ := num(lq.Object, "status", "pendingWorkloads")
			admitted, _ := num(lq.Object, "status", "admittedWorkloads")
			tbl.Add(lq.GetNamespace()+"/"+lq.GetName(), str(lq.Object, "spec", "clusterQueue"), fmt.Sprint(pending), fmt.Sprint(admitted))
		}
		b.WriteString(tbl.Render(t.maxBytes / 3))
	}
	return nil
}

func (t *tools) kueueQueueDetail(ctx context.Context, version string, a queueArgs) (string, error) {
	var b strings.Builder
	cqName := a.Name
	if a.Kind == "localqueue" {
		lq, err := t.k.dynGet(ctx, kueueGVR(version, "localqueues"), a.Namespace, a.Name)
		if err != nil {
			return "", err
		}
		if lq == nil {
			return "", fmt.Errorf("LocalQueue %s/%s not found; queue_status with kind localqueue lists them", a.Namespace, a.Name)
		}
		cqName = str(lq.Object, "spec", "clusterQueue")
		pending, _ := num(lq.Object, "status", "pendingWorkloads")
		admitted, _ := num(lq.Object, "status", "admittedWorkloads")
		fmt.Fprintf(&b, "LocalQueue %s/%s → ClusterQueue %s: %d pending, %d admitted.\n", a.Namespace, a.Name, cqName, pending, admitted)
	} else if len(t.k.Allow) > 0 {
		return "", fmt.Errorf("ClusterQueue %s is cluster-scoped, and this server is confined to namespaces %s (--allow-namespaces); ask about a LocalQueue instead", a.Name, strings.Join(t.k.Allow, ", "))
	}
	cqs, err := t.k.dynList(ctx, kueueGVR(version, "clusterqueues"), "", false)
	if err != nil {
		return "", err
	}
	var cq *clusterQueue
	for i := range cqs {
		if c := parseClusterQueue(&cqs[i]); c.name == cqName {
			cq = c
		}
	}
	if cq == nil {
		return "", fmt.Errorf("ClusterQueue %s not found; queue_status lists the ClusterQueues", cqName)
	}
	fmt.Fprintf(&b, "ClusterQueue %s: cohort %s, %d pending, %d admitted", cq.name, orDash(cq.cohort), cq.pending, cq.admitted)
	if cq.stopPolicy != "" && cq.stopPolicy != "None" {
		fmt.Fprintf(&b, ", stopped (stopPolicy %s)", cq.stopPolicy)
	}
	if cq.active != nil {
		b.WriteString(", " + cq.active.String())
	}
	b.WriteString(".\n")
	tbl := mcptool.Table{Header: []string{"FLAVOR", "RESOURCE", "NOMINAL", "BORROWING-LIMIT", "LENDING-LIMIT", "USED", "BORROWED"}}
	for _, g := range cq.groups {
		for _, f := range g.flavors {
			for _, r := range g.covered {
				q := f.quotas[r]
				bl, ll := "-", "-"
				if q.borrowing != nil {
					bl = qty(r, *q.borrowing)
				}
				if q.lending != nil {
					ll = qty(r, *q.lending)
				}
				use := cq.usage[f.name][r]
				tbl.Add(f.name, string(r), qty(r, q.nominal), bl, ll, qty(r, use[0]), qty(r, use[1]))
			}
		}
	}
	b.WriteString(tbl.Render(t.maxBytes / 3))
	ns := ""
	if a.Kind == "localqueue" {
		ns = a.Namespace
	}
	wls, err := t.k.dynList(ctx, kueueGVR(version, "workloads"), ns, true)
	if err != nil {
		return "", err
	}
	pending := t.pendingIn(ctx, wls, cq.name, version)
	fmt.Fprintf(&b, "pending workloads, in admission order (priority, then age): %d\n", len(pending))
	pt := mcptool.Table{Header: []string{"#", "WORKLOAD", "LOCALQUEUE", "PRIORITY", "REQUESTS", "KUEUE SAYS"}}
	for i := range pending {
		w := &pending[i]
		if a.Kind == "localqueue" && str(w.Object, "spec", "queueName") != a.Name {
			continue
		}
		prio, _ := num(w.Object, "spec", "priority")
		say := ""
		if c := findCond(conditions(w.Object), "QuotaReserved"); c != nil {
			say = c.message
		}
		pt.Add(fmt.Sprint(i+1), w.GetNamespace()+"/"+w.GetName(), str(w.Object, "spec", "queueName"), fmt.Sprint(prio), reqSummary(workloadRequests(w)), orDash(say))
	}
	b.WriteString(pt.Render(t.maxBytes - b.Len() - 128))
	return b.String(), nil
}

func (t *tools) volcanoQueueDetail(ctx context.Context, version, name string) (string, error) {
	q, err := t.k.dynGet(ctx, volcanoGVR(version, "queues"), "", name)
	if err != nil {
		return "", err
	}
	if q == nil {
		return "", fmt.Errorf("Volcano Queue %s not found; queue_status with kind volcano lists them", name)
	}
	var b strings.Builder
	row := volcanoQueueRow(q)
	fmt.Fprintf(&b, "Volcano Queue %s: state %s, weight %s, capability %s; %s pending, %s inqueue, %s running.\n", name, row[1], row[2], row[3], row[4], row[5], row[6])
	pgs, err := t.k.dynList(ctx, volcanoGVR(version, "podgroups"), "", true)
	if err != nil {
		return "", err
	}
	tbl := mcptool.Table{Header: []string{"PODGROUP", "PHASE", "MINMEMBER", "RUNNING", "CONDITION"}}
	for _, pg := range pgs {
		qn := str(pg.Object, "spec", "queue")
		if qn == "" {
			qn = defaultVolcanoQue
		}
		if qn != name {
			continue
		}
		minMember, _ := num(pg.Object, "spec", "minMember")
		running, _ := num(pg.Object, "status", "running")
		cond := "-"
		if cs := conditions(pg.Object); len(cs) > 0 {
			cond = cs[len(cs)-1].String()
		}
		tbl.Add(pg.GetNamespace()+"/"+pg.GetName(), orDash(str(pg.Object, "status", "phase")), fmt.Sprint(minMember), fmt.Sprint(running), cond)
	}
	if len(tbl.Rows) == 0 {
		b.WriteString("no PodGroups in it.\n")
	}
	b.WriteString(tbl.Render(t.maxBytes - b.Len() - 128))
	return b.String(), nil
}
