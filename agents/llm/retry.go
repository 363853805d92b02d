package llm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// retryDoer sends a request to the model, retrying 429 and 5xx answers and failed connections
// with exponential backoff (or the server's Retry-After), and records what happened in the
// request context's callState so that Generate can tell "unreachable" from "refused".
type retryDoer struct {
	client *http.Client
	retry  Retry
}

type callStateKey struct{}

// callState is what one Generate call's requests saw.
type callState struct {
	mu     sync.Mutex
	status int    // last HTTP status
	reason string // set when the model is unreachable
}

func (s *callState) set(status int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.reason = status, reason
}

func (s *callState) unreachable() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *callState) lastStatus() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

func (d *retryDoer) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	state, _ := ctx.Value(callStateKey{}).(*callState)
	if state == nil {
		state = &callState{}
	}
	attempts := max(d.retry.Attempts, 1)
	for attempt := 1; ; attempt++ {
		r := req.Clone(ctx)
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		resp, err := d.client.Do(r)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				state.set(0, "no answer before the deadline")
				return nil, err
			}
			reason := transportReason(err)
			if attempt >= attempts {
				state.set(0, fmt.Sprintf("%s, %d attempts", reason, attempt))
				return nil, err
			}
			wait = d.backoff(attempt)
		case retryable(resp.StatusCode):
			if attempt >= attempts {
				state.set(resp.StatusCode, fmt.Sprintf("HTTP %d after %d attempts", resp.StatusCode, attempt))
				return resp, nil
			}
			wait = d.backoff(attempt)
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = min(ra, d.retry.Max)
			}
			// Drain so that the connection is reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			state.set(resp.StatusCode, "")
			return resp, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			state.set(0, "no answer before the deadline")
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is Base·2^(attempt-1), at most Max.
func (d *retryDoer) backoff(attempt int) time.Duration {
	w := d.retry.Base
	for i := 1; i < attempt && w < d.retry.Max; i++ {
		w *= 2
	}
	return min(w, d.retry.Max)
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// transportReason names why a request failed to reach the model, for a note a person reads.
func transportReason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "DNS lookup of " + dnsErr.Name + " failed"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Op + " failed"
	}
	return "request failed"
}
