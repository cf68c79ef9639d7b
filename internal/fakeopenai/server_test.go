package fakeopenai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type wireResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

func post(t *testing.T, ctx context.Context, url, body string, header http.Header) (*http.Response, wireResponse) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out wireResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return resp, out
}

func TestFakeDefaultResponder(t *testing.T) {
	s := New(Options{})
	defer s.Close()

	body := `{"model":"m-1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"temperature":0,"seed":7,"stop":"END"}`
	for _, url := range []string{s.BaseURL() + "/chat/completions", s.URL + "/chat/completions"} {
		resp, out := post(t, context.Background(), url, body, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", url, resp.StatusCode)
		}
		if len(out.Choices) != 1 || out.Choices[0].Message.Content != "echo: hello there" || out.Choices[0].FinishReason != "stop" {
			t.Fatalf("%s: got %+v", url, out)
		}
		if out.Model != "m-1" || out.Usage.PromptTokens == 0 || out.Usage.CompletionTokens != EstimateTokens("echo: hello there") ||
			out.Usage.TotalTokens != out.Usage.PromptTokens+out.Usage.CompletionTokens {
			t.Fatalf("%s: usage %+v", url, out.Usage)
		}
	}
	if s.Calls() != 2 || s.CallsFor("m-1") != 2 || s.CallsFor("other") != 0 {
		t.Fatalf("calls %d, m-1 %d", s.Calls(), s.CallsFor("m-1"))
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests %d", len(reqs))
	}
	r := reqs[0]
	if r.Temperature == nil || *r.Temperature != 0 || r.TopP != nil || r.Seed == nil || *r.Seed != 7 ||
		len(r.Stop) != 1 || r.Stop[0] != "END" || r.Messages[0].Role != "system" || r.Path != "/v1/chat/completions" {
		t.Fatalf("parsed request %+v", r)
	}
	if r.Attempt != 1 || reqs[1].Attempt != 2 {
		t.Fatalf("attempts %d %d", r.Attempt, reqs[1].Attempt)
	}
}

func TestFakeTruncatesAtMaxTokens(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	_, out := post(t, context.Background(), s.BaseURL()+"/chat/completions",
		`{"model":"m","max_tokens":2,"messages":[{"role":"user","content":[{"type":"text","text":"a long question indeed"}]}]}`, nil)
	if got := out.Choices[0]; got.FinishReason != "length" || got.Message.Content != "echo: a " {
		t.Fatalf("got %+v", got)
	}
}

func TestFakeSchemaAnswer(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	_, out := post(t, context.Background(), s.BaseURL()+"/chat/completions",
		`{"model":"m","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":{"type":"object","required":["answer","n"],"properties":{"n":{"type":"integer"}}}}}}`, nil)
	var v map[string]any
	if err := json.Unmarshal([]byte(out.Choices[0].Message.Content), &v); err != nil {
		t.Fatal(err)
	}
	if v["answer"] != "q" || v["n"] != float64(0) {
		t.Fatalf("got %v", v)
	}
}

