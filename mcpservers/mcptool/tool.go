// Package mcptool is how opsmesh's MCP servers declare and serve tools. A tool is data — name,
// description, input schema, output schema, effect (read, write, destructive) — next to a typed
// handler; this package registers tools on an mcp-go server with schema validation of arguments,
// strict decoding into the handler's argument struct, read-only gating, panic recovery, and a size
// cap on every result. A data tool (NewData) answers with MCP structured content (2025-06-18):
// its typed result as structuredContent, declared by an outputSchema reflected from the Go type,
// beside a compact text for models. It knows nothing of Kubernetes or GPUs: the servers under
// mcpservers/ bring the tools.
package mcptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/opsmesh/opsmesh/internal/metrics"
)

// Effect says what a tool does to the world; it sets the tool's MCP annotations and decides
// whether a read-only server serves it.
type Effect int

const (
	// Read tools change nothing: readOnlyHint true, destructiveHint false.
	Read Effect = iota
	// Write tools change state that can be changed back: readOnlyHint false, destructiveHint false.
	Write
	// Destructive tools may delete or overwrite state: readOnlyHint false, destructiveHint true.
	Destructive
)

// Tool is one MCP tool, declared once with its handler. Build it with New.
type Tool struct {
	// Def is the MCP declaration (name, description, input schema, annotations).
	Def mcp.Tool
	// Effect of the tool.
	Effect Effect
	// decode turns raw JSON arguments into the handler's argument value.
	decode func(raw []byte) (any, error)
	// call runs the handler on decoded arguments: the typed result (nil for a text tool) and
	// its text.
	call func(ctx context.Context, args any) (any, string, error)
	// schema validates arguments before decoding; schemaErr is set when the declared schema does
	// not compile (a bug in the tool's declaration, which the snapshot test catches).
	schema    *jsonschema.Schema
	schemaErr error
	// output validates a data tool's structured content (nil for a text tool); outputErr is set
	// when the reflected output schema does not compile.
	output    *jsonschema.Schema
	outputErr error
}

// Validator is implemented by argument structs that check more than the schema can say.
type Validator interface {
	Validate() error
}

// Spec declares a tool.
type Spec struct {
	Name        string
	Description string
	Effect      Effect
	// Idempotent marks a write that has the same effect when repeated (reads always are).
	Idempotent bool
	// Params are the input schema's properties: mcp.WithString, mcp.WithInteger, ...
	Params []mcp.ToolOption
}

// New declares a tool whose arguments decode into A and whose handler returns text.
func New[A any](spec Spec, handler func(ctx context.Context, args A) (string, error)) Tool {
	readOnly := spec.Effect == Read
	opts := []mcp.ToolOption{
		mcp.WithDescription(spec.Description),
		mcp.WithReadOnlyHintAnnotation(readOnly),
		mcp.WithDestructiveHintAnnotation(spec.Effect == Destructive),
		mcp.WithIdempotentHintAnnotation(readOnly || spec.Idempotent),
		mcp.WithOpenWorldHintAnnotation(false),
	}
	opts = append(opts, spec.Params...)
	def := mcp.NewTool(spec.Name, opts...)
	schema, schemaErr := compileSchema(def)
	return Tool{
		Def:       def,
		Effect:    spec.Effect,
		schema:    schema,
		schemaErr: schemaErr,
		decode:    func(raw []byte) (any, error) { return Decode[A](raw) },
		call: func(ctx context.Context, args any) (any, string, error) {
			text, err := handler(ctx, args.(A))
			return nil, text, err
		},
	}
}

