package runner

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/evals/scenario"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// recordedLogs is the sandbox's part in setup.logs: it records the SetPodLogs calls (serving them
// takes kwok, which sandbox's TestPodLogsOnSandbox covers).
type recordedLogs struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (r *recordedLogs) SetPodLogs(_ context.Context, ns, pod, container string, previous bool, lines []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s/%s %q previous=%v %q", ns, pod, container, previous, lines))
	return r.fail
}

func (r *recordedLogs) SetGPUFaults(context.Context, string, simulate.GPUFaults) error { return nil }
func (r *recordedLogs) ClearGPUFaults(context.Context, string) error                   { return nil }

// faultsOnly injects GPU faults but serves no logs (a cluster other than the sandbox).
type faultsOnly struct{}

func (faultsOnly) SetGPUFaults(context.Context, string, simulate.GPUFaults) error { return nil }
func (faultsOnly) ClearGPUFaults(context.Context, string) error                   { return nil }

// TestSetupLogs runs setup.logs against a real API server: pods picked by name and by selector
// in the scenario's namespace (one created while the runner waits), the container and previous
// passed on, and the errors — no such pod, the sandbox refusing, no sandbox — naming the
// scenario and the entry.
func TestSetupLogs(t *testing.T) {
	env, err := testbed.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	c := env.Client
	ns := "eval-r1-crashloop"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
	}
	for _, p := range []*corev1.Pod{pod("api-7d9f-a", map[string]string{"app": "api"}), pod("api-7d9f-b", map[string]string{"app": "api"}), pod("db-0", nil)} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name    string
		logs    []scenario.Logs
		faults  Faults
		fail    error
		later   *corev1.Pod // created while the runner waits for it
		timeout time.Duration
		want    []string
		wantErr string
	}{
		{name: "by selector, every pod; by name, the previous log",
			logs: []scenario.Logs{
				{Pod: scenario.Ref{Selector: map[string]string{"app": "api"}}, Lines: []string{"dial tcp: lookup db on 10.96.0.10:53: no such host"}},
				{Pod: scenario.Ref{Kind: "Pod", Name: "db-0"}, Container: "main", Previous: true, Lines: []string{"FATAL: could not write to file \"pg_wal/xlogtemp.29\": No space left on device"}},
			},
			want: []string{
				ns + `/api-7d9f-a "" previous=false ["dial tcp: lookup db on 10.96.0.10:53: no such host"]`,
				ns + `/api-7d9f-b "" previous=false ["dial tcp: lookup db on 10.96.0.10:53: no such host"]`,
				ns + `/db-0 "main" previous=true ["FATAL: could not write to file \"pg_wal/xlogtemp.29\": No space left on device"]`,
			}},
		{name: "a pod created while the runner waits",
			logs:  []scenario.Logs{{Pod: scenario.Ref{Name: "worker-0"}, Lines: []string{"ready"}}},
			later: pod("worker-0", nil),
			want:  []string{ns + `/worker-0 "" previous=false ["ready"]`}},
		{name: "no such pod",
			logs:    []scenario.Logs{{Pod: scenario.Ref{Name: "db-0"}, Lines: []string{"x"}}, {Pod: scenario.Ref{Name: "cache-0"}, Lines: []string{"x"}}},
			timeout: 2 * time.Second,
			want:    []string{ns + `/db-0 "" previous=false ["x"]`},
			wantErr: "scenario crashloop: setup.logs[1] (Pod cache-0): waiting for Pod cache-0 to exist"},
		{name: "the sandbox refuses",
			logs:    []scenario.Logs{{Pod: scenario.Ref{Name: "db-0"}, Container: "sidecar", Lines: []string{"x"}}},
			fail:    fmt.Errorf(`setting the logs of pod %s/db-0: it has no container "sidecar"; its containers are main`, ns),
			want:    []string{ns + `/db-0 "sidecar" previous=false ["x"]`},
			wantErr: `scenario crashloop: setup.logs[0] (Pod db-0 container sidecar): setting the logs of pod ` + ns + `/db-0: it has no container "sidecar"`},
		{name: "a cluster that serves no logs",
			logs:    []scenario.Logs{{Pod: scenario.Ref{Name: "db-0"}, Lines: []string{"x"}}},
			faults:  faultsOnly{},
			wantErr: "scenario crashloop: needs container logs set (setup.logs): only the sandbox serves them (opsmesh sandbox up)"},
		{name: "none", faults: faultsOnly{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordedLogs{fail: tc.fail}
			faults := tc.faults
			if faults == nil {
				faults = rec
			}
			r := &runner{cfg: Config{Faults: faults, Poll: 50 * time.Millisecond}, c: c}
			a := &attempt{r: r, s: &scenario.Scenario{Name: "crashloop", Setup: scenario.Setup{Logs: tc.logs}}, ns: ns}
			if tc.later != nil {
				go func() {
					time.Sleep(300 * time.Millisecond)
					if err := c.Create(ctx, tc.later); err != nil {
						t.Error(err)
					}
				}()
			}
			actx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				actx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			err := a.logs(actx)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("setup.logs: %v; want error %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(rec.calls, tc.want) {
				t.Errorf("SetPodLogs calls:\n  %s\nwant:\n  %s", strings.Join(rec.calls, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if got, want := a.logsCannotRun() != "", len(tc.logs) > 0 && tc.faults != nil; got != want {
				t.Errorf("logsCannotRun: %q", a.logsCannotRun())
			}
		})
	}
}