func TestFakeReplies(t *testing.T) {
	s := New(Options{Respond: func(req ChatRequest) Reply {
		switch req.LastUser() {
		case "empty":
			return Reply{NoChoices: true}
		case "teapot":
			return Reply{Status: 418, Header: http.Header{"X-Why": {"tea"}}}
		case "raw":
			return Reply{Status: 502, Body: "<html>bad gateway</html>", Header: http.Header{"Content-Type": {"text/html"}}}
		}
		return Reply{Content: "fixed", FinishReason: "length", PromptTokens: 11, CompletionTokens: 22}
	}})
	defer s.Close()
	url := s.BaseURL() + "/chat/completions"
	msg := func(text string) string {
		return fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}]}`, text)
	}

	_, out := post(t, context.Background(), url, msg("x"), nil)
	if out.Choices[0].Message.Content != "fixed" || out.Choices[0].FinishReason != "length" || out.Usage.PromptTokens != 11 || out.Usage.CompletionTokens != 22 {
		t.Fatalf("fixed: %+v", out)
	}
	_, out = post(t, context.Background(), url, msg("empty"), nil)
	if out.Choices == nil || len(out.Choices) != 0 {
		t.Fatalf("no choices: %+v", out)
	}
	resp, out := post(t, context.Background(), url, msg("teapot"), nil)
	if resp.StatusCode != 418 || resp.Header.Get("X-Why") != "tea" || out.Error == nil {
		t.Fatalf("teapot: %d %+v", resp.StatusCode, out)
	}

	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(msg("raw")))
	raw, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	if raw.StatusCode != 502 || string(b) != "<html>bad gateway</html>" || raw.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("raw: %d %q", raw.StatusCode, b)
	}
}

func TestFakeAuthAndRouting(t *testing.T) {
	s := New(Options{APIKey: "sk-test"})
	defer s.Close()
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	resp, out := post(t, context.Background(), s.BaseURL()+"/chat/completions", body, nil)
	if resp.StatusCode != 401 || out.Error == nil {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
	resp, _ = post(t, context.Background(), s.BaseURL()+"/chat/completions", body, http.Header{"Authorization": {"Bearer sk-test"}})
	if resp.StatusCode != 200 {
		t.Fatalf("with key: %d", resp.StatusCode)
	}
	resp, _ = post(t, context.Background(), s.BaseURL()+"/embeddings", body, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	resp, _ = post(t, context.Background(), s.BaseURL()+"/chat/completions", `{"messages":[]}`, http.Header{"Authorization": {"Bearer sk-test"}})
	if resp.StatusCode != 400 {
		t.Fatalf("no model: %d", resp.StatusCode)
	}
}

func TestFakeFaultFractions(t *testing.T) {
	opts := Options{Seed: 42, RateLimited: 0.2, ServerError: 0.1, RetryAfter: "3"}
	run := func() (map[string]int, []int) {
		s := New(opts)
		defer s.Close()
		var statuses []int
		for i := range 400 {
			resp, _ := post(t, context.Background(), s.BaseURL()+"/chat/completions",
				fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":"q%d"}]}`, i), nil)
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "3" {
				t.Fatalf("429 without Retry-After: %v", resp.Header)
			}
		}
		return s.Faults(), statuses
	}
	faults, first := run()
	if n := faults["rate_limited"]; n < 50 || n > 110 {
		t.Errorf("rate_limited %d of 400, want about 80", n)
	}
	if n := faults["server_error"]; n < 20 || n > 65 {
		t.Errorf("server_error %d of 400, want about 40", n)
	}
	_, second := run()
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("request %d: status %d then %d with the same seed", i, first[i], second[i])
		}
	}
}

func TestFakeHangReleasedByClientAndClose(t *testing.T) {
	s := New(Options{Hang: 1})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL()+"/chat/completions", strings.NewReader(body))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("hang: want a client timeout")
	}

	// A request still hanging when the server closes must not hold Close up.
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, s.BaseURL()+"/chat/completions", strings.NewReader(body))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for s.Calls() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	<-done
	if s.Faults()["hang"] != 2 {
		t.Fatalf("faults %v", s.Faults())
	}
}

func TestFakeLatencyAndConcurrentCounts(t *testing.T) {
	s := New(Options{Latency: 50 * time.Millisecond})
	defer s.Close()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 40 {
		wg.Go(func() {
			model := fmt.Sprintf("m%d", i%4)
			body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"q%d"}]}`, model, i)
			resp, err := http.Post(s.BaseURL()+"/chat/completions", "application/json", bytes.NewBufferString(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("latency not applied: %v", d)
	}
	if s.Calls() != 40 || len(s.Requests()) != 40 {
		t.Fatalf("calls %d", s.Calls())
	}
	for m, n := range s.Models() {
		if n != 10 {
			t.Errorf("model %s: %d calls", m, n)
		}
	}
}
