package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"

	"github.com/promptgate/promptgate/registry"
)

// Defaults of OpenAIOptions, and the openai provider's endpoint and key.
const (
	defaultCallTimeout   = 60 * time.Second
	defaultMaxRetries    = 5
	defaultBaseBackoff   = 500 * time.Millisecond
	defaultMaxBackoff    = 30 * time.Second
	defaultMaxRetryAfter = 60 * time.Second

	defaultOpenAIBaseURL = "https://api.openai.com/v1"
	defaultOpenAIKeyEnv  = "OPENAI_API_KEY"
	// placeholderKey is sent to local servers that were given no key: some
	// reject a request without an Authorization header, none check its value.
	placeholderKey = "no-key"
)

// RateLimit caps what is sent to one provider. Zero means no limit.
type RateLimit struct {
	RequestsPerMinute float64
	TokensPerMinute   float64
}

// OpenAIOptions tune the OpenAI-compatible client. Zero values take the defaults.
type OpenAIOptions struct {
	// Timeout bounds each HTTP attempt (default 60s). A provider's own
	// `timeout` in promptgate.yaml takes precedence.
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt: 0 means
	// the default (5), a negative value means none.
	MaxRetries int
	// BaseBackoff and MaxBackoff shape the exponential backoff with full
	// jitter between retries (defaults 500ms and 30s).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxRetryAfter caps how long a provider's Retry-After may make us wait
	// (default 60s).
	MaxRetryAfter time.Duration
	// Limits overrides the providers' requests_per_minute and
	// tokens_per_minute, by provider name.
	Limits map[string]RateLimit
	// HTTPClient, when set, sends the requests (its Timeout should be zero:
	// attempts are bounded by Timeout through their context).
	HTTPClient *http.Client
	// Logger receives retries and failures; nil discards them.
	Logger *slog.Logger
}

// OpenAI is a Completer for OpenAI-compatible chat completion endpoints
// (OpenAI, Azure OpenAI's v1 API, vLLM, Ollama, llama.cpp server), one
// client per configured provider.
type OpenAI struct {
	endpoints map[string]*providerClient
	opts      OpenAIOptions
	log       *slog.Logger
}

var _ Completer = (*OpenAI)(nil)

// providerClient is one provider's client and limits.
type providerClient struct {
	name    string
	baseURL string
	client  *openai.Client
	// key is kept only to scrub it from error text.
	key string
	// keyErr is returned by every call when a remote provider has no key.
	keyErr   error
	timeout  time.Duration
	requests *rate.Limiter
	tokens   *rate.Limiter
}

// NewOpenAI builds the client for every provider of promptgate.yaml plus
// `openai`, which is always available. getenv looks up environment variables
// (pass os.Getenv; nil means an empty environment). The `openai` provider
// defaults to https://api.openai.com/v1 with the key in OPENAI_API_KEY, and,
// as in every OpenAI SDK, OPENAI_BASE_URL and OPENAI_API_KEY override its
// base URL and key. Other providers take their base_url and the key named
// by api_key_env. A provider whose key variable is unset fails its calls,
// unless its base URL is local (loopback, private network, or a single-label
// host name), where a placeholder key is sent instead.
func NewOpenAI(providers map[string]registry.Provider, getenv func(string) string, opts OpenAIOptions) (*OpenAI, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultCallTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = defaultMaxRetries
	} else if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = defaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = defaultMaxRetryAfter
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Calls run concurrently against few hosts; the default of 2 idle
		// connections per host would reconnect most of them.
		tr.MaxIdleConnsPerHost = 64
		httpClient = &http.Client{Transport: tr}
	}

	all := map[string]registry.Provider{"openai": {}}
	for name, p := range providers {
		all[name] = p
	}
	o := &OpenAI{endpoints: map[string]*providerClient{}, opts: opts, log: log}
	for name, p := range all {
		base, keyEnv := p.BaseURL, p.APIKeyEnv
		var key string
		if name == "openai" {
			if base == "" {
				base = defaultOpenAIBaseURL
			}
			if keyEnv == "" {
				keyEnv = defaultOpenAIKeyEnv
			}
			if v := getenv("OPENAI_BASE_URL"); v != "" {
				base = v
			}
			key = getenv("OPENAI_API_KEY")
		}
		if base == "" {
			return nil, fmt.Errorf("provider %s: base_url is not set", name)
		}
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("provider %s: base_url %q is not an http(s) URL", name, redactURL(base))
		}
		if key == "" && keyEnv != "" {
			key = getenv(keyEnv)
		}
		e := &providerClient{name: name, baseURL: redactURL(base), key: key, timeout: opts.Timeout}
		if p.Timeout.D() > 0 {
			e.timeout = p.Timeout.D()
		}
		if key == "" {
			// A provider that names no key variable needs none; one that
			// names an unset variable needs it unless the server is local.
			if keyEnv != "" && !isLocalHost(u.Hostname()) {
				e.keyErr = fmt.Errorf("provider %s: %s is not set", name, keyEnv)
			}
			key = placeholderKey
		}
		cfg := openai.DefaultConfig(key)
		cfg.BaseURL = base
		cfg.HTTPClient = zeroFieldDoer{httpClient}
		e.client = openai.NewClientWithConfig(cfg)

		limit := RateLimit{RequestsPerMinute: p.RequestsPerMinute, TokensPerMinute: p.TokensPerMinute}
		if l, ok := opts.Limits[name]; ok {
			limit = l
		}
		if limit.RequestsPerMinute > 0 {
			// Burst 1 spaces requests evenly instead of sending a minute's
			// worth at once and meeting the provider's own limiter.
			e.requests = rate.NewLimiter(rate.Limit(limit.RequestsPerMinute/60), 1)
		}
		if limit.TokensPerMinute > 0 {
			burst := max(int(limit.TokensPerMinute), 1)
			e.tokens = rate.NewLimiter(rate.Limit(limit.TokensPerMinute/60), burst)
		}
		o.endpoints[name] = e
	}
	return o, nil
}

