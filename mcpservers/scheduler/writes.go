package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/api/contract"
	changepkg "github.com/opsmesh/opsmesh/mcpservers/change"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The write tools change queues and jobs. Like the cluster server's writes, every one takes
// dryRun, which sends the same request with the API server's server-side dry run (admission and
// validation run, nothing is stored) and returns the change as a diff; each is checked
// (arguments, --allow-namespaces, the object's current state) before anything is sent, so that a
// refused write changes nothing; and each is guarded by the resourceVersion it read.

func dryRunParam() mcp.ToolOption {
	return mcp.WithBoolean("dryRun", mcp.DefaultBool(false), mcp.Description(
		"preview only: the API server validates and admits the change but stores nothing; the result is the change as a diff"))
}

type queueMoveArgs struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Queue     string `json:"queue"`
	DryRun    bool   `json:"dryRun"`
}

type quotaArgs struct {
	Name           string  `json:"name"`
	Flavor         string  `json:"flavor"`
	Resource       string  `json:"resource"`
	NominalQuota   string  `json:"nominalQuota"`
	BorrowingLimit *string `json:"borrowingLimit"`
	LendingLimit   *string `json:"lendingLimit"`
	DryRun         bool    `json:"dryRun"`
}

func (a *quotaArgs) Validate() error {
	for _, q := range []struct {
		name string
		v    *string
	}{{"nominalQuota", &a.NominalQuota}, {"borrowingLimit", a.BorrowingLimit}, {"lendingLimit", a.LendingLimit}} {
		if q.v == nil || (*q.v == "" && q.name != "nominalQuota") || (*q.v == "none" && q.name != "nominalQuota") {
			continue
		}
		v, err := apiresource.ParseQuantity(*q.v)
		if err != nil {
			return fmt.Errorf(`argument %q must be a quantity such as 32, 500m or 64Gi, not %q`, q.name, *q.v)
		}
		if v.Sign() < 0 {
			return fmt.Errorf(`argument %q must not be negative, not %q`, q.name, *q.v)
		}
	}
	return nil
}

type jobArgs struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	DryRun    bool   `json:"dryRun"`
}

type priorityArgs struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Priority  int32  `json:"priority"`
	DryRun    bool   `json:"dryRun"`
}

func (t *tools) writeTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "workload_set_queue",
			Description: "Move a suspended Job (its kueue.x-k8s.io/queue-name label) or a Kueue Workload that holds no quota (spec.queueName) " +
				"to another LocalQueue of its namespace. The LocalQueue must exist. Kueue then queues it there.",
			Effect: mcptool.Write, Idempotent: true,
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Required(), mcp.Enum("job", "workload"), mcp.Description("job (a batch/v1 Job) or workload (a Kueue Workload)")),
				namespaceParam(), nameParam("Job or Workload"),
				mcp.WithString("queue", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the LocalQueue to move it to")),
				dryRunParam(),
			},
		}, t.workloadSetQueue),
		mcptool.NewData(mcptool.Spec{
			Name: "clusterqueue_set_quota",
			Description: "Set the nominalQuota (and optionally the borrowingLimit or lendingLimit) of one resource in one flavor of a Kueue " +
				"ClusterQueue. Raising it lets pending workloads be admitted; lowering it below use does not evict admitted ones.",
			Effect: mcptool.Write, Idempotent: true,
			Params: []mcp.ToolOption{
				mcp.WithString("name", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the ClusterQueue")),
				mcp.WithString("flavor", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the ResourceFlavor, as listed in its resourceGroups")),
				mcp.WithString("resource", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(253), mcp.Description("the resource, such as nvidia.com/gpu, cpu or memory")),
				mcp.WithString("nominalQuota", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(64), mcp.Description("the new nominal quota, such as 40 or 512Gi")),
				mcp.WithString("borrowingLimit", mcp.MaxLength(64), mcp.Description(`the new borrowing limit; "none" removes it (borrow without limit from the cohort)`)),
				mcp.WithString("lendingLimit", mcp.MaxLength(64), mcp.Description(`the new lending limit; "none" removes it`)),
				dryRunParam(),
			},
		}, t.clusterQueueSetQuota),
		mcptool.NewData(mcptool.Spec{
			Name: "job_suspend",
			Description: "Suspend a Job (spec.suspend: true): its running pods are terminated and no new ones start until it is resumed; " +
				"completions so far are kept. Under Kueue this also releases the Job's quota.",
			Effect: mcptool.Destructive, Idempotent: true,
			Params: []mcp.ToolOption{namespaceParam(), nameParam("Job"), dryRunParam()},
		}, t.jobSuspend),
		mcptool.NewData(mcptool.Spec{
			Name: "job_resume",
			Description: "Resume a suspended Job (spec.suspend: false) so that its pods are created. Refused for a Job that Kueue manages " +
				"(kueue.x-k8s.io/queue-name label): Kueue resumes it on admission, so change its queue or quota instead.",
			Effect: mcptool.Write, Idempotent: true,
			Params: []mcp.ToolOption{namespaceParam(), nameParam("Job"), dryRunParam()},
		}, t.jobResume),
		mcptool.NewData(mcptool.Spec{
			Name: "workload_set_priority",
			Description: "Set the priority (spec.priority) of a Kueue Workload, which orders its ClusterQueue's pending workloads and " +
				"decides preemption between workloads. Raising it may let it preempt lower-priority admitted workloads.",
			Effect: mcptool.Write, Idempotent: true,
			Params: []mcp.ToolOption{
				namespaceParam(), nameParam("Workload"),
				mcp.WithInteger("priority", mcp.Required(), mcp.Min(-2147483648), mcp.Max(1000000000), mcp.Description("the new priority")),
				dryRunParam(),
			},
		}, t.workloadSetPriority),
	}
}

