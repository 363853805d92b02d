package stagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/utils/gotpl"
	"sigs.k8s.io/kwok/pkg/utils/lifecycle"
)

const (
	podIP  = "10.0.0.5"
	nodeIP = "10.255.0.1"
	node   = "kwok-cpu-1"
)

// kwokSim plays the stage files as kwok's pod controller does: the matching Stage's steps, its
// status patches merged into the pod, its events recorded, the objects it applies kept by name.
type kwokSim struct {
	t        *testing.T
	lc       lifecycle.Lifecycle
	renderer gotpl.Renderer
}

func loadStages(t *testing.T) ([]*internalversion.Stage, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "sandbox", "stages", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no stage files under deploy/sandbox/stages: %v", err)
	}
	objs, err := config.Load(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	stages := config.FilterWithType[*internalversion.Stage](objs)
	// kwok skips a document it cannot read with a log line: count them.
	docs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs += len(regexp.MustCompile(`(?m)^kind: Stage$`).FindAll(b, -1))
	}
	if len(stages) != docs {
		t.Fatalf("kwok read %d Stages of the %d in %v: one does not parse", len(stages), docs, files)
	}
	return stages, files
}

func newSim(t *testing.T) *kwokSim {
	stages, _ := loadStages(t)
	var pods []*internalversion.Stage
	for _, s := range stages {
		if s.Spec.ResourceRef.Kind == "Pod" {
			pods = append(pods, s)
		}
	}
	lc, err := lifecycle.NewLifecycle(pods)
	if err != nil {
		t.Fatal(err)
	}
	// The functions kwok's pod controller adds (pkg/kwok/controllers/pod_controller.go).
	funcs := gotpl.FuncMap{
		"NodeIP":      func() string { return nodeIP },
		"PodIP":       func() string { return podIP },
		"NodeIPWith":  func(string) string { return nodeIP },
		"NodeIPsWith": func(string) []string { return []string{nodeIP} },
		"PodIPWith":   func(string, bool, string, string, string) (string, error) { return podIP, nil },
		"PodIPsWith":  func(string, bool, string, string, string) ([]string, error) { return []string{podIP}, nil },
	}
	return &kwokSim{t: t, lc: lc, renderer: gotpl.NewRenderer(funcs)}
}

// step is what one played Stage did.
type step struct {
	stage string
	pod   *corev1.Pod
	// events are the Events the stage applied (by name) and the ones kwok recorded.
	events map[string]corev1.Event
}

// play plays the stage that matches pod now ("" when none does) and returns the pod after it.
func (s *kwokSim) play(pod *corev1.Pod) step {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.lc.Match(ctx, &lifecycle.Event{Labels: pod.Labels, Annotations: pod.Annotations, Data: pod})
	if err != nil {
		s.t.Fatalf("matching a stage for pod %s: %v", pod.Name, err)
	}
	out := step{pod: pod.DeepCopy(), events: map[string]corev1.Event{}}
	if st == nil {
		return out
	}
	out.stage = st.Name()
	cur, err := json.Marshal(pod)
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = st.DoSteps(0, pod.Finalizers, pod, s.renderer,
		func(e *internalversion.StageEvent) error {
			out.events["recorded."+e.Reason] = corev1.Event{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: 1}
			return nil
		},
		func() error { out.pod = nil; return nil },
		func(p *lifecycle.Patch) error {
			if p.Type != types.StrategicMergePatchType {
				return fmt.Errorf("patch type %s; the stages use strategic merge patches", p.Type)
			}
			next, err := strategicpatch.StrategicMergePatch(cur, p.Data, corev1.Pod{})
			if err != nil {
				return fmt.Errorf("patch %s: %w", p.Data, err)
			}
			cur = next
			return nil
		},
		func(a *lifecycle.Apply) error {
			var e corev1.Event
			if err := json.Unmarshal(a.Data, &e); err != nil {
				return fmt.Errorf("applied object %s: %w", a.Data, err)
			}
			if e.Kind != "Event" || e.APIVersion != "v1" || e.Name == "" || e.Namespace != pod.Namespace {
				return fmt.Errorf("stage %s applies %s %s/%s; want a v1 Event named in the pod's namespace", st.Name(), e.Kind, e.Namespace, e.Name)
			}
			if e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != pod.Name || e.InvolvedObject.UID != pod.UID {
				return fmt.Errorf("event %s is about %+v; want pod %s", e.Name, e.InvolvedObject, pod.Name)
			}
			if e.Source.Component != "kubelet" || e.Source.Host != pod.Spec.NodeName {
				return fmt.Errorf("event %s comes from %+v; want the kubelet of %s", e.Name, e.Source, pod.Spec.NodeName)
			}
			out.events[e.Name] = e
			return nil
		})
	if err != nil {
		s.t.Fatalf("stage %s on pod %s: %v", st.Name(), pod.Name, err)
	}
	if out.pod != nil {
		var p corev1.Pod
		if err := json.Unmarshal(cur, &p); err != nil {
			s.t.Fatal(err)
		}
		out.pod = &p
	}
	return out
}

