package cluster

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func numberedLog(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %03d level=info msg=ok\n", i)
	}
	return b.String()
}

func TestTailLogKeepsShortLogsWhole(t *testing.T) {
	log := numberedLog(3)
	if got := tailLog(log, nil, 1024); got != log {
		t.Errorf("tailLog changed a log under the cap:\n%s", got)
	}
	if got := tailLog("no newline at end", nil, 1024); got != "no newline at end\n" {
		t.Errorf("tailLog(%q) = %q, want the line ended by a newline", "no newline at end", got)
	}
	if got := tailLog("", nil, 1024); !strings.Contains(got, "the log is empty") {
		t.Errorf("tailLog of an empty log = %q, want it to say the log is empty", got)
	}
}

func TestTailLogKeepsTheNewestLinesWithAMarker(t *testing.T) {
	log := numberedLog(100) // 100 lines of 27 bytes
	const max = 500
	got := tailLog(log, nil, max)
	if len(got) > max {
		t.Errorf("tailLog returned %d bytes, more than maxBytes %d", len(got), max)
	}
	if !strings.HasSuffix(got, "line 100 level=info msg=ok\n") {
		t.Errorf("tailLog dropped the newest line:\n%s", got)
	}
	if strings.Contains(got, "line 001") {
		t.Errorf("tailLog kept the oldest line under a cap:\n%s", got)
	}
	first, rest, _ := strings.Cut(got, "\n")
	kept := len(rest)
	want := fmt.Sprintf("… truncated: %d earlier bytes", len(log)-kept)
	if first != want {
		t.Errorf("marker = %q, want %q (the bytes left out)", first, want)
	}
	if !strings.HasPrefix(rest, "line ") {
		t.Errorf("tailLog cut in the middle of a line:\n%s", got)
	}
}

func TestTailLogCutsOneLongLineOnARuneBoundary(t *testing.T) {
	log := strings.Repeat("é", 1000) // 2 bytes each, no newline
	got := tailLog(log, nil, 300)
	if len(got) > 300 {
		t.Errorf("tailLog returned %d bytes, more than 300", len(got))
	}
	_, rest, _ := strings.Cut(got, "\n")
	if !strings.HasPrefix(rest, "é") || !strings.HasSuffix(rest, "é\n") {
		t.Errorf("tailLog split a rune or lost the end: %q", rest)
	}
}

func TestTailLogGrepsBeforeCapping(t *testing.T) {
	log := "a ok\nb ERROR disk full\nc ok\nd error: timeout\ne ok\n"
	got := tailLog(log, regexp.MustCompile(`(?i)error`), 1024)
	if want := "b ERROR disk full\nd error: timeout\n"; got != want {
		t.Errorf("grep (?i)error = %q, want %q", got, want)
	}
	if got := tailLog(log, regexp.MustCompile(`panic`), 1024); !strings.Contains(got, "no lines match") {
		t.Errorf("grep with no match = %q, want it to say no lines match", got)
	}
	// The cap applies to the matching lines: the newest matches are kept.
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "%03d noise\n%03d WARN slow request\n", i, i)
	}
	got = tailLog(b.String(), regexp.MustCompile(`WARN`), 400)
	if strings.Contains(got, "noise") || !strings.HasSuffix(got, "199 WARN slow request\n") || !strings.Contains(got, "truncated:") {
		t.Errorf("grep then cap kept the wrong lines:\n%s", got)
	}
}

func TestLogsArgsValidate(t *testing.T) {
	a := logsArgs{Namespace: "ns", Name: "p"}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.TailLines != defaultTailLines || a.MaxBytes != defaultLogMaxBytes {
		t.Errorf("defaults: tailLines %d, maxBytes %d; want %d and %d", a.TailLines, a.MaxBytes, defaultTailLines, defaultLogMaxBytes)
	}
	for _, bad := range []struct {
		args logsArgs
		want string
	}{
		{logsArgs{Namespace: "ns", Name: "p", Grep: "(["}, `argument "grep" "([" is not a valid regular expression`},
		{logsArgs{Namespace: "ns", Name: "p", TailLines: 5001}, `argument "tailLines" must be between 1 and 5000`},
		{logsArgs{Namespace: "ns", Name: "p", MaxBytes: 10}, `argument "maxBytes"`},
		{logsArgs{Namespace: "ns"}, `argument "name"`},
		{logsArgs{Name: "p"}, `argument "namespace"`},
	} {
		err := bad.args.Validate()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Validate(%+v) = %v, want an error saying %q", bad.args, err, bad.want)
		}
	}
}