var errUnchanged = changepkg.ErrUnchanged

// change is one write's result.
type change = changepkg.Result

// update reads the object at key into fresh(), lets edit change it, and sends the difference as a
// JSON merge patch guarded by the resourceVersion it read (change.Update).
func (t *tools) update(ctx context.Context, ref string, key client.ObjectKey, fresh func() client.Object, dryRun bool, edit func(obj client.Object) (string, error)) (*change, error) {
	merge := func(orig client.Object) client.Patch {
		return client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	}
	return changepkg.Update(ctx, t.k.Direct, ref, key, fresh, dryRun, merge, edit,
		func(err error) error { return apiError(err, "get", ref) },
		func(err error) error { return writeError(err, ref) })
}

func writeError(err error, ref string) error {
	var status apierrors.APIStatus
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		msg := err.Error()
		if errors.As(err, &status) {
			msg = status.Status().Message
		}
		return fmt.Errorf("the API server refused to patch %s: %s; nothing was changed", ref, msg)
	}
	return apiError(err, "patch", ref)
}

// answer is a change's result: the contract's Change, and as text the summary, notes and the diff
// of the object's YAML.
func (t *tools) answer(c *change) (contract.Change, string, error) {
	return c.Answer(func(obj client.Object) (string, error) { return diffYAML(t.k.Scheme, obj) }, t.maxBytes, 0)
}

// diffYAML renders an object for a diff, without the fields that change on every write.
func diffYAML(scheme *runtime.Scheme, obj client.Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = u.DeepCopy().Object
	} else {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return "", fmt.Errorf("rendering %T: %w", obj, err)
		}
	}
	for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
		unstructured.RemoveNestedField(m, "metadata", f)
	}
	out, err := yaml.Marshal(m)
	return string(out), err
}

func isKueueManaged(j *batchv1.Job) bool { return j.Labels[queueNameLabel] != "" }

