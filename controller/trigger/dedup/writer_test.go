package dedup_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
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

func setup(t testing.TB, ns string, cfg dedup.Config) (client.Client, *dedup.Writer) {
	t.Helper()
	env := shared.Env(t)
	for _, n := range []string{ns, "opsmesh"} {
		if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if cfg.DefaultNamespace == "" {
		cfg.DefaultNamespace = "opsmesh"
	}
	w, err := dedup.New(env.Client, env.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env.Client, w
}

func start(t testing.TB, w *dedup.Writer) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func list(t testing.TB, c client.Client, ns string) []opsv1.Incident {
	t.Helper()
	var l opsv1.IncidentList
	if err := c.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func get(t testing.TB, c client.Client, key types.NamespacedName) opsv1.Incident {
	t.Helper()
	var inc opsv1.Incident
	if err := c.Get(context.Background(), key, &inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

var fingerprintPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

func TestNew(t *testing.T) {
	for _, c := range []struct {
		cfg  dedup.Config
		want string
	}{
		{dedup.Config{}, "default namespace is empty"},
		{dedup.Config{DefaultNamespace: "Not_A_NS"}, "not a namespace name"},
		{dedup.Config{DefaultNamespace: "opsmesh", Cooldown: -time.Minute}, "negative"},
	} {
		if _, err := dedup.New(nil, nil, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v; want %q", c.cfg, err, c.want)
		}
	}
}

// TestOddSignalsMakeValidIncidents: names, fingerprints and labels the API server would refuse
// are made valid; what cannot be is refused and creates nothing.
func TestOddSignalsMakeValidIncidents(t *testing.T) {
	c, w := setup(t, "odd", dedup.Config{})
	start(t, w)
	long := strings.Repeat("very-long-name-", 20)[:253]
	res, err := w.Raise(context.Background(), dedup.Signal{
		Source: opsv1.SourceAlertmanager, Name: "Ünïcode Alert/Name!!", Namespace: "odd",
		Labels:      map[string]string{"alertname": "Ünïcode Alert/Name!!", "severity": "CRITICAL", "team": "shop", "bad key": "x", "namespace": "odd"},
		Severity:    "CRITICAL",
		Summary:     strings.Repeat("s", 5000),
		Target:      &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "odd", Name: long},
		Fingerprint: "sha256:" + strings.Repeat("ab", 70),
	})
	if err != nil {
		t.Fatal(err)
	}
	inc := get(t, c, res.Incident)
	if len(inc.Name) > 63 || !strings.HasPrefix(inc.Name, "n-code-alert-name-very-long-name") {
		t.Errorf("name %q: want a readable name of at most 63 characters", inc.Name)
	}
	fp := inc.Spec.Fingerprint
	if !fingerprintPattern.MatchString(fp) || len(fp) > 63 || inc.Labels[dedup.LabelFingerprint] != fp || res.Fingerprint != fp {
		t.Errorf("fingerprint %q (label %q, result %q)", fp, inc.Labels[dedup.LabelFingerprint], res.Fingerprint)
	}
	if inc.Spec.Severity != opsv1.SeverityCritical || len(inc.Spec.Summary) > 1024 || !strings.HasSuffix(inc.Spec.Summary, "…") {
		t.Errorf("severity %q, summary of %d bytes", inc.Spec.Severity, len(inc.Spec.Summary))
	}
	if _, ok := inc.Labels["alertname"]; ok || inc.Labels["team"] != "shop" || inc.Labels["severity"] != "CRITICAL" {
		t.Errorf("labels %v: want team and severity copied, alertname (not a label value) left out", inc.Labels)
	}

	// An Alertmanager fingerprint that is a valid label value is kept as it is.
	res, err = w.Raise(context.Background(), dedup.Signal{Source: opsv1.SourceAlertmanager, Name: "A", Namespace: "odd", Fingerprint: "a1b2c3d4e5f60718"})
	if err != nil || res.Fingerprint != "a1b2c3d4e5f60718" {
		t.Fatalf("Raise: %+v, %v", res, err)
	}

	before := len(list(t, c, "odd"))
	for _, s := range []dedup.Signal{
		{Source: "pagerduty", Name: "A"},
		{Source: opsv1.SourceEvent, Name: "A", Target: &opsv1.TargetReference{Kind: "Pod"}},
		{Source: opsv1.SourceEvent, Name: "A", Namespace: "No_Such"},
	} {
		if _, err := w.Raise(context.Background(), s); err == nil {
			t.Errorf("Raise(%+v) succeeded; want it refused", s)
		}
	}
	if n := len(list(t, c, "odd")); n != before {
		t.Fatalf("%d Incidents after refused signals; want %d", n, before)
	}
}

// TestCountsFlushedOnShutdown: counts still in memory when the writer stops are written.
func TestCountsFlushedOnShutdown(t *testing.T) {
	c, w := setup(t, "shutdown", dedup.Config{FlushInterval: time.Hour})
	stop := start(t, w)
	s := dedup.Signal{Source: opsv1.SourceEvent, Name: "BackOff", Namespace: "shutdown", Fingerprint: "shutdown-1"}
	var key types.NamespacedName
	for i := 0; i < 7; i++ {
		res, err := w.Raise(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		key = res.Incident
	}
	if got := get(t, c, key).Status.Count; got != 0 {
		t.Fatalf("count %d before any flush", got)
	}
	stop()
	inc := get(t, c, key)
	if inc.Status.Count != 7 || inc.Status.FirstSeen == nil || inc.Status.LastSeen == nil {
		t.Fatalf("after shutdown: status %+v; want count 7 with firstSeen and lastSeen", inc.Status)
	}
	if _, err := w.Raise(context.Background(), s); err == nil {
		t.Fatal("Raise after shutdown succeeded; want it refused so the sender retries")
	}
}

// TestDeletedIncidentRaisedAgain: counts for an Incident deleted before they were written are
// not lost: they raise a new Incident.
func TestDeletedIncidentRaisedAgain(t *testing.T) {
	c, w := setup(t, "deleted", dedup.Config{FlushInterval: time.Hour})
	s := dedup.Signal{Source: opsv1.SourceEvent, Name: "OOMKilling", Namespace: "deleted", Fingerprint: "deleted-1"}
	first, err := w.Raise(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Raise(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	inc := get(t, c, first.Incident)
	if err := c.Delete(context.Background(), &inc); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	items := list(t, c, "deleted")
	if len(items) != 1 || items[0].UID == inc.UID || items[0].Status.Count != 2 {
		t.Fatalf("after deletion: %d Incidents %v; want one new Incident with count 2", len(items), items)
	}
}

// BenchmarkRaiseIdentical raises b.N identical signals from parallel goroutines: one Incident,
// count b.N. ns/op is the cost per signal.
func BenchmarkRaiseIdentical(b *testing.B) {
	c, w := setup(b, "bench", dedup.Config{})
	stop := start(b, w)
	fp := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	s := dedup.Signal{Source: opsv1.SourceAlertmanager, Name: "Bench", Namespace: "bench", Fingerprint: fp}
	var key atomic.Value
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := w.Raise(context.Background(), s)
			if err != nil {
				b.Error(err)
				return
			}
			key.Store(res.Incident)
		}
	})
	b.StopTimer()
	stop()
	var l opsv1.IncidentList
	if err := c.List(context.Background(), &l, client.InNamespace("bench"), client.MatchingLabels{dedup.LabelFingerprint: fp}); err != nil {
		b.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Status.Count != int64(b.N) {
		b.Fatalf("%d Incidents (count %v); want one with count %d", len(l.Items), l.Items, b.N)
	}
}

// TestMissingNamespaceFallsBackToDefault: a signal for a namespace that does not exist raises
// its Incident in the default namespace, where its repeats and its resolution find it.
func TestMissingNamespaceFallsBackToDefault(t *testing.T) {
	c, w := setup(t, "fallback", dedup.Config{DefaultNamespace: "fallback", FlushInterval: time.Hour, Recheck: time.Nanosecond})
	s := dedup.Signal{Source: opsv1.SourceAlertmanager, Name: "KubePodNotReady", Fingerprint: "fallback-1",
		Target: &opsv1.TargetReference{Kind: "Pod", Namespace: "no-such-namespace", Name: "p"}}
	first, err := w.Raise(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if first.Incident.Namespace != "fallback" || !first.Created {
		t.Fatalf("Raise: %+v; want a new Incident in the default namespace", first)
	}
	again, err := w.Raise(context.Background(), s)
	if err != nil || again.Incident != first.Incident || again.Created {
		t.Fatalf("repeat: %+v, %v; want counted into %s", again, err, first.Incident)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inc := get(t, c, first.Incident); inc.Status.Count != 2 || inc.Spec.Target.Namespace != "no-such-namespace" {
		t.Fatalf("count %d, target %+v", inc.Status.Count, inc.Spec.Target)
	}
	res, found, err := w.Resolved(context.Background(), s)
	if err != nil || !found || res.Incident != first.Incident {
		t.Fatalf("Resolved: %+v %v %v", res, found, err)
	}
}

// TestEventsAboutOneWorkloadFoldIntoItsOpenIncident: a Warning event of another reason about a
// workload that an open event Incident is about counts into that Incident; an alert about it,
// and an event once that Incident has ended, raise Incidents of their own.
func TestEventsAboutOneWorkloadFoldIntoItsOpenIncident(t *testing.T) {
	c, w := setup(t, "fold", dedup.Config{Recheck: time.Millisecond})
	start(t, w)
	ctx := context.Background()
	dep := &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "fold", Name: "api"}
	event := func(reason string) dedup.Signal {
		return dedup.Signal{Source: opsv1.SourceEvent, Name: reason, Target: dep, Fingerprint: dedup.Hash("event", reason, "Deployment", "fold", "api")}
	}
	first, err := w.Raise(ctx, event("FailedCreate"))
	if err != nil || !first.Created {
		t.Fatalf("Raise = %+v, %v; want a new Incident", first, err)
	}
	for _, tc := range []struct {
		name    string
		signal  dedup.Signal
		folded  bool
		prepare func()
	}{
		{name: "another reason about the workload", signal: event("BackOff"), folded: true},
		{name: "an alert about the workload", signal: dedup.Signal{Source: opsv1.SourceAlertmanager, Name: "KubeDeploymentReplicasMismatch", Target: dep, Fingerprint: "am-1"}},
		{name: "another reason once the Incident ended", signal: event("Unhealthy"), prepare: func() {
			inc := get(t, c, first.Incident)
			inc.Status.Phase = opsv1.PhaseResolved
			if err := c.Status().Update(ctx, &inc); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if tc.prepare != nil {
			tc.prepare()
		}
		res, err := w.Raise(ctx, tc.signal)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if folded := res.Incident == first.Incident; folded != tc.folded || res.Created == tc.folded {
			t.Errorf("%s: counted into %s (created %v); want folded into %s: %v", tc.name, res.Incident, res.Created, first.Incident, tc.folded)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if inc := get(t, c, first.Incident); inc.Status.Count != 2 || inc.Labels[dedup.LabelTarget] != dedup.TargetHash(*dep) {
		t.Errorf("Incident %s: count %d labels %v; want the FailedCreate and the BackOff, and the target label", inc.Name, inc.Status.Count, inc.Labels)
	}
}
