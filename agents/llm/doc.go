// Package llm is the LLM reasoning engine of an agent: a tool-calling loop over a chat model
// (any OpenAI-compatible endpoint, Anthropic, or Google's Gemini through its OpenAI-compatible
// endpoint), reached through langchaingo behind this package's own small Model interface. It owns
// the prompt, the loop and its limits (steps, tokens, time, tool output size), retries of the
// model's 429 and 5xx answers, the fallback to the runbook engine when the model cannot be
// reached, redaction of secrets from everything that enters the prompt, and the parsing of the
// model's final answer into a diagnosis.Diagnosis (re-asked once when malformed, never invented).
//
// It must not run writes: it calls only the read-only tools its Tools lists, answers any other
// call the model asks for with an error, and puts writes into the plan for the controller to
// judge. It does not decide risk (diagnosis.RiskOf does), does not hold MCP connections
// (agents/mcppool does), and does not read Secrets (the runtime passes the API key in Config).
package llm
