package scheduler

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// schedWord is what kube-scheduler itself said about a pod: its PodScheduled condition and its
// FailedScheduling events, the latest message parsed into per-reason node counts.
type schedWord struct {
	cond      *corev1.PodCondition
	events    int32     // FailedScheduling events, counting repeats
	last      time.Time // of the latest event
	message   string    // the latest message (event, else condition)
	total     int       // nodes the scheduler considered ("0/6 nodes")
	reasons   []schedReason
	preemptOK string // what the preemption pass said
}

type schedReason struct {
	nodes  int
	reason string
}

var availableRE = regexp.MustCompile(`^(\d+)/(\d+) nodes are available(?::\s*(.*))?$`)

// parseFailedScheduling splits a FailedScheduling message — "0/6 nodes are available: 1 node(s)
// were unschedulable, 2 Insufficient nvidia.com/gpu, 3 node(s) had untolerated taint
// {gpu: true}. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling."
// — into the number of nodes, each reason with its node count, and the preemption pass's words.
func parseFailedScheduling(msg string) (total int, reasons []schedReason, preemption string) {
	msg = strings.TrimSpace(msg)
	body, pre, _ := strings.Cut(msg, ". preemption: ")
	preemption = strings.TrimSuffix(strings.TrimSpace(pre), ".")
	m := availableRE.FindStringSubmatch(strings.TrimSuffix(body, "."))
	if m == nil {
		return 0, nil, preemption
	}
	total, _ = strconv.Atoi(m[2])
	var pieces []string
	for _, p := range strings.Split(m[3], ", ") {
		if n := len(pieces); n > 0 && !startsWithCount(p) {
			pieces[n-1] += ", " + p // a comma inside a reason, as in a taint list
			continue
		}
		pieces = append(pieces, p)
	}
	for _, p := range pieces {
		n, reason, ok := strings.Cut(p, " ")
		count, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		reasons = append(reasons, schedReason{nodes: count, reason: strings.TrimSpace(reason)})
	}
	slices.SortStableFunc(reasons, func(a, b schedReason) int { return b.nodes - a.nodes })
	return total, reasons, preemption
}

func startsWithCount(s string) bool {
	n, _, ok := strings.Cut(s, " ")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// readSchedWord gathers the scheduler's word on a pod.
func readSchedWord(p *corev1.Pod, events []*corev1.Event) *schedWord {
	w := &schedWord{}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			w.cond = &p.Status.Conditions[i]
		}
	}
	for _, e := range events {
		if e.Reason != "FailedScheduling" {
			continue
		}
		n := e.Count
		if n == 0 {
			n = 1
			if e.Series != nil {
				n = e.Series.Count
			}
		}
		w.events += n
		t := e.LastTimestamp.Time
		if t.IsZero() {
			t = e.EventTime.Time
		}
		if t.IsZero() {
			t = e.CreationTimestamp.Time
		}
		if w.message == "" || t.After(w.last) {
			w.last, w.message = t, e.Message
		}
	}
	if w.message == "" && w.cond != nil {
		w.message = w.cond.Message
	}
	w.total, w.reasons, w.preemptOK = parseFailedScheduling(w.message)
	return w
}
