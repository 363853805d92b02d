package gpuview

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// utilMetric is the GPU utilization gauge of NVIDIA's DCGM exporter (percent, 0-100), labelled
// with the GPU's index (gpu), UUID, the node (Hostname) and, with the exporter's Kubernetes
// mapping on, the pod, namespace and container that hold the GPU.
const utilMetric = "DCGM_FI_DEV_GPU_UTIL"

// prometheus reads GPU utilization and its history from a Prometheus that scrapes the DCGM
// exporter.
type prometheus struct {
	url      string
	api      promv1.API
	lookback time.Duration
	step     time.Duration
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// CheckPrometheus says what is wrong with a Prometheus address and lookback (0 for the default),
// before anything connects.
func CheckPrometheus(address string, lookback time.Duration) error {
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("prometheus URL %q is not an http:// or https:// URL (for example http://prometheus.monitoring:9090)", address)
	}
	if lookback != 0 && lookback < time.Minute {
		return fmt.Errorf("prometheus lookback %s is too short: give at least 1m (default 24h)", lookback)
	}
	return nil
}

// newPrometheus checks the address and builds the client; it does not connect.
func newPrometheus(address, token string, lookback time.Duration) (*prometheus, error) {
	if err := CheckPrometheus(address, lookback); err != nil {
		return nil, err
	}
	if lookback == 0 {
		lookback = 24 * time.Hour
	}
	var rt http.RoundTripper = &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 30 * time.Second}
	if token != "" {
		rt = bearer{token: token, next: rt}
	}
	c, err := promapi.NewClient(promapi.Config{Address: address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q: %w", address, err)
	}
	// The history is read at 1440 points over the lookback (every minute over a day), never finer
	// than a second.
	step := (lookback / 1440).Truncate(time.Second)
	if step < time.Second {
		step = time.Second
	}
	return &prometheus{url: address, api: promv1.NewAPI(c), lookback: lookback, step: step}, nil
}

// source describes where the numbers come from, for the tool's answer.
func (p *prometheus) source() string {
	return fmt.Sprintf("Prometheus at %s (%s from the DCGM exporter; idle time from its history over the last %s, every %s)", p.url, utilMetric, p.lookback, p.step)
}

// gpuSeries is one GPU's utilization series: where it is and who holds it.
type gpuSeries struct {
	node  string
	index int
	uuid  string
	pod   string // namespace/name, "" when the exporter did not map it
	util  float64
}

// labelOf returns the first of names that the metric carries.
func labelOf(m model.Metric, names ...model.LabelName) string {
	for _, n := range names {
		if v := m[n]; v != "" {
			return string(v)
		}
	}
	return ""
}

// series reads one GPU's identity off a DCGM exporter series. When Prometheus scrapes the exporter
// with target labels of its own (pod, namespace from Kubernetes service discovery), the exporter's
// labels are renamed exported_pod and exported_namespace; those win.
func series(m model.Metric) (gpuSeries, error) {
	g := gpuSeries{
		node: labelOf(m, "Hostname", "node", "kubernetes_node"),
		uuid: labelOf(m, "UUID", "uuid"),
	}
	idx := labelOf(m, "gpu")
	n, err := strconv.Atoi(idx)
	if err != nil || g.node == "" {
		return g, fmt.Errorf("series %s has no gpu index or Hostname label: is it the DCGM exporter's?", m)
	}
	g.index = n
	if m["exported_pod"] != "" {
		g.pod = labelOf(m, "exported_namespace") + "/" + string(m["exported_pod"])
	} else if m["pod"] != "" && m["namespace"] != "" {
		g.pod = string(m["namespace"]) + "/" + string(m["pod"])
	}
	return g, nil
}

// key identifies a GPU across queries.
func (g gpuSeries) key() string { return g.node + "/" + g.uuid + "/" + strconv.Itoa(g.index) }

// vector runs an instant query at t and returns its samples.
func (p *prometheus) vector(ctx context.Context, q string, t time.Time) (model.Vector, error) {
	v, warnings, err := p.api.Query(ctx, q, t)
	if err != nil {
		var perr *promv1.Error
		if errors.As(err, &perr) && perr.Type == promv1.ErrBadData {
			return nil, fmt.Errorf("prometheus at %s refused the query %s: %w", p.url, q, err)
		}
		return nil, fmt.Errorf("prometheus at %s: query %s: %w (check --prometheus-url and that Prometheus is up)", p.url, q, err)
	}
	_ = warnings // partial answers are still answers; the tool lists what it found
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus at %s: query %s answered a %s, not an instant vector", p.url, q, v.Type())
	}
	return vec, nil
}

// promUse is what Prometheus says about the GPUs: their utilization now, by node, and since when
// each idle GPU has been idle.
type promUse struct {
	nodes map[string]*nodeUse
	// since is when a GPU (by key) was last seen busy, or first seen at all; exact is false when
	// it was idle through the whole lookback, so the time is a lower bound.
	since map[string]time.Time
	exact map[string]bool
	bad   []string // series that could not be read
}

// read asks Prometheus for every GPU's utilization now, the last time each was busy (at or above
// idleBelow) and the first time each was seen, within the lookback.
func (p *prometheus) read(ctx context.Context, now time.Time) (*promUse, error) {
	cur, err := p.vector(ctx, utilMetric, now)
	if err != nil {
		return nil, err
	}
	window := fmt.Sprintf("[%s:%s]", model.Duration(p.lookback), model.Duration(p.step))
	lastBusy, err := p.vector(ctx, fmt.Sprintf("max_over_time(timestamp(%s >= %d)%s)", utilMetric, idleBelow, window), now)
	if err != nil {
		return nil, err
	}
	firstSeen, err := p.vector(ctx, fmt.Sprintf("min_over_time(timestamp(%s)%s)", utilMetric, window), now)
	if err != nil {
		return nil, err
	}
	u := &promUse{nodes: map[string]*nodeUse{}, since: map[string]time.Time{}, exact: map[string]bool{}}
	times := func(vec model.Vector) map[string]time.Time {
		out := map[string]time.Time{}
		for _, s := range vec {
			if g, err := series(s.Metric); err == nil {
				out[g.key()] = time.Unix(0, int64(float64(s.Value)*1e9))
			}
		}
		return out
	}
	busy, first := times(lastBusy), times(firstSeen)
	start := now.Add(-p.lookback)
	for _, s := range cur {
		g, err := series(s.Metric)
		if err != nil {
			u.bad = append(u.bad, err.Error())
			continue
		}
		g.util = float64(s.Value)
		nu := u.nodes[g.node]
		if nu == nil {
			nu = newNodeUse()
			u.nodes[g.node] = nu
		}
		nu.util[g.index] = uint32(g.util + 0.5)
		nu.uuid[g.index] = g.uuid
		if g.pod != "" {
			nu.byPod[g.pod] = append(nu.byPod[g.pod], g.index)
		}
		if g.util >= idleBelow {
			continue
		}
		if t, ok := busy[g.key()]; ok {
			u.since[g.key()], u.exact[g.key()] = t, true
		} else if t, ok := first[g.key()]; ok {
			// Never busy in the window: idle since its series began, or through the whole window.
			u.since[g.key()], u.exact[g.key()] = t, t.Sub(start) > 2*p.step
		} else {
			u.since[g.key()], u.exact[g.key()] = now, true
		}
	}
	return u, nil
}
