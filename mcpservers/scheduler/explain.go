package scheduler

// explain_pending: the tool's declaration and handler. What it explains is found in
// explain_target.go, judged in explain_evaluate.go and rendered in explain_render.go.

import (
	"context"
	"errors"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type explainArgs struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Output    string `json:"output,omitempty"`
}

func (a *explainArgs) Validate() error {
	if strings.TrimSpace(a.Namespace) == "" {
		return errors.New(`argument "namespace" is required`)
	}
	if strings.TrimSpace(a.Name) == "" {
		return errors.New(`argument "name" is required`)
	}
	return nil
}

func namespaceParam() mcp.ToolOption {
	return mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the object"), mcp.MinLength(1), mcp.MaxLength(63))
}

func nameParam(what string) mcp.ToolOption {
	return mcp.WithString("name", mcp.Required(), mcp.Description("name of the "+what), mcp.MinLength(1), mcp.MaxLength(253))
}

func (t *tools) explainTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "explain_pending",
			Description: "Explain why a pod, a Job (or any owner of pods) or a Kueue Workload is not running, and what would make it run. " +
				"Answers with a one-sentence verdict, ranked concrete fixes, the scheduler's own word (PodScheduled and FailedScheduling " +
				"parsed into per-reason node counts), queue admission (Kueue Workload conditions and ClusterQueue quota per flavor; " +
				"Volcano PodGroup and Queue), and its own evaluation of every node against the pod: resources (cpu, memory, " +
				"nvidia.com/gpu, MIG and other extended resources, counting what bound pods request), nodeSelector and node affinity, " +
				"taints, cordons, PVCs and StorageClasses, required pod (anti-)affinity and topology spread — as a table of nodes " +
				"and the predicates they fail, nearest first. Where it can name it, it gives the cause: the object and field at fault " +
				"(a resource name no node advertises, with the related names the nodes do advertise; GPU nodes, by their labels, that do not " +
				"advertise the GPUs the pod requests, with why their device plugin's DaemonSet does not: none, its nodeSelector or tolerations, " +
				"its failing pods; the taint that alone keeps the pod off nodes that otherwise fit; a claim's access mode that its StorageClass's " +
				"provisioner cannot give; a claim's selector that no free PersistentVolume matches; a bound PersistentVolume whose node affinity " +
				"allows no usable node, and whether that node exists).",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				namespaceParam(), nameParam("pod, Job, Workload or other owner"),
				mcp.WithString("kind", mcp.DefaultString("pod"), mcp.MaxLength(63), mcp.Description(
					"pod (default), job, workload (a Kueue Workload), or the kind of any other owner of pods (replicaset, statefulset, deployment, a custom kind)")),
				mcp.WithString("output", mcp.Description("text (default, for people and models) or json (verdict, root-cause category, cause, fixes and evidence for programs, such as opsmesh's runbook engine)"), mcp.Enum("text", "json")),
			},
		}, t.explainPending),
	}
}

func (t *tools) explainPending(ctx context.Context, a explainArgs) (contract.Explanation, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Explanation{}, "", err
	}
	tg, err := t.resolveTarget(ctx, a)
	if err != nil {
		return contract.Explanation{}, "", err
	}
	rep, err := t.explain(ctx, tg)
	if err != nil {
		return contract.Explanation{}, "", err
	}
	out := rep.structured()
	if a.Output == "json" {
		text, err := jsonText(out, t.maxBytes)
		return out, text, err
	}
	return out, rep.render(t.maxBytes), nil
}
