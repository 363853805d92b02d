package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

// TestCRILog checks the files kwok reads: one CRI log line per line (time, stdout, F, text),
// line breaks inside a line making several, and what the API server then serves.
func TestCRILog(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	for name, tc := range map[string]struct {
		lines       []string
		file, serve string
	}{
		"none": {},
		"lines": {
			lines: []string{`level=error msg="open /etc/app/config.yaml: no such file or directory"`, "exiting"},
			file: "2025-03-01T11:00:00Z stdout F level=error msg=\"open /etc/app/config.yaml: no such file or directory\"\n" +
				"2025-03-01T11:00:00.000001Z stdout F exiting\n",
			serve: "level=error msg=\"open /etc/app/config.yaml: no such file or directory\"\nexiting\n",
		},
		"a line with line breaks, an empty line, a final line break": {
			lines: []string{"panic: boom\n\tmain.go:12", "", "done\n"},
			file: "2025-03-01T11:00:00Z stdout F panic: boom\n2025-03-01T11:00:00.000001Z stdout F \tmain.go:12\n" +
				"2025-03-01T11:00:00.000002Z stdout F \n2025-03-01T11:00:00.000003Z stdout F done\n",
			serve: "panic: boom\n\tmain.go:12\n\ndone\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(criLog(tc.lines, at)); got != tc.file {
				t.Errorf("criLog:\n%s\nwant:\n%s", got, tc.file)
			}
			if got := servedLog(tc.lines); got != tc.serve {
				t.Errorf("servedLog: %q, want %q", got, tc.serve)
			}
		})
	}
}

// TestKwokDefaultLogs checks kwok's default ClusterLogs: every pod, every container, current and
// previous, served from the empty file (a path with spaces kept whole).
func TestKwokDefaultLogs(t *testing.T) {
	empty := "/home/a user/.cache/opsmesh/sandbox/podlogs/empty.log"
	var u unstructured.Unstructured
	if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(kwokDefaultLogs(empty)), 4096).Decode(&u.Object); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs", "metadata": map[string]any{"name": "opsmesh-sandbox-default"},
		"spec": map[string]any{"logs": []any{map[string]any{"logsFile": empty, "previousLogsFile": empty}}}}
	if !reflect.DeepEqual(want, u.Object) {
		t.Errorf("kwok's default ClusterLogs:\n%s\nwant:\n%s", show(u.Object), show(want))
	}
}

