package cluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

// age formats the time since t as kubectl does (45s, 12m, 3h, 5d).
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := time.Since(t.Time)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// podReady returns "ready/total" containers.
func podReady(p *corev1.Pod) string {
	ready := 0
	for _, s := range p.Status.ContainerStatuses {
		if s.Ready {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
}

// podRestarts sums the restarts of the pod's containers.
func podRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// podStatus is the one-word state kubectl's STATUS column shows: a waiting or terminated reason
// of a container (CrashLoopBackOff, ImagePullBackOff, OOMKilled, ...) before the phase.
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	for _, s := range p.Status.InitContainerStatuses {
		switch {
		case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
			return "Init:" + s.State.Terminated.Reason
		case s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "PodInitializing":
			return "Init:" + s.State.Waiting.Reason
		}
	}
	reason := string(p.Status.Phase)
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "":
			return s.State.Waiting.Reason
		case s.State.Terminated != nil && s.State.Terminated.Reason != "":
			reason = s.State.Terminated.Reason
		}
	}
	if reason == "" {
		return "Unknown"
	}
	return reason
}

// cleanForOutput strips what a reader does not need from an object and redacts secrets:
// managedFields always; the last-applied annotation (which may copy a Secret's data).
func cleanForOutput(u *unstructured.Unstructured) {
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	redact.Object(u)
	if len(u.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations")
	}
}

// toYAML renders an object as YAML.
func toYAML(obj any) (string, error) {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// objectRef names an object as kind/namespace/name (kind/name when cluster-scoped).
func objectRef(kind, ns, name string) string {
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

// join is strings.Join that shows "<none>" for nothing, as kubectl does.
func join(items []string, sep string) string {
	if len(items) == 0 {
		return "<none>"
	}
	return strings.Join(items, sep)
}

// truncatedRows matches the marker mcptool.Table.Render ends a table with when rows did not fit.
var truncatedRows = regexp.MustCompile(`… truncated: (\d+) more items \(narrow the request: namespace, selector, limit\)\n$`)

// renderTable renders tbl in at most max bytes, as mcptool.Table.Render does, and counts the rows
// it left out, so that a structured answer can leave out the same ones.
func renderTable(tbl *mcptool.Table, max int) (string, int) {
	out := tbl.Render(max)
	if m := truncatedRows.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		return out, n
	}
	return out, 0
}

// keepShown is the first len(items)-truncated items.
func keepShown[T any](items []T, truncated int) []T {
	return items[:max(len(items)-truncated, 0)]
}

// linesShown is how many of the first n lines of text the server's output cap (mcptool.Cap at
// maxBytes) keeps whole.
func linesShown(text string, n, maxBytes int) int {
	capped := mcptool.Cap(text, maxBytes)
	if capped == text {
		return n
	}
	return min(strings.Count(capped, "\n"), n)
}