func TestLogContainer(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate"}},
			Containers:     []corev1.Container{{Name: "app"}, {Name: "proxy"}},
		},
	}
	if _, err := logContainer(p, ""); err == nil || !strings.Contains(err.Error(), `has 2 containers: name one with argument "container": app, proxy; init containers: migrate`) {
		t.Errorf("no container named on a pod with two: %v", err)
	}
	if _, err := logContainer(p, "db"); err == nil || !strings.Contains(err.Error(), `has no container "db"; its containers are: app, proxy`) {
		t.Errorf("unknown container: %v", err)
	}
	if c, err := logContainer(p, "migrate"); err != nil || c != "migrate" {
		t.Errorf("init container by name = %q, %v", c, err)
	}
	p.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "proxy"}
	if c, err := logContainer(p, ""); err != nil || c != "proxy" {
		t.Errorf("default-container annotation: got %q, %v; want proxy", c, err)
	}
}

func TestCollapseEventsSumsCountsNewestFirst(t *testing.T) {
	now := time.Now()
	ev := func(name, reason string, count int32, ago time.Duration, msg string) *corev1.Event {
		return &corev1.Event{
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name},
			Reason:         reason, Count: count, Message: msg, Type: corev1.EventTypeWarning,
			LastTimestamp: metav1.NewTime(now.Add(-ago)),
		}
	}
	events := []*corev1.Event{
		ev("a", "BackOff", 3, time.Minute, "Back-off restarting failed container app in pod a"),
		ev("a", "BackOff", 2, 10*time.Second, "Back-off restarting failed container app in pod a"),
		ev("b", "BackOff", 1, time.Hour, "Back-off restarting failed container app in pod b"),
		ev("a", "Pulled", 0, 5*time.Second, "pulled"),
		// a kubelet's Failed: the pull's own error, then the generic one, newer
		ev("a", "Failed", 1, 30*time.Second, `Failed to pull image "x": no match for platform in manifest: not found`),
		ev("a", "Failed", 4, 20*time.Second, "Error: ImagePullBackOff"),
	}
	byObject := collapseEvents(events, true)
	if len(byObject) != 5 {
		t.Fatalf("by object, reason and message: %d groups, want 5: %+v", len(byObject), byObject)
	}
	if g := byObject[0]; g.reason != "Pulled" || g.count != 1 {
		t.Errorf("newest group = %+v, want Pulled with count 1 (an event without a count happened once)", g)
	}
	if g := byObject[1]; g.reason != "BackOff" || g.object != "pod/ns/a" || g.count != 5 {
		t.Errorf("second group = %+v, want pod/ns/a BackOff count 5", g)
	}
	if g := byObject[3]; g.reason != "Failed" || !strings.Contains(g.message, "no match for platform") {
		t.Errorf("fourth group = %+v, want the pull's own Failed message, kept apart from the newer generic one", g)
	}
	byReason := collapseEvents(events, false)
	if len(byReason) != 4 || byReason[1].reason != "BackOff" || byReason[1].count != 6 {
		t.Errorf("by reason and message: %+v, want Pulled, BackOff (both pods' back-offs on one line, count 6), then both Failed", byReason)
	}
}

func TestPodRequestsCountsInitContainersAsTheSchedulerDoes(t *testing.T) {
	req := func(cpu string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse(cpu)}}
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "sidecar", Resources: req("100m"), RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			{Name: "migrate", Resources: req("2")},
		},
		Containers: []corev1.Container{{Name: "a", Resources: req("500m")}, {Name: "b", Resources: req("250m")}},
		Overhead:   corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("10m")},
	}}
	// App containers with the sidecar: 850m; the migrate step with the sidecar: 2100m; plus overhead.
	got := podRequests(p)[corev1.ResourceCPU]
	if got.MilliValue() != 2110 {
		t.Errorf("podRequests cpu = %s, want 2110m", got.String())
	}
}