// TestSetPodLogs runs SetPodLogs against a real API server (no kwok: the pod is on no node, so
// it does not wait for the lines to be served) and checks the files and the kwok Logs object it
// writes, and that bad input is refused with an error naming the pod and changes nothing.
func TestSetPodLogs(t *testing.T) {
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
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	s := &Sandbox{State: State{Dir: t.TempDir()}, Config: env.Config, Client: c, opts: Options{Timeout: time.Minute}}
	if err := s.installKwokLogsCRD(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.preparePodLogs(); err != nil {
		t.Fatal(err)
	}
	ns := "logs-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-0"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "busybox"}},
		Containers:     []corev1.Container{{Name: "api", Image: "busybox"}, {Name: "proxy", Image: "busybox"}},
	}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := s.path(podLogsDir, ns, pod.Name, string(pod.UID))
	empty := s.path(podLogsDir, emptyLogFile)

	steps := []struct {
		name      string
		container string
		previous  bool
		lines     []string
		wantErr   string
		// files are the log files' texts (without the CRI prefix) after the step.
		files map[string]string
		// containers are the Logs entries' containers, in order, before the default entry.
		containers []string
	}{
		{name: "the first container's log by default", lines: []string{"listening on :8080"},
			files: map[string]string{"api.log": "listening on :8080\n", "api.previous.log": ""}, containers: []string{"api"}},
		{name: "its previous log", previous: true, lines: []string{"dial tcp 10.96.0.12:5432: connect: connection refused", "exit 1"},
			files:      map[string]string{"api.log": "listening on :8080\n", "api.previous.log": "dial tcp 10.96.0.12:5432: connect: connection refused\nexit 1\n"},
			containers: []string{"api"}},
		{name: "an init container's log", container: "migrate", lines: []string{"migration 12 failed"},
			files: map[string]string{"api.log": "listening on :8080\n", "api.previous.log": "dial tcp 10.96.0.12:5432: connect: connection refused\nexit 1\n",
				"migrate.log": "migration 12 failed\n", "migrate.previous.log": ""},
			containers: []string{"api", "migrate"}},
		{name: "set again, replaced", lines: []string{"ready"},
			files: map[string]string{"api.log": "ready\n", "api.previous.log": "dial tcp 10.96.0.12:5432: connect: connection refused\nexit 1\n",
				"migrate.log": "migration 12 failed\n", "migrate.previous.log": ""},
			containers: []string{"api", "migrate"}},
		{name: "a container the pod does not have", container: "db", lines: []string{"x"},
			wantErr: `pod logs-test/api-0: it has no container "db"; its containers are migrate, api, proxy`,
			files: map[string]string{"api.log": "ready\n", "api.previous.log": "dial tcp 10.96.0.12:5432: connect: connection refused\nexit 1\n",
				"migrate.log": "migration 12 failed\n", "migrate.previous.log": ""},
			containers: []string{"api", "migrate"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := s.SetPodLogs(ctx, ns, pod.Name, st.container, st.previous, st.lines)
			if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
				t.Fatalf("SetPodLogs: %v; want error %q", err, st.wantErr)
			}
			got := map[string]string{}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				got[e.Name()] = stripCRI(t, string(b))
			}
			if !reflect.DeepEqual(st.files, got) {
				t.Errorf("log files:\n%s\nwant:\n%s", show(got), show(st.files))
			}
			var want []any
			for _, c := range st.containers {
				want = append(want, map[string]any{"containers": []any{c}, "logsFile": filepath.Join(dir, c+".log"), "previousLogsFile": filepath.Join(dir, c+".previous.log")})
			}
			want = append(want, map[string]any{"logsFile": empty, "previousLogsFile": empty})
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("kwok.x-k8s.io/v1alpha1")
			u.SetKind("Logs")
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod.Name}, u); err != nil {
				t.Fatal(err)
			}
			if got := u.Object["spec"].(map[string]any)["logs"]; !reflect.DeepEqual(want, got) {
				t.Errorf("kwok Logs %s/%s spec.logs:\n%s\nwant:\n%s", ns, pod.Name, show(got), show(want))
			}
			if refs := u.GetOwnerReferences(); len(refs) != 1 || refs[0].Kind != "Pod" || refs[0].UID != pod.UID {
				t.Errorf("kwok Logs %s/%s is owned by %+v; want the pod (uid %s), so that it goes with it", ns, pod.Name, refs, pod.UID)
			}
		})
	}

	t.Run("a pod replaced while its logs are set: its successor of the same name gets them", func(t *testing.T) {
		old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-0", Finalizers: []string{"opsmesh.dev/test-hold"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "busybox"}}}}
		if err := c.Create(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, old); err != nil { // held by its finalizer: being deleted
			t.Fatal(err)
		}
		replaced := make(chan *corev1.Pod, 1)
		go func() {
			time.Sleep(time.Second)
			cur := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(old), cur); err == nil {
				cur.Finalizers = nil
				_ = c.Update(ctx, cur)
			}
			for range 50 { // the old one is gone once its finalizer is: create its successor
				next := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-0"}, Spec: old.Spec}
				if err := c.Create(ctx, next); err == nil {
					replaced <- next
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			replaced <- nil
		}()
		if err := s.SetPodLogs(ctx, ns, "db-0", "", true, []string{"FATAL: database files are incompatible with server"}); err != nil {
			t.Fatalf("SetPodLogs across a replacement: %v", err)
		}
		next := <-replaced
		if next == nil {
			t.Fatal("the successor pod was not created")
		}
		b, err := os.ReadFile(filepath.Join(s.path(podLogsDir, ns, "db-0", string(next.UID)), "db.previous.log"))
		if err != nil || !strings.Contains(string(b), "database files are incompatible") {
			t.Errorf("the successor's previous log: %q, %v", b, err)
		}
	})

	t.Run("a pod that does not exist", func(t *testing.T) {
		err := s.SetPodLogs(ctx, ns, "gone", "", false, []string{"x"})
		if err == nil || !strings.Contains(err.Error(), "pod logs-test/gone: the pod does not exist") {
			t.Errorf("SetPodLogs of a missing pod: %v", err)
		}
		if _, err := os.Stat(s.path(podLogsDir, ns, "gone")); !os.IsNotExist(err) {
			t.Errorf("SetPodLogs of a missing pod left files: %v", err)
		}
	})
}

// stripCRI returns the text of a CRI log file's lines, checking each line's prefix.
func stripCRI(t *testing.T, file string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.SplitAfter(file, "\n") {
		if l == "" {
			continue
		}
		ts, rest, ok := strings.Cut(l, " stdout F ")
		if _, err := time.Parse(time.RFC3339Nano, ts); !ok || err != nil {
			t.Errorf("log file line %q is not in CRI log format: %v", l, err)
		}
		b.WriteString(rest)
	}
	return b.String()
}

func show(v any) string { return fmt.Sprintf("%#v", v) }
