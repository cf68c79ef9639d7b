package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/registry"
)

const oaTestKey = "sk-test-4f9c2a7e1b5d"

func oaEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// oaTestSetup starts a fake server and a client pointed at it through
// OPENAI_BASE_URL, with short backoffs unless opts says otherwise.
func oaTestSetup(t *testing.T, fo fakeopenai.Options, opts OpenAIOptions) (*fakeopenai.Server, *OpenAI) {
	t.Helper()
	srv := fakeopenai.New(fo)
	t.Cleanup(srv.Close)
	if opts.BaseBackoff == 0 {
		opts.BaseBackoff = 10 * time.Millisecond
	}
	c, err := NewOpenAI(nil, oaEnv(map[string]string{"OPENAI_BASE_URL": srv.BaseURL(), "OPENAI_API_KEY": oaTestKey}), opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func oaRequest(text string) Request {
	return Request{
		Provider: "openai",
		Model:    "gpt-4o-2024-08-06",
		Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: text}},
	}
}

func oaKind(t *testing.T, err error, want ErrorKind) *CallError {
	t.Helper()
	var ce *CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v: want a CallError of kind %s", err, want)
	}
	if ce.Kind != want {
		t.Fatalf("error kind %s (%v), want %s", ce.Kind, err, want)
	}
	return ce
}

func oaPtr[T any](v T) *T { return &v }

func TestOpenAIParamMapping(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{})
	req := oaRequest("Where is my card?")
	req.Params = registry.Params{
		Temperature: oaPtr(0.2), TopP: oaPtr(0.9), MaxTokens: oaPtr(300), Seed: oaPtr(7),
		Stop: registry.StringList{"END", "###"}, PresencePenalty: oaPtr(0.5), FrequencyPenalty: oaPtr(0.25),
	}
	req.Schema = map[string]any{"type": "object", "required": []any{"answer"}}

	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()
	if len(got) != 1 {
		t.Fatalf("server saw %d requests", len(got))
	}
	r := got[0]
	if r.Path != "/v1/chat/completions" || r.Model != req.Model || len(r.Messages) != 2 ||
		r.Messages[0] != (fakeopenai.Message{Role: "system", Content: "Be brief."}) ||
		r.Messages[1] != (fakeopenai.Message{Role: "user", Content: "Where is my card?"}) {
		t.Fatalf("model/messages: %+v", r)
	}
	if r.Temperature == nil || *r.Temperature != 0.2 || r.TopP == nil || *r.TopP != 0.9 ||
		r.MaxTokens == nil || *r.MaxTokens != 300 || r.MaxCompletionTokens != nil ||
		r.Seed == nil || *r.Seed != 7 || strings.Join(r.Stop, ",") != "END,###" ||
		r.PresencePenalty == nil || *r.PresencePenalty != 0.5 || r.FrequencyPenalty == nil || *r.FrequencyPenalty != 0.25 {
		t.Fatalf("params: %s", r.Body)
	}
	rf := r.ResponseFormat
	if rf == nil || rf.Type != "json_schema" || rf.JSONSchema == nil || rf.JSONSchema.Name != "output" || rf.JSONSchema.Strict {
		t.Fatalf("response_format: %s", r.Body)
	}
	var schema map[string]any
	if err := json.Unmarshal(rf.JSONSchema.Schema, &schema); err != nil || schema["type"] != "object" {
		t.Fatalf("schema %s: %v", rf.JSONSchema.Schema, err)
	}

	if resp.Content != `{"answer":"Where is my card?"}` || resp.FinishReason != "stop" || resp.Attempts != 1 ||
		resp.Cached || resp.Latency <= 0 {
		t.Fatalf("response %+v", resp)
	}
	if resp.InputTokens != fakeopenai.EstimateTokens("Be brief.")+fakeopenai.EstimateTokens("Where is my card?")+6 ||
		resp.OutputTokens != fakeopenai.EstimateTokens(resp.Content) {
		t.Fatalf("tokens %d/%d", resp.InputTokens, resp.OutputTokens)
	}
}

func TestOpenAIExplicitZerosAndUnsetParams(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{})
	zero := oaRequest("a")
	zero.Params = registry.Params{Temperature: oaPtr(0.0), TopP: oaPtr(0.0)}
	if _, err := c.Complete(context.Background(), zero); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Complete(context.Background(), oaRequest("b")); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()
	// go-openai drops a float 0; a pinned temperature 0 must still reach the server.
	if r := got[0]; r.Temperature == nil || *r.Temperature != 0 || r.TopP == nil || *r.TopP != 0 {
		t.Fatalf("explicit zeros not sent: %s", r.Body)
	}
	if r := got[1]; r.Temperature != nil || r.TopP != nil || r.MaxTokens != nil || r.Seed != nil || r.Stop != nil || r.ResponseFormat != nil {
		t.Fatalf("unset params sent: %s", r.Body)
	}
}

