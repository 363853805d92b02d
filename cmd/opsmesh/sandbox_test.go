package main

import (
	"strings"
	"testing"
)

// The sandbox itself is tested end to end by make test-sandbox (sandbox, tag sandbox);
// here: what the commands say when there is nothing to act on or the input is wrong.
func TestSandboxCommandsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "status", "--state-dir", dir}, "no sandbox in " + dir + " (no state.json); start one with: opsmesh sandbox up"},
		{[]string{"sandbox", "down", "--state-dir", dir}, "no sandbox in " + dir},
		{[]string{"sandbox", "fault", "--state-dir", dir, "--node", "sim-gpu-1"}, "no sandbox in " + dir},
		{[]string{"sandbox", "fault", "--state-dir", dir}, `required flag(s) "node" not set`},
		{[]string{"sandbox", "up", "--state-dir", dir, "--repo-root", dir, "--bin-dir", dir, "--kwok", dir + "/kwok"}, "--bin-dir " + dir + " has no etcd"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
