package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// workloadKind is a kind of workload the write tools change: how to make an empty one and where
// its pod template sits.
type workloadKind struct {
	kind     string // as refs name it: deployment
	apiKind  string // as the API names it: Deployment
	newObj   func() client.Object
	template func(client.Object) *corev1.PodTemplateSpec
}

var workloadKinds = map[string]workloadKind{
	"deployment": {"deployment", "Deployment", func() client.Object { return &appsv1.Deployment{} },
		func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template }},
	"statefulset": {"statefulset", "StatefulSet", func() client.Object { return &appsv1.StatefulSet{} },
		func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template }},
	"daemonset": {"daemonset", "DaemonSet", func() client.Object { return &appsv1.DaemonSet{} },
		func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template }},
	"cronjob": {"cronjob", "CronJob", func() client.Object { return &batchv1.CronJob{} },
		func(o client.Object) *corev1.PodTemplateSpec {
			return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template
		}},
}

// workloadKindOf checks a kind argument against the kinds a tool takes.
func workloadKindOf(kind string, allowed ...string) (workloadKind, error) {
	if slices.Contains(allowed, kind) {
		return workloadKinds[kind], nil
	}
	if kind == "" {
		return workloadKind{}, fmt.Errorf(`argument "kind" is required: one of %s`, strings.Join(allowed, ", "))
	}
	if kind == "job" {
		return workloadKind{}, fmt.Errorf(`kind "job" is not supported: a Job's pod template cannot be changed once created; change its CronJob (kind cronjob), or delete the Job and create it anew`)
	}
	return workloadKind{}, fmt.Errorf(`argument "kind" must be one of %s, not %q`, strings.Join(allowed, ", "), kind)
}

var (
	restartKinds  = []string{"deployment", "statefulset", "daemonset"}
	scaleKinds    = []string{"deployment", "statefulset"}
	templateKinds = []string{"deployment", "statefulset", "daemonset", "cronjob"}
)

func kindParam(kinds []string) mcp.ToolOption {
	return mcp.WithString("kind", mcp.Required(), mcp.Enum(kinds...), mcp.Description("kind of workload: "+strings.Join(kinds, ", ")))
}

// stsPodsNote ends the description of each write that changes a pod template.
const stsPodsNote = " A StatefulSet that updates pod by pod (podManagementPolicy OrderedReady) never replaces a pod that is not Ready: " +
	"after the change, its pods that are not Ready and of an older revision are deleted so that they are recreated from the new template."

