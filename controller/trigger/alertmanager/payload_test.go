package alertmanager

import (
	"strings"
	"testing"
)

const validPayload = `{"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","truncatedAlerts":0,"status":"firing","receiver":"opsmesh",
"groupLabels":{"alertname":"KubePodCrashLooping"},"commonLabels":{"alertname":"KubePodCrashLooping"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093",
"alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"checkout-7d9f-abcde","severity":"critical"},
"annotations":{"summary":"Pod shop/checkout-7d9f-abcde is crash looping."},"startsAt":"2026-12-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://prometheus:9090/graph","fingerprint":"a1b2c3d4e5f60718"}]}`

func TestDecodeValid(t *testing.T) {
	p, err := Decode([]byte(validPayload))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Alerts) != 1 || !p.Alerts[0].Firing() || p.Alerts[0].Labels["pod"] != "checkout-7d9f-abcde" || p.Alerts[0].Fingerprint != "a1b2c3d4e5f60718" {
		t.Fatalf("decoded %+v", p)
	}
}

func TestDecodeErrorsSayWhatToFix(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"empty", ``, "body is empty"},
		{"not json", `hello`, "not an Alertmanager webhook payload"},
		{"wrong shape", `{"version":"4","alerts":"many"}`, "not an Alertmanager webhook payload"},
		{"array", `[1,2]`, "not an Alertmanager webhook payload"},
		{"trailing", `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"}}]} {}`, "data after"},
		{"version", `{"version":"3","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`, `version is "3"`},
		{"no alerts", `{"version":"4","status":"firing","alerts":[]}`, "alerts is empty"},
		{"no labels", `{"version":"4","status":"firing","alerts":[{"status":"firing"}]}`, "alerts[0]: labels are missing"},
		{"no alertname", `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"pod":"x"}}]}`, "alerts[0]: labels have no alertname"},
		{"alert status", `{"version":"4","status":"firing","alerts":[{"status":"burning","labels":{"alertname":"A"}}]}`, `alerts[0] (A): status is "burning"`},
		{"too many", `{"version":"4","status":"firing","alerts":[` + strings.TrimSuffix(strings.Repeat(`{"status":"firing","labels":{"alertname":"A"}},`, MaxAlerts+1), ",") + `]}`, "set max_alerts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode(%.60s…) = %v; want an error containing %q", c.body, err, c.want)
			}
		})
	}
}

func TestTargetFromLabels(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"namespace": "shop", "pod": "checkout-abc"}, "v1/Pod shop/checkout-abc"},
		{map[string]string{"namespace": "shop", "deployment": "checkout", "pod": "x"}, "apps/v1/Deployment shop/checkout"},
		{map[string]string{"namespace": "ml", "job_name": "train-7"}, "batch/v1/Job ml/train-7"},
		{map[string]string{"namespace": "db", "statefulset": "pg"}, "apps/v1/StatefulSet db/pg"},
		{map[string]string{"alertname": "CronJobLastRunFailed", "namespace": "fin", "cronjob": "settlement-push"}, "batch/v1/CronJob fin/settlement-push"},
		{map[string]string{"namespace": "db", "persistentvolumeclaim": "data-pg-0"}, "v1/PersistentVolumeClaim db/data-pg-0"},
		{map[string]string{"namespace": "web", "horizontalpodautoscaler": "api"}, "autoscaling/v2/HorizontalPodAutoscaler web/api"},
		{map[string]string{"node": "gpu-7"}, "v1/Node /gpu-7"},
		{map[string]string{"alertname": "NodeFilesystemAlmostOutOfSpace", "instance": "worker-1:9100"}, "v1/Node /worker-1"},
		{map[string]string{"alertname": "HighLatency", "instance": "10.0.0.1:8080"}, "none"},
		{map[string]string{"pod": "no-namespace"}, "none"},
		{map[string]string{"namespace": "Bad_NS", "pod": "x"}, "none"},
	} {
		got := "none"
		if tr := Target(c.labels); tr != nil {
			got = tr.APIVersion + "/" + tr.Kind + " " + tr.Namespace + "/" + tr.Name
		}
		if got != c.want {
			t.Errorf("Target(%v) = %s; want %s", c.labels, got, c.want)
		}
	}
}

func TestSeveritySummary(t *testing.T) {
	s := SignalOf(Alert{Status: "firing", Labels: map[string]string{"alertname": "Disk", "severity": "page", "instance": "a"}})
	if s.Severity != "critical" || s.Summary != "Disk {instance=a, severity=page}" || s.Fingerprint == "" || s.Namespace != "" {
		t.Fatalf("signal %+v", s)
	}
	s = SignalOf(Alert{Status: "firing", Labels: map[string]string{"alertname": "Disk", "namespace": "shop"}, Annotations: map[string]string{"description": "disk is full"}})
	if s.Severity != "warning" || s.Summary != "disk is full" || s.Namespace != "shop" {
		t.Fatalf("signal %+v", s)
	}
}

func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(validPayload))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"A"}}]}`))
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"":""}}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			// Large bodies are covered by TestDecodeErrorsSayWhatToFix and the 413 test; under
			// the fuzzer's instrumentation each would take seconds.
			return
		}
		p, err := Decode(data)
		if err != nil {
			if p != nil {
				t.Fatal("a payload returned with an error")
			}
			return
		}
		if p.Version != "4" || len(p.Alerts) == 0 || len(p.Alerts) > MaxAlerts {
			t.Fatalf("accepted %+v", p)
		}
		for i, a := range p.Alerts {
			if i == 20 {
				break // enough: under the fuzzer's instrumentation a payload of 1,000 alerts takes seconds
			}
			if a.Labels["alertname"] == "" || (a.Status != "firing" && a.Status != "resolved") {
				t.Fatalf("accepted alert %+v", a)
			}
			s := SignalOf(a)
			if s.Name == "" || s.Fingerprint == "" || s.Summary == "" {
				t.Fatalf("signal %+v of accepted alert %+v", s, a)
			}
		}
	})
}
