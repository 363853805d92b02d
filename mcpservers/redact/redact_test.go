package redact_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

const planted = "hunter2-Zq9x"

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestObjectRedactsSecretsEverywhere(t *testing.T) {
	for _, doc := range []string{
		"kind: Secret\nmetadata: {name: s}\ndata: {password: " + planted + "}\nstringData: {token: " + planted + "}\n",
		"kind: ConfigMap\nmetadata: {name: c}\ndata: {DB_PASSWORD: " + planted + ", greeting: hello}\n",
		"kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a, env: [{name: API_KEY, value: " + planted + "}, {name: MODE, value: fast}]}]}}}\n",
		"kind: Pod\nmetadata: {name: p, annotations: {kubectl.kubernetes.io/last-applied-configuration: '" + planted + "'}}\n",
	} {
		u := obj(t, doc)
		redact.Object(u)
		out, _ := yaml.Marshal(u.Object)
		if strings.Contains(string(out), planted) {
			t.Errorf("the secret survived redaction:\n%s", out)
		}
		if !strings.Contains(string(out), redact.Marker) {
			t.Errorf("nothing was marked redacted:\n%s", out)
		}
	}
	// What is not a credential stays.
	u := obj(t, "kind: ConfigMap\nmetadata: {name: c}\ndata: {greeting: hello}\n")
	redact.Object(u)
	if u.Object["data"].(map[string]any)["greeting"] != "hello" {
		t.Error("an ordinary ConfigMap key was redacted")
	}
}

func TestValuesScrub(t *testing.T) {
	var v redact.Values
	v.Add(planted, "abc", planted+"-longer")
	text := "log: connecting with " + planted + "-longer and " + planted + "; abc stays"
	got := v.Scrub(text)
	if strings.Contains(got, planted) {
		t.Errorf("Scrub left the value: %s", got)
	}
	if !strings.Contains(got, "abc stays") {
		t.Errorf("Scrub removed a value shorter than MinLen: %s", got)
	}
	if strings.Count(got, redact.Marker) != 2 {
		t.Errorf("the longer value was not replaced whole: %s", got)
	}
}

func FuzzObject(f *testing.F) {
	f.Add([]byte(`{"kind":"Secret","data":{"a":"b"}}`))
	f.Add([]byte(`{"kind":"Pod","spec":{"containers":[{"env":[{"name":"TOKEN","value":"x"}]}]}}`))
	f.Add([]byte(`{"kind":"ConfigMap","data":null,"metadata":{"annotations":{"a":"b"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return
		}
		redact.Object(u) // must not panic on any shape
	})
}

// TestSecretShape: a Secret's value is replaced by its decoded length and, where a person's
// editing left one, the stray whitespace at its edges — never the value.
func TestSecretShape(t *testing.T) {
	u := obj(t, "kind: Secret\nmetadata: {name: s}\ndata:\n  clean: aHVudGVyMi1acTl4\n  newline: aHVudGVyMi1acTl4Cg==\n  crlf: aHVudGVyMi1acTl4DQo=\n  spaced: IGh1bnRlcjItWnE5eA==\n  notbase64: '%%%'\n  twice: YUhWdWRHVnlNaTFhY1RsNA==\n  randomkey: cThWdDNuUjJ3THhFOXBaMGFZY0s1bUo3aEQxc1VmQjZnVGlONG9XZQ==\n")
	redact.Object(u)
	data := u.Object["data"].(map[string]any)
	for k, want := range map[string]string{
		"clean":     "<redacted> (12 bytes)",
		"newline":   "<redacted> (13 bytes, ends with a newline)",
		"crlf":      "<redacted> (14 bytes, ends with a carriage return and a newline)",
		"spaced":    "<redacted> (13 bytes, starts with whitespace)",
		"notbase64": "<redacted> (3 bytes)",
		"twice":     "<redacted> (16 bytes, is itself base64 of printable text (encoded twice?))",
		"randomkey": "<redacted> (40 bytes)",
	} {
		if data[k] != want {
			t.Errorf("data[%s] = %q, want %q", k, data[k], want)
		}
		if strings.Contains(data[k].(string), planted) {
			t.Errorf("data[%s] shows the value", k)
		}
	}
}
