// Package promtest runs a real Prometheus server for tests: the `prometheus` binary that
// hack/testbins.sh builds from github.com/prometheus/prometheus into the per-user cache, with a
// scrape configuration of the test's choosing and its storage in the test's temporary directory.
// When the binary is missing, Start fails with the command that builds it; it never skips. Only
// tests import this package; it must not be used by the product.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

// Binary finds the prometheus binary: $OPSMESH_PROMETHEUS when set, else where hack/testbins.sh
// builds it. It fails, naming the command that builds it, when it is absent.
func Binary() (string, error) {
	bin := os.Getenv("OPSMESH_PROMETHEUS")
	if bin == "" {
		out, err := exec.Command(filepath.Join(testbed.RepoRoot(), "hack", "testbins.sh"), "prometheus-path").Output()
		if err != nil {
			return "", fmt.Errorf("promtest: cannot find the prometheus binary with hack/testbins.sh prometheus-path: %w", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return "", fmt.Errorf("promtest: prometheus missing at %s: build the test binaries with `make testbins` "+
			"(hack/testbins.sh ensure; 3–13 minutes the first time), or run the tests with `make test`, which builds it", bin)
	}
	return bin, nil
}

// Job is one scrape job: its targets (host:port) and the target labels Prometheus adds.
type Job struct {
	Name    string
	Targets []string
	Labels  map[string]string
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's address, for example http://127.0.0.1:41234.
	URL string
}

// Start runs Prometheus scraping jobs every interval, until the test ends.
func Start(t testing.TB, interval time.Duration, jobs ...Job) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", interval, interval)
	for _, j := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %q\n    static_configs:\n      - targets: [", j.Name)
		for i, tg := range j.Targets {
			if i > 0 {
				cfg.WriteString(", ")
			}
			fmt.Fprintf(&cfg, "%q", tg)
		}
		cfg.WriteString("]\n")
		if len(j.Labels) > 0 {
			cfg.WriteString("        labels:\n")
			for k, v := range j.Labels {
				fmt.Fprintf(&cfg, "          %s: %q\n", k, v)
			}
		}
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("promtest: starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		logFile.Close()
	})
	s := &Server{URL: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("promtest: prometheus exited before it was ready:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("promtest: prometheus at %s not ready after 60s:\n%s", s.URL, log)
		}
	}
}

// freeAddr picks a free port on 127.0.0.1.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Sample is one sample of an instant query's answer.
type Sample struct {
	Metric map[string]string
	Time   time.Time
	Value  string
}

// Query runs an instant query now and returns its samples.
func (s *Server) Query(t testing.TB, q string) []Sample {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("promtest: query %s: %v", q, err)
	}
	if body.Status != "success" {
		t.Fatalf("promtest: query %s: %s", q, body.Error)
	}
	var out []Sample
	for _, r := range body.Data.Result {
		ts, _ := r.Value[0].(float64)
		v, _ := r.Value[1].(string)
		out = append(out, Sample{Metric: r.Metric, Time: time.Unix(0, int64(ts*1e9)), Value: v})
	}
	return out
}

// Eventually polls q until cond holds for its samples, or fails the test after timeout.
func (s *Server) Eventually(t testing.TB, q string, timeout time.Duration, cond func([]Sample) bool) []Sample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Query(t, q)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: %s did not reach the expected answer in %s; last: %v", q, timeout, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
