//go:build cgo

package gpuview_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/promtest"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
)

// dcgmExporter stands in for NVIDIA's dcgm-exporter, which needs DCGM and a GPU and so cannot run
// here: it serves DCGM_FI_DEV_GPU_UTIL with dcgm-exporter's metric and label names (gpu, UUID,
// device, modelName, Hostname, and pod/namespace/container from its Kubernetes pod mapping), and
// utilizations the test sets. Prometheus, which scrapes it, is the real server.
type dcgmExporter struct {
	mu   sync.Mutex
	gpus map[string]dcgmGPU // by UUID
	srv  *httptest.Server
}

type dcgmGPU struct {
	node, pod, ns string
	index         int
	util          int
	raw           string // a malformed series, served as is
}

func newDCGMExporter(t *testing.T, gpus ...dcgmGPU) *dcgmExporter {
	e := &dcgmExporter{gpus: map[string]dcgmGPU{}}
	for _, g := range gpus {
		e.gpus[e.uuid(g)] = g
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).")
		fmt.Fprintln(w, "# TYPE DCGM_FI_DEV_GPU_UTIL gauge")
		var keys []string
		for k := range e.gpus {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			g := e.gpus[k]
			if g.raw != "" {
				fmt.Fprintln(w, g.raw)
				continue
			}
			pod := ""
			if g.pod != "" {
				pod = fmt.Sprintf(`,container="main",namespace=%q,pod=%q`, g.ns, g.pod)
			}
			fmt.Fprintf(w, "DCGM_FI_DEV_GPU_UTIL{gpu=\"%d\",UUID=%q,device=\"nvidia%d\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=%q,DCGM_FI_DRIVER_VERSION=\"550.54.15\"%s} %d\n",
				g.index, k, g.index, g.node, pod, g.util)
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *dcgmExporter) uuid(g dcgmGPU) string {
	if g.raw != "" {
		return g.raw
	}
	return fmt.Sprintf("GPU-%s-%d", g.node, g.index)
}

func (e *dcgmExporter) target() string {
	u, _ := url.Parse(e.srv.URL)
	return u.Host
}

func (e *dcgmExporter) set(node string, index, util int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := fmt.Sprintf("GPU-%s-%d", node, index)
	g := e.gpus[k]
	g.util = util
	e.gpus[k] = g
}

// tableRow returns the cells of the table row whose first two cells are ns and name.
func tableRow(text, ns, name string) []string {
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == ns && f[1] == name {
			return f
		}
	}
	return nil
}

// sinceIn returns the "since" time of a gpu_idle row.
func sinceIn(t *testing.T, row []string) time.Time {
	t.Helper()
	line := strings.Join(row, " ")
	i := strings.Index(line, "(since ")
	if i < 0 {
		t.Fatalf("no idle time in row %q", line)
	}
	ts, err := time.Parse(time.RFC3339, strings.TrimSuffix(strings.Fields(line[i+len("(since "):])[0], ")"))
	if err != nil {
		t.Fatalf("row %q: %v", line, err)
	}
	return ts
}

