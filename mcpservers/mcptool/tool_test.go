package mcptool_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type scaleArgs struct {
	Name     string `json:"name"`
	Replicas int    `json:"replicas"`
	DryRun   bool   `json:"dryRun,omitempty"`
}

func (a *scaleArgs) Validate() error {
	if a.Replicas < 0 {
		return errors.New(`argument "replicas" must be 0 or more`)
	}
	return nil
}

func TestDecodeSaysWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
	}{
		{`{"name":"a","replicas":"three"}`, `argument "replicas" must be an integer, not string`},
		{`{"name":"a","replicas":-1}`, `argument "replicas" must be 0 or more`},
		{`{"name":"a","replica":2}`, `unknown argument "replica"`},
		{`[1,2]`, `arguments must be a JSON object, not array`},
		{`{"name":`, `arguments are not valid JSON`},
		{`{"name":"a"} {"x":1}`, `arguments must be one JSON object`},
	} {
		_, err := mcptool.Decode[scaleArgs]([]byte(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s) = %v, want %q", tc.raw, err, tc.want)
		}
	}
	for _, raw := range []string{``, `null`, `{}`} {
		if _, err := mcptool.Decode[scaleArgs]([]byte(raw)); err != nil {
			t.Errorf("Decode(%q) = %v, want no error", raw, err)
		}
	}
}

func TestCap(t *testing.T) {
	short := "fits\n"
	if got := mcptool.Cap(short, 100); got != short {
		t.Errorf("Cap of a short text changed it: %q", got)
	}
	long := strings.Repeat("line of text\n", 1000) // 13,000 bytes
	got := mcptool.Cap(long, 1024)
	if len(got) > 1024 {
		t.Errorf("Cap(…, 1024) returned %d bytes", len(got))
	}
	if !strings.Contains(got, "truncated: ") || !strings.HasPrefix(got, "line of text\n") {
		t.Errorf("Cap output lacks the marker or the head:\n%s", got)
	}
	kept := strings.Count(got, "line of text\n")
	if want := "truncated: " + strconv.Itoa(13000-kept*13) + " more bytes"; !strings.Contains(got, want) {
		t.Errorf("marker does not say %q:\n%s", want, got[len(got)-120:])
	}
	// One long line with multi-byte runes is cut on a rune boundary.
	runes := strings.Repeat("é", 3000)
	if got := mcptool.Cap(runes, 500); !strings.HasPrefix(got, "é") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("Cap split a rune: %q", got[:20])
	}
}

func TestTableRenderTruncatesByItems(t *testing.T) {
	tbl := mcptool.Table{Header: []string{"NAME", "STATUS"}}
	for range 500 {
		tbl.Add("pod-with-a-long-name", "Running")
	}
	out := tbl.Render(2048)
	if len(out) > 2048 {
		t.Errorf("Render(2048) returned %d bytes", len(out))
	}
	shown := strings.Count(out, "pod-with-a-long-name")
	if !strings.Contains(out, "truncated: "+strconv.Itoa(500-shown)+" more items") {
		t.Errorf("no item-count marker after %d rows:\n%s", shown, out[len(out)-150:])
	}
	if !strings.HasPrefix(out, "NAME                  STATUS\n") {
		t.Errorf("columns are not aligned:\n%s", out[:80])
	}
	if (&mcptool.Table{Header: []string{"A"}}).Render(100) != "" {
		t.Error("an empty table renders text")
	}
}

func serverWith(t *testing.T, opts mcptool.Options, tools ...mcptool.Tool) *mcpclient.Client {
	t.Helper()
	s := mcptool.NewServer("test", "0", "")
	mcptool.Register(s, opts, tools...)
	c, err := mcpclient.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
	return c
}

func call(t *testing.T, c *mcpclient.Client, name string, args any) (string, bool) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		return err.Error(), true
	}
	return res.Content[0].(mcp.TextContent).Text, res.IsError
}

func testTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.New(mcptool.Spec{Name: "peek", Description: "reads", Params: []mcp.ToolOption{mcp.WithString("name", mcp.Required())}},
			func(_ context.Context, a struct {
				Name string `json:"name"`
			}) (string, error) {
				if a.Name == "boom" {
					panic("kaboom")
				}
				if a.Name == "big" {
					return strings.Repeat("x", 50_000), nil
				}
				return "hello " + a.Name, nil
			}),
		mcptool.New(mcptool.Spec{Name: "scale", Description: "writes", Effect: mcptool.Write,
			Params: []mcp.ToolOption{mcp.WithString("name", mcp.Required()), mcp.WithInteger("replicas", mcp.Required()), mcp.WithBoolean("dryRun")}},
			func(_ context.Context, a scaleArgs) (string, error) { return "scaled " + a.Name, nil }),
		mcptool.New(mcptool.Spec{Name: "wipe", Description: "destroys", Effect: mcptool.Destructive,
			Params: []mcp.ToolOption{mcp.WithString("name", mcp.Required())}},
			func(_ context.Context, a struct {
				Name string `json:"name"`
			}) (string, error) {
				return "", errors.New("refused: " + a.Name)
			}),
	}
}

func TestRegisterServesAndGuards(t *testing.T) {
	c := serverWith(t, mcptool.Options{MaxBytes: 4096}, testTools()...)
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]mcp.ToolAnnotation{}
	for _, tl := range res.Tools {
		ann[tl.Name] = tl.Annotations
	}
	if !*ann["peek"].ReadOnlyHint || *ann["peek"].DestructiveHint || *ann["scale"].ReadOnlyHint || *ann["scale"].DestructiveHint || !*ann["wipe"].DestructiveHint {
		t.Errorf("annotations = %+v", ann)
	}

	if out, isErr := call(t, c, "peek", map[string]any{"name": "ops"}); isErr || out != "hello ops" {
		t.Errorf("peek = %q (error %v)", out, isErr)
	}
	if out, isErr := call(t, c, "peek", map[string]any{"name": "boom"}); !isErr || !strings.Contains(out, "internal error") || !strings.Contains(out, "kaboom") {
		t.Errorf("a panicking tool = %q (error %v), want an internal-error result", out, isErr)
	}
	if out, _ := call(t, c, "peek", map[string]any{"name": "big"}); len(out) > 4096 || !strings.Contains(out, "truncated") {
		t.Errorf("a 50 KB result came back as %d bytes", len(out))
	}
	if out, isErr := call(t, c, "scale", map[string]any{"name": "web", "replicas": -2}); !isErr || !strings.Contains(out, `"replicas" must be 0 or more`) {
		t.Errorf("negative replicas = %q (error %v)", out, isErr)
	}
	if out, isErr := call(t, c, "scale", map[string]any{"name": "web", "replicas": 2, "extra": 1}); !isErr || !strings.Contains(out, "extra") {
		t.Errorf("an unknown argument = %q (error %v)", out, isErr)
	}
	if out, isErr := call(t, c, "wipe", map[string]any{"name": "db"}); !isErr || out != "wipe: refused: db" {
		t.Errorf("a failing tool = %q (error %v)", out, isErr)
	}
}

func TestReadOnlyServesOnlyReads(t *testing.T) {
	c := serverWith(t, mcptool.Options{ReadOnly: true}, testTools()...)
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 1 || res.Tools[0].Name != "peek" {
		t.Errorf("read-only tools = %v, want only peek", res.Tools)
	}
	if _, isErr := call(t, c, "scale", map[string]any{"name": "web", "replicas": 1}); !isErr {
		t.Error("a read-only server ran a write tool")
	}
}

