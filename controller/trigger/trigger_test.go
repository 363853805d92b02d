package trigger_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/controller/trigger/alertmanager"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func TestFlags(t *testing.T) {
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	o := trigger.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o.WebhookListen != "" || o.DefaultNamespace != "opsmesh" || o.Cooldown != 10*time.Minute || !o.WatchEvents || !o.WatchGPUXID ||
		strings.Join(o.EventReasons, ",") != strings.Join(events.DefaultReasons, ",") {
		t.Fatalf("defaults %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	must(t, fs.Parse([]string{"--webhook-listen=:9095", "--webhook-token-file=/t", "--incident-cooldown=5m", "--event-reasons=BackOff,Unhealthy", "--event-exclude-namespaces=kube-system"}))
	if o.WebhookListen != ":9095" || o.Cooldown != 5*time.Minute || strings.Join(o.EventReasons, ",") != "BackOff,Unhealthy" || o.EventExcludeNamespaces[0] != "kube-system" {
		t.Fatalf("parsed %+v", o)
	}
	for _, c := range []struct {
		o    trigger.Options
		want string
	}{
		{trigger.Options{WebhookListen: ":9095", DefaultNamespace: "opsmesh"}, "--webhook-listen needs --webhook-token-file"},
		{trigger.Options{WebhookListen: "9095", WebhookTokenFile: "/t", DefaultNamespace: "opsmesh"}, "--webhook-listen \"9095\" is not host:port"},
		{trigger.Options{DefaultNamespace: "Ops_Mesh"}, "--incident-default-namespace"},
		{trigger.Options{DefaultNamespace: "opsmesh", Cooldown: -time.Second}, "--incident-cooldown"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v; want %q", c.o, err, c.want)
		}
	}
}

// TestSetupWithManager runs the triggers in a real manager: an alert on the webhook and a
// Warning event each raise an Incident.
func TestSetupWithManager(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	for _, n := range []string{"opsmesh", "wired", "wired-pod"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(tokenFile, []byte("wired-token\n"), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())

	o := &trigger.Options{WebhookListen: addr, WebhookTokenFile: filepath.Join(t.TempDir(), "missing"), DefaultNamespace: "opsmesh", WatchEvents: true}
	mgr, err := manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	must(t, err)
	if _, err := trigger.SetupWithManager(mgr, o, nil); err == nil || !strings.Contains(err.Error(), "--webhook-token-file") {
		t.Fatalf("missing token file: %v; want an error naming --webhook-token-file", err)
	}
	o.WebhookTokenFile = tokenFile
	mgr, err = manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	must(t, err)
	tr, err := trigger.SetupWithManager(mgr, o, nil)
	must(t, err)
	if tr.Writer == nil || tr.Writer.NeedLeaderElection() || tr.Webhook == nil {
		t.Fatalf("triggers %+v: want a writer on every replica and a webhook", tr)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	body := `{"version":"4","status":"firing","receiver":"opsmesh","alerts":[{"status":"firing","labels":{"alertname":"KubeStatefulSetReplicasMismatch","namespace":"wired","statefulset":"db","severity":"critical"},"fingerprint":"0123456789abcdef"}]}`
	var resp alertmanager.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+alertmanager.Path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer wired-token")
		r, err := http.DefaultClient.Do(req)
		if err == nil {
			err = json.NewDecoder(r.Body).Decode(&resp)
			r.Body.Close()
			if r.StatusCode != http.StatusOK {
				t.Fatalf("POST: %d", r.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook on %s never answered: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.Created != 1 || !strings.HasPrefix(resp.Alerts[0].Incident, "wired/kubestatefulsetreplicasmismatch-db-") {
		t.Fatalf("response %+v", resp)
	}

	must(t, c.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "wired", Name: "sched.1"}, Type: corev1.EventTypeWarning, Reason: "FailedScheduling",
		Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", LastTimestamp: metav1.Now(),
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "wired", Name: "train-0"}}))
	deadline = time.Now().Add(60 * time.Second)
	for {
		var l opsv1.IncidentList
		must(t, c.List(ctx, &l, client.InNamespace("wired")))
		counted := 0
		for _, i := range l.Items {
			if i.Status.Count == 1 {
				counted++
			}
		}
		if len(l.Items) == 2 && counted == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Incidents in wired (%d counted); want the alert's and the event's", len(l.Items), counted)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// kube-prometheus's KubePodCrashLooping names only the pod: the Incident is about the
	// StatefulSet that controls it, as an event about the pod would be.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "wired-pod", Name: "cache"}, Spec: appsv1.StatefulSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cache"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}}}}}
	must(t, c.Create(ctx, sts))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "wired-pod", Name: "cache-0", Labels: map[string]string{"app": "cache"},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}}}
	must(t, c.Create(ctx, pod))
	body = `{"version":"4","status":"firing","receiver":"opsmesh","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"wired-pod","pod":"cache-0","container":"redis","severity":"warning"},"fingerprint":"fedcba9876543210"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+alertmanager.Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer wired-token")
	r, err := http.DefaultClient.Do(req)
	must(t, err)
	resp = alertmanager.Response{}
	must(t, json.NewDecoder(r.Body).Decode(&resp))
	r.Body.Close()
	if r.StatusCode != http.StatusOK || resp.Created != 1 {
		t.Fatalf("POST of a pod's alert: %d %+v", r.StatusCode, resp)
	}
	var l opsv1.IncidentList
	must(t, c.List(ctx, &l, client.InNamespace("wired-pod")))
	if len(l.Items) != 1 || l.Items[0].Spec.Target == nil || l.Items[0].Spec.Target.Kind != "StatefulSet" || l.Items[0].Spec.Target.Name != "cache" {
		t.Fatalf("Incidents in wired-pod %+v; want one about StatefulSet cache, the pod's controller", l.Items)
	}

	// A rule aggregated by container keeps namespace and container only: the Incident is about
	// the workload of the pod whose container of that name fails.
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "redis", RestartCount: 5,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}
	must(t, c.Status().Update(ctx, pod))
	body = `{"version":"4","status":"firing","receiver":"opsmesh","alerts":[{"status":"firing","labels":{"alertname":"RedisContainerRestarting","namespace":"wired-pod","container":"redis","severity":"warning"},"fingerprint":"0123456789abcdef"}]}`
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+alertmanager.Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer wired-token")
	r, err = http.DefaultClient.Do(req)
	must(t, err)
	resp = alertmanager.Response{}
	must(t, json.NewDecoder(r.Body).Decode(&resp))
	r.Body.Close()
	if r.StatusCode != http.StatusOK || len(resp.Alerts) != 1 {
		t.Fatalf("POST of a container's alert: %d %+v", r.StatusCode, resp)
	}
	var inc opsv1.Incident
	parts := strings.SplitN(resp.Alerts[0].Incident, "/", 2)
	must(t, c.Get(ctx, client.ObjectKey{Namespace: parts[0], Name: parts[1]}, &inc))
	if inc.Spec.Target == nil || inc.Spec.Target.Kind != "StatefulSet" || inc.Spec.Target.Name != "cache" {
		t.Fatalf("the container's alert raised %s about %+v; want StatefulSet cache", resp.Alerts[0].Incident, inc.Spec.Target)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