// TestGPUIdleFromPrometheus runs gpu_idle against a real Prometheus that scrapes two DCGM exporters:
//
//	prom-1 (exporter scraped as is): team/trainer holds GPUs 0,1 at 90%; team/idler GPUs 2,3 at
//	       0% from the start; team/stopper GPU 4 at 80%, then 0% from a moment the test records;
//	       team/anon holds a GPU no series names; plus a series without gpu and Hostname labels
//	prom-2 (exporter scraped with target labels pod and namespace of its own, so Prometheus renames
//	       the exporter's to exported_pod and exported_namespace): team/notebook GPU 0 at 1%
//	prom-3: team/lost, no exporter at all
func TestGPUIdleFromPrometheus(t *testing.T) {
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	eight := res("nvidia.com/gpu", "8")
	for _, n := range []string{"prom-1", "prom-2", "prom-3"} {
		node(t, n, nil, eight, eight, nil, nil)
	}
	for _, p := range []struct {
		name, node string
		gpus       string
	}{{"trainer", "prom-1", "2"}, {"idler", "prom-1", "2"}, {"stopper", "prom-1", "1"}, {"anon", "prom-1", "1"}, {"notebook", "prom-2", "1"}, {"lost", "prom-3", "1"}} {
		pod(t, "team", p.name, p.node, nil, nil, res("nvidia.com/gpu", p.gpus), "")
	}
	one := newDCGMExporter(t,
		dcgmGPU{node: "prom-1", index: 0, ns: "team", pod: "trainer", util: 90},
		dcgmGPU{node: "prom-1", index: 1, ns: "team", pod: "trainer", util: 90},
		dcgmGPU{node: "prom-1", index: 2, ns: "team", pod: "idler", util: 0},
		dcgmGPU{node: "prom-1", index: 3, ns: "team", pod: "idler", util: 0},
		dcgmGPU{node: "prom-1", index: 4, ns: "team", pod: "stopper", util: 80},
		dcgmGPU{node: "prom-1", index: 5, util: 0},
		dcgmGPU{raw: `DCGM_FI_DEV_GPU_UTIL{UUID="GPU-stray"} 0`},
	)
	two := newDCGMExporter(t, dcgmGPU{node: "prom-2", index: 0, ns: "team", pod: "notebook", util: 1})
	promStart := time.Now()
	prom := promtest.Start(t, time.Second,
		promtest.Job{Name: "dcgm-exporter", Targets: []string{one.target()}},
		promtest.Job{Name: "dcgm-exporter-sd", Targets: []string{two.target()}, Labels: map[string]string{"pod": "dcgm-exporter-x7k2p", "namespace": "gpu-operator"}})

	// Two scrapes of stopper busy, then it stops; wait until Prometheus has its idle sample.
	prom.Eventually(t, `count_over_time(DCGM_FI_DEV_GPU_UTIL{UUID="GPU-prom-1-4"}[1m])`, 30*time.Second, func(s []promtest.Sample) bool {
		if len(s) != 1 {
			return false
		}
		n, _ := strconv.Atoi(s[0].Value)
		return n >= 2
	})
	stopped := time.Now()
	one.set("prom-1", 4, 0)
	prom.Eventually(t, `DCGM_FI_DEV_GPU_UTIL{UUID="GPU-prom-1-4"} == 0`, 30*time.Second, func(s []promtest.Sample) bool { return len(s) == 1 })
	prom.Eventually(t, `DCGM_FI_DEV_GPU_UTIL{exported_pod="notebook"}`, 30*time.Second, func(s []promtest.Sample) bool { return len(s) == 1 })

	s := connect(t, gpuview.Config{PrometheusURL: prom.URL, PrometheusLookback: 10 * time.Minute, AllowNamespaces: []string{"team"}})
	out := s.OK("gpu_idle", map[string]any{"minIdleMinutes": 0})
	mustContain(t, out,
		"3 pods hold idle GPUs (utilization below 5%) for at least 0 minutes; 1 pods use their GPUs",
		"unknown: team/anon on prom-1: no DCGM_FI_DEV_GPU_UTIL series carries its pod label and 4 GPU pods share the node",
		`node prom-3: no utilization data: Prometheus has no DCGM_FI_DEV_GPU_UTIL series with Hostname="prom-3": is the DCGM exporter running on that node, and scraped?`,
		`unreadable: series DCGM_FI_DEV_GPU_UTIL{UUID="GPU-stray", instance="`+one.target()+`", job="dcgm-exporter"} has no gpu index or Hostname label`,
		"source: Prometheus at "+prom.URL+" (DCGM_FI_DEV_GPU_UTIL from the DCGM exporter; idle time from its history over the last 10m0s, every 1s)")
	if strings.Contains(out, "trainer") {
		t.Errorf("the busy pod team/trainer is reported idle:\n%s", out)
	}
	idler := tableRow(out, "team", "idler")
	if len(idler) < 6 || idler[2] != "prom-1" || idler[3] != "2,3" || idler[4] != "0%,0%" {
		t.Fatalf("team/idler row: %v\n%s", idler, out)
	}
	// Idle from its first sample: since Prometheus began scraping.
	if since := sinceIn(t, idler); since.Before(promStart.Add(-time.Second).Truncate(time.Second)) || since.After(stopped) {
		t.Errorf("team/idler idle since %s; Prometheus started scraping at %s", since, promStart)
	}
	stopper := tableRow(out, "team", "stopper")
	if len(stopper) < 6 || stopper[3] != "4" || stopper[4] != "0%" {
		t.Fatalf("team/stopper row: %v\n%s", stopper, out)
	}
	// Idle since its last busy sample: within a scrape interval and a step of when it stopped.
	if since := sinceIn(t, stopper); since.Before(stopped.Add(-3*time.Second)) || since.After(stopped.Add(2*time.Second)) {
		t.Errorf("team/stopper idle since %s; it stopped at %s", since, stopped)
	}
	notebook := tableRow(out, "team", "notebook")
	if len(notebook) < 6 || notebook[2] != "prom-2" || notebook[3] != "0" || notebook[4] != "1%" {
		t.Errorf("team/notebook row (from exported_pod): %v\n%s", notebook, out)
	}

	// The structured form: the same pods, their GPUs and utilizations, exact idle time from
	// Prometheus's history.
	var idle contract.IdleGPUs
	s.Data("gpu_idle", map[string]any{"minIdleMinutes": 0}, &idle)
	pods := map[string]contract.IdlePod{}
	for _, p := range idle.Idle {
		pods[p.Pod] = p
	}
	if p := pods["team/idler"]; len(idle.Idle) != 3 || p.Node != "prom-1" || !slices.Equal(p.GPUs, []int{2, 3}) || !slices.Equal(p.UtilizationPercent, []uint32{0, 0}) {
		t.Errorf("gpu_idle structured: team/idler %+v among %d idle pods", p, len(idle.Idle))
	}
	if p := pods["team/stopper"]; !slices.Equal(p.GPUs, []int{4}) || p.AtLeast || p.IdleSince == "" {
		t.Errorf("gpu_idle structured: team/stopper %+v; want GPU 4, idle since its last busy sample (exact)", p)
	}
	if idle.Busy != 1 || len(idle.Unknown) != 1 || len(idle.NoData) != 1 || len(idle.Unreadable) != 1 || !strings.HasPrefix(idle.Source, "Prometheus at ") || idle.Simulated {
		t.Errorf("gpu_idle structured: busy %d, unknown %q, no data %q, unreadable %q, source %q, simulated %t",
			idle.Busy, idle.Unknown, idle.NoData, idle.Unreadable, idle.Source, idle.Simulated)
	}

	// The default asks for 10 idle minutes: all three are idle for less.
	mustContain(t, s.OK("gpu_idle", nil),
		"0 pods hold idle GPUs (utilization below 5%) for at least 10 minutes; 1 pods use their GPUs",
		"idle, but seen idle for less than 10 minutes:")

	// A Prometheus that does not answer fails the call and says what to check.
	down := connect(t, gpuview.Config{PrometheusURL: "http://127.0.0.1:1", AllowNamespaces: []string{"team"}})
	down.Fails("gpu_idle", nil, "prometheus at http://127.0.0.1:1: query DCGM_FI_DEV_GPU_UTIL:", "check --prometheus-url and that Prometheus is up")
}

func TestPrometheusConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		url      string
		lookback time.Duration
		want     string
	}{
		{"prometheus:9090", 0, `prometheus URL "prometheus:9090" is not an http:// or https:// URL`},
		{"ftp://prom", 0, "is not an http:// or https:// URL"},
		{"http://prom:9090", 30 * time.Second, "prometheus lookback 30s is too short: give at least 1m"},
	} {
		err := gpuview.CheckPrometheus(tc.url, tc.lookback)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckPrometheus(%q, %s) = %v, want %q", tc.url, tc.lookback, err, tc.want)
		}
	}
	if err := gpuview.CheckPrometheus("https://prometheus.monitoring:9090/prom", time.Hour); err != nil {
		t.Errorf("a good address was refused: %v", err)
	}
}