// run plays stages on pod until none matches or n were played, and returns every step.
func (s *kwokSim) run(pod *corev1.Pod, n int) []step {
	var steps []step
	for range n {
		st := s.play(pod)
		if st.stage == "" {
			break
		}
		steps = append(steps, st)
		if st.pod == nil {
			break
		}
		pod = st.pod
	}
	return steps
}

// pod is a scheduled, Pending pod with one container "server" and the annotations.
func pod(name string, ann map[string]string, edit ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Annotations: ann},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "server", Image: "ghcr.io/example/server:1.0",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

func liveness(path string, port intOrName) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port.val()}}, FailureThreshold: 3}
	}
}

func env(name, value string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: name, Value: value})
	}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func stages(steps []step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.stage)
	}
	return out
}

// event is the event of reason among the step's events.
func event(t *testing.T, s step, reason string) corev1.Event {
	t.Helper()
	for _, e := range s.events {
		if e.Reason == reason {
			return e
		}
	}
	t.Fatalf("stage %s recorded no %s event; it recorded %v", s.stage, reason, s.events)
	return corev1.Event{}
}

func TestFaultKeyIsTheSameInEveryPodStage(t *testing.T) {
	all, _ := loadStages(t)
	var first string
	for _, s := range all {
		if s.Spec.ResourceRef.Kind != "Pod" || s.Spec.Selector == nil {
			continue
		}
		for _, m := range s.Spec.Selector.MatchExpressions {
			key := ""
			if m.JQ != nil {
				key = m.JQ.Key
			}
			if strings.Contains(key, "demo.opsmesh.dev/fault") {
				if !strings.Contains(key, "fault-when") {
					t.Errorf("stage %s tests the fault annotation without the shared expression (fault-when, fault-pods): %s", s.Name, key)
					continue
				}
				if first == "" {
					first = key
				} else if key != first {
					t.Errorf("stage %s's fault expression differs from the others'; keep every copy the same", s.Name)
				}
			}
		}
	}
	if first == "" {
		t.Fatal("no pod stage tests demo.opsmesh.dev/fault")
	}
}

