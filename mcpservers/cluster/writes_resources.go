package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) resourceWriteTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "resource_patch",
			Description: "Patch one object of any kind, as kubectl patch does: a JSON merge patch (default), a JSON patch (RFC 6902), " +
				"or a strategic merge patch (built-in kinds only). Prefer the specific tools (workload_scale, workload_set_image, ...) where one fits.",
			Effect: mcptool.Write,
			Params: []mcp.ToolOption{
				mcp.WithString("kind", mcp.Required(), mcp.Description("kind, plural or short name: deployment, cm, clusterqueues.kueue.x-k8s.io"), mcp.MinLength(1), mcp.MaxLength(253)),
				mcp.WithString("namespace", mcp.Description("namespace (required for namespaced kinds)"), mcp.MaxLength(63)),
				nameParam("object"),
				mcp.WithString("patchType", mcp.Enum("merge", "json", "strategic"), mcp.DefaultString("merge"), mcp.Description(
					`merge (RFC 7386: {"spec":{"paused":true}}), json (RFC 6902: [{"op":"replace","path":"/spec/paused","value":true}]) or strategic (merges lists such as containers by name)`)),
				mcp.WithString("patch", mcp.Required(), mcp.MinLength(2), mcp.MaxLength(maxManifest), mcp.Description("the patch, as JSON")),
				dryRunParam(),
			},
		}, t.resourcePatch),
		mcptool.NewData(mcptool.Spec{
			Name: "resource_apply",
			Description: "Create or update one object from a YAML manifest by server-side apply, as kubectl apply --server-side does: " +
				"the fields in the manifest become owned by fieldManager; a field another manager owns is a conflict unless force is set.",
			Effect:     mcptool.Write,
			Idempotent: true,
			Params: []mcp.ToolOption{
				mcp.WithString("manifest", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxManifest), mcp.Description("one object as YAML (or JSON), with apiVersion, kind and metadata.name (and metadata.namespace for namespaced kinds)")),
				mcp.WithString("fieldManager", mcp.DefaultString(defaultFieldManager), mcp.MaxLength(128), mcp.Description("the field manager that owns the applied fields (default opsmesh)")),
				mcp.WithBoolean("force", mcp.DefaultBool(false), mcp.Description("take over fields another field manager owns (default false: such a conflict is an error that names them)")),
				dryRunParam(),
			},
		}, t.resourceApply),
	}
}

// maxManifest bounds a patch or manifest.
const maxManifest = 256 << 10

// --- resource_patch

type patchArgs struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	PatchType string `json:"patchType,omitempty"`
	Patch     string `json:"patch"`
	DryRun    bool   `json:"dryRun,omitempty"`
}

var patchTypes = map[string]types.PatchType{
	"merge":     types.MergePatchType,
	"json":      types.JSONPatchType,
	"strategic": types.StrategicMergePatchType,
}

func (a *patchArgs) Validate() error {
	if strings.TrimSpace(a.Kind) == "" {
		return errors.New(`argument "kind" is required, such as deployment or configmap`)
	}
	if err := requireName(a.Name); err != nil {
		return err
	}
	if a.PatchType == "" {
		a.PatchType = "merge"
	}
	if _, ok := patchTypes[a.PatchType]; !ok {
		return fmt.Errorf(`argument "patchType" must be merge, json or strategic, not %q`, a.PatchType)
	}
	var v any
	if err := json.Unmarshal([]byte(a.Patch), &v); err != nil {
		return fmt.Errorf(`argument "patch" is not valid JSON (%v); write it as JSON, such as {"spec":{"replicas":2}}`, err)
	}
	if a.PatchType == "json" {
		ops, ok := v.([]any)
		if !ok || len(ops) == 0 {
			return errors.New(`argument "patch" of patchType json must be a JSON array of operations, such as [{"op":"replace","path":"/spec/replicas","value":2}]`)
		}
		for i, op := range ops {
			m, ok := op.(map[string]any)
			if !ok {
				return fmt.Errorf(`argument "patch": operation %d must be an object with "op" and "path"`, i)
			}
			name, _ := m["op"].(string)
			switch name {
			case "add", "remove", "replace", "move", "copy", "test":
			default:
				return fmt.Errorf(`argument "patch": operation %d has op %q; it must be add, remove, replace, move, copy or test`, i, name)
			}
			if _, ok := m["path"].(string); !ok {
				return fmt.Errorf(`argument "patch": operation %d has no "path", such as "/spec/replicas"`, i)
			}
		}
		return nil
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf(`argument "patch" of patchType %s must be a JSON object, such as {"spec":{"replicas":2}} (a JSON array is patchType json)`, a.PatchType)
	}
	return nil
}

