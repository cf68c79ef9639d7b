package bot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
)

// Clients hands out GitHub clients per installation, cached, each with its
// own installation-token transport. The API base URL comes from settings,
// so github.com, GitHub Enterprise Server and a test server look alike.
type Clients struct {
	baseURL string
	apps    *ghinstallation.AppsTransport
	base    http.RoundTripper
	log     *slog.Logger

	mu       sync.Mutex
	byID     map[int64]*installation
	appCl    *github.Client
	repoInst map[string]int64
}

type installation struct {
	client *github.Client
	tr     *ghinstallation.Transport
}

// NewClients builds the App's transport from its ID and private key.
func NewClients(s *Settings, log *slog.Logger) (*Clients, error) {
	base := &retryTransport{next: http.DefaultTransport, log: log, maxRetries: 4, baseDelay: 500 * time.Millisecond}
	apps, err := ghinstallation.NewAppsTransport(base, s.AppID, s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("GitHub App key: %w", err) // the library's message does not carry the key
	}
	apiURL := strings.TrimSuffix(s.GitHubURL, "/")
	apps.BaseURL = apiURL
	return &Clients{baseURL: apiURL + "/", apps: apps, base: base, log: log, byID: map[int64]*installation{}}, nil
}

// For returns the client of one installation.
func (c *Clients) For(installationID int64) (*github.Client, error) {
	inst, err := c.installation(installationID)
	if err != nil {
		return nil, err
	}
	return inst.client, nil
}

// Token returns a current installation token, for git over HTTPS.
func (c *Clients) Token(ctx context.Context, installationID int64) (string, error) {
	inst, err := c.installation(installationID)
	if err != nil {
		return "", err
	}
	tok, err := inst.tr.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("installation %d token: %w", installationID, err)
	}
	return tok, nil
}

func (c *Clients) installation(id int64) (*installation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inst, ok := c.byID[id]; ok {
		return inst, nil
	}
	tr := ghinstallation.NewFromAppsTransport(c.apps, id)
	tr.BaseURL = strings.TrimSuffix(c.baseURL, "/")
	cl, err := newClient(&http.Client{Transport: tr}, c.baseURL)
	if err != nil {
		return nil, err
	}
	inst := &installation{client: cl, tr: tr}
	c.byID[id] = inst
	return inst, nil
}

func newClient(hc *http.Client, baseURL string) (*github.Client, error) {
	cl := github.NewClient(hc)
	if baseURL != "https://api.github.com/" {
		u, err := cl.BaseURL.Parse(baseURL)
		if err != nil {
			return nil, fmt.Errorf("PROMPTGATE_GITHUB_URL: %w", err)
		}
		cl.BaseURL = u
		cl.UploadURL = u
	}
	return cl, nil
}

// retryTransport retries GitHub's transient failures: 502/503/504, and the
// secondary rate limit (403 or 429 with Retry-After), backing off
// exponentially with jitter and honouring Retry-After. Each wait is logged.
type retryTransport struct {
	next       http.RoundTripper
	log        *slog.Logger
	maxRetries int
	baseDelay  time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.GetBody == nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || attempt >= t.maxRetries {
			return resp, err
		}
		delay, retry := t.retryable(resp, attempt)
		if !retry {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		t.log.Warn("GitHub API transient failure: backing off",
			"method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "attempt", attempt+1, "backoff", delay.String())
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(delay):
		}
		if req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = b
		} else if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
}

func (t *retryTransport) retryable(resp *http.Response, attempt int) (time.Duration, bool) {
	backoff := t.baseDelay << attempt
	backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
	ra := resp.Header.Get("Retry-After")
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return max(backoff, retryAfter(ra)), true
	case http.StatusForbidden, http.StatusTooManyRequests:
		// A plain 403 is a permission problem; only the rate limits carry
		// Retry-After or an exhausted X-RateLimit-Remaining.
		if ra != "" {
			return min(retryAfter(ra), 2*time.Minute), true
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				if d := time.Until(time.Unix(reset, 0)); d > 0 && d < 2*time.Minute {
					return d, true
				}
			}
		}
	}
	return 0, false
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// InstallationFor finds the App's installation on a repository, with the
// App's own JWT credentials; the answer is cached.
func (c *Clients) InstallationFor(ctx context.Context, owner, repo string) (int64, error) {
	key := owner + "/" + repo
	c.mu.Lock()
	if c.repoInst == nil {
		c.repoInst = map[string]int64{}
	}
	if id, ok := c.repoInst[key]; ok {
		c.mu.Unlock()
		return id, nil
	}
	if c.appCl == nil {
		cl, err := newClient(&http.Client{Transport: c.apps}, c.baseURL)
		if err != nil {
			c.mu.Unlock()
			return 0, err
		}
		c.appCl = cl
	}
	app := c.appCl
	c.mu.Unlock()
	inst, _, err := app.Apps.FindRepositoryInstallation(ctx, owner, repo)
	if err != nil {
		return 0, fmt.Errorf("find the App's installation on %s: %w", key, err)
	}
	c.mu.Lock()
	c.repoInst[key] = inst.GetID()
	c.mu.Unlock()
	return inst.GetID(), nil
}