// NewData declares a data tool: its arguments decode into A, and its handler returns the typed
// result R — sent as structuredContent and declared as the tool's outputSchema, reflected from
// R's JSON shape — and the compact text rendering of the same result for models. R must be a
// struct (MCP's output schemas are objects); its list fields should carry their own truncation
// counts, since structured content is not cut like text.
func NewData[A, R any](spec Spec, handler func(ctx context.Context, args A) (R, string, error)) Tool {
	t := New(spec, func(context.Context, A) (string, error) { return "", nil })
	mcp.WithOutputSchema[R]()(&t.Def)
	if reflect.TypeFor[R]().Kind() != reflect.Struct {
		t.outputErr = fmt.Errorf("the result type %s of %s is not a struct", reflect.TypeFor[R](), spec.Name)
	} else {
		t.output, t.outputErr = compileOutputSchema(t.Def)
	}
	t.call = func(ctx context.Context, args any) (any, string, error) {
		r, text, err := handler(ctx, args.(A))
		if err != nil {
			return nil, "", err
		}
		return r, text, nil
	}
	return t
}

// ValidateOutput checks structured content (raw JSON) against the tool's output schema, as a
// client that validates results does. A text tool has none: it accepts anything.
func (t Tool) ValidateOutput(raw []byte) error {
	if t.outputErr != nil {
		return fmt.Errorf("the output schema of %s does not compile (a bug in opsmesh): %v", t.Name(), t.outputErr)
	}
	if t.output == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: structured content is not JSON: %v", t.Name(), err)
	}
	if err := t.output.Validate(v); err != nil {
		return fmt.Errorf("%s: structured content does not match the output schema: %v", t.Name(), err)
	}
	return nil
}

// Structured reports whether the tool answers with structured content.
func (t Tool) Structured() bool { return t.output != nil || t.outputErr != nil }

// Name of the tool.
func (t Tool) Name() string { return t.Def.Name }

// Decode checks and decodes raw JSON arguments the way the server does before calling the
// handler: against the input schema (required, types, enums, bounds), then strictly into the
// argument struct (unknown arguments refused), then the struct's own Validate. Every error names
// the argument and says what to fix.
func (t Tool) Decode(raw []byte) error {
	_, err := t.check(raw)
	return err
}

func (t Tool) check(raw []byte) (any, error) {
	if t.schemaErr != nil {
		return nil, fmt.Errorf("the input schema of %s does not compile (a bug in opsmesh): %v", t.Name(), t.schemaErr)
	}
	if err := validateArgs(t.schema, raw); err != nil {
		return nil, err
	}
	return t.decode(raw)
}

// Decode decodes raw JSON arguments into A strictly.
func Decode[A any](raw []byte) (A, error) {
	var args A
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return args, argumentError(err)
	}
	if dec.More() {
		return args, errors.New("arguments must be one JSON object")
	}
	if v, ok := any(&args).(Validator); ok {
		if err := v.Validate(); err != nil {
			return args, err
		}
	}
	return args, nil
}

// argumentError rewords encoding/json's errors into what a caller must fix.
func argumentError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Errorf("arguments must be a JSON object, not %s", typeErr.Value)
		}
		return fmt.Errorf("argument %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("arguments are not valid JSON: %v", err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown argument %s; see the tool's input schema for the arguments it takes",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("arguments: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + goKind
}

// Options configure how tools are served.
type Options struct {
	// Server names the server in the opsmesh_mcp_tool_calls_total and
	// opsmesh_mcp_tool_call_duration_seconds series (cluster, gpu, scheduler, gateway); default
	// "mcp".
	Server string
	// ReadOnly serves only Read tools.
	ReadOnly bool
	// MaxBytes caps every result; longer results end with a truncation marker. Default 16 KiB.
	MaxBytes int
	// Logger records tool calls and failures (never arguments, which may hold secrets).
	Logger *slog.Logger
	// Filter, when set, rewrites every result and error text before it leaves the server (the
	// cluster server removes known Secret values with it); in structured content it rewrites
	// every string value.
	Filter func(ctx context.Context, text string) string
}

// MaxStructuredBytes caps one result's structured content. Data tools bound their own lists
// (limits, truncation counts); past this the call fails, asking for a narrower request, rather
// than send a cut object that would not match its schema.
const MaxStructuredBytes = 512 << 10

// DefaultMaxBytes is the default cap on one tool result.
const DefaultMaxBytes = 16 << 10

// NewServer creates an mcp-go server whose tools' schemas refuse unknown arguments, and which
// recovers from panics. Arguments are validated against each schema by Register's handlers, which
// word the errors for a person (mcp-go's own validation prints Go structs).
func NewServer(name, version, instructions string) *server.MCPServer {
	return server.NewMCPServer(name, version,
		server.WithToolCapabilities(false),
		server.WithStrictInputSchemaDefault(),
		server.WithRecovery(),
		server.WithInstructions(instructions),
	)
}

// Register adds tools to s. With opts.ReadOnly, tools that are not Read are left out, so they are
// neither listed nor callable.
func Register(s *server.MCPServer, opts Options, tools ...Tool) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Server == "" {
		opts.Server = "mcp"
	}
	if opts.Filter == nil {
		opts.Filter = func(_ context.Context, text string) string { return text }
	}
	var served []server.ServerTool
	for _, t := range tools {
		if opts.ReadOnly && t.Effect != Read {
			continue
		}
		served = append(served, server.ServerTool{Tool: t.Def, Handler: handler(t, opts)})
	}
	s.AddTools(served...)
}