func (t *tools) workloadSetQueue(ctx context.Context, a queueMoveArgs) (contract.Change, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Change{}, "", err
	}
	version, err := t.kueueVersion()
	if err != nil {
		return contract.Change{}, "", err
	}
	if version == "" {
		return contract.Change{}, "", fmt.Errorf("Kueue is not installed in this cluster (no %s CRDs): there are no LocalQueues to move to", kueueGroup)
	}
	lq, err := t.k.dynGet(ctx, kueueGVR(version, "localqueues"), a.Namespace, a.Queue)
	if err != nil {
		return contract.Change{}, "", err
	}
	if lq == nil {
		lqs, err := t.k.dynList(ctx, kueueGVR(version, "localqueues"), a.Namespace, true)
		if err != nil {
			return contract.Change{}, "", err
		}
		var names []string
		for _, l := range lqs {
			names = append(names, l.GetName())
		}
		return contract.Change{}, "", fmt.Errorf("LocalQueue %s/%s does not exist; nothing was changed; the LocalQueues of namespace %s are: %s", a.Namespace, a.Queue, a.Namespace, orDash(strings.Join(names, ", ")))
	}
	key := client.ObjectKey{Namespace: a.Namespace, Name: a.Name}
	var c *change
	if a.Kind == "job" {
		ref := "Job " + a.Namespace + "/" + a.Name
		c, err = t.update(ctx, ref, key, func() client.Object { return &batchv1.Job{} }, a.DryRun, func(o client.Object) (string, error) {
			j := o.(*batchv1.Job)
			old := j.Labels[queueNameLabel]
			if old == a.Queue {
				return "already in LocalQueue " + a.Queue, errUnchanged
			}
			if j.Spec.Suspend == nil || !*j.Spec.Suspend {
				return "", fmt.Errorf("%s is running (not suspended): Kueue allows changing its queue only while it is suspended; suspend it first (job_suspend), then move it; nothing was changed", ref)
			}
			if j.Labels == nil {
				j.Labels = map[string]string{}
			}
			j.Labels[queueNameLabel] = a.Queue
			return fmt.Sprintf("LocalQueue %s → %s", orDash(old), a.Queue), nil
		})
	} else {
		ref := "Workload " + a.Namespace + "/" + a.Name
		c, err = t.update(ctx, ref, key, t.unstructuredOf(version, "Workload"), a.DryRun, func(o client.Object) (string, error) {
			u := o.(*unstructured.Unstructured)
			old := str(u.Object, "spec", "queueName")
			if old == a.Queue {
				return "already in LocalQueue " + a.Queue, errUnchanged
			}
			if isTrue(findCond(conditions(u.Object), "QuotaReserved")) {
				return "", fmt.Errorf("%s holds quota in its ClusterQueue (QuotaReserved=True): Kueue forbids changing its queue now; suspend its Job first (job_suspend); nothing was changed", ref)
			}
			if err := unstructured.SetNestedField(u.Object, a.Queue, "spec", "queueName"); err != nil {
				return "", err
			}
			return fmt.Sprintf("LocalQueue %s → %s", orDash(old), a.Queue), nil
		})
	}
	if err != nil {
		return contract.Change{}, "", err
	}
	c.Notes = append(c.Notes, fmt.Sprintf("LocalQueue %s feeds ClusterQueue %s", a.Queue, str(lq.Object, "spec", "clusterQueue")))
	return t.answer(c)
}

// unstructuredOf makes empty Kueue objects of kind for Direct reads.
func (t *tools) unstructuredOf(version, kind string) func() client.Object {
	return func() client.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(kueueGroup + "/" + version)
		u.SetKind(kind)
		return u
	}
}