func (t *tools) workloadWriteTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "workload_restart",
			Description: "Restart every pod of a Deployment, StatefulSet or DaemonSet by a rolling update, as kubectl rollout restart does " +
				"(sets the kubectl.kubernetes.io/restartedAt annotation on the pod template). Pods are replaced as the workload's update strategy allows." + stsPodsNote,
			Effect: mcptool.Write,
			Params: []mcp.ToolOption{kindParam(restartKinds), namespaceParam(), nameParam("workload"), dryRunParam()},
		}, t.workloadRestart),
		mcptool.NewData(mcptool.Spec{
			Name: "workload_scale",
			Description: "Set the replicas of a Deployment or StatefulSet, as kubectl scale does. Scaling to 0 stops every pod of it. " +
				"A HorizontalPodAutoscaler on the workload overrides the count; the result says when one does.",
			Effect:     mcptool.Write,
			Idempotent: true,
			Params: []mcp.ToolOption{kindParam(scaleKinds), namespaceParam(), nameParam("workload"),
				mcp.WithInteger("replicas", mcp.Required(), mcp.Min(0), mcp.Max(maxReplicas), mcp.Description("desired number of pods, 0 to 1000")),
				dryRunParam()},
		}, t.workloadScale),
		mcptool.NewData(mcptool.Spec{
			Name: "workload_set_image",
			Description: "Set the image of one container (or init container) in a workload's pod template, as kubectl set image does; " +
				"the workload then rolls out. A Job's template cannot change: set its CronJob's instead." + stsPodsNote,
			Effect:     mcptool.Write,
			Idempotent: true,
			Params: []mcp.ToolOption{kindParam(templateKinds), namespaceParam(), nameParam("workload"),
				mcp.WithString("container", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(63), mcp.Description("container name")),
				mcp.WithString("image", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(1024), mcp.Description("image reference, such as registry.example/app:1.4.2 or app@sha256:...")),
				dryRunParam()},
		}, t.workloadSetImage),
		mcptool.NewData(mcptool.Spec{
			Name: "workload_set_resources",
			Description: "Set the CPU and memory requests and limits of one container in a workload's pod template, as kubectl set resources does; " +
				"the workload then rolls out. Values left out keep their current value." + stsPodsNote,
			Effect:     mcptool.Write,
			Idempotent: true,
			Params: []mcp.ToolOption{kindParam(templateKinds), namespaceParam(), nameParam("workload"),
				mcp.WithString("container", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(63), mcp.Description("container name")),
				quantitiesParam("requests", "what the scheduler reserves for the container"),
				quantitiesParam("limits", "the most the container may use (over the memory limit it is OOM-killed; over the CPU limit, throttled)"),
				dryRunParam()},
		}, t.workloadSetResources),
		mcptool.NewData(mcptool.Spec{
			Name: "workload_rollback",
			Description: "Roll a Deployment, StatefulSet or DaemonSet back to an earlier revision of its pod template, as kubectl rollout undo does: " +
				"by default the revision before the current one." + stsPodsNote,
			Effect: mcptool.Write,
			Params: []mcp.ToolOption{kindParam(restartKinds), namespaceParam(), nameParam("workload"),
				mcp.WithInteger("toRevision", mcp.Min(0), mcp.Description("revision to go back to (see the workload's ReplicaSets or ControllerRevisions); default (0) the previous one")),
				dryRunParam()},
		}, t.workloadRollback),
	}
}

// workloadArgs are the arguments every workload write takes.
type workloadArgs struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	DryRun    bool   `json:"dryRun,omitempty"`
}

func (a *workloadArgs) check(allowed []string) error {
	if _, err := workloadKindOf(a.Kind, allowed...); err != nil {
		return err
	}
	return requireNamed(a.Namespace, a.Name)
}

// updateWorkload changes one workload with update, after checking the namespace.
func (t *tools) updateWorkload(ctx context.Context, a workloadArgs, allowed []string, edit func(wk workloadKind, obj client.Object) (string, error)) (*change, error) {
	wk, err := workloadKindOf(a.Kind, allowed...)
	if err != nil {
		return nil, err
	}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return nil, err
	}
	ref := objectRef(wk.kind, a.Namespace, a.Name)
	return t.update(ctx, ref, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, wk.newObj, a.DryRun,
		func(obj client.Object) (string, error) { return edit(wk, obj) })
}

// --- workload_restart

type restartArgs struct{ workloadArgs }

func (a *restartArgs) Validate() error { return a.check(restartKinds) }

// restartedAt is the annotation kubectl rollout restart sets on a pod template.
const restartedAt = "kubectl.kubernetes.io/restartedAt"