func TestOpenAIProvidersAndKeys(t *testing.T) {
	srv := fakeopenai.New(fakeopenai.Options{APIKey: "sk-right"})
	defer srv.Close()
	open := fakeopenai.New(fakeopenai.Options{})
	defer open.Close()

	providers := map[string]registry.Provider{
		// The environment overrides both of these for `openai`.
		"openai": {BaseURL: "http://127.0.0.1:9/v1", APIKeyEnv: "TEAM_OPENAI_KEY"},
		"local":  {BaseURL: open.BaseURL(), APIKeyEnv: "LOCAL_KEY"},
		"remote": {BaseURL: "https://llm.example.com/v1", APIKeyEnv: "REMOTE_KEY"},
		"keyed":  {BaseURL: srv.URL, APIKeyEnv: "KEYED_KEY"},
	}
	env := oaEnv(map[string]string{
		"OPENAI_BASE_URL": srv.BaseURL(), "OPENAI_API_KEY": "sk-right",
		"TEAM_OPENAI_KEY": "sk-wrong", "KEYED_KEY": "sk-right",
	})
	c, err := NewOpenAI(providers, env, OpenAIOptions{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	for _, p := range []string{"openai", "", "keyed"} {
		req := oaRequest("hi")
		req.Provider = p
		if _, err := c.Complete(ctx, req); err != nil {
			t.Fatalf("provider %q: %v", p, err)
		}
	}
	if got := srv.Requests(); len(got) != 3 || got[0].Header.Get("Authorization") != "Bearer sk-right" ||
		got[2].Path != "/chat/completions" {
		t.Fatalf("openai/keyed requests: %d", len(got))
	}

	req := oaRequest("hi")
	req.Provider = "local"
	if _, err := c.Complete(ctx, req); err != nil {
		t.Fatalf("local without key: %v", err)
	}
	if got := open.Requests(); len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+placeholderKey {
		t.Fatalf("local: %v", got)
	}

	req.Provider = "remote"
	_, err = c.Complete(ctx, req)
	if ce := oaKind(t, err, ErrProvider); !strings.Contains(ce.Error(), "REMOTE_KEY") {
		t.Fatalf("remote without key: %v", err)
	}
	req.Provider = "nope"
	_, err = c.Complete(ctx, req)
	oaKind(t, err, ErrProvider)

	// Without OPENAI_BASE_URL the openai provider keeps its configured URL.
	c2, err := NewOpenAI(map[string]registry.Provider{"openai": {BaseURL: srv.BaseURL()}}, oaEnv(map[string]string{"OPENAI_API_KEY": "sk-right"}), OpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Complete(ctx, oaRequest("hi")); err != nil {
		t.Fatal(err)
	}
	if srv.Calls() != 4 {
		t.Fatalf("server calls %d, want 4", srv.Calls())
	}

	if _, err := NewOpenAI(map[string]registry.Provider{"x": {}}, env, OpenAIOptions{}); err == nil {
		t.Fatal("a provider without base_url: want an error")
	}
	if _, err := NewOpenAI(map[string]registry.Provider{"x": {BaseURL: "llm.example.com"}}, env, OpenAIOptions{}); err == nil {
		t.Fatal("a base_url without scheme: want an error")
	}
}

func TestOpenAIRetryAfter(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if r.Attempt == 1 {
			return fakeopenai.Reply{Status: 429, Header: http.Header{"Retry-After": {"1"}}}
		}
		return fakeopenai.DefaultResponder(r)
	}}, OpenAIOptions{})

	start := time.Now()
	resp, err := c.Complete(context.Background(), oaRequest("hi"))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Calls() != 2 || resp.Attempts != 2 {
		t.Fatalf("calls %d, attempts %d", srv.Calls(), resp.Attempts)
	}
	// The backoff alone is ~10ms: a wait near a second is Retry-After's.
	if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("waited %v, want about 1s", elapsed)
	}
	if resp.Latency >= 900*time.Millisecond {
		t.Fatalf("latency %v includes the wait", resp.Latency)
	}
}

func TestOpenAIRateLimitedAfterRetries(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{RateLimited: 1, RetryAfter: "0"}, OpenAIOptions{MaxRetries: 2})
	resp, err := c.Complete(context.Background(), oaRequest("hi"))
	ce := oaKind(t, err, ErrRateLimited)
	if srv.Calls() != 3 || resp.Attempts != 3 || !strings.Contains(ce.Error(), "429") {
		t.Fatalf("calls %d, attempts %d, error %v", srv.Calls(), resp.Attempts, err)
	}
}

