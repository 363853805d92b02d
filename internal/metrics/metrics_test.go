package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opsmesh/opsmesh/internal/metrics"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// registered is the name of every opsmesh metric family the registry gathers.
func registered(t *testing.T) []string {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "opsmesh_") {
			names = append(names, f.GetName())
		}
	}
	return names
}

// TestNamesAreRegistered: Names lists exactly the opsmesh families the registry serves once each
// has a sample, so the dashboard test below checks against what /metrics really shows.
func TestNamesAreRegistered(t *testing.T) {
	metrics.ToolCalls.WithLabelValues("s", "t", metrics.OutcomeOK).Inc()
	metrics.ToolCallDuration.WithLabelValues("s", "t").Observe(1)
	metrics.ClientCalls.WithLabelValues("s", "t", metrics.OutcomeOK).Inc()
	metrics.ClientCallDuration.WithLabelValues("s", "t").Observe(1)
	metrics.A2ARequests.WithLabelValues("ns/a", "SendMessage", metrics.OutcomeOK).Inc()
	metrics.A2ARequestDuration.WithLabelValues("ns/a", "SendMessage").Observe(1)
	metrics.Incidents.WithLabelValues("Detected").Set(0)
	metrics.IncidentTransitions.WithLabelValues("Detected").Inc()
	metrics.TimeToDiagnosis.Observe(1)
	metrics.TimeToResolution.Observe(1)
	metrics.RemediationActions.WithLabelValues("Succeeded", "safe").Inc()
	got := registered(t)
	slices.Sort(got)
	if want := metrics.Names(); !slices.Equal(got, want) {
		t.Errorf("the registry serves %v\nNames says %v", got, want)
	}
}

var metricName = regexp.MustCompile(`\bopsmesh_[a-z0-9_]*[a-z0-9]`)

// TestDashboardUsesRegisteredMetrics: every query of deploy/grafana/opsmesh.json names only
// series the code registers (a histogram's _bucket, _sum and _count included), and every
// registered family is on some panel.
func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testbed.RepoRoot(), "deploy", "grafana", "opsmesh.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana/opsmesh.json is not a dashboard: %v", err)
	}
	known := metrics.Names()
	used := map[string]bool{}
	check := func(where, expr string) {
		for _, name := range metricName.FindAllString(expr, -1) {
			family := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(known, f) {
					family = f
				}
			}
			if !slices.Contains(known, family) {
				t.Errorf("%s: %s is not a metric opsmesh registers (registered: %s)", where, name, strings.Join(known, ", "))
				continue
			}
			used[family] = true
		}
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		check("variable "+v.Name, v.Definition)
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, name := range known {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
