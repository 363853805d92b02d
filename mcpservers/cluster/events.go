package cluster

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) eventTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "events_list",
			Description: "List recent Kubernetes events, newest first, collapsed by object and reason (one line each with count, last seen, type, reason, object, message). " +
				"Filter by namespace, involved object (kind, name), type (Warning for problems) and age.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Description("namespace; empty means every namespace the server may see"), mcp.MaxLength(63)),
				mcp.WithString("kind", mcp.Description("only events about objects of this kind: pod, deployment, node, ..."), mcp.MaxLength(253)),
				mcp.WithString("name", mcp.Description("only events about objects with this name"), mcp.MaxLength(253)),
				mcp.WithString("type", mcp.Description("Normal or Warning"), mcp.Enum("Normal", "Warning")),
				mcp.WithInteger("sinceMinutes", mcp.Description("only events last seen in the past N minutes"), mcp.Min(1), mcp.Max(525600)),
				mcp.WithInteger("limit", mcp.Description("most lines to return (default 50)"), mcp.Min(1), mcp.Max(1000)),
			},
		}, t.eventsList),
	}
}

type eventsArgs struct {
	Namespace    string `json:"namespace,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Name         string `json:"name,omitempty"`
	Type         string `json:"type,omitempty"`
	SinceMinutes int    `json:"sinceMinutes,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

func (a *eventsArgs) Validate() error {
	switch strings.ToLower(a.Type) {
	case "":
	case "normal":
		a.Type = corev1.EventTypeNormal
	case "warning":
		a.Type = corev1.EventTypeWarning
	default:
		return fmt.Errorf(`argument "type" must be Normal or Warning, not %q`, a.Type)
	}
	if a.SinceMinutes < 0 {
		return fmt.Errorf(`argument "sinceMinutes" must be positive, not %d`, a.SinceMinutes)
	}
	if a.Limit < 0 || a.Limit > 1000 {
		return fmt.Errorf(`argument "limit" must be between 1 and 1000, not %d`, a.Limit)
	}
	if a.Limit == 0 {
		a.Limit = 50
	}
	return nil
}

func (t *tools) eventsList(ctx context.Context, a eventsArgs) (contract.EventList, string, error) {
	out := contract.EventList{Events: []contract.Event{}}
	if a.Namespace != "" {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return out, "", err
		}
	}
	kind := ""
	if a.Kind != "" {
		r, err := t.k.resolve(a.Kind)
		if err != nil {
			return out, "", err
		}
		kind = r.gvk.Kind
	}
	events, err := t.listEvents(ctx, a.Namespace)
	if err != nil {
		return out, "", err
	}
	var cutoff time.Time
	if a.SinceMinutes > 0 {
		cutoff = time.Now().Add(-time.Duration(a.SinceMinutes) * time.Minute)
	}
	var kept []*corev1.Event
	for _, e := range events {
		switch {
		case kind != "" && !strings.EqualFold(e.InvolvedObject.Kind, kind),
			a.Name != "" && e.InvolvedObject.Name != a.Name,
			a.Type != "" && e.Type != a.Type,
			!cutoff.IsZero() && eventLastSeen(e).Before(cutoff):
			continue
		}
		kept = append(kept, e)
	}
	groups := collapseEvents(kept, true)
	out.Matched = len(kept)
	if len(groups) == 0 {
		return out, "no events match" + describeFilter(a) + "\n", nil
	}
	shown := groups[:min(len(groups), a.Limit)]
	tbl := mcptool.Table{Header: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"}}
	for _, g := range shown {
		tbl.Add(age(metav1.NewTime(g.last)), g.typ, g.reason, g.object, strconv.Itoa(int(g.count)), oneLine(g.message, 240))
		out.Events = append(out.Events, eventOf(g, 640))
	}
	foot := fmt.Sprintf("%d of %d lines (%d events), newest first\n", len(shown), len(groups), len(kept))
	if len(shown) < len(groups) {
		foot = fmt.Sprintf("… %d more lines: raise limit or filter by namespace, kind, name, type or sinceMinutes\n", len(groups)-len(shown)) + foot
	}
	text, truncated := renderTable(&tbl, t.maxBytes-300)
	out.Events = keepShown(out.Events, truncated)
	out.Truncated = len(groups) - len(out.Events)
	return out, t.k.secrets.Scrub(text + foot), nil
}

// eventOf is a collapsed line of events as the contract has it, its message flattened to one
// line of at most n bytes.
func eventOf(g eventGroup, n int) contract.Event {
	e := contract.Event{LastSeen: age(metav1.NewTime(g.last)), Type: g.typ, Reason: g.reason, Object: g.object, Count: int(g.count), Message: oneLine(g.message, n)}
	if !g.last.IsZero() {
		e.LastTimestamp = g.last.UTC().Format(time.RFC3339)
	}
	return e
}

func describeFilter(a eventsArgs) string {
	var parts []string
	for _, p := range [][2]string{{"namespace", a.Namespace}, {"kind", a.Kind}, {"name", a.Name}, {"type", a.Type}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	if a.SinceMinutes > 0 {
		parts = append(parts, "sinceMinutes="+strconv.Itoa(a.SinceMinutes))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// listEvents reads the events of ns (every namespace the server may see when empty) from the
// cache. The events are the cache's own: read them, never change them.
func (t *tools) listEvents(ctx context.Context, ns string) ([]*corev1.Event, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return nil, err
	}
	namespaces := t.k.namespaces(ns)
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	var out []*corev1.Event
	for _, n := range namespaces {
		var list corev1.EventList
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if n != "" {
			opts = append(opts, client.InNamespace(n))
		}
		if err := reader.List(ctx, &list, opts...); err != nil {
			return nil, apiError(err, "list", "events")
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// objectKey names an object that events are about.
type objectKey struct{ kind, namespace, name string }

// eventIndex holds events by the object they are about, built once per call.
type eventIndex map[objectKey][]*corev1.Event

func indexEvents(events []*corev1.Event) eventIndex {
	idx := eventIndex{}
	for _, e := range events {
		k := objectKey{e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name}
		idx[k] = append(idx[k], e)
	}
	return idx
}

// of returns the events about one object. Events that name a different UID are about an
// earlier object of the same name and are left out.
func (idx eventIndex) of(kind, ns, name string, uid string) []*corev1.Event {
	var out []*corev1.Event
	for _, e := range idx[objectKey{kind, ns, name}] {
		if uid != "" && e.InvolvedObject.UID != "" && string(e.InvolvedObject.UID) != uid {
			continue
		}
		out = append(out, e)
	}
	return out
}

// eventGroup is events collapsed by object, reason and message.
type eventGroup struct {
	object, reason, typ, message string
	count                        int32
	last                         time.Time
}

// collapseEvents groups events by reason and message (and by involved object when byObject),
// summing their counts; each group shows its newest event's type. Groups are newest first.
// Events of one reason with different messages stay apart, as kubectl shows them: a kubelet's
// Failed carries the pull's own error once and "Error: ImagePullBackOff" after it, and the
// newest must not hide the one that says why.
func collapseEvents(events []*corev1.Event, byObject bool) []eventGroup {
	type key struct{ object, reason, message string }
	groups := map[key]*eventGroup{}
	var order []*eventGroup
	for _, e := range events {
		obj := objectRef(strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Namespace, e.InvolvedObject.Name)
		// the same message about two pods of a workload names each (and its UID): one line still
		k := key{reason: e.Reason, message: uidPattern.ReplaceAllString(withoutName(e.Message, e.InvolvedObject.Name), "")}
		if byObject {
			k.object = obj
		}
		last := eventLastSeen(e)
		g, ok := groups[k]
		if !ok {
			g = &eventGroup{object: obj, reason: e.Reason}
			groups[k] = g
			order = append(order, g)
		}
		g.count += eventCount(e)
		if g.last.IsZero() || !last.Before(g.last) {
			g.last, g.typ, g.message = last, e.Type, e.Message
			if !byObject {
				g.object = obj
			}
		}
	}
	out := make([]eventGroup, len(order))
	for i, g := range order {
		out[i] = *g
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].last.Equal(out[j].last) {
			return out[i].last.After(out[j].last)
		}
		if out[i].object != out[j].object {
			return out[i].object < out[j].object
		}
		return out[i].reason < out[j].reason
	})
	return out
}

// uidPattern is an object's UID, as a kubelet's messages quote the pod's.
var uidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// withoutName is msg with each whole-word occurrence of name (not inside a longer name) taken out.
func withoutName(msg, name string) string {
	if name == "" {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, name)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(name)
		whole := (i == 0 || !nameByte(msg[i-1])) && (end == len(msg) || !nameByte(msg[end]))
		b.WriteString(msg[:i])
		if !whole {
			b.WriteString(name)
		}
		msg = msg[end:]
	}
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

// eventLastSeen is when an event last happened, whichever API wrote it.
func eventLastSeen(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func eventCount(e *corev1.Event) int32 {
	switch {
	case e.Series != nil && e.Series.Count > 0:
		return e.Series.Count
	case e.Count > 0:
		return e.Count
	}
	return 1
}

// renderEvents renders events collapsed by reason and message, newest first, in at most max bytes; with
// showObject each line names the object of its newest event.
func renderEvents(events []*corev1.Event, showObject bool, max int) string {
	groups := collapseEvents(events, false)
	if len(groups) == 0 {
		return "Events: <none>\n"
	}
	header := []string{"LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"}
	if showObject {
		header = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"}
	}
	tbl := mcptool.Table{Header: header}
	for _, g := range groups {
		cells := []string{age(metav1.NewTime(g.last)), g.typ, g.reason}
		if showObject {
			cells = append(cells, g.object)
		}
		tbl.Add(append(cells, strconv.Itoa(int(g.count)), oneLine(g.message, 200))...)
	}
	return "Events (newest first, by reason and message):\n" + tbl.Render(max)
}

// oneLine flattens s to one line of at most n bytes, keeping both ends of a long one.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	if n < 90 {
		cut := n
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	// Keep both ends: a wrapped error (a kubelet's pull or mount failure) names its cause last
	// ("...: 403 Forbidden", "...: no such host").
	head, tail := n*2/3, len(s)-(n-n*2/3-5) // " … " is 5 bytes
	for head > 0 && !isRuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !isRuneStart(s[tail]) {
		tail++
	}
	return s[:head] + " … " + s[tail:]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
