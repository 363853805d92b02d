// Package mcptest connects tests to MCP servers the way real clients do — mcp-go's client over
// streamable HTTP, through serve's bearer-token handler — and gives them short assertions on tool
// results. Test support only: nothing in the product imports it.
package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

// Token is the bearer token test servers require.
const Token = "test-token-0123456789abcdef"

// Session is an initialized MCP client session that reports to T. Every successful call of a
// tool that lists an outputSchema is checked as a validating client would: the result must carry
// structuredContent, and it must match the schema.
type Session struct {
	T testing.TB
	C *mcpclient.Client
	// schemas caches the compiled output schemas by tool name (nil: the tool declares none);
	// shared by the sessions With returns.
	schemas *sync.Map
}

// Serve serves s over streamable HTTP with Token on a test server closed when t ends, and
// returns its base URL.
func Serve(t testing.TB, s *server.MCPServer) string {
	t.Helper()
	srv := httptest.NewServer(serve.HTTPHandler(s, Token))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Connect serves s (see Serve) and returns a client session to it, closed when t ends.
func Connect(t testing.TB, s *server.MCPServer) *Session {
	t.Helper()
	return Dial(t, Serve(t, s)+serve.Path, Token)
}

// Dial connects to the MCP endpoint at url with a bearer token and initializes the session.
func Dial(t testing.TB, url, token string) *Session {
	t.Helper()
	c, err := mcpclient.NewStreamableHttpClient(url,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return Init(t, c)
}

// Init starts any mcp-go client (stdio or HTTP) and initializes its session.
func Init(t testing.TB, c *mcpclient.Client) *Session {
	t.Helper()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-test", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return &Session{T: t, C: c, schemas: &sync.Map{}}
}

// With returns the session reporting to t, for use inside subtests.
func (s *Session) With(t testing.TB) *Session { return &Session{T: t, C: s.C, schemas: s.schemas} }

// Call calls a tool and returns its text and whether it is a tool error; a protocol error fails
// the test, and so does a successful result that lacks the structured content its tool's output
// schema promises or does not match it.
func (s *Session) Call(tool string, args map[string]any) (string, bool) {
	s.T.Helper()
	text, _, isErr := s.call(tool, args)
	return text, isErr
}

func (s *Session) call(tool string, args map[string]any) (string, json.RawMessage, bool) {
	s.T.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := s.C.CallTool(context.Background(), req)
	if err != nil {
		s.T.Fatalf("%s: protocol error: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	var structured json.RawMessage
	switch {
	case len(res.RawStructuredContent) > 0:
		structured = res.RawStructuredContent
	case res.StructuredContent != nil:
		structured, _ = json.Marshal(res.StructuredContent)
	}
	if !res.IsError {
		if err := s.checkStructured(tool, structured); err != nil {
			s.T.Errorf("%s(%v): %v", tool, args, err)
		}
	}
	return b.String(), structured, res.IsError
}

// checkStructured validates a successful result's structured content against the output schema
// the server lists for tool.
func (s *Session) checkStructured(tool string, structured json.RawMessage) error {
	if s.schemas == nil {
		s.schemas = &sync.Map{}
	}
	v, ok := s.schemas.Load(tool)
	if !ok {
		res, err := s.C.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			return err
		}
		for _, tl := range res.Tools {
			sch, err := OutputSchema(tl)
			if err != nil {
				return err
			}
			s.schemas.Store(tl.Name, sch)
		}
		if v, ok = s.schemas.Load(tool); !ok {
			return nil // not listed: the call itself said so
		}
	}
	sch, _ := v.(*jsonschema.Schema)
	if sch == nil {
		return nil
	}
	if len(structured) == 0 {
		return errors.New("the tool lists an outputSchema but its result has no structuredContent")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(structured))
	if err != nil {
		return fmt.Errorf("structuredContent is not JSON: %v", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("structuredContent does not match the outputSchema: %v\n%s", err, structured)
	}
	return nil
}

// OutputSchema compiles the outputSchema a tool lists; nil when it lists none.
func OutputSchema(tl mcp.Tool) (*jsonschema.Schema, error) {
	raw := tl.RawOutputSchema
	if raw == nil {
		if tl.OutputSchema.Type == "" {
			return nil, nil
		}
		var err error
		if raw, err = json.Marshal(tl.OutputSchema); err != nil {
			return nil, err
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("tool %s: outputSchema is not JSON: %v", tl.Name, err)
	}
	url := "mem:///mcptest/" + tl.Name + ".output.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("tool %s: outputSchema does not compile: %v", tl.Name, err)
	}
	return sch, nil
}

// Data calls a tool that must succeed, decodes its structured content into v (strictly: a field
// the result has and v lacks fails the test), and returns its text.
func (s *Session) Data(tool string, args map[string]any, v any) string {
	s.T.Helper()
	text, structured, isErr := s.call(tool, args)
	if isErr {
		s.T.Fatalf("%s(%v) failed: %s", tool, args, text)
	}
	if len(structured) == 0 {
		s.T.Fatalf("%s(%v) returned no structuredContent:\n%s", tool, args, text)
	}
	dec := json.NewDecoder(bytes.NewReader(structured))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.T.Fatalf("%s(%v): decoding structuredContent into %T: %v\n%s", tool, args, v, err, structured)
	}
	return text
}

// OK calls a tool that must succeed and returns its text.
func (s *Session) OK(tool string, args map[string]any) string {
	s.T.Helper()
	text, isErr := s.Call(tool, args)
	if isErr {
		s.T.Fatalf("%s(%v) failed: %s", tool, args, text)
	}
	return text
}

// Fails calls a tool that must fail, checks that the error says each of want, and returns it.
func (s *Session) Fails(tool string, args map[string]any, want ...string) string {
	s.T.Helper()
	text, isErr := s.Call(tool, args)
	if !isErr {
		s.T.Fatalf("%s(%v) succeeded, want an error saying %q:\n%s", tool, args, want, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			s.T.Errorf("%s(%v) error does not say %q:\n%s", tool, args, w, text)
		}
	}
	return text
}

// ToolNames lists the tools the server serves.
func (s *Session) ToolNames() []string {
	s.T.Helper()
	res, err := s.C.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		s.T.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// MustContain fails t for each of want that text does not contain.
func MustContain(t testing.TB, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("output does not contain %q:\n%s", w, text)
		}
	}
}

// Eventually calls a tool until it succeeds and its output says each of want — and none of those
// written "!text" — as a watch cache catches up with writes; after 10 seconds it fails the test
// with the last output. It returns that output.
func (s *Session) Eventually(tool string, args map[string]any, want ...string) string {
	s.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		text, isErr := s.Call(tool, args)
		wrong := ""
		if isErr {
			wrong = "failed"
		}
		for _, w := range want {
			if wrong != "" {
				break
			}
			if unwanted, ok := strings.CutPrefix(w, "!"); ok {
				if strings.Contains(text, unwanted) {
					wrong = "says " + strconv.Quote(unwanted)
				}
			} else if !strings.Contains(text, w) {
				wrong = "does not say " + strconv.Quote(w)
			}
		}
		if wrong == "" {
			return text
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("%s(%v) %s after 10s:\n%s", tool, args, wrong, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GoldenTools lists the tools s serves through an in-process client — sorted by name, with their
// descriptions, annotations and input schemas: the server's public surface — and compares them
// with testdata/tools.golden.json (UPDATE_GOLDEN=1 rewrites it, for review in the diff). It fails
// t for a tool without a description or without every annotation set explicitly, and returns the
// tools for further checks.
func GoldenTools(t testing.TB, s *server.MCPServer) []mcp.Tool {
	t.Helper()
	c, err := mcpclient.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	res, err := Init(t, c).C.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tools := res.Tools
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
	for _, tl := range tools {
		if _, err := OutputSchema(tl); err != nil {
			t.Error(err)
		} else if tl.OutputSchema.Type == "" && tl.RawOutputSchema == nil {
			t.Errorf("tool %s declares no outputSchema: declare it with mcptool.NewData and its result type", tl.Name)
		}
		a := tl.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("tool %s does not set every annotation explicitly: %+v", tl.Name, a)
		}
		if tl.Description == "" {
			t.Errorf("tool %s has no description", tl.Name)
		}
	}
	got, err := json.MarshalIndent(tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "tools.golden.json")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the tool list differs from %s; if the change is intended, run with UPDATE_GOLDEN=1 and review the diff", path)
	}
	return tools
}
