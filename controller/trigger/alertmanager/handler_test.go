package alertmanager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/alertmanager"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

const token = "s3cret-token"

// receiver is a running writer and webhook receiver over HTTP against the test API server, with
// Incidents for namespace ns (created) and the default namespace "opsmesh".
func receiver(t *testing.T, ns string, cfg dedup.Config) (client.Client, *dedup.Writer, string) {
	t.Helper()
	env := shared.Env(t)
	for _, n := range []string{ns, "opsmesh"} {
		err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	cfg.DefaultNamespace = "opsmesh"
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 50 * time.Millisecond
	}
	w, err := dedup.New(env.Client, env.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	h, err := alertmanager.NewHandler(token, w, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return env.Client, w, srv.URL + alertmanager.Path
}

func post(t testing.TB, hc *http.Client, url, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// payload is a webhook body with one alert of status st.
func payload(st string, labels map[string]string, annotations map[string]string, fingerprint string) string {
	a := map[string]any{"status": st, "labels": labels, "annotations": annotations, "startsAt": "2026-12-01T10:00:00Z",
		"endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": st, "receiver": "opsmesh", "groupKey": "{}", "truncatedAlerts": 0,
		"groupLabels": map[string]string{}, "commonLabels": labels, "commonAnnotations": annotations, "externalURL": "http://am", "alerts": []any{a}})
	return string(b)
}

func incidents(t testing.TB, c client.Client, ns string, labels map[string]string) []opsv1.Incident {
	t.Helper()
	var l opsv1.IncidentList
	if err := c.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// waitCount waits until the Incident at key has status.count want, failing with what it has.
func waitCount(t testing.TB, c client.Client, key types.NamespacedName, want int64) opsv1.Incident {
	t.Helper()
	var inc opsv1.Incident
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.Get(context.Background(), key, &inc)
		if err == nil && inc.Status.Count == want {
			return inc
		}
		if time.Now().After(deadline) {
			t.Fatalf("Incident %s: count %d (err %v); want %d", key, inc.Status.Count, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func decodeResponse(t testing.TB, body string) alertmanager.Response {
	t.Helper()
	var r alertmanager.Response
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	return r
}

func keyOf(s string) types.NamespacedName {
	ns, name, _ := strings.Cut(s, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

func TestFiringAlertRaisesIncidentResolvedMarksIt(t *testing.T) {
	c, _, url := receiver(t, "shop", dedup.Config{})
	labels := map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-7d9f-abcde",
		"container": "app", "severity": "critical", "team": "shop", "job": "kube-state-metrics"}
	ann := map[string]string{"summary": "Pod shop/checkout-7d9f-abcde is crash looping.", "runbook_url": "http://runbooks/x"}
	code, _, body := post(t, http.DefaultClient, url, "Bearer "+token, payload("firing", labels, ann, "a1b2c3d4e5f60718"))
	if code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	r := decodeResponse(t, body)
	if r.Created != 1 || r.Counted != 0 || len(r.Alerts) != 1 || r.Alerts[0].Result != "created" || r.Alerts[0].Fingerprint != "a1b2c3d4e5f60718" {
		t.Fatalf("response %s", body)
	}
	inc := waitCount(t, c, keyOf(r.Alerts[0].Incident), 1)
	if inc.Namespace != "shop" || !strings.HasPrefix(inc.Name, "kubepodcrashlooping-checkout-7d9f-abcde-") {
		t.Errorf("Incident %s/%s; want shop/kubepodcrashlooping-checkout-7d9f-abcde-<hex>", inc.Namespace, inc.Name)
	}
	want := opsv1.TargetReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "checkout-7d9f-abcde"}
	if inc.Spec.Target == nil || *inc.Spec.Target != want {
		t.Errorf("target %+v; want %+v", inc.Spec.Target, want)
	}
	if inc.Spec.Severity != opsv1.SeverityCritical || inc.Spec.Summary != ann["summary"] || inc.Spec.Source.Type != opsv1.SourceAlertmanager ||
		inc.Spec.Source.Name != "KubePodCrashLooping" || inc.Spec.Fingerprint != "a1b2c3d4e5f60718" || inc.Spec.Source.Labels["container"] != "app" {
		t.Errorf("spec %+v", inc.Spec)
	}
	for k, v := range map[string]string{"opsmesh.dev/source": "alertmanager", "opsmesh.dev/fingerprint": "a1b2c3d4e5f60718",
		"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": "shop", "team": "shop"} {
		if inc.Labels[k] != v {
			t.Errorf("label %s = %q; want %q (labels %v)", k, inc.Labels[k], v, inc.Labels)
		}
	}
	if inc.Status.FirstSeen == nil || inc.Status.LastSeen == nil || inc.Status.Phase != "" {
		t.Errorf("status %+v: want firstSeen and lastSeen set, phase left to the orchestrator", inc.Status)
	}

	// The same alert again is counted; resolved, it marks the Incident and creates nothing.
	_, _, body = post(t, http.DefaultClient, url, "Bearer "+token, payload("firing", labels, ann, "a1b2c3d4e5f60718"))
	if r2 := decodeResponse(t, body); r2.Counted != 1 || r2.Alerts[0].Incident != r.Alerts[0].Incident {
		t.Fatalf("repeat: %s", body)
	}
	waitCount(t, c, keyOf(r.Alerts[0].Incident), 2)
	code, _, body = post(t, http.DefaultClient, url, "Bearer "+token, payload("resolved", labels, ann, "a1b2c3d4e5f60718"))
	if r3 := decodeResponse(t, body); code != 200 || r3.Alerts[0].Result != "resolved" {
		t.Fatalf("resolved: %d %s", code, body)
	}
	if err := c.Get(context.Background(), keyOf(r.Alerts[0].Incident), &inc); err != nil {
		t.Fatal(err)
	}
	if inc.Annotations[dedup.AnnotationResolvedAt] == "" {
		t.Errorf("annotations %v: want %s", inc.Annotations, dedup.AnnotationResolvedAt)
	}
	other := map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "other"}
	_, _, body = post(t, http.DefaultClient, url, "Bearer "+token, payload("resolved", other, nil, ""))
	if r4 := decodeResponse(t, body); r4.Alerts[0].Result != "ignored" {
		t.Fatalf("resolved alert with no Incident: %s", body)
	}
	if n := len(incidents(t, c, "shop", map[string]string{"alertname": "KubePodCrashLooping"})); n != 1 {
		t.Fatalf("%d Incidents; want 1", n)
	}
}

func TestNodeAlertGoesToDefaultNamespace(t *testing.T) {
	c, _, url := receiver(t, "shop", dedup.Config{})
	labels := map[string]string{"alertname": "NodeFilesystemAlmostOutOfSpace", "instance": "worker-1:9100", "job": "node-exporter", "severity": "warning"}
	_, _, body := post(t, http.DefaultClient, url, "Bearer "+token, payload("firing", labels, nil, ""))
	r := decodeResponse(t, body)
	inc := waitCount(t, c, keyOf(r.Alerts[0].Incident), 1)
	if inc.Namespace != "opsmesh" || inc.Spec.Target == nil || inc.Spec.Target.Kind != "Node" || inc.Spec.Target.Name != "worker-1" ||
		inc.Spec.Fingerprint != dedup.LabelsHash(labels) {
		t.Fatalf("Incident %s/%s spec %+v", inc.Namespace, inc.Name, inc.Spec)
	}
}

func TestBadPayloadsChangeNothing(t *testing.T) {
	c, _, url := receiver(t, "garbage", dedup.Config{})
	good := payload("firing", map[string]string{"alertname": "GarbageAlert", "namespace": "garbage", "pod": "p"}, nil, "")
	for _, tc := range []struct{ name, body, want string }{
		{"not json", "this is not json", "not an Alertmanager webhook payload"},
		{"unknown version", strings.Replace(good, `"version":"4"`, `"version":"5"`, 1), `version is "5"`},
		{"wrong shape", `{"version":"4","status":"firing","alerts":{"a":1}}`, "not an Alertmanager webhook payload"},
		// One good alert and one bad: the whole payload is refused, the good one not raised.
		{"one bad alert", strings.Replace(good, `"alerts":[`, `"alerts":[{"status":"firing","labels":{"pod":"x"}},`, 1), "alerts[0]: labels have no alertname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, http.DefaultClient, url, "Bearer "+token, tc.body)
			var e struct{ Error string }
			_ = json.Unmarshal([]byte(body), &e)
			if code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("POST %s: %d %s; want 400 saying %q", tc.name, code, body, tc.want)
			}
		})
	}
	code, _, body := post(t, http.DefaultClient, url, "Bearer "+token, `{"version":"4","pad":"`+strings.Repeat("x", alertmanager.MaxBodyBytes)+`"}`)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s; want 413", code, body)
	}
	if items := incidents(t, c, "garbage", nil); len(items) != 0 {
		t.Fatalf("%d Incidents created from bad payloads: %s", len(items), items[0].Name)
	}
}

func TestAuthAndMethod(t *testing.T) {
	c, _, url := receiver(t, "authtest", dedup.Config{})
	good := payload("firing", map[string]string{"alertname": "AuthAlert", "namespace": "authtest", "pod": "p"}, nil, "")
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x"} {
		code, h, body := post(t, http.DefaultClient, url, auth, good)
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, "token") {
			t.Errorf("Authorization %q: %d %q %s; want 401 with WWW-Authenticate: Bearer", auth, code, h.Get("WWW-Authenticate"), body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d; want 405", resp.StatusCode)
	}
	if items := incidents(t, c, "authtest", nil); len(items) != 0 {
		t.Fatalf("%d Incidents created without a valid token", len(items))
	}
}

// TestAlertStormMakesOneIncident sends 1,000 identical alerts at once, each its own POST.
func TestAlertStormMakesOneIncident(t *testing.T) {
	c, w, url := receiver(t, "storm", dedup.Config{FlushInterval: 250 * time.Millisecond})
	body := payload("firing", map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "storm", "deployment": "web", "severity": "warning"}, nil, "feedfacecafebeef")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, counted, failed := 0, 0, 0
	names := map[string]bool{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, _, resp := post(t, hc, url, "Bearer "+token, body)
			mu.Lock()
			defer mu.Unlock()
			if code != http.StatusOK {
				failed++
				return
			}
			r := decodeResponse(t, resp)
			created += r.Created
			counted += r.Counted
			names[r.Alerts[0].Incident] = true
		}()
	}
	close(start)
	wg.Wait()
	if failed != 0 || created != 1 || counted != n-1 || len(names) != 1 {
		t.Fatalf("%d failed, %d created, %d counted, Incidents %v; want 0, 1, %d, one Incident", failed, created, counted, names, n-1)
	}
	items := incidents(t, c, "storm", map[string]string{dedup.LabelFingerprint: "feedfacecafebeef"})
	if len(items) != 1 {
		t.Fatalf("%d Incidents with the storm's fingerprint; want 1", len(items))
	}
	key := client.ObjectKeyFromObject(&items[0])
	waitCount(t, c, key, n)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inc := waitCount(t, c, key, n); inc.Spec.Target == nil || inc.Spec.Target.Kind != "Deployment" {
		t.Fatalf("target %+v", inc.Spec.Target)
	}
}