// Complete sends one chat completion, retrying 429s, 5xx answers, timeouts
// and connection errors with exponential backoff (or the provider's
// Retry-After). A finish_reason of "length" returns the response together
// with an ErrTruncated CallError; the caller decides what to make of it.
func (o *OpenAI) Complete(ctx context.Context, req Request) (Response, error) {
	name := req.Provider
	if name == "" {
		name = "openai"
	}
	e, ok := o.endpoints[name]
	if !ok {
		return Response{}, &CallError{Kind: ErrProvider, Err: fmt.Errorf("unknown provider %q: not in promptgate.yaml providers", name)}
	}
	if e.keyErr != nil {
		return Response{}, &CallError{Kind: ErrProvider, Err: e.keyErr}
	}
	creq, zeros, err := toChatRequest(req)
	if err != nil {
		return Response{}, &CallError{Kind: ErrProvider, Err: fmt.Errorf("%s %s: %w", name, req.Model, err)}
	}
	estimate := rateTokenEstimate(req)
	ctx = context.WithValue(ctx, zeroFieldsKey{}, zeros)
	log := o.log.With("provider", name, "model", req.Model)

	for attempt := 1; ; attempt++ {
		if err := e.wait(ctx, estimate); err != nil {
			return Response{Attempts: attempt - 1}, e.failure(req.Model, attempt-1, waitFailure(ctx, err))
		}
		actx, cancel := context.WithTimeout(ctx, e.timeout)
		start := time.Now()
		out, err := e.client.CreateChatCompletion(actx, creq)
		latency := time.Since(start)
		cancel()
		if err == nil {
			return e.response(req.Model, out, latency, attempt)
		}

		f := e.classify(ctx, err, out.Header())
		if !f.retryable || attempt > o.opts.MaxRetries || ctx.Err() != nil {
			log.Warn("model call failed", "attempt", attempt, "status", f.status, "error", f.msg)
			return Response{Attempts: attempt}, e.failure(req.Model, attempt, f)
		}
		delay := o.backoff(attempt)
		if f.retryAfter > 0 {
			delay = min(f.retryAfter, o.opts.MaxRetryAfter)
		}
		log.Warn("model call failed, retrying", "attempt", attempt, "status", f.status, "error", f.msg, "retry_in", delay)
		if err := sleepContext(ctx, delay); err != nil {
			return Response{Attempts: attempt}, e.failure(req.Model, attempt, waitFailure(ctx, err))
		}
	}
}

// wait blocks until the provider's request and token limits allow a call.
func (e *providerClient) wait(ctx context.Context, tokens int) error {
	if e.requests != nil {
		if err := e.requests.Wait(ctx); err != nil {
			return err
		}
	}
	if e.tokens != nil {
		if err := e.tokens.WaitN(ctx, min(max(tokens, 1), e.tokens.Burst())); err != nil {
			return err
		}
	}
	return nil
}

