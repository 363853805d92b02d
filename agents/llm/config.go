package llm

import (
	"fmt"
	"strings"
	"time"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Provider is the API family of a model: the Agent's spec.model.provider.
type Provider = opsv1.ModelProvider

// Defaults of a Config's zero fields.
const (
	DefaultMaxSteps       = 20
	DefaultMaxTokens      = 200_000
	DefaultTimeout        = 5 * time.Minute
	DefaultRequestTimeout = 2 * time.Minute
	// DefaultMaxToolResultBytes caps one tool result in the prompt.
	DefaultMaxToolResultBytes = 8 << 10
	// GeminiOpenAIBaseURL is Google's OpenAI-compatible endpoint for Gemini, used for provider
	// google when no baseURL is given.
	GeminiOpenAIBaseURL = "https://generativelanguage.googleapis.com/v1beta/openai"
)

// Config is what the engine needs to reach a model and how far it may go: an Agent's
// spec.model and spec.limits, and the API key the runtime read from the Secret they name.
type Config struct {
	// Provider: openai (any OpenAI-compatible endpoint), anthropic or google.
	Provider Provider
	// Model is the provider's model name, such as gpt-4o.
	Model string
	// BaseURL overrides the provider's endpoint (vLLM, Ollama's /v1, LiteLLM, a proxy).
	BaseURL string
	// APIKey is the key's value; empty for endpoints that need none (openai only). It never
	// appears in a prompt, a result or an error.
	APIKey string

	// MaxSteps is the most model turns in one Diagnose (spec.limits.maxSteps). Default 20.
	MaxSteps int
	// MaxTokens is the most tokens (prompt and completion, as the provider reports them) one
	// Diagnose may spend (spec.limits.maxTokens). Default 200,000.
	MaxTokens int
	// Timeout bounds one Diagnose's model loop (spec.limits.timeout); the fallback gets what is
	// left of the caller's context. Default 5m.
	Timeout time.Duration
	// RequestTimeout bounds one HTTP request to the model. Default 2m.
	RequestTimeout time.Duration
	// MaxToolResultBytes caps one tool result in the prompt; the rest is cut with a
	// "truncated: N more bytes" marker the model sees. Default 8 KiB.
	MaxToolResultBytes int
	// Retry says how 429 and 5xx answers are retried.
	Retry Retry
}

// Retry is the backoff for 429 and 5xx answers and failed connections: Attempts tries in all,
// waiting Base, 2×Base, 4×Base … (at most Max) between them, or what Retry-After says when the
// server sends it (at most Max).
type Retry struct {
	Attempts int           // default 4
	Base     time.Duration // default 500ms
	Max      time.Duration // default 20s
}

// ConfigFrom maps an Agent's spec.model and spec.limits (limits may be nil) onto a Config;
// apiKey is the value of the Secret key that spec.model.apiKeySecretRef names.
func ConfigFrom(m *opsv1.ModelSpec, limits *opsv1.AgentLimits, apiKey string) Config {
	var c Config
	if m != nil {
		c.Provider, c.Model, c.BaseURL = m.Provider, m.Model, m.BaseURL
	}
	c.APIKey = apiKey
	if limits != nil {
		if limits.MaxSteps != nil {
			c.MaxSteps = int(*limits.MaxSteps)
		}
		if limits.MaxTokens != nil {
			c.MaxTokens = int(*limits.MaxTokens)
		}
		if limits.Timeout != nil {
			c.Timeout = limits.Timeout.Duration
		}
	}
	return c
}

// Name is how the model is named in a Diagnosis's engine and notes: "<provider>/<model>".
func (c Config) Name() string { return string(c.Provider) + "/" + c.Model }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxSteps <= 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxToolResultBytes <= 0 {
		c.MaxToolResultBytes = DefaultMaxToolResultBytes
	}
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = 4
	}
	if c.Retry.Base <= 0 {
		c.Retry.Base = 500 * time.Millisecond
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = 20 * time.Second
	}
	return c
}

// validate says what is wrong with c, naming the Agent field to fix.
func (c Config) validate() error {
	switch c.Provider {
	case opsv1.ProviderOpenAI, opsv1.ProviderGoogle, opsv1.ProviderAnthropic:
	case "":
		return fmt.Errorf("model provider is empty: set spec.model.provider to openai, anthropic or google")
	default:
		return fmt.Errorf("model provider %q is not supported: set spec.model.provider to openai, anthropic or google", c.Provider)
	}
	if strings.TrimSpace(c.Model) == "" {
		return fmt.Errorf("model %s: the model name is empty: set spec.model.model, such as gpt-4o", c.Provider)
	}
	if c.Provider != opsv1.ProviderOpenAI && c.APIKey == "" {
		return fmt.Errorf("model %s: no API key: provider %s needs one; set spec.model.apiKeySecretRef to the Secret key that holds it", c.Name(), c.Provider)
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("model %s: baseURL %q is not an http or https URL: set spec.model.baseURL like http://vllm.models:8000/v1", c.Name(), c.BaseURL)
	}
	return nil
}