// TestRepeatAfterCooldownRaisesNewIncident: a repeat while the Incident is finished but within
// the cooldown counts into it; once the cooldown has passed, it raises a new Incident.
func TestRepeatAfterCooldownRaisesNewIncident(t *testing.T) {
	c, _, url := receiver(t, "cooldown", dedup.Config{Cooldown: 10 * time.Minute, Recheck: time.Nanosecond})
	body := payload("firing", map[string]string{"alertname": "KubeJobFailed", "namespace": "cooldown", "job_name": "nightly"}, nil, "")
	send := func() alertmanager.AlertResult {
		t.Helper()
		code, _, resp := post(t, http.DefaultClient, url, "Bearer "+token, body)
		if code != 200 {
			t.Fatalf("POST: %d %s", code, resp)
		}
		return decodeResponse(t, resp).Alerts[0]
	}
	first := send()
	key := keyOf(first.Incident)
	waitCount(t, c, key, 1)
	finish := func(at time.Time) {
		t.Helper()
		patch := fmt.Sprintf(`{"status":{"phase":"Resolved","timeline":[{"time":%q,"phase":"Resolved","event":"Resolved","actor":"test"}]}}`, at.UTC().Format(time.RFC3339))
		inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		if err := c.Status().Patch(context.Background(), inc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
	}
	finish(time.Now().Add(-time.Minute)) // resolved a minute ago: within the cooldown
	if r := send(); r.Result != "counted" || r.Incident != first.Incident {
		t.Fatalf("repeat within the cooldown: %+v; want counted into %s", r, first.Incident)
	}
	waitCount(t, c, key, 2)
	finish(time.Now().Add(-11 * time.Minute)) // resolved 11 minutes ago: past the cooldown
	second := send()
	if second.Result != "created" || second.Incident == first.Incident {
		t.Fatalf("repeat after the cooldown: %+v; want a new Incident", second)
	}
	waitCount(t, c, keyOf(second.Incident), 1)
	inc := waitCount(t, c, key, 2)
	if inc.Status.Phase != opsv1.PhaseResolved || len(inc.Status.Timeline) != 1 {
		t.Fatalf("the writer changed the orchestrator's status: %+v", inc.Status)
	}
	if n := len(incidents(t, c, "cooldown", nil)); n != 2 {
		t.Fatalf("%d Incidents; want 2", n)
	}
}