func TestUnreadyReasons(t *testing.T) {
	crash := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name:                 "app",
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}},
	}}}}
	pending := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
	}}}}
	if got := unreadyReason(crash); got != "CrashLoopBackOff (OOMKilled, exit 137)" {
		t.Errorf("crash-looping pod: %q", got)
	}
	if got := unreadyReason(pending); got != "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu." {
		t.Errorf("unschedulable pod: %q", got)
	}
	if got := summarizeUnready([]*corev1.Pod{pending, crash, crash}); got != "2 pods CrashLoopBackOff (OOMKilled, exit 137), 1 pod Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu." {
		t.Errorf("summary: %q", got)
	}
}

// TestTailLogLinesMatchTheText: pod_logs's structured lines are the lines its text shows, and
// the bytes it counts as left out are those the text's marker names.
func TestTailLogLinesMatchTheText(t *testing.T) {
	log := numberedLog(100)
	lines, cut, text := tailLogLines(log, nil, 500)
	_, body, _ := strings.Cut(text, "\n")
	if got := strings.Join(lines, "\n") + "\n"; got != body {
		t.Errorf("lines = %q, want the text's lines %q", got, body)
	}
	if want := fmt.Sprintf("… truncated: %d earlier bytes\n", cut); !strings.HasPrefix(text, want) || cut != len(log)-len(body) {
		t.Errorf("truncated bytes = %d; text starts %q", cut, text[:40])
	}
	if lines[len(lines)-1] != "line 100 level=info msg=ok" {
		t.Errorf("last line = %q, want the newest", lines[len(lines)-1])
	}
	lines, cut, _ = tailLogLines("a ok\nb ERROR disk full\n", regexp.MustCompile(`ERROR`), 1024)
	if len(lines) != 1 || lines[0] != "b ERROR disk full" || cut != 0 {
		t.Errorf("grep ERROR: lines %q, cut %d", lines, cut)
	}
	for _, empty := range []string{"", "a ok\n"} {
		if lines, _, _ := tailLogLines(empty, regexp.MustCompile(`ERROR`), 1024); lines == nil || len(lines) != 0 {
			t.Errorf("tailLogLines(%q) lines = %#v, want an empty list", empty, lines)
		}
	}
}

// TestRenderTableCountsTheRowsItLeftOut: a structured list leaves out the rows its text table
// left out, and counts them the same.
func TestRenderTableCountsTheRowsItLeftOut(t *testing.T) {
	tbl := mcptool.Table{Header: []string{"NAME", "STATUS"}}
	for i := range 50 {
		tbl.Add(fmt.Sprintf("pod-%02d", i), "Running")
	}
	text, n := renderTable(&tbl, 400)
	if n == 0 || !strings.Contains(text, fmt.Sprintf("… truncated: %d more items", n)) {
		t.Fatalf("renderTable counted %d rows left out of:\n%s", n, text)
	}
	if shown := strings.Count(text, "pod-"); shown+n != 50 || len(keepShown(tbl.Rows, n)) != shown {
		t.Errorf("%d rows shown + %d left out != 50", shown, n)
	}
	if _, n := renderTable(&tbl, 1<<20); n != 0 {
		t.Errorf("renderTable counted %d rows left out of a table that fits", n)
	}
}

// TestLinesShownCountsWhatTheOutputCapKeeps: a names list counts in Truncated the names the
// server's output cap cuts from its text.
func TestLinesShownCountsWhatTheOutputCapKeeps(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "ns/pod-%03d\n", i)
	}
	text := b.String() + "100 of 100 pods\n"
	if n := linesShown(text, 100, 1<<20); n != 100 {
		t.Errorf("linesShown without a cut = %d, want 100", n)
	}
	n := linesShown(text, 100, 500)
	capped := mcptool.Cap(text, 500)
	if n == 100 || n == 0 || !strings.Contains(capped, fmt.Sprintf("ns/pod-%03d\n", n-1)) || strings.Contains(capped, fmt.Sprintf("ns/pod-%03d", n)) {
		t.Errorf("linesShown = %d for the capped text:\n%s", n, capped)
	}
}
