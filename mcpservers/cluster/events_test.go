package cluster_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

func TestEventsList(t *testing.T) {
	ns := namespace(t, "rd-events")
	web0, web1 := refTo("Pod", ns, "web-0"), refTo("Pod", ns, "web-1")
	warn, normal := corev1.EventTypeWarning, corev1.EventTypeNormal
	event(t, ns, "web-0.backoff-1", web0, warn, "BackOff", "Back-off restarting failed container app", 3, 90*time.Second)
	event(t, ns, "web-0.backoff-2", web0, warn, "BackOff", "Back-off restarting failed container app", 2, 30*time.Second)
	event(t, ns, "web-0.pulled", web0, normal, "Pulled", "Successfully pulled image registry.example/app:1", 1, 5*time.Minute)
	event(t, ns, "web-1.sched", web1, warn, "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", 1, 10*time.Second)
	event(t, ns, "web.scaled", refTo("Deployment", ns, "web"), normal, "ScalingReplicaSet", "Scaled up replica set web-7d9 to 2", 1, 3*time.Hour)
	s := connect(t, cluster.Config{})

	t.Run("newest first, collapsed by object and reason with summed counts", func(t *testing.T) {
		out := s.Eventually("events_list", map[string]any{"namespace": ns}, "ScalingReplicaSet", "FailedScheduling", "BackOff", "Pulled")
		inOrder(t, out, "FailedScheduling", "BackOff", "Pulled", "ScalingReplicaSet")
		backoff := line(t, out, "BackOff")
		hasField(t, backoff, "5") // 3 + 2
		hasField(t, backoff, "Warning")
		hasField(t, backoff, "pod/rd-events/web-0")
		mustContain(t, backoff, "Back-off restarting failed container app")
		// one line per object, reason and message; a different message is a line of its own (logs_internal_test)
		mustContain(t, line(t, out, "ScalingReplicaSet"), "3h", "deployment/rd-events/web")
		mustContain(t, out, "4 of 4 lines (5 events), newest first")
	})
	t.Run("type Warning", func(t *testing.T) {
		out := s.OK("events_list", map[string]any{"namespace": ns, "type": "Warning"})
		mustContain(t, out, "BackOff", "FailedScheduling")
		notContain(t, out, "Pulled", "ScalingReplicaSet")
	})
	t.Run("one object, by kind and name", func(t *testing.T) {
		out := s.OK("events_list", map[string]any{"namespace": ns, "kind": "po", "name": "web-0"})
		mustContain(t, out, "BackOff", "Pulled")
		notContain(t, out, "web-1", "ScalingReplicaSet")
		out = s.OK("events_list", map[string]any{"namespace": ns, "kind": "deploy"})
		mustContain(t, out, "ScalingReplicaSet")
		notContain(t, out, "BackOff")
	})
	t.Run("age", func(t *testing.T) {
		out := s.OK("events_list", map[string]any{"namespace": ns, "sinceMinutes": 60})
		mustContain(t, out, "BackOff", "Pulled")
		notContain(t, out, "ScalingReplicaSet")
		out = s.OK("events_list", map[string]any{"namespace": ns, "sinceMinutes": 1})
		mustContain(t, out, "BackOff", "FailedScheduling")
		notContain(t, out, "Pulled")
	})
	t.Run("limit keeps the newest and says how many more", func(t *testing.T) {
		out := s.OK("events_list", map[string]any{"namespace": ns, "limit": 1})
		mustContain(t, out, "FailedScheduling", "… 3 more lines", "1 of 4 lines")
		notContain(t, out, "BackOff")
		var got contract.EventList
		s.Data("events_list", map[string]any{"namespace": ns, "limit": 1}, &got)
		if len(got.Events) != 1 || got.Events[0].Reason != "FailedScheduling" || got.Truncated != 3 || got.Matched < 4 ||
			got.Events[0].Count < 1 || got.Events[0].LastTimestamp == "" || !strings.Contains(out, got.Events[0].Object) {
			t.Errorf("events_list limit 1: structured %+v", got)
		}
	})
	t.Run("nothing matches", func(t *testing.T) {
		out := s.OK("events_list", map[string]any{"namespace": ns, "name": "nope"})
		mustContain(t, out, "no events match (namespace=rd-events, name=nope)")
	})
	t.Run("bad arguments", func(t *testing.T) {
		s.Fails("events_list", map[string]any{"type": "Error"}, "type")
		s.Fails("events_list", map[string]any{"kind": "gizmos"}, `unknown kind "gizmos"`)
		s.Fails("events_list", map[string]any{"limit": 0}, "limit")
	})
	t.Run("confined to --allow-namespaces", func(t *testing.T) {
		other := namespace(t, "rd-events-other")
		event(t, other, "x.failed", refTo("Pod", other, "x"), warn, "Failed", "outside", 1, time.Second)
		confined := connect(t, cluster.Config{AllowNamespaces: []string{ns}})
		confined.Fails("events_list", map[string]any{"namespace": other}, `namespace "rd-events-other" is outside this server's --allow-namespaces (rd-events)`)
		out := confined.Eventually("events_list", nil, "BackOff")
		notContain(t, out, "outside", "rd-events-other")
	})
}