func (t *tools) resourcePatch(ctx context.Context, a patchArgs) (contract.Change, string, error) {
	before, r, err := t.getObject(ctx, a.Kind, a.Namespace, a.Name)
	if err != nil {
		return contract.Change{}, "", err
	}
	ref := objectRef(strings.ToLower(r.gvk.Kind), before.GetNamespace(), a.Name)
	if r.gvk.Kind == "Secret" {
		t.k.secrets.Add(patchValues(a.Patch)...) // never echo them, even in an API error
	}
	after := before.DeepCopy()
	patch := client.RawPatch(patchTypes[a.PatchType], []byte(a.Patch))
	if err := t.k.Direct.Patch(ctx, after, patch, dryRunOpts(a.DryRun)...); err != nil {
		if apierrors.IsUnsupportedMediaType(err) {
			return contract.Change{}, "", fmt.Errorf("%s: this kind does not take a strategic merge patch (custom resources do not); use patchType merge or json; nothing was changed", ref)
		}
		return contract.Change{}, "", errors.New(t.k.secrets.Scrub(writeError(err, "patch", ref).Error()))
	}
	return t.render(&change{Ref: ref, Summary: a.PatchType + " patch", Before: before, After: after, DryRun: a.DryRun})
}

// --- resource_apply

const defaultFieldManager = "opsmesh"

type applyArgs struct {
	Manifest     string `json:"manifest"`
	FieldManager string `json:"fieldManager,omitempty"`
	Force        bool   `json:"force,omitempty"`
	DryRun       bool   `json:"dryRun,omitempty"`

	obj *unstructured.Unstructured // the manifest, parsed by Validate
}

func (a *applyArgs) Validate() error {
	if a.FieldManager == "" {
		a.FieldManager = defaultFieldManager
	}
	if len(a.FieldManager) > 128 || strings.ContainsAny(a.FieldManager, "\n\t") {
		return fmt.Errorf(`argument "fieldManager" must be a name of at most 128 characters, not %q`, a.FieldManager)
	}
	obj, err := parseManifest(a.Manifest)
	if err != nil {
		return err
	}
	a.obj = obj
	return nil
}

// parseManifest parses one object from YAML or JSON, refusing none, several, or a List.
func parseManifest(manifest string) (*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf(`argument "manifest" is not valid YAML or JSON: %v`, err)
		}
		if len(m) > 0 {
			objs = append(objs, m)
		}
	}
	switch {
	case len(objs) == 0:
		return nil, errors.New(`argument "manifest" holds no object: give one object as YAML, with apiVersion, kind and metadata`)
	case len(objs) > 1:
		return nil, fmt.Errorf(`argument "manifest" holds %d objects; apply one object per call`, len(objs))
	}
	u := &unstructured.Unstructured{Object: objs[0]}
	switch {
	case u.GetAPIVersion() == "" || u.GetKind() == "":
		return nil, errors.New(`argument "manifest" needs apiVersion and kind, such as apiVersion: v1 and kind: ConfigMap`)
	case u.IsList():
		return nil, fmt.Errorf(`argument "manifest" is a %s; apply its items one per call`, u.GetKind())
	case u.GetName() == "":
		if u.GetGenerateName() != "" {
			return nil, errors.New(`argument "manifest": server-side apply needs metadata.name; generateName is not enough`)
		}
		return nil, errors.New(`argument "manifest" needs metadata.name`)
	}
	if _, err := meta.Accessor(u); err != nil {
		return nil, fmt.Errorf(`argument "manifest": %v`, err)
	}
	return u, nil
}

