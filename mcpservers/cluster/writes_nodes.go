package cluster

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) nodeWriteTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "node_cordon",
			Description: "Mark a node unschedulable, as kubectl cordon does: no new pods are scheduled onto it; pods on it keep running. " +
				"node_drain cordons and also moves the pods off.",
			Effect:     mcptool.Write,
			Idempotent: true,
			Params:     []mcp.ToolOption{nameParam("node"), dryRunParam()},
		}, t.nodeCordon),
		mcptool.NewData(mcptool.Spec{
			Name:        "node_uncordon",
			Description: "Mark a node schedulable again, as kubectl uncordon does.",
			Effect:      mcptool.Write,
			Idempotent:  true,
			Params:      []mcp.ToolOption{nameParam("node"), dryRunParam()},
		}, t.nodeUncordon),
		mcptool.NewData(mcptool.Spec{
			Name: "node_drain",
			Description: "Drain a node, as kubectl drain does: cordon it, then evict its pods through the Eviction API, which honours " +
				"PodDisruptionBudgets (a blocked eviction is retried until the timeout; the result names the pods left and the budgets that held them). " +
				"Mirror (static) pods are left alone, and DaemonSet pods by default. Pods with emptyDir data, and pods no controller manages, " +
				"are refused unless allowed, and then nothing is changed. Try it with dryRun first.",
			Effect: mcptool.Destructive,
			Params: []mcp.ToolOption{nameParam("node"),
				mcp.WithInteger("timeoutSeconds", mcp.Min(1), mcp.Max(maxDrainTimeout), mcp.DefaultNumber(defaultDrainTimeout),
					mcp.Description("how long to keep retrying evictions and waiting for the pods to go (default 120)")),
				mcp.WithBoolean("ignoreDaemonSets", mcp.DefaultBool(true), mcp.Description(
					"leave DaemonSet pods on the node (default true; their DaemonSet would recreate them there anyway); false refuses the drain when there are any")),
				mcp.WithBoolean("deleteEmptyDirData", mcp.DefaultBool(false), mcp.Description(
					"also evict pods with emptyDir volumes, whose data is lost (default false: such pods refuse the drain)")),
				mcp.WithBoolean("force", mcp.DefaultBool(false), mcp.Description(
					"also evict pods that no controller manages; nothing recreates them (default false: such pods refuse the drain)")),
				dryRunParam()},
		}, t.nodeDrain),
	}
}

type nodeArgs struct {
	Name   string `json:"name"`
	DryRun bool   `json:"dryRun,omitempty"`
}

func (a *nodeArgs) Validate() error { return requireName(a.Name) }

// checkNodeWrite refuses node writes on a server confined to namespaces.
func (t *tools) checkNodeWrite() error {
	r, err := t.k.resolve("nodes")
	if err != nil {
		return err
	}
	return t.k.checkScope(r, "")
}

func (t *tools) nodeCordon(ctx context.Context, a nodeArgs) (contract.Change, string, error) {
	c, err := t.setUnschedulable(ctx, a.Name, true, a.DryRun)
	if err != nil {
		return contract.Change{}, "", err
	}
	return t.render(c)
}

func (t *tools) nodeUncordon(ctx context.Context, a nodeArgs) (contract.Change, string, error) {
	c, err := t.setUnschedulable(ctx, a.Name, false, a.DryRun)
	if err != nil {
		return contract.Change{}, "", err
	}
	return t.render(c)
}

// setUnschedulable cordons (true) or uncordons (false) a node.
func (t *tools) setUnschedulable(ctx context.Context, name string, unschedulable, dryRun bool) (*change, error) {
	if err := t.checkNodeWrite(); err != nil {
		return nil, err
	}
	ref := objectRef("node", "", name)
	return t.update(ctx, ref, client.ObjectKey{Name: name}, func() client.Object { return &corev1.Node{} }, dryRun,
		func(obj client.Object) (string, error) {
			n := obj.(*corev1.Node)
			switch {
			case n.Spec.Unschedulable == unschedulable && unschedulable:
				return "already cordoned", errUnchanged
			case n.Spec.Unschedulable == unschedulable:
				return "already schedulable", errUnchanged
			}
			n.Spec.Unschedulable = unschedulable
			if unschedulable {
				return "cordoned: no new pods are scheduled onto it; the pods on it keep running", nil
			}
			return "uncordoned: pods may be scheduled onto it again", nil
		})
}