func handler(t Tool, opts Options) server.ToolHandlerFunc {
	calls := func(outcome string) { metrics.ToolCalls.WithLabelValues(opts.Server, t.Name(), outcome).Inc() }
	duration := metrics.ToolCallDuration.WithLabelValues(opts.Server, t.Name())
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, _ error) {
		start := time.Now()
		defer func() { duration.Observe(time.Since(start).Seconds()) }()
		defer func() {
			if p := recover(); p != nil {
				calls(metrics.OutcomePanic)
				opts.Logger.Error("tool panicked", "tool", t.Name(), "panic", p, "stack", string(debug.Stack()))
				res = mcp.NewToolResultError(fmt.Sprintf("%s failed with an internal error (a bug in opsmesh; please report it): %v", t.Name(), p))
			}
		}()
		raw, err := json.Marshal(req.GetRawArguments())
		if err != nil {
			calls(metrics.OutcomeInvalid)
			return mcp.NewToolResultError(fmt.Sprintf("%s: arguments are not JSON: %v", t.Name(), err)), nil
		}
		args, err := t.check(raw)
		if err != nil {
			calls(metrics.OutcomeInvalid)
			return mcp.NewToolResultError(fmt.Sprintf("%s: %v", t.Name(), err)), nil
		}
		data, text, err := t.call(ctx, args)
		var structured json.RawMessage
		if err == nil && t.Structured() {
			structured, err = structuredContent(ctx, data, opts.Filter)
			if err == nil && len(structured) > MaxStructuredBytes {
				err = fmt.Errorf("the result is %d KiB, over the %d KiB limit of one answer: narrow the request (namespace, name, selector, limit)", len(structured)>>10, MaxStructuredBytes>>10)
			}
		}
		if err != nil {
			calls(metrics.OutcomeError)
			opts.Logger.Info("tool call failed", "tool", t.Name(), "error", err)
			return mcp.NewToolResultError(Cap(opts.Filter(ctx, fmt.Sprintf("%s: %v", t.Name(), err)), opts.MaxBytes)), nil
		}
		calls(metrics.OutcomeOK)
		res = mcp.NewToolResultText(Cap(opts.Filter(ctx, text), opts.MaxBytes))
		if structured != nil {
			res.RawStructuredContent = structured
		}
		return res, nil
	}
}

// structuredContent renders a data tool's result as JSON with filter applied to every string in
// it (keys included), so a redaction never breaks the JSON or misses a value that JSON escaping
// would have disguised.
func structuredContent(ctx context.Context, data any, filter func(context.Context, string) string) (json.RawMessage, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding the result (a bug in opsmesh): %w", err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("encoding the result (a bug in opsmesh): %w", err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return filter(ctx, v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[filter(ctx, k)] = walk(e)
			}
			return out
		}
		return v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(walk(v)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
