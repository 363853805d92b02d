package scheduler

import (
	"fmt"
	"strings"

	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Helpers that read Kueue's and Volcano's objects as unstructured, tolerating missing fields and
// the field names of either API version.

func str(obj map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(obj, path...)
	return s
}

// firstStr reads the first of several paths that holds a string (a field renamed between versions).
func firstStr(obj map[string]any, paths ...[]string) string {
	for _, p := range paths {
		if s := str(obj, p...); s != "" {
			return s
		}
	}
	return ""
}

func num(obj map[string]any, path ...string) (int64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

func slice(obj map[string]any, path ...string) []map[string]any {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok {
		return nil
	}
	items, _ := v.([]any)
	var out []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// milliOf reads a quantity (a string such as "32" or "64Gi", or a number) in milli-units.
func milliOf(v any) (int64, bool) {
	switch q := v.(type) {
	case string:
		parsed, err := apiresource.ParseQuantity(q)
		if err != nil {
			return 0, false
		}
		return parsed.MilliValue(), true
	case int64:
		return q * 1000, true
	case float64:
		return int64(q * 1000), true
	}
	return 0, false
}

func qtyField(obj map[string]any, path ...string) (int64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok {
		return 0, false
	}
	return milliOf(v)
}

// condition is a metav1.Condition read from unstructured.
type condition struct {
	typ, status, reason, message string
}

func conditions(obj map[string]any) []condition {
	var out []condition
	for _, c := range slice(obj, "status", "conditions") {
		out = append(out, condition{typ: str(c, "type"), status: str(c, "status"), reason: str(c, "reason"), message: str(c, "message")})
	}
	return out
}

func findCond(cs []condition, typ string) *condition {
	for i := range cs {
		if cs[i].typ == typ {
			return &cs[i]
		}
	}
	return nil
}

func (c *condition) String() string {
	s := c.typ + "=" + c.status
	if c.reason != "" {
		s += " (" + c.reason + ")"
	}
	if c.message != "" {
		s += ": " + c.message
	}
	return s
}

func isTrue(c *condition) bool { return c != nil && c.status == "True" }

// fromUnstructured converts part of an unstructured object into a typed value.
func fromUnstructured(m map[string]any, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, into); err != nil {
		return fmt.Errorf("reading %T: %w", into, err)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
