package cluster

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

const (
	defaultTailLines   = 200
	maxTailLines       = 5000
	defaultLogMaxBytes = 16384
	minLogMaxBytes     = 256
	maxLogMaxBytes     = 1 << 20
)

func (t *tools) logTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "pod_logs",
			Description: "The newest lines of a pod container's log (or of its previous, crashed instance with previous: true), optionally only lines matching a regular expression. " +
				"Capped in bytes keeping the end of the log; known Secret values are removed.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Required(), mcp.Description("the pod's namespace"), mcp.MaxLength(63)),
				mcp.WithString("name", mcp.Required(), mcp.Description("the pod's name"), mcp.MaxLength(253)),
				mcp.WithString("container", mcp.Description("container name; required when the pod has several"), mcp.MaxLength(253)),
				mcp.WithInteger("tailLines", mcp.Description("read the last N lines (default 200, at most 5000)"), mcp.Min(1), mcp.Max(maxTailLines)),
				mcp.WithInteger("sinceSeconds", mcp.Description("only lines from the past N seconds"), mcp.Min(1)),
				mcp.WithBoolean("previous", mcp.Description("the log of the container's previous instance (the one that crashed)")),
				mcp.WithString("grep", mcp.Description("only lines matching this regular expression (RE2 syntax; (?i) for case-insensitive)"), mcp.MaxLength(1024)),
				mcp.WithInteger("maxBytes", mcp.Description("most bytes to return, keeping the newest lines (default 16384)"), mcp.Min(minLogMaxBytes), mcp.Max(maxLogMaxBytes)),
			},
		}, t.podLogs),
	}
}

type logsArgs struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Container    string `json:"container,omitempty"`
	TailLines    int64  `json:"tailLines,omitempty"`
	SinceSeconds int64  `json:"sinceSeconds,omitempty"`
	Previous     bool   `json:"previous,omitempty"`
	Grep         string `json:"grep,omitempty"`
	MaxBytes     int    `json:"maxBytes,omitempty"`

	grep *regexp.Regexp
}

func (a *logsArgs) Validate() error {
	if strings.TrimSpace(a.Namespace) == "" {
		return errors.New(`argument "namespace" is required`)
	}
	if strings.TrimSpace(a.Name) == "" {
		return errors.New(`argument "name" (the pod) is required`)
	}
	if a.TailLines < 0 || a.TailLines > maxTailLines {
		return fmt.Errorf(`argument "tailLines" must be between 1 and %d, not %d`, maxTailLines, a.TailLines)
	}
	if a.TailLines == 0 {
		a.TailLines = defaultTailLines
	}
	if a.SinceSeconds < 0 {
		return fmt.Errorf(`argument "sinceSeconds" must be positive, not %d`, a.SinceSeconds)
	}
	if a.MaxBytes == 0 {
		a.MaxBytes = defaultLogMaxBytes
	}
	if a.MaxBytes < minLogMaxBytes || a.MaxBytes > maxLogMaxBytes {
		return fmt.Errorf(`argument "maxBytes" must be between %d and %d, not %d`, minLogMaxBytes, maxLogMaxBytes, a.MaxBytes)
	}
	if a.Grep != "" {
		re, err := regexp.Compile(a.Grep)
		if err != nil {
			return fmt.Errorf(`argument "grep" %q is not a valid regular expression (RE2 syntax): %v`, a.Grep, err)
		}
		a.grep = re
	}
	return nil
}

func (t *tools) podLogs(ctx context.Context, a logsArgs) (contract.PodLogs, string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.PodLogs{}, "", err
	}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return contract.PodLogs{}, "", err
	}
	ref := "pod " + a.Namespace + "/" + a.Name
	var pod corev1.Pod
	if err := reader.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, &pod); err != nil {
		return contract.PodLogs{}, "", apiError(err, "get", ref)
	}
	container, err := logContainer(&pod, a.Container)
	if err != nil {
		return contract.PodLogs{}, "", err
	}
	if pod.Spec.NodeName == "" {
		return contract.PodLogs{}, "", fmt.Errorf("%s is not running on a node (phase %s, %s): it has no logs yet; see why with describe",
			ref, orNone(string(pod.Status.Phase)), podStatus(&pod))
	}
	opts := &corev1.PodLogOptions{Container: container, TailLines: ptr.To(a.TailLines), Previous: a.Previous}
	if a.SinceSeconds > 0 {
		opts.SinceSeconds = ptr.To(a.SinceSeconds)
	}
	raw, err := t.k.clientset.CoreV1().Pods(a.Namespace).GetLogs(a.Name, opts).DoRaw(ctx)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return contract.PodLogs{}, "", apiError(err, "get", "pods/log in namespace "+a.Namespace)
		}
		what := "the log of"
		if a.Previous {
			what = "the previous instance's log of"
		}
		hint := "the node may be gone or its kubelet unreachable; see the pod with describe"
		if a.Previous {
			hint = "a previous instance exists only after the container restarted; " + hint
		}
		return contract.PodLogs{}, "", fmt.Errorf("reading %s %s container %s from node %s: %v (%s)", what, ref, container, pod.Spec.NodeName, err, hint)
	}
	// Leave room under the server's cap for the header, so that the cap never cuts the newest lines.
	limit := min(a.MaxBytes, t.maxBytes-256)
	lines, cut, body := tailLogLines(t.k.secrets.Scrub(string(raw)), a.grep, limit)
	header := fmt.Sprintf("%s container %s", ref, container)
	if a.Previous {
		header += " (previous instance)"
	}
	if a.grep != nil {
		header += fmt.Sprintf(", lines matching %q", a.Grep)
	}
	out := contract.PodLogs{Pod: a.Namespace + "/" + a.Name, Container: container, Previous: a.Previous, Grep: a.Grep, TailLines: a.TailLines,
		Lines: lines, TruncatedBytes: cut}
	return out, header + fmt.Sprintf(" (tailLines %d):\n", a.TailLines) + body, nil
}

