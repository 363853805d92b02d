package simulate

import (
	"os"
	"strings"
	"testing"
)

func TestParseFaultsErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"gpus:\n  - index: 1\n    xid: []\n", "line 3: field xid not found"},
		{"gpus:\n  - index: one\n", "line 2: cannot unmarshal !!str `one` into int"},
		{"gpus:\n  - index: 9\n", "gpus[0].index: 9 is not a GPU of the simulated node (indexes 0..7)"},
		{"gpus:\n  - index: 1\n  - index: 1\n", "gpus[1].index: GPU 1 is listed twice"},
		{"gpus:\n  - index: 0\n    xids: [{code: 0, time: 2025-01-01T00:00:00Z}]\n", "gpus[0].xids[0].code: 0 is not an XID code"},
		{"gpus:\n  - index: 0\n    xids: [{code: 79}]\n", "gpus[0].xids[0].time: required"},
		{"gpus:\n  - index: 0\n    throttle: [TooHot]\n", `gpus[0].throttle[0]: unknown reason "TooHot"; use one of GpuIdle`},
		{"gpus:\n  - index: 0\n    temperatureC: 300\n", "gpus[0].temperatureC: 300 °C"},
		{"gpus:\n  - index: 0\n    nvlinkDown: [40]\n", "gpus[0].nvlinkDown[0]: link 40 does not exist"},
		{"gpus:\n  - index: 0\n    processes: [{pid: 1, pod: nonamespace}]\n", `gpus[0].processes[0].pod: "nonamespace" must be namespace/name`},
		{"gpus: []\n---\ngpus: []\n", "more than one YAML document"},
		{"gpus: [\n", "fault file:"},
	} {
		_, err := ParseFaults([]byte(tc.yaml), 8)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFaults(%q) = %v; want an error saying %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseFaultsFile(t *testing.T) {
	data, err := os.ReadFile("../testdata/faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFaults(data, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.GPUs) != 7 || !f.GPUs[3].Lost || f.GPUs[0].Processes[0].Pod != "training/job-7-worker-0" {
		t.Errorf("testdata/faults.yaml decoded as %+v", f)
	}
	if f, err := ParseFaults(nil, 8); err != nil || len(f.GPUs) != 0 {
		t.Errorf("an empty fault file: %v, %+v", err, f)
	}
}

// FuzzParseFaults: the fault-file decoder never panics, and a refusal always says something.
// Seed corpus: testdata/fuzz/FuzzParseFaults.
func FuzzParseFaults(f *testing.F) {
	if data, err := os.ReadFile("../testdata/faults.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("gpus:\n  - index: 1\n    xids: [{code: 79, time: 2025-01-01T00:00:00Z}]\n"))
	f.Add([]byte("gpus: {a: b}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseFaults(data, 8)
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("ParseFaults(%q) refused with an empty error", data)
		}
	})
}