func (t *tools) workloadRestart(ctx context.Context, a restartArgs) (contract.Change, string, error) {
	now := time.Now().Format(time.RFC3339)
	c, err := t.updateWorkload(ctx, a.workloadArgs, restartKinds, func(wk workloadKind, obj client.Object) (string, error) {
		if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
			return "", fmt.Errorf("deployment %s/%s is paused: a restart would not roll out; resume it first (set spec.paused to false with resource_patch)", d.Namespace, d.Name)
		}
		tpl := wk.template(obj)
		if tpl.Annotations == nil {
			tpl.Annotations = map[string]string{}
		}
		tpl.Annotations[restartedAt] = now
		return fmt.Sprintf("rollout restart (pod template annotation %s=%s): its pods are replaced as its update strategy allows", restartedAt, now), nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	t.replaceStuckPods(ctx, c)
	return t.render(c)
}

// --- workload_scale

const maxReplicas = 1000

type scaleArgs struct {
	workloadArgs
	Replicas *int64 `json:"replicas"`
}

func (a *scaleArgs) Validate() error {
	if err := a.check(scaleKinds); err != nil {
		return err
	}
	switch {
	case a.Replicas == nil:
		return errors.New(`argument "replicas" is required: the desired number of pods, 0 to 1000`)
	case *a.Replicas < 0:
		return fmt.Errorf(`argument "replicas" must not be negative (got %d): give the desired number of pods, 0 to %d`, *a.Replicas, maxReplicas)
	case *a.Replicas > maxReplicas:
		return fmt.Errorf(`argument "replicas" must be at most %d (got %d)`, maxReplicas, *a.Replicas)
	}
	return nil
}

func (t *tools) workloadScale(ctx context.Context, a scaleArgs) (contract.Change, string, error) {
	want := int32(*a.Replicas)
	c, err := t.updateWorkload(ctx, a.workloadArgs, scaleKinds, func(_ workloadKind, obj client.Object) (string, error) {
		var p **int32
		switch o := obj.(type) {
		case *appsv1.Deployment:
			p = &o.Spec.Replicas
		case *appsv1.StatefulSet:
			p = &o.Spec.Replicas
		}
		from := replicas(*p)
		summary := fmt.Sprintf("replicas %d → %d", from, want)
		if *p != nil && from == want {
			return fmt.Sprintf("already %d replicas", want), errUnchanged
		}
		*p = &want
		return summary, nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	if want == 0 && !c.NoChange {
		c.Notes = append(c.Notes, fmt.Sprintf("scaled to 0: every pod of %s stops, and it serves nothing until it is scaled up again", c.Ref))
	}
	if hpa := t.autoscalerOf(ctx, a.Namespace, workloadKinds[a.Kind].apiKind, a.Name); hpa != "" {
		c.Notes = append(c.Notes, hpa)
	}
	return t.render(c)
}

// autoscalerOf says which HorizontalPodAutoscaler, if any, sets the replicas of a workload;
// "" when none does or HPAs cannot be read.
func (t *tools) autoscalerOf(ctx context.Context, ns, kind, name string) string {
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := t.k.Direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return ""
	}
	for _, h := range list.Items {
		if ref := h.Spec.ScaleTargetRef; ref.Kind == kind && ref.Name == name {
			return fmt.Sprintf("HorizontalPodAutoscaler %s sets the replicas of this %s (between %d and %d) and will override this count; change the autoscaler instead",
				h.Name, strings.ToLower(kind), replicas(h.Spec.MinReplicas), h.Spec.MaxReplicas)
		}
	}
	return ""
}

// --- workload_set_image

type setImageArgs struct {
	workloadArgs
	Container string `json:"container"`
	Image     string `json:"image"`
}

func (a *setImageArgs) Validate() error {
	if err := a.check(templateKinds); err != nil {
		return err
	}
	if strings.TrimSpace(a.Container) == "" {
		return errors.New(`argument "container" is required`)
	}
	if strings.TrimSpace(a.Image) == "" || strings.ContainsAny(a.Image, " \t\n") {
		return fmt.Errorf(`argument "image" must be an image reference without spaces, such as registry.example/app:1.4.2, not %q`, a.Image)
	}
	return nil
}

func (t *tools) workloadSetImage(ctx context.Context, a setImageArgs) (contract.Change, string, error) {
	c, err := t.updateWorkload(ctx, a.workloadArgs, templateKinds, func(wk workloadKind, obj client.Object) (string, error) {
		ctr, err := findContainer(wk, obj, a.Container)
		if err != nil {
			return "", err
		}
		if ctr.Image == a.Image {
			return fmt.Sprintf("container %s already runs %s", a.Container, a.Image), errUnchanged
		}
		summary := fmt.Sprintf("container %s image %s → %s", a.Container, ctr.Image, a.Image)
		ctr.Image = a.Image
		return summary, nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	t.replaceStuckPods(ctx, c)
	return t.render(c)
}

// findContainer finds a container or init container in a workload's pod template by name; the
// error lists the names there are.
func findContainer(wk workloadKind, obj client.Object, name string) (*corev1.Container, error) {
	spec := &wk.template(obj).Spec
	var names []string
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i], nil
		}
		names = append(names, spec.Containers[i].Name)
	}
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == name {
			return &spec.InitContainers[i], nil
		}
		names = append(names, spec.InitContainers[i].Name+" (init)")
	}
	return nil, fmt.Errorf("%s has no container %q; its containers are: %s",
		objectRef(wk.kind, obj.GetNamespace(), obj.GetName()), name, strings.Join(names, ", "))
}