// logContainer picks the container to read: the one named, the pod's only one, or the one the
// kubectl.kubernetes.io/default-container annotation names.
func logContainer(p *corev1.Pod, named string) (string, error) {
	var all []string
	for _, c := range p.Spec.InitContainers {
		all = append(all, c.Name)
	}
	for _, c := range p.Spec.Containers {
		all = append(all, c.Name)
	}
	for _, c := range p.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	list := func() string {
		var parts []string
		for _, c := range p.Spec.Containers {
			parts = append(parts, c.Name)
		}
		s := strings.Join(parts, ", ")
		if len(p.Spec.InitContainers) > 0 {
			var init []string
			for _, c := range p.Spec.InitContainers {
				init = append(init, c.Name)
			}
			s += "; init containers: " + strings.Join(init, ", ")
		}
		return s
	}
	if named != "" {
		if slices.Contains(all, named) {
			return named, nil
		}
		return "", fmt.Errorf("pod %s/%s has no container %q; its containers are: %s", p.Namespace, p.Name, named, list())
	}
	if len(p.Spec.Containers) == 1 {
		return p.Spec.Containers[0].Name, nil
	}
	if d := p.Annotations["kubectl.kubernetes.io/default-container"]; d != "" && slices.Contains(all, d) {
		return d, nil
	}
	return "", fmt.Errorf(`pod %s/%s has %d containers: name one with argument "container": %s`, p.Namespace, p.Name, len(p.Spec.Containers), list())
}

// tailLog keeps the lines of log that grep matches (all lines when grep is nil) and, of those, as
// many of the newest as fit in maxBytes, after a marker that counts the earlier bytes left out.
func tailLog(log string, grep *regexp.Regexp, maxBytes int) string {
	_, _, text := tailLogLines(log, grep, maxBytes)
	return text
}

// tailLogLines is tailLog's text with the lines it keeps (without their line ends, never nil)
// and the count of earlier bytes it left out.
func tailLogLines(log string, grep *regexp.Regexp, maxBytes int) ([]string, int, string) {
	kept, cut, text := tailLogText(log, grep, maxBytes)
	lines := []string{}
	for line := range strings.Lines(kept) {
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	return lines, cut, text
}

// tailLogText does tailLog's work: the kept part of log, the earlier bytes cut, and the text.
func tailLogText(log string, grep *regexp.Regexp, maxBytes int) (string, int, string) {
	if log == "" {
		return "", 0, "(the log is empty)\n"
	}
	if grep != nil {
		var kept strings.Builder
		for line := range strings.Lines(log) {
			if grep.MatchString(strings.TrimRight(line, "\r\n")) {
				kept.WriteString(line)
			}
		}
		if kept.Len() == 0 {
			return "", 0, "(no lines match)\n"
		}
		log = kept.String()
	}
	if !strings.HasSuffix(log, "\n") {
		log += "\n"
	}
	if len(log) <= maxBytes {
		return log, 0, log
	}
	const markerRoom = 64
	budget := max(maxBytes-markerRoom, 0)
	start := len(log) - budget
	// Start at the beginning of a line when one begins within the budget; else cut inside the
	// one long line, on a rune boundary.
	if i := strings.IndexByte(log[start:], '\n'); i >= 0 && i+1 < len(log)-start {
		start += i + 1
	} else {
		for start < len(log) && !isRuneStart(log[start]) {
			start++
		}
	}
	return log[start:], start, fmt.Sprintf("… truncated: %d earlier bytes\n", start) + log[start:]
}
