package runner

// Raising a scenario's incident: a question (the runner's own Incident), an event, or an alert
// to the platform's Alertmanager webhook; for the platform's own triggers, setup raised it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// raise raises the incident and returns when it did.
func (a *attempt) raise(ctx context.Context) (time.Time, error) {
	in := a.s.Incident
	now := time.Now()
	switch {
	case in.Question != "":
		t, err := a.target(in.Target)
		if err != nil {
			return now, err
		}
		inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: a.incidentNamespace(), GenerateName: "eval-", Labels: a.labels()},
			Spec: opsv1.IncidentSpec{Summary: in.Question, Question: in.Question, Coordinator: a.coordinator, Target: t, Severity: opsv1.SeverityWarning,
				Source: opsv1.IncidentSource{Type: opsv1.SourceManual, Name: "opsmesh-eval"}}}
		if err := a.r.c.Create(ctx, inc); err != nil {
			return now, fmt.Errorf("creating the Incident: %w", err)
		}
	case in.Event != nil:
		if err := a.event(ctx, *in.Event); err != nil {
			return now, err
		}
	case in.Alert != nil:
		if err := a.alert(ctx, *in.Alert); err != nil {
			return now, err
		}
	}
	return now, nil
}

func (a *attempt) incidentNamespace() string {
	if a.s.Incident.Target.Kind == "Node" || scenario.ClusterScoped(a.s.Incident.Target.Kind) {
		return a.r.cfg.AgentNamespace
	}
	return a.ns
}

// target is the Incident's target for a Ref.
func (a *attempt) target(r scenario.Ref) (*opsv1.TargetReference, error) {
	gvk, namespaced, err := a.gvkOf(r)
	if err != nil {
		return nil, err
	}
	t := &opsv1.TargetReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: r.Name}
	if namespaced {
		t.Namespace = r.Namespace
		if t.Namespace == "" {
			t.Namespace = a.ns
		}
	}
	return t, nil
}

// alert posts one firing alert to the platform's Alertmanager webhook, as Alertmanager would.
func (a *attempt) alert(ctx context.Context, al scenario.Alert) error {
	wh := a.r.cfg.Webhook
	now := time.Now().UTC()
	body, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "opsmesh", "groupKey": "{}:{alertname=\"" + al.Labels["alertname"] + "\"}",
		"groupLabels": map[string]string{"alertname": al.Labels["alertname"]}, "commonLabels": al.Labels, "commonAnnotations": al.Annotations,
		"externalURL": "http://opsmesh-eval", "truncatedAlerts": 0,
		"alerts": []map[string]any{{"status": "firing", "labels": al.Labels, "annotations": al.Annotations,
			"startsAt": now.Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://opsmesh-eval/" + a.s.Name,
			"fingerprint": fingerprint(a.ns + al.Labels["alertname"])}},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", wh.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.Token != "" {
		req.Header.Set("Authorization", "Bearer "+wh.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting the alert to %s: %w", wh.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("the webhook %s answered %s: %s", wh.URL, resp.Status, strings.TrimSpace(b.String()))
	}
	return nil
}

// fingerprint is a stable Alertmanager-style fingerprint (16 hex digits) of s.
func fingerprint(s string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}
