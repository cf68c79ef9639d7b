// Package fakeopenai is a local OpenAI-compatible chat completions server for
// tests and the offline example: real HTTP, deterministic answers, token
// usage, and injectable faults (429 with Retry-After, 500, hangs).
package fakeopenai

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Message is one chat message as received. Content given as an array of
// parts is flattened to its text parts.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"-"`
}

// UnmarshalJSON accepts content as a string or as an array of content parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role = raw.Role
	m.Content = ""
	if len(raw.Content) == 0 || string(raw.Content) == "null" {
		return nil
	}
	if raw.Content[0] == '"' {
		return json.Unmarshal(raw.Content, &m.Content)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw.Content, &parts); err != nil {
		return fmt.Errorf("content: want a string or an array of parts: %w", err)
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "" {
			sb.WriteString(p.Text)
		}
	}
	m.Content = sb.String()
	return nil
}

// StringList is `stop`, which OpenAI accepts as a string or a list.
type StringList []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *StringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

// ResponseFormat is response_format.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema"`
}

// ChatRequest is a received chat completion request. Optional numbers are
// pointers so a test can tell "sent as 0" from "not sent".
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Seed                *int            `json:"seed"`
	Stop                StringList      `json:"stop"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	ResponseFormat      *ResponseFormat `json:"response_format"`
	Stream              bool            `json:"stream"`

	// Path and Header are the HTTP request's, e.g. for checking Authorization.
	Path   string      `json:"-"`
	Header http.Header `json:"-"`
	// Body is the raw JSON body as received.
	Body []byte `json:"-"`
	// Attempt counts how often this exact body has been received, from 1.
	Attempt int `json:"-"`
}

// LastUser returns the content of the last user message, or "".
func (r ChatRequest) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Reply is what the server answers to one request.
type Reply struct {
	Content      string
	FinishReason string // default "stop"
	// PromptTokens and CompletionTokens default to an estimate (chars/4).
	PromptTokens     int
	CompletionTokens int
	// NoChoices answers 200 with an empty choices array.
	NoChoices bool

	// Status, when neither 0 nor 200, answers with that status instead of a
	// completion: Body (default an OpenAI error object) and Header.
	Status int
	Body   string
	Header http.Header

	// Delay is extra latency for this reply, on top of Options.Latency.
	Delay time.Duration
}

// Options configure a Server. The zero value answers every request with
// DefaultResponder and no faults.
type Options struct {
	// Respond computes the reply; nil means DefaultResponder.
	Respond func(req ChatRequest) Reply
	// Latency is added to every call before it is answered.
	Latency time.Duration
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>"; other
	// requests get 401.
	APIKey string

	// Fault injection. Each fraction in [0, 1] is drawn from a hash of Seed,
	// the request body and how often that body was received before, so a
	// given request meets the same faults on every run whatever the
	// concurrency, and a retry of it draws anew.
	Seed int64
	// RateLimited answers 429 with a Retry-After header of RetryAfter
	// (default "1").
	RateLimited float64
	RetryAfter  string
	// ServerError answers 500.
	ServerError float64
	// Hang holds the request open for HangFor (default 10 minutes) or until
	// the client gives up or the server closes, whichever comes first.
	Hang    float64
	HangFor time.Duration
}

// Server is a running fake. Close it when done.
type Server struct {
	// URL is the server's root, e.g. http://127.0.0.1:1234; the API is at
	// URL+"/v1" (see BaseURL) and, for clients configured without the
	// prefix, at URL itself.
	URL string

	opts Options
	ts   *httptest.Server
	quit chan struct{}
	once sync.Once

	mu       sync.Mutex
	total    int
	byModel  map[string]int
	requests []ChatRequest
	seen     map[[32]byte]int
	faults   map[string]int
	nextID   int
}

// New starts a server with the given options.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts,
		quit:    make(chan struct{}),
		byModel: map[string]int{},
		seen:    map[[32]byte]int{},
		faults:  map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("POST /chat/completions", s.handleChat)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, nil, "", "not_found_error",
			fmt.Sprintf("unknown endpoint %s %s", r.Method, r.URL.Path))
	})
	s.ts = httptest.NewServer(mux)
	s.URL = s.ts.URL
	return s
}

// BaseURL is the URL to configure an OpenAI client with (".../v1").
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Close stops the server. Requests still held open (hangs, latency) are
// released first so Close never waits for them.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.quit)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Calls is the number of chat completion requests received, faults included.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// CallsFor is the number of requests received for one model.
func (s *Server) CallsFor(model string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byModel[model]
}

// Models returns the number of requests received per model.
func (s *Server) Models() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byModel)
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChatRequest(nil), s.requests...)
}

// Faults returns how many faults were injected, by kind: "rate_limited",
// "server_error", "hang".
func (s *Server) Faults() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.faults)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, nil, "", "invalid_request_error", "read body: "+err.Error())
		return
	}
	var req ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, nil, "", "invalid_request_error", "parse body: "+err.Error())
		return
	}
	req.Path = r.URL.Path
	req.Header = r.Header.Clone()
	req.Body = body

	sum := sha256.Sum256(body)
	s.mu.Lock()
	s.total++
	s.byModel[req.Model]++
	s.seen[sum]++
	req.Attempt = s.seen[sum]
	s.nextID++
	id := s.nextID
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, nil, "invalid_api_key", "invalid_request_error", "Incorrect API key provided.")
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, nil, "", "invalid_request_error", "you must provide a model parameter")
		return
	}
	if req.Stream {
		writeError(w, http.StatusBadRequest, nil, "", "invalid_request_error", "streaming is not supported by this fake")
		return
	}

	if !s.wait(r.Context(), s.opts.Latency) {
		return
	}
	if fault := s.fault(sum, req.Attempt); fault != "" {
		s.mu.Lock()
		s.faults[fault]++
		s.mu.Unlock()
		switch fault {
		case "rate_limited":
			ra := s.opts.RetryAfter
			if ra == "" {
				ra = "1"
			}
			writeError(w, http.StatusTooManyRequests, http.Header{"Retry-After": {ra}}, "rate_limit_exceeded", "requests", "Rate limit reached, please try again later.")
		case "server_error":
			writeError(w, http.StatusInternalServerError, nil, "", "server_error", "The server had an error while processing your request.")
		case "hang":
			d := s.opts.HangFor
			if d <= 0 {
				d = 10 * time.Minute
			}
			if !s.wait(r.Context(), d) {
				return
			}
			writeError(w, http.StatusGatewayTimeout, nil, "", "server_error", "upstream timed out")
		}
		return
	}

	respond := s.opts.Respond
	if respond == nil {
		respond = DefaultResponder
	}
	reply := respond(req)
	if !s.wait(r.Context(), reply.Delay) {
		return
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		if reply.Body != "" {
			for k, v := range reply.Header {
				w.Header()[k] = v
			}
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(reply.Status)
			io.WriteString(w, reply.Body)
			return
		}
		writeError(w, reply.Status, reply.Header, "", "error", http.StatusText(reply.Status))
		return
	}
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	writeJSON(w, http.StatusOK, completion(id, req, reply))
}

// wait sleeps for d unless the request is cancelled or the server closes; it
// reports whether the full time passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.quit:
		return false
	}
}

// fault picks this attempt's injected fault, or "".
func (s *Server) fault(body [32]byte, attempt int) string {
	o := s.opts
	if o.RateLimited <= 0 && o.ServerError <= 0 && o.Hang <= 0 {
		return ""
	}
	var buf [8 + 32 + 8]byte
	binary.BigEndian.PutUint64(buf[0:8], uint64(o.Seed))
	copy(buf[8:40], body[:])
	binary.BigEndian.PutUint64(buf[40:48], uint64(attempt))
	h := sha256.Sum256(buf[:])
	u := float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
	switch {
	case u < o.RateLimited:
		return "rate_limited"
	case u < o.RateLimited+o.ServerError:
		return "server_error"
	case u < o.RateLimited+o.ServerError+o.Hang:
		return "hang"
	}
	return ""
}

// DefaultResponder answers deterministically from the request: "echo: "
// followed by the last user message, or, when a JSON schema is requested, an
// object with every required property filled in. max_tokens truncates the
// answer (finish_reason "length") and stop sequences cut it, as a model would.
func DefaultResponder(req ChatRequest) Reply {
	content := "echo: " + req.LastUser()
	if req.ResponseFormat != nil && req.ResponseFormat.JSONSchema != nil {
		content = schemaAnswer(req.ResponseFormat.JSONSchema.Schema, req.LastUser())
	}
	for _, stop := range req.Stop {
		if i := strings.Index(content, stop); stop != "" && i >= 0 {
			content = content[:i]
		}
	}
	finish := "stop"
	limit := 0
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	} else if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	}
	if limit > 0 && EstimateTokens(content) > limit {
		content = truncateUTF8(content, limit*4)
		finish = "length"
	}
	return Reply{Content: content, FinishReason: finish}
}

// schemaAnswer builds a JSON object that has each required property of a
// simple object schema, strings set to text.
func schemaAnswer(schema json.RawMessage, text string) string {
	var s struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s) // an unusable schema gets an empty object
	obj := map[string]any{}
	for _, name := range s.Required {
		typ, _ := s.Properties[name].Type.(string)
		switch typ {
		case "number", "integer":
			obj[name] = 0
		case "boolean":
			obj[name] = false
		case "array":
			obj[name] = []any{}
		case "object":
			obj[name] = map[string]any{}
		case "null":
			obj[name] = nil
		default:
			obj[name] = text
		}
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

// EstimateTokens is the fake's token count: about four characters a token,
// at least one for non-empty text.
func EstimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return (len(s) + 3) / 4
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func completion(id int, req ChatRequest, reply Reply) map[string]any {
	prompt := reply.PromptTokens
	if prompt == 0 {
		for _, m := range req.Messages {
			prompt += EstimateTokens(m.Content) + 3
		}
	}
	out := reply.CompletionTokens
	if out == 0 {
		out = EstimateTokens(reply.Content)
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
	}
	choices := []any{}
	if !reply.NoChoices {
		choices = append(choices, map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": reply.Content},
			"finish_reason": finish,
			"logprobs":      nil,
		})
	}
	return map[string]any{
		"id":                 fmt.Sprintf("chatcmpl-fake-%d", id),
		"object":             "chat.completion",
		"created":            1767225600,
		"model":              req.Model,
		"choices":            choices,
		"usage":              map[string]any{"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
		"system_fingerprint": "fp_fake",
	}
}

func writeError(w http.ResponseWriter, status int, header http.Header, code, typ, msg string) {
	for k, v := range header {
		w.Header()[k] = v
	}
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": c,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