// response turns a successful HTTP answer into a Response.
func (e *providerClient) response(model string, out openai.ChatCompletionResponse, latency time.Duration, attempts int) (Response, error) {
	resp := Response{
		InputTokens:  out.Usage.PromptTokens,
		OutputTokens: out.Usage.CompletionTokens,
		Latency:      latency,
		Attempts:     attempts,
	}
	if len(out.Choices) == 0 {
		return resp, &CallError{Kind: ErrNoChoices, Err: fmt.Errorf("%s %s: the response has no choices", e.name, model)}
	}
	c := out.Choices[0]
	resp.Content = c.Message.Content
	if resp.Content == "" && c.Message.Refusal != "" {
		resp.Content = c.Message.Refusal
	}
	resp.FinishReason = string(c.FinishReason)
	if c.FinishReason == openai.FinishReasonLength {
		return resp, &CallError{Kind: ErrTruncated, Err: fmt.Errorf("%s %s: output cut off at max_tokens after %d tokens", e.name, model, resp.OutputTokens)}
	}
	return resp, nil
}

// toChatRequest maps a Request onto go-openai's request, and reports which
// sampling parameters are an explicit zero that go-openai would drop.
func toChatRequest(req Request) (openai.ChatCompletionRequest, zeroFields, error) {
	var z zeroFields
	cr := openai.ChatCompletionRequest{Model: req.Model}
	for _, m := range req.Messages {
		cr.Messages = append(cr.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	p := req.Params
	if p.Temperature != nil {
		cr.Temperature = float32(*p.Temperature)
		z.temperature = *p.Temperature == 0
	}
	if p.TopP != nil {
		cr.TopP = float32(*p.TopP)
		z.topP = *p.TopP == 0
	}
	if p.MaxTokens != nil {
		// max_tokens rather than max_completion_tokens: vLLM, Ollama and
		// llama.cpp servers know the former.
		cr.MaxTokens = *p.MaxTokens
	}
	if p.Seed != nil {
		seed := *p.Seed
		cr.Seed = &seed
	}
	if len(p.Stop) > 0 {
		cr.Stop = append([]string(nil), p.Stop...)
	}
	if p.PresencePenalty != nil {
		cr.PresencePenalty = float32(*p.PresencePenalty)
	}
	if p.FrequencyPenalty != nil {
		cr.FrequencyPenalty = float32(*p.FrequencyPenalty)
	}
	if req.Schema != nil {
		schema, err := json.Marshal(req.Schema)
		if err != nil {
			return cr, z, fmt.Errorf("output schema: %w", err)
		}
		cr.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name:   "output",
				Schema: json.RawMessage(schema),
				Strict: false,
			},
		}
	}
	// OpenAI's reasoning models refuse max_tokens; go-openai checks that
	// before sending, so move the limit to where those models take it.
	if errors.Is(openai.NewReasoningValidator().Validate(cr), openai.ErrReasoningModelMaxTokensDeprecated) {
		cr.MaxCompletionTokens, cr.MaxTokens = cr.MaxTokens, 0
	}
	return cr, z, nil
}

// rateTokenEstimate is the token count charged against a tokens-per-minute
// limit before the call: about four characters a token, plus max_tokens.
func rateTokenEstimate(req Request) int {
	chars := 0
	for _, m := range req.Messages {
		chars += len(m.Content)
	}
	n := (chars + 3) / 4
	if req.Params.MaxTokens != nil {
		n += *req.Params.MaxTokens
	}
	return n
}

// attemptFailure describes why one attempt failed, with secrets removed.
type attemptFailure struct {
	status     int // HTTP status; 0 when there was no answer
	timeout    bool
	retryable  bool
	retryAfter time.Duration
	msg        string
	// cause is a context error, kept so errors.Is(err, context.Canceled)
	// works on the final error. Provider error values are not kept: their
	// text may quote the request.
	cause error
}

