package v1alpha1_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	v1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// deepCopier is what the generated deepcopy code gives every kind.
type deepCopier[T any] interface {
	*T
	DeepCopy() *T
}

// fuzzDecode checks that arbitrary bytes never panic the decoder, and that whatever decodes
// survives a JSON round trip and a DeepCopy unchanged — the properties every client of the API
// (controller, runtime, CLI) relies on.
func fuzzDecode[T any, P deepCopier[T]](f *testing.F, kind string) {
	samples, _ := filepath.Glob(filepath.Join(testbed.RepoRoot(), "deploy", "samples", "*.yaml"))
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		if j, err := yaml.YAMLToJSON(b); err == nil && bytes.Contains(j, []byte(`"kind":"`+kind+`"`)) {
			f.Add(j)
		}
	}
	f.Add([]byte(`{"spec":{"tools":[{"toolServer":"a","allowedTools":null}]},"status":{"conditions":[{}]}}`))
	f.Add([]byte(`{"status":{"actions":[{"id":"a","arguments":{"x":[1,{"y":null}]}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		obj := P(new(T))
		if err := json.Unmarshal(data, obj); err != nil {
			return
		}
		first, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("a decoded %s does not encode: %v", kind, err)
		}
		again := P(new(T))
		if err := json.Unmarshal(first, again); err != nil {
			t.Fatalf("a %s's own encoding does not decode: %v\n%s", kind, err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("%s JSON round trip is not stable:\n%s\n%s", kind, first, second)
		}
		if cp := obj.DeepCopy(); !reflect.DeepEqual(cp, obj) {
			t.Fatalf("%s DeepCopy differs from the original", kind)
		}
	})
}

func FuzzDecodeAgent(f *testing.F)      { fuzzDecode[v1.Agent](f, "Agent") }
func FuzzDecodeToolServer(f *testing.F) { fuzzDecode[v1.ToolServer](f, "ToolServer") }
func FuzzDecodeIncident(f *testing.F)   { fuzzDecode[v1.Incident](f, "Incident") }