func (t *tools) clusterQueueSetQuota(ctx context.Context, a quotaArgs) (contract.Change, string, error) {
	if len(t.k.Allow) > 0 {
		return contract.Change{}, "", fmt.Errorf("ClusterQueue %s is cluster-scoped, and this server is confined to namespaces %s (--allow-namespaces); nothing was changed", a.Name, strings.Join(t.k.Allow, ", "))
	}
	version, err := t.kueueVersion()
	if err != nil {
		return contract.Change{}, "", err
	}
	if version == "" {
		return contract.Change{}, "", fmt.Errorf("Kueue is not installed in this cluster (no %s CRDs): there is no ClusterQueue %s", kueueGroup, a.Name)
	}
	ref := "ClusterQueue " + a.Name
	c, err := t.update(ctx, ref, client.ObjectKey{Name: a.Name}, t.unstructuredOf(version, "ClusterQueue"), a.DryRun, func(o client.Object) (string, error) {
		u := o.(*unstructured.Unstructured)
		groups, _, _ := unstructured.NestedSlice(u.Object, "spec", "resourceGroups")
		var flavors []string
		for _, g := range groups {
			gm, _ := g.(map[string]any)
			fls, _ := gm["flavors"].([]any) // no copy: edits land in groups
			for _, f := range fls {
				fm, _ := f.(map[string]any)
				flavors = append(flavors, str(fm, "name"))
				if str(fm, "name") != a.Flavor {
					continue
				}
				res, _ := fm["resources"].([]any)
				var names []string
				for _, r := range res {
					rm, _ := r.(map[string]any)
					names = append(names, str(rm, "name"))
					if str(rm, "name") != a.Resource {
						continue
					}
					var parts []string
					set := func(field string, v *string) {
						if v == nil {
							return
						}
						old := "-"
						if cur, ok := rm[field]; ok {
							old = fmt.Sprint(cur)
						}
						if *v == "none" || *v == "" {
							if _, ok := rm[field]; ok {
								delete(rm, field)
								parts = append(parts, fmt.Sprintf("%s %s → none", field, old))
							}
							return
						}
						if old == *v {
							return
						}
						rm[field] = *v
						parts = append(parts, fmt.Sprintf("%s %s → %s", field, old, *v))
					}
					set("nominalQuota", &a.NominalQuota)
					set("borrowingLimit", a.BorrowingLimit)
					set("lendingLimit", a.LendingLimit)
					if len(parts) == 0 {
						return fmt.Sprintf("%s in flavor %s already has those values", a.Resource, a.Flavor), errUnchanged
					}
					if err := unstructured.SetNestedSlice(u.Object, groups, "spec", "resourceGroups"); err != nil {
						return "", err
					}
					return fmt.Sprintf("%s in flavor %s: %s", a.Resource, a.Flavor, strings.Join(parts, ", ")), nil
				}
				return "", fmt.Errorf("%s gives flavor %s no quota for %s (it has %s); nothing was changed; add the resource to the resourceGroup's coveredResources first",
					ref, a.Flavor, a.Resource, orDash(strings.Join(names, ", ")))
			}
		}
		return "", fmt.Errorf("%s has no flavor %q; its flavors are %s; nothing was changed", ref, a.Flavor, orDash(strings.Join(flavors, ", ")))
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	return t.answer(c)
}

func (t *tools) setSuspend(ctx context.Context, a jobArgs, suspend bool) (contract.Change, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Change{}, "", err
	}
	ref := "Job " + a.Namespace + "/" + a.Name
	var active int32
	c, err := t.update(ctx, ref, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, func() client.Object { return &batchv1.Job{} }, a.DryRun, func(o client.Object) (string, error) {
		j := o.(*batchv1.Job)
		cur := j.Spec.Suspend != nil && *j.Spec.Suspend
		if cur == suspend {
			if suspend {
				return "already suspended", errUnchanged
			}
			return "already running (not suspended)", errUnchanged
		}
		if !suspend && isKueueManaged(j) {
			return "", fmt.Errorf("%s is managed by Kueue (label %s=%s): Kueue resumes it when the LocalQueue's ClusterQueue admits it, and would suspend it again; nothing was changed; to let it run, raise the quota (clusterqueue_set_quota), move it to another queue (workload_set_queue), or remove the label to take it out of Kueue",
				ref, queueNameLabel, j.Labels[queueNameLabel])
		}
		for _, cond := range j.Status.Conditions {
			if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
				return "", fmt.Errorf("%s has finished (%s); suspending or resuming it does nothing; nothing was changed", ref, cond.Type)
			}
		}
		active = j.Status.Active
		j.Spec.Suspend = &suspend
		return fmt.Sprintf("suspend %v → %v", cur, suspend), nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	if suspend && active > 0 && !c.NoChange {
		c.Notes = append(c.Notes, fmt.Sprintf("its %d active pod(s) are terminated", active))
	}
	return t.answer(c)
}

func (t *tools) jobSuspend(ctx context.Context, a jobArgs) (contract.Change, string, error) {
	return t.setSuspend(ctx, a, true)
}
func (t *tools) jobResume(ctx context.Context, a jobArgs) (contract.Change, string, error) {
	return t.setSuspend(ctx, a, false)
}

func (t *tools) workloadSetPriority(ctx context.Context, a priorityArgs) (contract.Change, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Change{}, "", err
	}
	version, err := t.kueueVersion()
	if err != nil {
		return contract.Change{}, "", err
	}
	if version == "" {
		return contract.Change{}, "", fmt.Errorf("Kueue is not installed in this cluster (no %s CRDs): there is no Workload %s/%s", kueueGroup, a.Namespace, a.Name)
	}
	ref := "Workload " + a.Namespace + "/" + a.Name
	var fromClass string
	c, err := t.update(ctx, ref, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, t.unstructuredOf(version, "Workload"), a.DryRun, func(o client.Object) (string, error) {
		u := o.(*unstructured.Unstructured)
		old, had := num(u.Object, "spec", "priority")
		if had && old == int64(a.Priority) {
			return fmt.Sprintf("priority already %d", a.Priority), errUnchanged
		}
		fromClass = firstStr(u.Object, []string{"spec", "priorityClassRef", "name"}, []string{"spec", "priorityClassName"})
		if err := unstructured.SetNestedField(u.Object, int64(a.Priority), "spec", "priority"); err != nil {
			return "", err
		}
		was := "unset"
		if had {
			was = fmt.Sprint(old)
		}
		return fmt.Sprintf("priority %s → %d", was, a.Priority), nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	if fromClass != "" && !c.NoChange {
		c.Notes = append(c.Notes, fmt.Sprintf("its priority comes from priority class %s; Kueue may set it back from the class: to change it for good, change the class or the job's kueue.x-k8s.io/priority-class label", fromClass))
	}
	return t.answer(c)
}
