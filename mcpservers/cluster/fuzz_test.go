package cluster_test

import (
	"strings"
	"testing"
)

// FuzzToolArguments feeds arbitrary bytes to the argument decoding of every tool: decoding never
// panics, and a refusal always says what is wrong. The seed corpus is in
// testdata/fuzz/FuzzToolArguments.
func FuzzToolArguments(f *testing.F) {
	s := offlineServer(f)
	tools := s.Tools(16 << 10)
	f.Add([]byte(`{"kind":"pods","namespace":"default","limit":10}`), uint8(0))
	f.Add([]byte(`{"kind":"deployment","name":"web","namespace":"shop","replicas":-1,"dryRun":true}`), uint8(1))
	f.Add([]byte(`{"name":null,"tailLines":"many","grep":"("}`), uint8(2))
	f.Add([]byte(`[]`), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		tool := tools[int(which)%len(tools)]
		err := tool.Decode(raw)
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("%s refused %q with an empty error", tool.Name(), raw)
		}
	})
}