// classify sorts an attempt's error into retryable or final.
func (e *providerClient) classify(ctx context.Context, err error, header http.Header) attemptFailure {
	var f attemptFailure
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		f.status = apiErr.HTTPStatusCode
		f.msg = apiErr.Message
		if f.msg == "" {
			f.msg = apiErr.HTTPStatus
		}
	case errors.As(err, &reqErr):
		f.status = reqErr.HTTPStatusCode
		f.msg = strings.TrimSpace(string(reqErr.Body))
		if f.msg == "" {
			f.msg = reqErr.HTTPStatus
		}
	case ctx.Err() != nil:
		f.cause = ctx.Err()
		f.timeout = errors.Is(f.cause, context.DeadlineExceeded)
		f.msg = f.cause.Error()
		return f
	case errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
		f.timeout, f.retryable = true, true
		f.cause = context.DeadlineExceeded
		f.msg = fmt.Sprintf("no answer within %v", e.timeout)
		return f
	case isConnError(err):
		f.retryable = true
		f.msg = err.Error()
	default:
		f.msg = err.Error()
	}
	if f.status != 0 {
		f.msg = fmt.Sprintf("HTTP %d: %s", f.status, f.msg)
		switch {
		case f.status == http.StatusRequestTimeout:
			f.retryable, f.timeout = true, true
		case f.status == http.StatusTooManyRequests || f.status >= 500:
			f.retryable = true
		}
		f.retryAfter = parseRetryAfter(header, time.Now())
	}
	f.msg = e.redact(f.msg)
	return f
}

// failure builds the final CallError of a call.
func (e *providerClient) failure(model string, attempts int, f attemptFailure) error {
	kind := ErrProvider
	switch {
	case f.timeout:
		kind = ErrTimeout
	case f.status == http.StatusTooManyRequests:
		kind = ErrRateLimited
	}
	return &CallError{Kind: kind, Err: &providerCallError{
		provider: e.name, model: model, attempts: attempts, msg: e.redact(f.msg), cause: f.cause,
	}}
}

// waitFailure describes a limiter wait or backoff cut short by the context.
func waitFailure(ctx context.Context, err error) attemptFailure {
	f := attemptFailure{msg: err.Error(), cause: ctx.Err()}
	if f.cause == nil {
		// The limiter refuses up front when the wait would outlast the deadline.
		f.cause = context.DeadlineExceeded
		f.msg = "rate limit wait would exceed the deadline"
	}
	f.timeout = errors.Is(f.cause, context.DeadlineExceeded)
	return f
}

// providerCallError is a call's final failure. Its text names provider and
// model, never the key.
type providerCallError struct {
	provider, model string
	attempts        int
	msg             string
	cause           error
}

func (e *providerCallError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.provider, e.model, e.msg)
	if e.attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.attempts)
	}
	return s
}

func (e *providerCallError) Unwrap() error { return e.cause }

// redact removes the API key and truncates long provider messages (HTML
// error pages and the like).
func (e *providerClient) redact(s string) string {
	if len(e.key) >= 4 {
		s = strings.ReplaceAll(s, e.key, "[REDACTED]")
	}
	const maxLen = 500
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && (s[cut]&0xC0) == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// backoff is the exponential backoff with full jitter before retry n (from 1).
func (o *OpenAI) backoff(n int) time.Duration {
	d := o.opts.MaxBackoff
	if n < 32 {
		if b := o.opts.BaseBackoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	return rand.N(d + 1)
}

// retryAfter reads Retry-After (seconds or an HTTP date) or OpenAI's
// retry-after-ms; zero when absent or unusable.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnError reports transport failures worth retrying: refused or reset
// connections, and answers cut off mid-way.
func isConnError(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// isLocalHost reports whether a base URL's host is this machine or a private
// network, where OpenAI-compatible servers commonly run without a key.
func isLocalHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()
	}
	// Single-label names (a compose service such as "ollama") never resolve
	// on the public internet.
	return !strings.Contains(host, ".")
}

// redactURL hides a password written into a base URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// zeroFields lists sampling parameters set to an explicit 0. go-openai
// declares them float32 with omitempty, so a 0 would be dropped and the
// server would apply its default (1) instead.
type zeroFields struct{ temperature, topP bool }

type zeroFieldsKey struct{}

// zeroFieldDoer puts the explicit zeros that go-openai dropped back into the
// request body.
type zeroFieldDoer struct{ c *http.Client }

func (d zeroFieldDoer) Do(req *http.Request) (*http.Response, error) {
	z, _ := req.Context().Value(zeroFieldsKey{}).(zeroFields)
	if (!z.temperature && !z.topP) || req.Body == nil {
		return d.c.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	// go-openai omitted these keys, so adding them cannot duplicate one.
	var add string
	if z.temperature {
		add += `"temperature":0,`
	}
	if z.topP {
		add += `"top_p":0,`
	}
	if i := bytes.IndexByte(body, '{'); i >= 0 {
		body = append(append(append([]byte{}, body[:i+1]...), add...), body[i+1:]...)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return d.c.Do(req)
}