func TestOpenAIServerErrorThenSuccess(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if r.Attempt == 1 {
			return fakeopenai.Reply{Status: 500}
		}
		if r.Attempt == 2 {
			return fakeopenai.Reply{Status: 502, Body: "<html>bad gateway</html>"}
		}
		return fakeopenai.Reply{Content: "fine"}
	}}, OpenAIOptions{})
	resp, err := c.Complete(context.Background(), oaRequest("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "fine" || resp.Attempts != 3 || srv.Calls() != 3 {
		t.Fatalf("response %+v, calls %d", resp, srv.Calls())
	}

	srv2, c2 := oaTestSetup(t, fakeopenai.Options{ServerError: 1}, OpenAIOptions{MaxRetries: 1})
	_, err = c2.Complete(context.Background(), oaRequest("hi"))
	oaKind(t, err, ErrProvider)
	if srv2.Calls() != 2 {
		t.Fatalf("calls %d", srv2.Calls())
	}
}

func TestOpenAIHangTimesOut(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{Hang: 1}, OpenAIOptions{Timeout: 300 * time.Millisecond, MaxRetries: 1})
	start := time.Now()
	resp, err := c.Complete(context.Background(), oaRequest("hi"))
	elapsed := time.Since(start)
	oaKind(t, err, ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("errors.Is DeadlineExceeded: %v", err)
	}
	if srv.Calls() != 2 || resp.Attempts != 2 {
		t.Fatalf("calls %d, attempts %d", srv.Calls(), resp.Attempts)
	}
	if elapsed < 550*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("took %v for two 300ms attempts", elapsed)
	}
}

