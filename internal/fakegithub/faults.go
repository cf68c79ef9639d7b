package fakegithub

import (
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Fault is an injected failure.
type Fault int

const (
	// BadGateway answers 502, as GitHub's edge does when a backend fails.
	BadGateway Fault = iota + 1
	// SecondaryRateLimit answers 403 with GitHub's secondary rate limit
	// message and Retry-After: 1 (go-github: *github.AbuseRateLimitError).
	SecondaryRateLimit
	// TooManyRequests answers 429 with Retry-After: 1, which GitHub also
	// uses for secondary rate limits.
	TooManyRequests
	// PrimaryRateLimit answers 403 with X-RateLimit-Remaining: 0 and a reset
	// a minute ahead (go-github: *github.RateLimitError).
	PrimaryRateLimit
)

func (f Fault) String() string {
	switch f {
	case BadGateway:
		return "bad_gateway"
	case SecondaryRateLimit:
		return "secondary_rate_limit"
	case TooManyRequests:
		return "too_many_requests"
	case PrimaryRateLimit:
		return "primary_rate_limit"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

type faultRule struct {
	method  string
	pattern string
	left    int
	fault   Fault
}

// FailNext makes the next n requests that match method and pattern fail
// with f. method "" or "*" matches any method. pattern matches a request
// when it is "", or equals the operation's path template as the description
// spells it ("/repos/{owner}/{repo}/check-runs/{check_run_id}"), or its
// operationId ("checks/update"), or matches the request's path relative to
// the API root with path.Match ("/repos/acme/*/check-runs/*"). Rules are
// tried in the order they were added; each matching request uses up one.
func (s *Server) FailNext(method, pattern string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{method: strings.ToUpper(method), pattern: pattern, left: n, fault: f})
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault this request meets, if any, and uses it up.
func (s *Server) takeFault(method, apiPath string, op *operation) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.faults {
		if r.method != "" && r.method != "*" && r.method != method {
			continue
		}
		if !r.matches(apiPath, op) {
			continue
		}
		r.left--
		if r.left <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return r.fault
	}
	return 0
}

func (r *faultRule) matches(apiPath string, op *operation) bool {
	if r.pattern == "" || r.pattern == apiPath {
		return true
	}
	if op != nil && (r.pattern == op.Path || r.pattern == op.ID) {
		return true
	}
	ok, _ := path.Match(r.pattern, apiPath)
	return ok
}

func (s *Server) writeFault(w http.ResponseWriter, f Fault) int {
	switch f {
	case SecondaryRateLimit:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
			"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		return http.StatusForbidden
	case TooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		return http.StatusTooManyRequests
	case PrimaryRateLimit:
		h := w.Header()
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(60e9).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message":           "API rate limit exceeded for installation ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
		})
		return http.StatusForbidden
	default:
		writeJSON(w, http.StatusBadGateway, map[string]any{"message": "Server Error"})
		return http.StatusBadGateway
	}
}
