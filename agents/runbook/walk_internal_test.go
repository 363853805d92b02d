package runbook

import "testing"

func TestWalk(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
		map[string]any{"name": "sidecar", "image": "envoy:1"},
		map[string]any{"name": "api", "image": "ghcr.io/acme/api:v2", "resources": map[string]any{"limits": map[string]any{"memory": "64Mi", "nvidia.com/gpu": 1}},
			"env": []any{map[string]any{"name": "LOG_LEVEL", "value": "verbose"}}},
	}}}}}
	for path, want := range map[string]any{
		"spec.template.spec.containers[api].image":                            "ghcr.io/acme/api:v2",
		"spec.template.spec.containers[api].resources.limits.memory":          "64Mi",
		"spec.template.spec.containers[api].resources.limits[nvidia.com/gpu]": 1,
		"spec.template.spec.containers[api].env[LOG_LEVEL].value":             "verbose",
	} {
		if got, ok := walk(obj, path); !ok || got != want {
			t.Errorf("walk %s = %v %v, want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"spec.template.spec.containers[db].image", "spec.replicas", "spec.template.spec.containers[api.image", "spec.template.spec.containers.image"} {
		if got, ok := walk(obj, path); ok {
			t.Errorf("walk %s = %v, want nothing", path, got)
		}
	}
	if got := lastSegment("spec.template.spec.containers[api].image"); got != "image" {
		t.Errorf("lastSegment %q", got)
	}
}
