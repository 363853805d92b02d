// Package alertmanager is the Alertmanager webhook receiver: an http.Handler that checks a
// bearer token, decodes and validates a whole webhook payload (version 4), and turns each firing
// alert into a signal for the de-duplicating Incident writer — its target, severity and summary
// read from the labels and annotations that kube-prometheus and kube-state-metrics use. Resolved
// alerts only mark an open Incident (annotation opsmesh.dev/resolved-at); they never create one.
//
// It must not write Incidents itself (package dedup does) nor decide anything about an Incident
// after raising it (the incident orchestrator does).
package alertmanager

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/controller/trigger/owners"
)

// Path is where the controller serves the receiver.
const Path = "/v1/alertmanager"

// Raiser is what the handler needs of the Incident writer (dedup.Writer).
type Raiser interface {
	Raise(ctx context.Context, s dedup.Signal) (dedup.Result, error)
	Resolved(ctx context.Context, s dedup.Signal) (dedup.Result, bool, error)
}

// Handler receives Alertmanager webhooks.
type Handler struct {
	token  []byte
	raiser Raiser
	log    logr.Logger
	owners client.Reader // follows a pod's (or ReplicaSet's) controllers to its workload; nil: not followed
}

// FollowOwners has the handler raise an alert about a Pod (kube-prometheus's KubePodCrashLooping
// carries only namespace, pod and container) about the workload that controls it — its
// StatefulSet, or the Deployment above its ReplicaSet — as the Warning-event watcher does, so
// both triggers raise one Incident per workload and a replaced pod does not start a new one. r
// reads object metadata.
func (h *Handler) FollowOwners(r client.Reader) *Handler {
	h.owners = r
	return h
}

// NewHandler returns a receiver that requires "Authorization: Bearer <token>" and raises
// through r. An empty token is refused: the receiver is never open to anyone.
func NewHandler(token string, r Raiser, log logr.Logger) (*Handler, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("alertmanager webhook: the bearer token is empty: put a token in the file --webhook-token-file names, and the same in the Alertmanager receiver's http_config.authorization.credentials")
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Handler{token: []byte(token), raiser: r, log: log}, nil
}

// AlertResult is what became of one alert of a payload.
type AlertResult struct {
	Alertname   string `json:"alertname"`
	Fingerprint string `json:"fingerprint"`
	// Result is created, counted, resolved (an open Incident was marked) or ignored (a resolved
	// alert with no open Incident).
	Result   string `json:"result"`
	Incident string `json:"incident,omitempty"`
}

