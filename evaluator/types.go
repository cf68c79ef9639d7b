// Package evaluator runs golden sets against model endpoints, scores the
// outputs and compares a baseline with a candidate.
package evaluator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one model call: everything that determines its answer, so its
// digest can key the response cache.
type Request struct {
	Provider string          `json:"provider"`
	Model    string          `json:"model"`
	Messages []Message       `json:"messages"`
	Params   registry.Params `json:"params"`
	// Schema, when set, is sent as response_format json_schema.
	Schema map[string]any `json:"schema,omitempty"`
	// Repeat distinguishes the repeats of one case so each is its own sample.
	Repeat int `json:"repeat"`
}

// Digest is the SHA-256 of the request's canonical JSON.
func (r Request) Digest() string {
	b, _ := json.Marshal(r) // struct fields marshal in order; map keys sorted
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Response is what a model call returned.
type Response struct {
	Content      string        `json:"content"`
	FinishReason string        `json:"finish_reason"`
	InputTokens  int           `json:"input_tokens"`
	OutputTokens int           `json:"output_tokens"`
	Latency      time.Duration `json:"latency_ns"`
	// Cached is true when the response was replayed rather than fetched.
	Cached bool `json:"-"`
	// Attempts is how many HTTP attempts the call took (retries + 1).
	Attempts int `json:"-"`
}

// Completer makes one chat completion. Implementations: the OpenAI-compatible
// client, the response cache wrapping it, and test fakes.
type Completer interface {
	Complete(ctx context.Context, req Request) (Response, error)
}

// ErrorKind classifies why a call produced no usable output. Errors are
// counted apart from failures: they are missing data, not evidence.
type ErrorKind string

// Error kinds.
const (
	ErrProvider    ErrorKind = "provider_error" // HTTP error after retries, connection refused
	ErrTimeout     ErrorKind = "timeout"        // per-call timeout
	ErrNoChoices   ErrorKind = "no_choices"     // a response with no choices
	ErrTruncated   ErrorKind = "truncated"      // finish_reason length
	ErrUnparsable  ErrorKind = "unparsable"     // output_schema set but the output is not JSON
	ErrCacheMiss   ErrorKind = "cache_miss"     // offline and not recorded
	ErrBudget      ErrorKind = "budget"         // run budget spent before this call
	ErrJudge       ErrorKind = "judge_error"    // the judge call failed or its verdict was unparsable
	ErrRateLimited ErrorKind = "rate_limited"   // 429 after all retries
)

// CallError is an error with its kind, for counting and display.
type CallError struct {
	Kind ErrorKind
	Err  error
}

func (e *CallError) Error() string { return string(e.Kind) + ": " + e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// Outcome is one case run once on one side.
type Outcome struct {
	CaseID   string `json:"case_id"`
	Category string `json:"category"`
	Repeat   int    `json:"repeat"`
	Model    string `json:"model"`
	Output   string `json:"output"`
	// Pass is meaningful only when Error is empty.
	Pass bool `json:"pass"`
	// Failed lists the criteria that did not hold, e.g. `contains "consultant"`.
	Failed []string `json:"failed,omitempty"`
	// Error is set when the outcome is missing data rather than a verdict.
	Error     string    `json:"error,omitempty"`
	ErrorKind ErrorKind `json:"error_kind,omitempty"`
	// JudgeSkipped is set when a judge criterion was not applied because the judge is untrusted.
	JudgeSkipped bool          `json:"judge_skipped,omitempty"`
	InputTokens  int           `json:"input_tokens"`
	OutputTokens int           `json:"output_tokens"`
	CostUSD      *float64      `json:"cost_usd"` // nil when the model has no price
	Latency      time.Duration `json:"latency_ns"`
	Cached       bool          `json:"cached"`
	FinishReason string        `json:"finish_reason,omitempty"`
}

// OK reports whether the outcome is a verdict (pass or fail) rather than an error.
func (o Outcome) OK() bool { return o.Error == "" }
