package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) podWriteTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "pod_delete",
			Description: "Delete one pod, as kubectl delete pod does. A pod that a controller (ReplicaSet, StatefulSet, Job, DaemonSet) " +
				"manages is replaced by it; a bare pod is gone for good. To restart every pod of a workload, use workload_restart instead.",
			Effect: mcptool.Destructive,
			Params: []mcp.ToolOption{
				namespaceParam(),
				nameParam("pod"),
				mcp.WithInteger("gracePeriodSeconds", mcp.Min(0), mcp.Max(86400), mcp.Description(
					"seconds the pod's containers get to stop (default: the pod's terminationGracePeriodSeconds); 0 deletes at once")),
				dryRunParam(),
			},
		}, t.podDelete),
	}
}

type podDeleteArgs struct {
	Namespace          string `json:"namespace"`
	Name               string `json:"name"`
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	DryRun             bool   `json:"dryRun,omitempty"`
}

func (a *podDeleteArgs) Validate() error {
	if err := requireNamed(a.Namespace, a.Name); err != nil {
		return err
	}
	if g := a.GracePeriodSeconds; g != nil && (*g < 0 || *g > 86400) {
		return fmt.Errorf(`argument "gracePeriodSeconds" must be between 0 and 86400, not %d`, *g)
	}
	return nil
}

func (t *tools) podDelete(ctx context.Context, a podDeleteArgs) (contract.Change, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Change{}, "", err
	}
	ref := objectRef("pod", a.Namespace, a.Name)
	pod := &corev1.Pod{}
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, pod); err != nil {
		return contract.Change{}, "", apiError(err, "get", ref)
	}
	// Delete exactly the pod read: not a namesake created since (StatefulSet pods keep names).
	opts := []client.DeleteOption{client.Preconditions{UID: &pod.UID}}
	grace := "its terminationGracePeriodSeconds"
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = fmt.Sprintf("%ds", *pod.Spec.TerminationGracePeriodSeconds)
	}
	if a.GracePeriodSeconds != nil {
		opts = append(opts, client.GracePeriodSeconds(*a.GracePeriodSeconds))
		grace = fmt.Sprintf("%ds", *a.GracePeriodSeconds)
	}
	if a.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := t.k.Direct.Delete(ctx, pod.DeepCopy(), opts...); err != nil {
		if apierrors.IsConflict(err) {
			return contract.Change{}, "", fmt.Errorf("%s was replaced by a new pod of the same name while this delete was prepared; nothing was deleted; look at it again", ref)
		}
		return contract.Change{}, "", writeError(err, "delete", ref)
	}
	c := &change{Ref: ref, Summary: "deleted (grace period " + grace + ")", Before: pod, DryRun: a.DryRun}
	if owner := metav1.GetControllerOf(pod); owner != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("%s %s manages this pod and replaces it", owner.Kind, owner.Name))
	} else {
		c.Notes = append(c.Notes, "no controller manages this pod: nothing recreates it")
	}
	if !a.DryRun {
		// A pod on a node stays, terminating, until its kubelet has stopped it.
		left := &corev1.Pod{}
		err := t.k.Direct.Get(ctx, client.ObjectKeyFromObject(pod), left)
		switch {
		case err == nil && left.UID == pod.UID:
			c.After = left
			c.Notes = append(c.Notes, "the pod is terminating: it is gone once its kubelet has stopped its containers")
		case err != nil && !apierrors.IsNotFound(err):
			return contract.Change{}, "", errors.Join(fmt.Errorf("%s was deleted, but reading it back failed", ref), err)
		}
	}
	return t.render(c)
}
