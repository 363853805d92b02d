package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Model is a chat model that can call tools: the one thing the loop needs of a provider.
type Model interface {
	// Generate answers the conversation so far, offering tools. An error that wraps
	// *UnreachableError means the model could not be reached (the engine falls back).
	Generate(ctx context.Context, messages []Message, tools []ToolDef) (Reply, error)
}

// Role of a message in the conversation.
type Role string

// Roles.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn: text, the tool calls an assistant asked for, or one tool's result.
type Message struct {
	Role Role
	Text string
	// ToolCalls an assistant message asked for.
	ToolCalls []ToolCall
	// ToolCallID and ToolName: which call a tool message answers.
	ToolCallID string
	ToolName   string
}

// ToolCall is a call the model asked for: the function name as offered, and its JSON arguments.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// ToolDef is a function offered to the model.
type ToolDef struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the arguments.
	Parameters json.RawMessage
}

// Reply is the model's answer: tool calls to make, or (when there are none) its final text.
type Reply struct {
	Text      string
	ToolCalls []ToolCall
	// Tokens the request spent, prompt and completion, as the provider reported them.
	Tokens int
}

// UnreachableError says the model could not be reached: a failed connection, a timeout, or
// 429/5xx answers until the retries ran out.
type UnreachableError struct {
	Model  string // "<provider>/<model>"
	Reason string // "connection refused", "HTTP 503 after 4 attempts", …
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("model %s is unreachable (%s): check spec.model.baseURL and that the endpoint is up", e.Model, e.Reason)
}

// NewModel builds the langchaingo-backed Model for cfg, with retries of 429/5xx.
func NewModel(cfg Config) (Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	doer := &retryDoer{
		client: &http.Client{Timeout: cfg.RequestTimeout},
		retry:  cfg.Retry,
	}
	var (
		m   llms.Model
		err error
	)
	switch cfg.Provider {
	case opsv1.ProviderOpenAI, opsv1.ProviderGoogle:
		base := cfg.BaseURL
		if base == "" && cfg.Provider == opsv1.ProviderGoogle {
			base = GeminiOpenAIBaseURL
		}
		token := cfg.APIKey
		if token == "" {
			// Keyless endpoints (vLLM, Ollama) ignore the header; langchaingo wants a token, and
			// an explicit one keeps it from reading OPENAI_API_KEY from the environment.
			token = "none"
		}
		opts := []openai.Option{openai.WithToken(token), openai.WithModel(cfg.Model), openai.WithHTTPClient(doer)}
		// Always set, so that OPENAI_BASE_URL from the environment never redirects the agent.
		opts = append(opts, openai.WithBaseURL(base))
		m, err = openai.New(opts...)
	case opsv1.ProviderAnthropic:
		opts := []anthropic.Option{anthropic.WithToken(cfg.APIKey), anthropic.WithModel(cfg.Model), anthropic.WithHTTPClient(doer)}
		if cfg.BaseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(cfg.BaseURL))
		}
		m, err = anthropic.New(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Name(), scrubError(err, cfg.APIKey))
	}
	return &langchainModel{llm: m, name: cfg.Name(), apiKey: cfg.APIKey,
		oneBlockPerAssistantMessage: cfg.Provider == opsv1.ProviderAnthropic}, nil
}

// langchainModel adapts a langchaingo llms.Model to Model.
type langchainModel struct {
	llm    llms.Model
	name   string
	apiKey string
	// oneBlockPerAssistantMessage: langchaingo's Anthropic client sends only the first part of
	// an assistant message, so text and each tool call go in messages of their own (Anthropic
	// joins consecutive turns of one role).
	oneBlockPerAssistantMessage bool
}

