// Package mcptool is how opsmesh's MCP servers declare and serve tools. A tool is data — name,
// description, input schema, effect (read, write, destructive) — next to a typed handler; this
// package registers tools on an mcp-go server with schema validation of arguments, strict decoding
// into the handler's argument struct, read-only gating, panic recovery, and a size cap on every
// result. It knows nothing of Kubernetes or GPUs: the servers under mcpservers/ bring the tools.
package mcptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// call runs the handler on decoded arguments.
	call func(ctx context.Context, args any) (string, error)
	// schema validates arguments before decoding; schemaErr is set when the declared schema does
	// not compile (a bug in the tool's declaration, which the snapshot test catches).
	schema    *jsonschema.Schema
	schemaErr error
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
		call: func(ctx context.Context, args any) (string, error) {
			return handler(ctx, args.(A))
		},
	}
}

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
	// cluster server removes known Secret values with it).
	Filter func(ctx context.Context, text string) string
}

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
		text, err := t.call(ctx, args)
		if err != nil {
			calls(metrics.OutcomeError)
			opts.Logger.Info("tool call failed", "tool", t.Name(), "error", err)
			return mcp.NewToolResultError(Cap(opts.Filter(ctx, fmt.Sprintf("%s: %v", t.Name(), err)), opts.MaxBytes)), nil
		}
		calls(metrics.OutcomeOK)
		return mcp.NewToolResultText(Cap(opts.Filter(ctx, text), opts.MaxBytes)), nil
	}
}
