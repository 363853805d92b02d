package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	changepkg "github.com/opsmesh/opsmesh/mcpservers/change"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The write tools change the cluster. Every one of them takes dryRun, which sends the same
// request with the API server's server-side dry run (admission and validation run, nothing is
// stored) and returns the change as a diff; without it, the result is a one-line summary and the
// same diff, shorter. A write is checked (arguments, --allow-namespaces, the object's current
// state) before anything is sent, so that a refused write changes nothing. Writes of a read object
// are guarded by its resourceVersion, so that they never overwrite a change made in between.
//
// One file per family: writes_pods.go, writes_workloads.go, writes_rollback.go, writes_nodes.go,
// writes_drain.go, writes_resources.go; writes_diff.go renders the diffs.

// writeTools declares the write tools, in the order tools/list shows them.
func (t *tools) writeTools() []mcptool.Tool {
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{
		t.podWriteTools,
		t.workloadWriteTools,
		t.nodeWriteTools,
		t.resourceWriteTools,
	} {
		all = append(all, family()...)
	}
	return all
}

// Parameters every write shares.

func dryRunParam() mcp.ToolOption {
	return mcp.WithBoolean("dryRun", mcp.DefaultBool(false), mcp.Description(
		"preview only: the API server validates and admits the change but stores nothing; the result is the change as a diff"))
}

func namespaceParam() mcp.ToolOption {
	return mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the object"), mcp.MinLength(1), mcp.MaxLength(63))
}

func nameParam(what string) mcp.ToolOption {
	return mcp.WithString("name", mcp.Required(), mcp.Description("name of the "+what), mcp.MinLength(1), mcp.MaxLength(253))
}

// requireNamed checks the namespace and name every namespaced write needs.
func requireNamed(ns, name string) error {
	if strings.TrimSpace(ns) == "" {
		return errors.New(`argument "namespace" is required`)
	}
	return requireName(name)
}

func requireName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New(`argument "name" is required`)
	}
	return nil
}

// dryRunOpts returns the options that make a write a server-side dry run.
func dryRunOpts(dryRun bool) []client.PatchOption {
	if dryRun {
		return []client.PatchOption{client.DryRunAll}
	}
	return nil
}

// errUnchanged is what a change function returns when the object already is as asked.
var errUnchanged = changepkg.ErrUnchanged

// change is one write's result.
type change = changepkg.Result

// update reads the object at key into newObj(), lets edit change it, and sends the difference as
// a strategic merge patch (obj must be a typed built-in kind) guarded by the resourceVersion it
// read; when someone else changed the object in between, it reads and edits
// it again. edit returns the summary of its change, errUnchanged when the object already is as
// asked (then nothing is sent), or an error that says what to fix.
func (t *tools) update(ctx context.Context, ref string, key client.ObjectKey, newObj func() client.Object, dryRun bool,
	edit func(obj client.Object) (string, error)) (*change, error) {
	strategic := func(orig client.Object) client.Patch {
		return client.StrategicMergeFrom(orig, client.MergeFromWithOptimisticLock{})
	}
	return t.updateWith(ctx, ref, key, newObj, dryRun, strategic, edit)
}

// updateWith is update with another kind of patch, made by patchFrom from the object as read.
func (t *tools) updateWith(ctx context.Context, ref string, key client.ObjectKey, newObj func() client.Object, dryRun bool,
	patchFrom func(orig client.Object) client.Patch, edit func(obj client.Object) (string, error)) (*change, error) {
	return changepkg.Update(ctx, t.k.Direct, ref, key, newObj, dryRun, patchFrom, edit,
		func(err error) error { return apiError(err, "get", ref) },
		func(err error) error { return writeError(err, "patch", ref) })
}

// writeError rewords an error from a write so that it says what was refused and that nothing
// was changed.
func writeError(err error, verb, ref string) error {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		msg := err.Error()
		if errors.As(err, &status) {
			msg = status.Status().Message
		}
		return fmt.Errorf("the API server refused to %s %s: %s; nothing was changed", verb, ref, msg)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s %s: %v; nothing was changed: read the object again and retry", verb, ref, err)
	}
	return apiError(err, verb, ref)
}

// diffCap is the most bytes of diff a real (not dry-run) write returns after its summary.
const diffCap = 4 << 10

// render is a change's answer: the contract's Change, and the text of the summary, notes, and
// the diff of the object's YAML.
func (t *tools) render(c *change) (contract.Change, string, error) {
	return c.Answer(t.diffYAML, t.maxBytes, diffCap)
}
