package cluster

import (
	"fmt"
	changepkg "github.com/opsmesh/opsmesh/mcpservers/change"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// objectDiff diffs an object's YAML before and after a write. Either may be nil (created,
// deleted). Both are rendered as resource_get renders objects — managedFields gone, Secret values
// redacted — and without the fields that change on every write (resourceVersion, generation), so
// that the diff shows only the change.
func (t *tools) objectDiff(ref string, before, after client.Object, afterLabel string) (string, error) {
	a, err := t.diffYAML(before)
	if err != nil {
		return "", err
	}
	b, err := t.diffYAML(after)
	if err != nil {
		return "", err
	}
	return changepkg.UnifiedDiff(ref+" (live)", ref+" ("+afterLabel+")", a, b), nil
}

// diffYAML renders an object for objectDiff; nil is empty text.
func (t *tools) diffYAML(obj client.Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	u, err := t.toUnstructured(obj)
	if err != nil {
		return "", err
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(u.Object, "metadata", "generation")
	cleanForOutput(u)
	out, err := toYAML(u.Object)
	if err != nil {
		return "", err
	}
	return t.k.secrets.Scrub(out), nil
}

// toUnstructured copies an object of any kind into an Unstructured with its apiVersion and kind
// set (typed objects read through the client carry neither).
func (t *tools) toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("rendering %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	gvk, err := apiutil.GVKForObject(obj, t.k.Scheme)
	if err != nil {
		return nil, err
	}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
