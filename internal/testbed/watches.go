package testbed

import (
	"fmt"
	"maps"
	"net/http"
	"path"
	"sync"

	"k8s.io/client-go/rest"
)

// WatchCounter counts the watches a process holds on the API server, by resource (the last
// element of the request's path: pods, nodes, agents, whichever the namespace): the watch
// requests the server accepted, one per informer that runs, so a test can tell how many watch
// caches hold a resource. A request the server turned away is not counted (a fresh server
// answers 429 "storage is initializing" to a watch of a new CRD's objects, and client-go sends it
// again). A reflector whose watch ends (the server's timeout, minutes) watches again, so keep the
// counted stretch short.
type WatchCounter struct {
	mu sync.Mutex
	n  map[string]int
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Config returns a copy of cfg whose accepted watch requests are counted.
func (w *WatchCounter) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if q := r.URL.Query().Get("watch"); (q == "true" || q == "1") && err == nil && resp.StatusCode == http.StatusOK {
				w.mu.Lock()
				if w.n == nil {
					w.n = map[string]int{}
				}
				w.n[path.Base(r.URL.Path)]++
				w.mu.Unlock()
			}
			return resp, err
		})
	})
	return cfg
}

// Count is the number of watches of resource (plural, lower case: "pods") so far.
func (w *WatchCounter) Count(resource string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[resource]
}

// Counts is every resource's number of watches so far.
func (w *WatchCounter) Counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.n)
}

// String lists the counts, by resource.
func (w *WatchCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprint(w.n)
}