func TestPodStates(t *testing.T) {
	sim := newSim(t)
	fault := func(f string, more ...string) map[string]string {
		m := map[string]string{"demo.opsmesh.dev/fault": f}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	for name, tc := range map[string]struct {
		pod    *corev1.Pod
		stages []string
		check  func(t *testing.T, steps []step)
	}{
		"no fault: Running and Ready": {
			pod: pod("plain", nil), stages: []string{"pod-ready"},
			check: func(t *testing.T, steps []step) {
				if p := steps[0].pod; !ready(p) || p.Status.Phase != corev1.PodRunning {
					t.Errorf("pod: %s ready %v", p.Status.Phase, ready(p))
				}
			},
		},
		"Hold: no stage touches it": {pod: pod("held", fault("Hold"))},
		"CrashLoopBackOff: exit 1, restarts rising, the kubelet's BackOff event": {
			pod: pod("crash", fault("CrashLoopBackOff")), stages: []string{"opsmesh-pod-crash-first", "opsmesh-pod-crash-again", "opsmesh-pod-crash-again"},
			check: func(t *testing.T, steps []step) {
				last := steps[2]
				cs := last.pod.Status.ContainerStatuses[0]
				if cs.RestartCount != 3 || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" ||
					cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 || cs.LastTerminationState.Terminated.Reason != "Error" {
					t.Errorf("container after three crashes: %+v", cs)
				}
				e := event(t, last, "BackOff")
				if want := "Back-off restarting failed container server in pod crash_ns(uid-crash)"; e.Message != want || e.Type != corev1.EventTypeWarning || e.Count != 3 {
					t.Errorf("BackOff event: %s %q ×%d; want Warning %q ×3", e.Type, e.Message, e.Count, want)
				}
				if ready(last.pod) {
					t.Error("a crashing pod is Ready")
				}
			},
		},
		"OOMKilled: exit 137 reason OOMKilled": {
			pod: pod("oom", fault("OOMKilled")), stages: []string{"opsmesh-pod-crash-first", "opsmesh-pod-crash-again"},
			check: func(t *testing.T, steps []step) {
				term := steps[1].pod.Status.ContainerStatuses[0].LastTerminationState.Terminated
				if term == nil || term.ExitCode != 137 || term.Reason != "OOMKilled" {
					t.Errorf("last state: %+v", term)
				}
			},
		},
		"Fail: Failed, exit 1": {
			pod: pod("fail", fault("Fail")), stages: []string{"opsmesh-pod-fail"},
			check: func(t *testing.T, steps []step) {
				if p := steps[0].pod; p.Status.Phase != corev1.PodFailed || p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 1 {
					t.Errorf("pod: %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
				}
			},
		},
		"Complete: Running, then Succeeded": {
			pod: pod("job", fault("Complete")), stages: []string{"pod-ready", "opsmesh-pod-complete"},
			check: func(t *testing.T, steps []step) {
				if p := steps[1].pod; p.Status.Phase != corev1.PodSucceeded {
					t.Errorf("pod: %s", p.Status.Phase)
				}
			},
		},
		"LivenessProbe (statuscode 404): Unhealthy, Killing, exit 137, CrashLoopBackOff, BackOff": {
			pod:    pod("live", fault("LivenessProbe"), liveness("/healthz", port(8081))),
			stages: []string{"opsmesh-pod-probe-start", "opsmesh-pod-probe-kill", "opsmesh-pod-probe-kill"},
			check: func(t *testing.T, steps []step) {
				if p := steps[0].pod; ready(p) || p.Status.Phase != corev1.PodRunning || p.Status.PodIP != podIP ||
					p.Status.ContainerStatuses[0].State.Running == nil || !*p.Status.ContainerStatuses[0].Started {
					t.Errorf("started pod: %s ready %v ip %q containers %+v", p.Status.Phase, ready(p), p.Status.PodIP, p.Status.ContainerStatuses)
				}
				for i, s := range steps[1:] {
					n := int32(i + 1)
					cs := s.pod.Status.ContainerStatuses[0]
					if cs.RestartCount != n || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.Ready ||
						cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 137 || cs.LastTerminationState.Terminated.Reason != "Error" {
						t.Errorf("after kill %d: container %+v; want restartCount %d, waiting CrashLoopBackOff, last terminated 137 Error", n, cs, n)
					}
					if e := event(t, s, "Unhealthy"); e.Type != corev1.EventTypeWarning || e.Message != "Liveness probe failed: HTTP probe failed with statuscode: 404" || e.Count != 3*n ||
						e.InvolvedObject.FieldPath != "spec.containers{server}" {
						t.Errorf("Unhealthy: %s %q ×%d on %s; want Warning, the kubelet's message, ×%d", e.Type, e.Message, e.Count, e.InvolvedObject.FieldPath, 3*n)
					}
					if e := event(t, s, "Killing"); e.Type != corev1.EventTypeNormal || e.Message != "Container server failed liveness probe, will be restarted" || e.Count != n {
						t.Errorf("Killing: %s %q ×%d", e.Type, e.Message, e.Count)
					}
					if e := event(t, s, "BackOff"); e.Type != corev1.EventTypeWarning || e.Message != "Back-off restarting failed container server in pod live_ns(uid-live)" {
						t.Errorf("BackOff: %s %q", e.Type, e.Message)
					}
				}
			},
		},
		"LivenessProbe timeout: the URL from the probe, a named port resolved": {
			pod:    pod("slow", fault("LivenessProbe", "demo.opsmesh.dev/probe-failure", "timeout"), liveness("/v1/models", portName("http"))),
			stages: []string{"opsmesh-pod-probe-start", "opsmesh-pod-probe-kill"},
			check: func(t *testing.T, steps []step) {
				want := `Liveness probe failed: Get "http://10.0.0.5:8080/v1/models": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
				if e := event(t, steps[1], "Unhealthy"); e.Message != want {
					t.Errorf("Unhealthy: %q; want %q", e.Message, want)
				}
			},
		},
		"LivenessProbe refused": {
			pod:    pod("refused", fault("LivenessProbe", "demo.opsmesh.dev/probe-failure", "refused"), liveness("/healthz", port(8081))),
			stages: []string{"opsmesh-pod-probe-start", "opsmesh-pod-probe-kill"},
			check: func(t *testing.T, steps []step) {
				want := `Liveness probe failed: Get "http://10.0.0.5:8081/healthz": dial tcp 10.0.0.5:8081: connect: connection refused`
				if e := event(t, steps[1], "Unhealthy"); e.Message != want {
					t.Errorf("Unhealthy: %q; want %q", e.Message, want)
				}
			},
		},
		"LivenessProbe on a pod without one: Ready": {
			pod: pod("noprobe", fault("LivenessProbe")), stages: []string{"pod-ready"},
		},
		"StartupProbe: killed for its startup probe, not started": {
			pod: pod("startup", fault("StartupProbe"), func(p *corev1.Pod) {
				p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port(8000).val()}}, FailureThreshold: 2}
			}),
			stages: []string{"opsmesh-pod-probe-start", "opsmesh-pod-probe-kill"},
			check: func(t *testing.T, steps []step) {
				if s := steps[0].pod.Status.ContainerStatuses[0].Started; s == nil || *s {
					t.Errorf("a container failing its startup probe is started: %v", s)
				}
				if e := event(t, steps[1], "Unhealthy"); e.Message != "Startup probe failed: dial tcp 10.0.0.5:8000: connect: connection refused" || e.Count != 2 {
					t.Errorf("Unhealthy: %q ×%d", e.Message, e.Count)
				}
				if e := event(t, steps[1], "Killing"); e.Message != "Container server failed startup probe, will be restarted" {
					t.Errorf("Killing: %q", e.Message)
				}
			},
		},
		"ReadinessProbe: running, never Ready, Unhealthy, no restarts": {
			pod: pod("unready", fault("ReadinessProbe"), func(p *corev1.Pod) {
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: port(8080).val()}}}
			}),
			stages: []string{"opsmesh-pod-probe-start", "opsmesh-pod-probe-unready", "opsmesh-pod-probe-unready"},
			check: func(t *testing.T, steps []step) {
				last := steps[2]
				cs := last.pod.Status.ContainerStatuses[0]
				if ready(last.pod) || cs.Ready || cs.RestartCount != 0 || cs.State.Running == nil || cs.Started == nil || !*cs.Started {
					t.Errorf("pod ready %v, container %+v; want running, started, unready, no restarts", ready(last.pod), cs)
				}
				if e := event(t, last, "Unhealthy"); e.Message != "Readiness probe failed: HTTP probe failed with statuscode: 404" || e.Count < 1 {
					t.Errorf("Unhealthy: %q ×%d", e.Message, e.Count)
				}
				for _, c := range last.pod.Status.Conditions {
					if c.Type == corev1.PodReady && !strings.Contains(c.Message, "[server]") {
						t.Errorf("Ready condition: %+v; want it to name the unready container", c)
					}
				}
			},
		},
		"fault-when env holds: crashloops": {
			pod:    pod("verbose", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "env LOG_LEVEL=verbose"), env("LOG_LEVEL", "verbose")),
			stages: []string{"opsmesh-pod-crash-first"},
		},
		"fault-when env fixed: Ready with the annotation still there": {
			pod:    pod("fixed", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "env LOG_LEVEL=verbose"), env("LOG_LEVEL", "info")),
			stages: []string{"pod-ready"},
		},
		"fault-when negated env: crashloops while MODEL_ID is unset": {
			pod:    pod("unset", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "!env MODEL_ID"), env("MODEL_NAME", "x")),
			stages: []string{"opsmesh-pod-crash-first"},
		},
		"fault-when negated env, set: Ready": {
			pod:    pod("set", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "!env MODEL_ID"), env("MODEL_ID", "x")),
			stages: []string{"pod-ready"},
		},
		"fault-when image and arg both hold: fails": {
			pod: pod("both", fault("Fail", "demo.opsmesh.dev/fault-when", "image ghcr.io/example/server:1.0; arg --storage-uri=s3://old"), func(p *corev1.Pod) {
				p.Spec.Containers[0].Args = []string{"--storage-uri=s3://old", "--port=8080"}
			}),
			stages: []string{"opsmesh-pod-fail"},
		},
		"fault-when arg changed: Ready": {
			pod: pod("newarg", fault("Fail", "demo.opsmesh.dev/fault-when", "image ghcr.io/example/server:1.0; arg --storage-uri=s3://old"), func(p *corev1.Pod) {
				p.Spec.Containers[0].Args = []string{"--storage-uri=s3://new"}
			}),
			stages: []string{"pod-ready"},
		},
		"fault-when field: the probe's port": {
			pod:    pod("port", fault("LivenessProbe", "demo.opsmesh.dev/fault-when", "field livenessProbe.httpGet.port=8081"), liveness("/healthz", port(8081))),
			stages: []string{"opsmesh-pod-probe-start"},
		},
		"fault-when field: the probe's port corrected": {
			pod:    pod("portfixed", fault("LivenessProbe", "demo.opsmesh.dev/fault-when", "field livenessProbe.httpGet.port=8081"), liveness("/healthz", port(8080))),
			stages: []string{"pod-ready"},
		},
		"fault-when pod field": {
			pod: pod("sa", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "pod serviceAccountName=reader"), func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "reader"
			}),
			stages: []string{"opsmesh-pod-crash-first"},
		},
		"fault-when with a typo holds": {
			pod:    pod("typo", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-when", "enviroment X=1")),
			stages: []string{"opsmesh-pod-crash-first"},
		},
		"fault-pods: the named worker fails": {
			pod:    pod("gang-worker-1", fault("Fail", "demo.opsmesh.dev/fault-pods", "worker-1")),
			stages: []string{"opsmesh-pod-fail"},
		},
		"fault-pods: another worker runs": {
			pod:    pod("gang-worker-0", fault("Fail", "demo.opsmesh.dev/fault-pods", "worker-1")),
			stages: []string{"pod-ready"},
		},
		"fault-pods: worker-1 is not worker-10": {
			pod:    pod("gang-worker-10", fault("Fail", "demo.opsmesh.dev/fault-pods", "worker-1")),
			stages: []string{"pod-ready"},
		},
		"fault-pods: by completion index": {
			pod: pod("train-x7k2p", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-pods", "3, 1"), func(p *corev1.Pod) {
				p.Labels = map[string]string{"batch.kubernetes.io/job-completion-index": "1"}
			}),
			stages: []string{"opsmesh-pod-crash-first"},
		},
		"fault-pods: by StatefulSet pod index, another index": {
			pod: pod("db-0", fault("CrashLoopBackOff", "demo.opsmesh.dev/fault-pods", "2"), func(p *corev1.Pod) {
				p.Labels = map[string]string{"apps.kubernetes.io/pod-index": "0"}
			}),
			stages: []string{"pod-ready"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			steps := sim.run(tc.pod, len(tc.stages)+1)
			if len(steps) > len(tc.stages) {
				steps = steps[:len(tc.stages)]
			}
			if got := stages(steps); !slices.Equal(got, tc.stages) {
				t.Fatalf("stages played: %v; want %v", got, tc.stages)
			}
			if tc.check != nil {
				tc.check(t, steps)
			}
		})
	}
}

// TestReadinessCountFollowsThePeriod: the Unhealthy count is the seconds since the start over
// the probe's periodSeconds, as often as a kubelet would have probed.
func TestReadinessCountFollowsThePeriod(t *testing.T) {
	sim := newSim(t)
	p := pod("period", map[string]string{"demo.opsmesh.dev/fault": "ReadinessProbe"}, func(p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: port(8080).val()}}, PeriodSeconds: 5}
	})
	started := sim.play(p).pod
	started.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute)}
	e := event(t, sim.play(started), "Unhealthy")
	if e.Count < 11 || e.Count > 13 {
		t.Errorf("Unhealthy count a minute after the start with periodSeconds 5: %d; want about 12", e.Count)
	}
}

type intOrName struct {
	n    int
	name string
}

func port(n int) intOrName           { return intOrName{n: n} }
func portName(name string) intOrName { return intOrName{name: name} }

func (p intOrName) val() intstr.IntOrString {
	if p.name != "" {
		return intstr.FromString(p.name)
	}
	return intstr.FromInt32(int32(p.n))
}