func TestSchemaErrorsSayWhatToFix(t *testing.T) {
	tool := mcptool.New(mcptool.Spec{Name: "list", Description: "lists", Params: []mcp.ToolOption{
		mcp.WithString("kind", mcp.Required()),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(100)),
		mcp.WithString("output", mcp.Enum("table", "yaml")),
	}}, func(_ context.Context, a struct {
		Kind   string `json:"kind"`
		Limit  int    `json:"limit"`
		Output string `json:"output"`
	}) (string, error) {
		return a.Kind, nil
	})
	for _, tc := range []struct{ raw, want string }{
		{`{}`, `argument "kind" is required`},
		{`{"kind":"pods","limit":0}`, `argument "limit" must be at least 1, not 0`},
		{`{"kind":"pods","limit":1001}`, `argument "limit" must be at most 100, not 1001`},
		{`{"kind":"pods","limit":"ten"}`, `argument "limit" must be an integer, not a string`},
		{`{"kind":"pods","output":"xml"}`, `argument "output" must be one of "table", "yaml", not "xml"`},
		{`{"kind":7}`, `argument "kind" must be a string, not a number`},
	} {
		err := tool.Decode([]byte(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s) = %v, want %q", tc.raw, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "&{") {
			t.Errorf("Decode(%s) prints a Go struct: %v", tc.raw, err)
		}
	}
}

type podsResult struct {
	Pods      []string          `json:"pods"`
	Labels    map[string]string `json:"labels,omitempty"`
	Truncated int               `json:"truncated,omitempty"`
}

// TestNewDataAnswersWithStructuredContent: a data tool lists an outputSchema reflected from its
// result type, answers with structuredContent that matches it beside its text, and the server's
// filter reaches every string of it (keys too), as it reaches the text.
func TestNewDataAnswersWithStructuredContent(t *testing.T) {
	tool := mcptool.NewData(mcptool.Spec{Name: "pods", Description: "lists pods", Params: []mcp.ToolOption{mcp.WithString("ns")}},
		func(_ context.Context, a struct {
			NS string `json:"ns"`
		}) (podsResult, string, error) {
			if a.NS == "big" {
				return podsResult{Pods: []string{strings.Repeat("p", mcptool.MaxStructuredBytes)}}, "big", nil
			}
			return podsResult{Pods: []string{"web-0", "token=hunter2"}, Labels: map[string]string{"hunter2": "x"}}, "web-0\ntoken=hunter2\n", nil
		})
	if !tool.Structured() {
		t.Fatal("a NewData tool is not structured")
	}
	filter := func(_ context.Context, s string) string { return strings.ReplaceAll(s, "hunter2", "[redacted]") }
	c := serverWith(t, mcptool.Options{Filter: filter}, tool)
	list, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if s := list.Tools[0].OutputSchema; s.Type != "object" || s.Properties["pods"] == nil || s.Properties["truncated"] == nil {
		t.Fatalf("outputSchema = %+v", s)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "pods"
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("pods: %v %+v", err, res)
	}
	raw := string(res.RawStructuredContent)
	if raw != `{"labels":{"[redacted]":"x"},"pods":["web-0","token=[redacted]"]}` {
		t.Errorf("structuredContent = %s", raw)
	}
	if err := tool.ValidateOutput(res.RawStructuredContent); err != nil {
		t.Errorf("structuredContent does not match the output schema: %v", err)
	}
	if text := res.Content[0].(mcp.TextContent).Text; strings.Contains(text, "hunter2") || !strings.Contains(text, "web-0") {
		t.Errorf("text = %q", text)
	}
	if err := tool.ValidateOutput([]byte(`{"pods":"web-0"}`)); err == nil {
		t.Error("a result of the wrong shape validates")
	}
	// Past the cap on structured content the call fails and says how to narrow it.
	if out, isErr := call(t, c, "pods", map[string]any{"ns": "big"}); !isErr || !strings.Contains(out, "narrow the request") {
		t.Errorf("an oversized result = %q (error %v)", out, isErr)
	}
}

// TestNewDataRefusesANonObjectResult: MCP output schemas are objects; a tool whose result type
// is not a struct is a declaration bug that ValidateOutput reports.
func TestNewDataRefusesANonObjectResult(t *testing.T) {
	tool := mcptool.NewData(mcptool.Spec{Name: "names", Description: "names"},
		func(context.Context, struct{}) ([]string, string, error) { return nil, "", nil })
	if err := tool.ValidateOutput([]byte(`[]`)); err == nil || !strings.Contains(err.Error(), "is not a struct") {
		t.Errorf("ValidateOutput = %v", err)
	}
}