func TestOpenAICallerDeadline(t *testing.T) {
	_, c := oaTestSetup(t, fakeopenai.Options{Hang: 1}, OpenAIOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := c.Complete(ctx, oaRequest("hi"))
	oaKind(t, err, ErrTimeout)
	if resp.Attempts != 1 || time.Since(start) > 2*time.Second {
		t.Fatalf("attempts %d after %v", resp.Attempts, time.Since(start))
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.Complete(ctx, oaRequest("hi"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestOpenAINoChoicesAndTruncated(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if r.LastUser() == "empty" {
			return fakeopenai.Reply{NoChoices: true}
		}
		return fakeopenai.Reply{Content: "a long answ", FinishReason: "length", CompletionTokens: 400}
	}}, OpenAIOptions{})

	_, err := c.Complete(context.Background(), oaRequest("empty"))
	oaKind(t, err, ErrNoChoices)

	resp, err := c.Complete(context.Background(), oaRequest("long"))
	oaKind(t, err, ErrTruncated)
	if resp.Content != "a long answ" || resp.FinishReason != "length" || resp.OutputTokens != 400 {
		t.Fatalf("truncated response %+v", resp)
	}
	if srv.Calls() != 2 {
		t.Fatalf("calls %d: neither is retried", srv.Calls())
	}
}

func TestOpenAIClientErrorsNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 404, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv, c := oaTestSetup(t, fakeopenai.Options{Respond: func(fakeopenai.ChatRequest) fakeopenai.Reply {
				return fakeopenai.Reply{Status: status}
			}}, OpenAIOptions{})
			resp, err := c.Complete(context.Background(), oaRequest("hi"))
			ce := oaKind(t, err, ErrProvider)
			if srv.Calls() != 1 || resp.Attempts != 1 || !strings.Contains(ce.Error(), fmt.Sprint(status)) {
				t.Fatalf("calls %d, attempts %d, error %v", srv.Calls(), resp.Attempts, err)
			}
		})
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewOpenAI(nil, oaEnv(map[string]string{"OPENAI_BASE_URL": "http://" + addr + "/v1"}),
		OpenAIOptions{MaxRetries: 2, BaseBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Complete(context.Background(), oaRequest("hi"))
	oaKind(t, err, ErrProvider)
	if resp.Attempts != 3 {
		t.Fatalf("attempts %d, want 3 (connection errors are retried)", resp.Attempts)
	}
}

func TestOpenAIRequestsPerMinute(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := fakeopenai.New(fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return fakeopenai.DefaultResponder(r)
	}})
	defer srv.Close()
	// 1200/min is one request every 50ms.
	providers := map[string]registry.Provider{"openai": {BaseURL: srv.BaseURL(), RequestsPerMinute: 1200}}
	c, err := NewOpenAI(providers, oaEnv(map[string]string{"OPENAI_API_KEY": oaTestKey}), OpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := c.Complete(context.Background(), oaRequest(fmt.Sprint("q", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(arrivals) != 6 {
		t.Fatalf("arrivals %d", len(arrivals))
	}
	// Six requests at 50ms spacing span at least 250ms; unlimited they
	// would all arrive within a few milliseconds.
	if span := arrivals[5].Sub(arrivals[0]); span < 200*time.Millisecond {
		t.Fatalf("6 requests arrived within %v; the limiter did not space them", span)
	}
}

func TestOpenAITokensPerMinute(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{Limits: map[string]RateLimit{"openai": {TokensPerMinute: 100}}})
	req := oaRequest("hi")
	req.Params.MaxTokens = oaPtr(90)
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// The first call spent the minute's budget: the next must wait ~55s,
	// which a 300ms deadline cannot cover, so it fails at once unsent.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := c.Complete(ctx, req)
	oaKind(t, err, ErrTimeout)
	if srv.Calls() != 1 || resp.Attempts != 0 || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("calls %d, attempts %d after %v", srv.Calls(), resp.Attempts, time.Since(start))
	}
}

func TestOpenAISecretNeverLeaks(t *testing.T) {
	// A server that quotes the Authorization header back in its errors, in
	// an OpenAI error object and in a raw body, then hangs.
	srv := fakeopenai.New(fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		auth := r.Header.Get("Authorization")
		switch r.LastUser() {
		case "api":
			return fakeopenai.Reply{Status: 401, Body: fmt.Sprintf(`{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error"}}`, auth)}
		case "raw":
			return fakeopenai.Reply{Status: 503, Body: "upstream rejected " + auth, Header: http.Header{"Content-Type": {"text/plain"}}}
		}
		return fakeopenai.Reply{Delay: time.Second}
	}})
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := NewOpenAI(nil, oaEnv(map[string]string{"OPENAI_BASE_URL": srv.BaseURL(), "OPENAI_API_KEY": oaTestKey}),
		OpenAIOptions{MaxRetries: 1, BaseBackoff: time.Millisecond, Timeout: 100 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, q := range []string{"api", "raw", "slow"} {
		_, err := c.Complete(context.Background(), oaRequest(q))
		if err == nil {
			t.Fatalf("%s: want an error", q)
		}
		errs = append(errs, err)
	}
	if srv.Requests()[0].Header.Get("Authorization") != "Bearer "+oaTestKey {
		t.Fatal("the key was not sent, so the test proves nothing")
	}
	for _, err := range errs {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if s := fmt.Sprintf("%v %+v %#v", e, e, e); strings.Contains(s, oaTestKey) {
				t.Errorf("the key is in an error: %s", s)
			}
		}
	}
	if !strings.Contains(errs[0].Error(), "[REDACTED]") || !strings.Contains(errs[1].Error(), "upstream rejected") {
		t.Errorf("errors lost their message: %v / %v", errs[0], errs[1])
	}

	if !strings.Contains(logs.String(), "retrying") {
		t.Fatalf("no retry was logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), oaTestKey) {
		t.Fatalf("the key is in the log:\n%s", logs.String())
	}
}

func TestOpenAIParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header http.Header
		want   time.Duration
	}{
		{nil, 0},
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"Thu, 03 Dec 2026 10:00:07 GMT"}}, 7 * time.Second},
		{http.Header{"Retry-After": {"Thu, 03 Dec 2026 09:00:00 GMT"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
	} {
		if got := parseRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestOpenAIBackoffBounds(t *testing.T) {
	o := &OpenAI{opts: OpenAIOptions{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for n := 1; n <= 40; n++ {
		limit := min(100*time.Millisecond<<(min(n, 20)-1), time.Second)
		for range 20 {
			if d := o.backoff(n); d < 0 || d > limit {
				t.Fatalf("retry %d: backoff %v outside [0, %v]", n, d, limit)
			}
		}
	}
}

func TestOpenAIReasoningModelMaxTokens(t *testing.T) {
	srv, c := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{})
	req := oaRequest("hi")
	req.Model = "o3-mini-2025-01-31"
	req.Params.MaxTokens = oaPtr(50)
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if r := srv.Requests()[0]; r.MaxTokens != nil || r.MaxCompletionTokens == nil || *r.MaxCompletionTokens != 50 {
		t.Fatalf("reasoning model limit: %s", r.Body)
	}
}

func TestOpenAILocalHosts(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "::1": true, "10.1.2.3": true, "192.168.0.9": true,
		"ollama": true, "vllm.localhost": true, "api.openai.com": false, "8.8.8.8": false,
	} {
		if got := isLocalHost(host); got != want {
			t.Errorf("%s: got %v", host, got)
		}
	}
}