// --- workload_set_resources

// quantities are the CPU and memory of requests or limits.
type quantities struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

func quantitiesParam(name, what string) mcp.ToolOption {
	return mcp.WithObject(name, mcp.Description(name+": "+what+"; each value left out is kept"),
		mcp.Properties(map[string]any{
			"cpu":    map[string]any{"type": "string", "maxLength": 64, "description": "CPU quantity, such as 250m or 2"},
			"memory": map[string]any{"type": "string", "maxLength": 64, "description": "memory quantity, such as 512Mi or 2Gi"},
		}),
		mcp.AdditionalProperties(false))
}

// parse parses the quantities given, naming the argument of one that is not a quantity.
func (q quantities) parse(arg string) (corev1.ResourceList, error) {
	list := corev1.ResourceList{}
	for _, v := range []struct {
		name  corev1.ResourceName
		value string
	}{{corev1.ResourceCPU, q.CPU}, {corev1.ResourceMemory, q.Memory}} {
		if v.value == "" {
			continue
		}
		qty, err := apiresource.ParseQuantity(v.value)
		if err != nil {
			return nil, fmt.Errorf(`argument "%s.%s" %q is not a quantity (%v): write it as Kubernetes does, such as 250m or 2 for CPU, 512Mi or 2Gi for memory`, arg, v.name, v.value, err)
		}
		if qty.Sign() < 0 {
			return nil, fmt.Errorf(`argument "%s.%s" must not be negative, not %q`, arg, v.name, v.value)
		}
		list[v.name] = qty
	}
	return list, nil
}

type setResourcesArgs struct {
	workloadArgs
	Container string     `json:"container"`
	Requests  quantities `json:"requests"`
	Limits    quantities `json:"limits"`
}

func (a *setResourcesArgs) Validate() error {
	if err := a.check(templateKinds); err != nil {
		return err
	}
	if strings.TrimSpace(a.Container) == "" {
		return errors.New(`argument "container" is required`)
	}
	if a.Requests == (quantities{}) && a.Limits == (quantities{}) {
		return errors.New(`give at least one value to set: requests.cpu, requests.memory, limits.cpu or limits.memory`)
	}
	if _, err := a.Requests.parse("requests"); err != nil {
		return err
	}
	_, err := a.Limits.parse("limits")
	return err
}

func (t *tools) workloadSetResources(ctx context.Context, a setResourcesArgs) (contract.Change, string, error) {
	requests, err := a.Requests.parse("requests")
	if err != nil {
		return contract.Change{}, "", err
	}
	limits, err := a.Limits.parse("limits")
	if err != nil {
		return contract.Change{}, "", err
	}
	c, err := t.updateWorkload(ctx, a.workloadArgs, templateKinds, func(wk workloadKind, obj client.Object) (string, error) {
		ctr, err := findContainer(wk, obj, a.Container)
		if err != nil {
			return "", err
		}
		var changes []string
		set := func(kind string, into *corev1.ResourceList, values corev1.ResourceList) {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				v, ok := values[name]
				if !ok {
					continue
				}
				old, had := (*into)[name]
				if had && old.Cmp(v) == 0 {
					continue
				}
				from := "<none>"
				if had {
					from = old.String()
				}
				if *into == nil {
					*into = corev1.ResourceList{}
				}
				(*into)[name] = v
				changes = append(changes, fmt.Sprintf("%s %s %s → %s", kind, name, from, v.String()))
			}
		}
		set("requests", &ctr.Resources.Requests, requests)
		set("limits", &ctr.Resources.Limits, limits)
		if len(changes) == 0 {
			return fmt.Sprintf("container %s already has these values", a.Container), errUnchanged
		}
		return "container " + a.Container + ": " + strings.Join(changes, ", "), nil
	})
	if err != nil {
		return contract.Change{}, "", err
	}
	t.replaceStuckPods(ctx, c)
	return t.render(c)
}
