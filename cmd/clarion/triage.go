package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/clarion-itdr/clarion/triage"
)

// triageFlags are the triage agent's settings, for `clarion triage` and
// (registered on its flag set too) `clarion run`.
type triageFlags struct {
	provider, baseURL, model, apiKey string
	timeout                          time.Duration
	maxSteps                         int
}

func (t *triageFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.provider, "llm-provider", "", "triage LLM provider: openai (any OpenAI-compatible endpoint: OpenAI, Ollama, vLLM), anthropic, or empty for the deterministic triage only")
	fs.StringVar(&t.baseURL, "llm-base-url", "", "LLM API base URL, e.g. http://127.0.0.1:11434/v1 for Ollama (default: the provider's public API)")
	fs.StringVar(&t.model, "llm-model", "", "LLM model name")
	fs.StringVar(&t.apiKey, "llm-api-key", "", "LLM API key (prefer the environment variable; never logged)")
	fs.DurationVar(&t.timeout, "triage-timeout", 30*time.Second, "bound on one agent run (model and tool calls); then the deterministic triage decides")
	fs.IntVar(&t.maxSteps, "triage-max-steps", 6, "bound on model turns per alert")
}

// settings returns the triage.Settings the flags describe.
func (t *triageFlags) settings() triage.Settings {
	return triage.Settings{
		LLM:     triage.LLM{Provider: t.provider, BaseURL: t.baseURL, Model: t.model, APIKey: t.apiKey},
		Timeout: t.timeout, MaxSteps: t.maxSteps,
	}
}

// newTriageCmd is `clarion triage`: the triage agent alone against
// --kafka-brokers, with /metrics and /healthz on --http.