func (t *tools) resourceApply(ctx context.Context, a applyArgs) (contract.Change, string, error) {
	if a.obj == nil { // called without Validate
		if err := a.Validate(); err != nil {
			return contract.Change{}, "", err
		}
	}
	obj := a.obj
	gvk := obj.GroupVersionKind()
	r, err := t.resolveGVK(gvk)
	if err != nil {
		return contract.Change{}, "", err
	}
	ns := obj.GetNamespace()
	if r.namespaced && ns == "" {
		return contract.Change{}, "", fmt.Errorf("%s is namespaced: set metadata.namespace in the manifest", gvk.Kind)
	}
	if !r.namespaced && ns != "" {
		return contract.Change{}, "", fmt.Errorf("%s is cluster-scoped: remove metadata.namespace (%q) from the manifest", gvk.Kind, ns)
	}
	if err := t.k.checkScope(r, ns); err != nil {
		return contract.Change{}, "", err
	}
	if r.namespaced {
		if err := t.k.checkNamespace(ns); err != nil {
			return contract.Change{}, "", err
		}
	}
	ref := objectRef(strings.ToLower(gvk.Kind), ns, obj.GetName())
	t.k.secrets.Add(secretValues(obj)...) // never echo them, even in an API error

	var before *unstructured.Unstructured
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gvk)
	switch err := t.k.Direct.Get(ctx, client.ObjectKeyFromObject(obj), live); {
	case err == nil:
		before = live
	case !apierrors.IsNotFound(err):
		return contract.Change{}, "", errors.New(t.k.secrets.Scrub(apiError(err, "get", ref).Error()))
	}

	after := obj.DeepCopy()
	opts := []client.ApplyOption{client.FieldOwner(a.FieldManager)}
	if a.Force {
		opts = append(opts, client.ForceOwnership)
	}
	if a.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := t.k.Direct.Apply(ctx, client.ApplyConfigurationFromUnstructured(after), opts...); err != nil {
		if apierrors.IsConflict(err) && before != nil {
			return contract.Change{}, "", errors.New(t.k.secrets.Scrub(fmt.Sprintf(
				"apply of %s conflicts with fields another field manager owns; nothing was changed. %v. "+
					"Leave those fields out of the manifest, or apply with force: true to take them over (their manager may set them back)", ref, err)))
		}
		return contract.Change{}, "", errors.New(t.k.secrets.Scrub(writeError(err, "apply", ref).Error()))
	}
	c := &change{Ref: ref, Before: nil, After: after, DryRun: a.DryRun, Summary: "created by server-side apply (field manager " + a.FieldManager + ")"}
	if before != nil {
		c.Before = before
		c.Summary = "applied server-side (field manager " + a.FieldManager + ")"
	}
	return t.render(c)
}

// resolveGVK resolves a manifest's apiVersion and kind, refreshing discovery once for kinds
// installed since it was read.
func (t *tools) resolveGVK(gvk schema.GroupVersionKind) (resource, error) {
	m, err := t.k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		t.k.disco.Invalidate()
		if reset, ok := t.k.mapper.(meta.ResettableRESTMapper); ok {
			reset.Reset()
		}
		m, err = t.k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return resource{}, fmt.Errorf("this cluster serves no kind %s in apiVersion %s: check apiVersion and kind (api_resources lists what it serves)", gvk.Kind, gvk.GroupVersion())
	}
	if err != nil {
		return resource{}, fmt.Errorf("resolving %s %s: %w", gvk.GroupVersion(), gvk.Kind, err)
	}
	return resource{gvr: m.Resource, gvk: m.GroupVersionKind, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// patchValues are the values a patch of a Secret may set: those under data and stringData of a
// merge patch, and the string values of a JSON patch's operations.
func patchValues(patch string) []string {
	var v any
	if json.Unmarshal([]byte(patch), &v) != nil {
		return nil
	}
	switch p := v.(type) {
	case map[string]any:
		return secretValues(&unstructured.Unstructured{Object: map[string]any{"kind": "Secret", "data": p["data"], "stringData": p["stringData"]}})
	case []any:
		var values []string
		for _, op := range p {
			m, _ := op.(map[string]any)
			switch value := m["value"].(type) {
			case string:
				values = append(values, value)
			case map[string]any:
				for _, x := range value {
					values = append(values, fmt.Sprint(x))
				}
			}
		}
		return values
	}
	return nil
}

// secretValues are the values of a Secret manifest's data (decoded) and stringData.
func secretValues(u *unstructured.Unstructured) []string {
	if u.GetKind() != "Secret" {
		return nil
	}
	var values []string
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	for _, v := range data {
		s := fmt.Sprint(v)
		values = append(values, s)
		if b, err := base64.StdEncoding.DecodeString(s); err == nil && !bytes.ContainsRune(b, 0) {
			values = append(values, string(b))
		}
	}
	stringData, _, _ := unstructured.NestedMap(u.Object, "stringData")
	for _, v := range stringData {
		values = append(values, fmt.Sprint(v))
	}
	return values
}