// Response is the body of a 200 answer.
type Response struct {
	Created int           `json:"created"`
	Counted int           `json:"counted"`
	Alerts  []AlertResult `json:"alerts"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="opsmesh"`)
		fail(w, http.StatusUnauthorized, "missing or wrong bearer token: set http_config.authorization.credentials in the Alertmanager receiver to the controller's webhook token")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s: the Alertmanager receiver accepts POST only", r.Method))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the payload is over %d bytes: lower max_alerts in the Alertmanager receiver", MaxBodyBytes))
			return
		}
		fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	p, err := Decode(body)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	resp := Response{Alerts: make([]AlertResult, 0, len(p.Alerts))}
	for _, a := range p.Alerts {
		s := SignalOf(a)
		if h.owners != nil && s.Target == nil && s.Namespace != "" && a.Labels["container"] != "" {
			// a rule that keeps the container but not the pod (aggregated by container): the
			// pod of the namespace whose container of that name fails
			if t, ok := owners.PodWithContainer(r.Context(), h.owners, s.Namespace, a.Labels["container"]); ok {
				s.Target = &t
			}
		}
		if h.owners != nil && s.Target != nil && s.Target.Namespace != "" {
			top := owners.Top(r.Context(), h.owners, owners.JobOrCronJob(r.Context(), h.owners, *s.Target))
			s.Target = &top
		}
		ar := AlertResult{Alertname: s.Name}
		if a.Firing() {
			res, err := h.raiser.Raise(r.Context(), s)
			if err != nil {
				h.log.Error(err, "raising an Incident for an alert", "alertname", s.Name, "receiver", p.Receiver)
				fail(w, http.StatusServiceUnavailable, fmt.Sprintf("alert %s: %v", s.Name, err))
				return
			}
			ar.Fingerprint, ar.Incident, ar.Result = res.Fingerprint, res.Incident.String(), "counted"
			if res.Created {
				ar.Result = "created"
				resp.Created++
			} else {
				resp.Counted++
			}
		} else {
			res, found, err := h.raiser.Resolved(r.Context(), s)
			if err != nil {
				h.log.Error(err, "marking an Incident resolved", "alertname", s.Name, "receiver", p.Receiver)
				fail(w, http.StatusServiceUnavailable, fmt.Sprintf("resolved alert %s: %v", s.Name, err))
				return
			}
			ar.Fingerprint, ar.Result = res.Fingerprint, "ignored"
			if found {
				ar.Incident, ar.Result = res.Incident.String(), "resolved"
			}
		}
		resp.Alerts = append(resp.Alerts, ar)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	got := []byte(strings.TrimSpace(auth[len(prefix):]))
	return subtle.ConstantTimeCompare(got, h.token) == 1
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// SignalOf is the signal an alert raises: its alertname, labels, severity (the severity label
// as critical, warning or info), summary (annotations summary or description, else the
// alertname and labels), target (from well-known labels) and fingerprint (Alertmanager's, else
// a hash of the labels).
func SignalOf(a Alert) dedup.Signal {
	l := a.Labels
	s := dedup.Signal{
		Source:      opsv1.SourceAlertmanager,
		Name:        l["alertname"],
		Labels:      l,
		Severity:    severity(l["severity"]),
		Summary:     summary(a),
		Target:      Target(l),
		Fingerprint: a.Fingerprint,
	}
	if s.Fingerprint == "" {
		s.Fingerprint = dedup.LabelsHash(l)
	}
	if ns := l["namespace"]; len(validation.IsDNS1123Label(ns)) == 0 {
		s.Namespace = ns
	}
	if s.Target != nil && s.Target.Namespace != "" {
		s.Namespace = s.Target.Namespace
	}
	return s
}

func severity(v string) opsv1.Severity {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "critical", "page", "error", "high", "p1":
		return opsv1.SeverityCritical
	case "info", "informational", "none", "low":
		return opsv1.SeverityInfo
	default:
		return opsv1.SeverityWarning
	}
}

func summary(a Alert) string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := strings.TrimSpace(a.Annotations[k]); v != "" {
			return v
		}
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+a.Labels[k])
	}
	return a.Labels["alertname"] + " {" + strings.Join(parts, ", ") + "}"
}

// Target is the object an alert's labels point at, the way kube-state-metrics and
// kube-prometheus name them: namespace with deployment, statefulset, daemonset, cronjob, job_name,
// pod, persistentvolumeclaim or horizontalpodautoscaler;
// else node, or instance (its host part) for node-exporter alerts. Nil when none fits.
func Target(l map[string]string) *opsv1.TargetReference {
	name := func(v string) bool { return v != "" && len(validation.IsDNS1123Subdomain(v)) == 0 }
	if ns := l["namespace"]; len(validation.IsDNS1123Label(ns)) == 0 {
		for _, c := range []struct{ label, apiVersion, kind string }{
			{"deployment", "apps/v1", "Deployment"},
			{"statefulset", "apps/v1", "StatefulSet"},
			{"daemonset", "apps/v1", "DaemonSet"},
			{"cronjob", "batch/v1", "CronJob"},
			{"job_name", "batch/v1", "Job"},
			{"pod", "v1", "Pod"},
			{"persistentvolumeclaim", "v1", "PersistentVolumeClaim"},
			{"horizontalpodautoscaler", "autoscaling/v2", "HorizontalPodAutoscaler"},
		} {
			if v := l[c.label]; name(v) {
				return &opsv1.TargetReference{APIVersion: c.apiVersion, Kind: c.kind, Namespace: ns, Name: v}
			}
		}
	}
	if v := l["node"]; name(v) {
		return &opsv1.TargetReference{APIVersion: "v1", Kind: "Node", Name: v}
	}
	if inst := l["instance"]; inst != "" && (l["job"] == "node-exporter" || strings.HasPrefix(l["alertname"], "Node")) {
		host := inst
		if h, _, err := net.SplitHostPort(inst); err == nil {
			host = h
		}
		if name(host) {
			return &opsv1.TargetReference{APIVersion: "v1", Kind: "Node", Name: host}
		}
	}
	return nil
}