func (l *langchainModel) Generate(ctx context.Context, messages []Message, tools []ToolDef) (Reply, error) {
	state := &callState{}
	ctx = context.WithValue(ctx, callStateKey{}, state)
	var opts []llms.CallOption
	if len(tools) > 0 {
		defs := make([]llms.Tool, len(tools))
		for i, t := range tools {
			params := t.Parameters
			if len(params) == 0 {
				params = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			defs[i] = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
				Name: t.Name, Description: t.Description, Parameters: params,
			}}
		}
		opts = append(opts, llms.WithTools(defs))
	}
	resp, err := l.llm.GenerateContent(ctx, toLangchain(messages, l.oneBlockPerAssistantMessage), opts...)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Reply{}, &UnreachableError{Model: l.name, Reason: "no answer before the deadline: " + ctxErr.Error()}
		}
		if reason := state.unreachable(); reason != "" {
			return Reply{}, &UnreachableError{Model: l.name, Reason: reason}
		}
		status := state.lastStatus()
		hint := ""
		switch status {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = ": check the API key in the Secret that spec.model.apiKeySecretRef names"
		case http.StatusNotFound:
			hint = ": check spec.model.model and spec.model.baseURL (OpenAI-compatible endpoints end in /v1)"
		case http.StatusBadRequest:
			hint = ": the endpoint refused the request; check that spec.model.model supports tool calling"
		}
		return Reply{}, fmt.Errorf("model %s: %w%s", l.name, scrubError(err, l.apiKey), hint)
	}
	return fromLangchain(resp), nil
}

// toLangchain converts the conversation. Each tool result is its own message, as the OpenAI and
// Anthropic clients of langchaingo require; with split, so is each part of an assistant message.
func toLangchain(messages []Message, split bool) []llms.MessageContent {
	out := make([]llms.MessageContent, 0, len(messages))
	for _, m := range messages {
		switch m.Role {
		case RoleSystem:
			out = append(out, llms.TextParts(llms.ChatMessageTypeSystem, m.Text))
		case RoleUser:
			out = append(out, llms.TextParts(llms.ChatMessageTypeHuman, m.Text))
		case RoleAssistant:
			mc := llms.MessageContent{Role: llms.ChatMessageTypeAI}
			if m.Text != "" {
				mc.Parts = append(mc.Parts, llms.TextPart(m.Text))
			}
			for _, c := range m.ToolCalls {
				// The engine answered unusable arguments with an error; the wire needs an object.
				args := c.Arguments
				var obj map[string]any
				if json.Unmarshal([]byte(args), &obj) != nil {
					args = "{}"
				}
				mc.Parts = append(mc.Parts, llms.ToolCall{ID: c.ID, Type: "function",
					FunctionCall: &llms.FunctionCall{Name: c.Name, Arguments: args}})
			}
			if !split {
				out = append(out, mc)
				continue
			}
			for _, p := range mc.Parts {
				out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{p}})
			}
		case RoleTool:
			out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: m.ToolCallID, Name: m.ToolName, Content: m.Text},
			}})
		}
	}
	return out
}

// fromLangchain merges a response's choices: Anthropic's client returns one choice per content
// block (text, each tool use), OpenAI's one choice with everything.
func fromLangchain(resp *llms.ContentResponse) Reply {
	var r Reply
	var texts []string
	for _, c := range resp.Choices {
		if c == nil {
			continue
		}
		if c.Content != "" {
			texts = append(texts, c.Content)
		}
		for _, tc := range c.ToolCalls {
			if tc.FunctionCall == nil {
				continue
			}
			r.ToolCalls = append(r.ToolCalls, ToolCall{ID: tc.ID, Name: tc.FunctionCall.Name, Arguments: tc.FunctionCall.Arguments})
		}
		if r.Tokens == 0 {
			r.Tokens = tokensOf(c.GenerationInfo)
		}
	}
	r.Text = strings.Join(texts, "\n")
	return r
}

// tokensOf reads the usage a provider reported: OpenAI's TotalTokens, or Anthropic's input and
// output tokens.
func tokensOf(info map[string]any) int {
	if n := intOf(info["TotalTokens"]); n > 0 {
		return n
	}
	n := intOf(info["PromptTokens"]) + intOf(info["CompletionTokens"])
	if n > 0 {
		return n
	}
	return intOf(info["InputTokens"]) + intOf(info["OutputTokens"])
}

func intOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 0
}

// scrubError returns err with the API key removed from its text. The chain is dropped when the
// key had to be removed, so that no wrapped error can print it.
func scrubError(err error, apiKey string) error {
	if err == nil || len(apiKey) < 4 || !strings.Contains(err.Error(), apiKey) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), apiKey, "<redacted>"))
}

// IsUnreachable reports whether err says the model could not be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}
