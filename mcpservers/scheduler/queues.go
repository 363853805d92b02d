package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
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
		mcptool.NewData(mcptool.Spec{
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

// maxListed bounds each list of a structured answer; what it leaves out is counted in the
// answer's Truncated.
const maxListed = 200

// bounded keeps the first maxListed items and adds the rest to *truncated.
func bounded[T any](items []T, truncated *int) []T {
	if len(items) <= maxListed {
		return items
	}
	*truncated += len(items) - maxListed
	return items[:maxListed]
}

func (t *tools) queueStatus(ctx context.Context, a queueArgs) (contract.QueueStatus, string, error) {
	var out contract.QueueStatus
	if a.Namespace != "" {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return out, "", err
		}
	}
	kv, err := t.kueueVersion()
	if err != nil {
		return out, "", err
	}
	vv, err := t.volcanoVersion()
	if err != nil {
		return out, "", err
	}
	var b strings.Builder
	if a.Name != "" {
		switch a.Kind {
		case "clusterqueue", "localqueue":
			if kv == "" {
				return out, "", fmt.Errorf("Kueue is not installed in this cluster (no %s CRDs): there are no %ss", kueueGroup, a.Kind)
			}
			out.Kueue = &contract.KueueQueues{Installed: true, Version: kv}
			text, err := t.kueueQueueDetail(ctx, kv, a, out.Kueue)
			return out, text, err
		case "volcano":
			if vv == "" {
				return out, "", fmt.Errorf("Volcano is not installed in this cluster (no %s CRDs): there are no Volcano Queues", volcanoGroup)
			}
			out.Volcano = &contract.VolcanoQueues{Installed: true, Version: vv}
			text, err := t.volcanoQueueDetail(ctx, vv, a.Name, out.Volcano)
			return out, text, err
		}
	}
	if a.Kind == "" || a.Kind == "clusterqueue" || a.Kind == "localqueue" {
		out.Kueue = &contract.KueueQueues{Installed: kv != "", Version: kv}
		if kv == "" {
			b.WriteString("Kueue: not installed (no kueue.x-k8s.io CRDs).\n")
		} else if err := t.kueueOverview(ctx, &b, kv, a, out.Kueue); err != nil {
			return out, "", err
		}
	}
	if a.Kind == "" || a.Kind == "volcano" {
		out.Volcano = &contract.VolcanoQueues{Installed: vv != "", Version: vv}
		if vv == "" {
			b.WriteString("Volcano: not installed (no scheduling.volcano.sh CRDs).\n")
		} else {
			qs, err := t.k.dynList(ctx, volcanoGVR(vv, "queues"), "", false)
			if err != nil {
				return out, "", err
			}
			fmt.Fprintf(&b, "Volcano Queues (%s/%s): %d\n", volcanoGroup, vv, len(qs))
			tbl := mcptool.Table{Header: []string{"QUEUE", "STATE", "WEIGHT", "CAPABILITY", "PENDING", "INQUEUE", "RUNNING"}}
			var queues []contract.VolcanoQueue
			for i := range qs {
				tbl.Add(volcanoQueueRow(&qs[i])...)
				queues = append(queues, volcanoQueueOf(&qs[i]))
			}
			out.Volcano.Queues = bounded(queues, &out.Volcano.Truncated)
			b.WriteString(tbl.Render(t.maxBytes / 3))
		}
	}
	return out, b.String(), nil
}

// clusterQueueOf is a ClusterQueue as the contract writes it.
func clusterQueueOf(cq *clusterQueue) contract.ClusterQueue {
	out := contract.ClusterQueue{Name: cq.name, Cohort: cq.cohort, Pending: cq.pending, Admitted: cq.admitted, Quotas: []contract.FlavorQuota{}}
	if cq.stopPolicy != "None" {
		out.StopPolicy = cq.stopPolicy
	}
	for _, g := range cq.groups {
		for _, f := range g.flavors {
			for _, r := range g.covered {
				q, ok := f.quotas[r]
				if !ok {
					continue
				}
				use := cq.usage[f.name][r]
				fq := contract.FlavorQuota{Flavor: f.name, Resource: string(r), Nominal: qty(r, q.nominal), Used: qty(r, use[0]), Borrowed: qty(r, use[1])}
				if q.borrowing != nil {
					fq.BorrowingLimit = qty(r, *q.borrowing)
				}
				if q.lending != nil {
					fq.LendingLimit = qty(r, *q.lending)
				}
				out.Quotas = append(out.Quotas, fq)
			}
		}
	}
	return out
}

// quantities renders a request list by resource name.
func quantities(l resList) map[string]string {
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for r, v := range l {
		out[string(r)] = qty(r, v)
	}
	return out
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

func (t *tools) kueueOverview(ctx context.Context, b *strings.Builder, version string, a queueArgs, out *contract.KueueQueues) error {
	if a.Kind != "localqueue" {
		if len(t.k.Allow) > 0 {
			out.ClusterQueuesHidden = fmt.Sprintf("they are cluster-scoped and this server is confined to %s (--allow-namespaces)", strings.Join(t.k.Allow, ", "))
			fmt.Fprintf(b, "Kueue ClusterQueues: not shown; they are cluster-scoped and this server is confined to %s (--allow-namespaces).\n", strings.Join(t.k.Allow, ", "))
		} else {
			cqs, err := t.k.dynList(ctx, kueueGVR(version, "clusterqueues"), "", false)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "Kueue ClusterQueues (%s/%s): %d\n", kueueGroup, version, len(cqs))
			tbl := mcptool.Table{Header: []string{"CLUSTERQUEUE", "COHORT", "PENDING", "ADMITTED", "USAGE (used/nominal per flavor)"}}
			var queues []contract.ClusterQueue
			for i := range cqs {
				cq := parseClusterQueue(&cqs[i])
				cohort := cq.cohort
				if cq.stopPolicy != "" && cq.stopPolicy != "None" {
					cohort += " stopped:" + cq.stopPolicy
				}
				tbl.Add(cq.name, orDash(cohort), fmt.Sprint(cq.pending), fmt.Sprint(cq.admitted), usageSummary(cq))
				queues = append(queues, clusterQueueOf(cq))
			}
			out.ClusterQueues = bounded(queues, &out.Truncated)
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
		var queues []contract.LocalQueue
		for _, lq := range lqs {
			pending, _ := num(lq.Object, "status", "pendingWorkloads")
			admitted, _ := num(lq.Object, "status", "admittedWorkloads")
			tbl.Add(lq.GetNamespace()+"/"+lq.GetName(), str(lq.Object, "spec", "clusterQueue"), fmt.Sprint(pending), fmt.Sprint(admitted))
			queues = append(queues, contract.LocalQueue{Queue: lq.GetNamespace() + "/" + lq.GetName(), ClusterQueue: str(lq.Object, "spec", "clusterQueue"), Pending: pending, Admitted: admitted})
		}
		out.LocalQueues = bounded(queues, &out.Truncated)
		b.WriteString(tbl.Render(t.maxBytes / 3))
	}
	return nil
}

// kueueQueueDetail shows one ClusterQueue, or one LocalQueue and its ClusterQueue, with what
// waits in it; out gets the same.
func (t *tools) kueueQueueDetail(ctx context.Context, version string, a queueArgs, out *contract.KueueQueues) (string, error) {
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
		out.LocalQueues = []contract.LocalQueue{{Queue: a.Namespace + "/" + a.Name, ClusterQueue: cqName, Pending: pending, Admitted: admitted}}
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
	detail := clusterQueueOf(cq)
	if cq.active != nil {
		detail.Active = cq.active.String()
	}
	out.ClusterQueues = []contract.ClusterQueue{detail}
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
	var waiting []contract.PendingWorkload
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
		req := workloadRequests(w)
		pt.Add(fmt.Sprint(i+1), w.GetNamespace()+"/"+w.GetName(), str(w.Object, "spec", "queueName"), fmt.Sprint(prio), reqSummary(req), orDash(say))
		waiting = append(waiting, contract.PendingWorkload{Position: i + 1, Workload: w.GetNamespace() + "/" + w.GetName(),
			LocalQueue: str(w.Object, "spec", "queueName"), Priority: prio, Requests: quantities(req), Message: say})
	}
	out.Pending = bounded(waiting, &out.Truncated)
	b.WriteString(pt.Render(t.maxBytes - b.Len() - 128))
	return b.String(), nil
}

// volcanoQueueDetail shows one Volcano Queue and its PodGroups; out gets the same.
func (t *tools) volcanoQueueDetail(ctx context.Context, version, name string, out *contract.VolcanoQueues) (string, error) {
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
	out.Queues = []contract.VolcanoQueue{volcanoQueueOf(q)}
	pgs, err := t.k.dynList(ctx, volcanoGVR(version, "podgroups"), "", true)
	if err != nil {
		return "", err
	}
	tbl := mcptool.Table{Header: []string{"PODGROUP", "PHASE", "MINMEMBER", "RUNNING", "CONDITION"}}
	var groups []contract.PodGroup
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
		group := contract.PodGroup{PodGroup: pg.GetNamespace() + "/" + pg.GetName(), Phase: str(pg.Object, "status", "phase"), MinMember: minMember, Running: running}
		if cond != "-" {
			group.Condition = cond
		}
		groups = append(groups, group)
	}
	out.PodGroups = bounded(groups, &out.Truncated)
	if len(tbl.Rows) == 0 {
		b.WriteString("no PodGroups in it.\n")
	}
	b.WriteString(tbl.Render(t.maxBytes - b.Len() - 128))
	return b.String(), nil
}
