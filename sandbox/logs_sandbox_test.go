//go:build sandbox

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestPodLogsOnSandbox starts the sandbox's control plane and simulated nodes (etcd,
// kube-apiserver, kube-scheduler, kube-controller-manager, kwok: not the platform, which logs
// do not need), sets container logs with SetPodLogs and reads them as kubectl logs and pod_logs
// do, through the API server's pods/log, which reaches kwok's kubelet endpoint: the current and
// the previous container's lines, tailLines, a second container and pods without logs set
// (empty, not an error). Run it with make test-sandbox.
func TestPodLogsOnSandbox(t *testing.T) {
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := controlPlaneForTest(t, root)
	c := s.Client
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every node's InternalIP and kubelet port are kwok's endpoint", func(t *testing.T) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			ip := ""
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					ip = a.Address
				}
			}
			if ip != kubeletIP || int(n.Status.DaemonEndpoints.KubeletEndpoint.Port) != s.Ports["kubelet"] {
				t.Errorf("node %s: InternalIP %q, kubelet port %d; want %s and %d", n.Name, ip, n.Status.DaemonEndpoints.KubeletEndpoint.Port, kubeletIP, s.Ports["kubelet"])
			}
		}
	})

	ns := "logs-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	crash := testPod(ns, "crash", map[string]string{"demo.opsmesh.dev/fault": "CrashLoopBackOff"})
	crash.Spec.Containers = append(crash.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	for _, p := range []*corev1.Pod{crash, testPod(ns, "quiet", nil)} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, c, ns, "crash", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	waitPod(t, c, ns, "quiet", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	current := []string{"starting api v2.3.1", `level=error msg="open /etc/api/config.yaml: no such file or directory"`}
	previous := []string{"starting api v2.3.1", "panic: runtime error: invalid memory address or nil pointer dereference", "\tmain.go:42"}
	start := time.Now()
	if err := s.SetPodLogs(ctx, ns, "crash", "", false, current); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPodLogs(ctx, ns, "crash", "main", true, previous); err != nil {
		t.Fatal(err)
	}
	t.Logf("both logs set and served in %s", time.Since(start).Round(time.Millisecond))

	for _, tc := range []struct {
		name string
		pod  string
		opts corev1.PodLogOptions
		want string
	}{
		{"the current container's log", "crash", corev1.PodLogOptions{Container: "main"}, current[0] + "\n" + current[1] + "\n"},
		{"the previous container's log", "crash", corev1.PodLogOptions{Container: "main", Previous: true}, "starting api v2.3.1\npanic: runtime error: invalid memory address or nil pointer dereference\n\tmain.go:42\n"},
		{"the last line", "crash", corev1.PodLogOptions{Container: "main", TailLines: ptr.To[int64](1)}, current[1] + "\n"},
		{"the last ten minutes", "crash", corev1.PodLogOptions{Container: "main", SinceSeconds: ptr.To[int64](600)}, current[0] + "\n" + current[1] + "\n"},
		{"a container without logs set", "crash", corev1.PodLogOptions{Container: "sidecar"}, ""},
		{"a pod without logs set", "quiet", corev1.PodLogOptions{}, ""},
		{"a pod without logs set, previous", "quiet", corev1.PodLogOptions{Previous: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := cs.CoreV1().Pods(ns).GetLogs(tc.pod, &tc.opts).DoRaw(ctx)
			if err != nil {
				t.Fatalf("GetLogs %s/%s %+v: %v; kwok's log %s", ns, tc.pod, tc.opts, err, s.path("logs", "kwok.log"))
			}
			if string(raw) != tc.want {
				t.Errorf("GetLogs %s/%s %+v: %q; want %q", ns, tc.pod, tc.opts, raw, tc.want)
			}
		})
	}

	t.Run("logs set again replace the earlier ones", func(t *testing.T) {
		if err := s.SetPodLogs(ctx, ns, "quiet", "main", false, []string{"ready"}); err != nil {
			t.Fatal(err)
		}
		raw, err := cs.CoreV1().Pods(ns).GetLogs("quiet", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || string(raw) != "ready\n" {
			t.Errorf("GetLogs after SetPodLogs: %q, %v; want \"ready\\n\"", raw, err)
		}
	})
}

// controlPlaneForTest starts the sandbox's control plane, kwok and the simulated nodes (Up
// without the platform) in a temporary state directory, and stops them when the test ends.
func controlPlaneForTest(t *testing.T, root string) *Sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &Sandbox{State: State{Dir: dir, StartedAt: time.Now().UTC(), Ports: map[string]int{}, Agents: map[string]string{}},
		opts: Options{StateDir: dir, RepoRoot: root, Progress: testWriter{t}, Timeout: 3 * time.Minute}, exited: map[string]chan struct{}{}}
	ctx := context.Background()
	if err := s.binaries(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"logs", "pids"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), dir); err != nil {
			t.Error(err)
		}
	})
	if err := s.controlPlane(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.cluster(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
