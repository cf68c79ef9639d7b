// Package gitserver is a real git smart-HTTP server for tests: bare
// repositories in a temporary directory served by `git http-backend` (which
// git ships) through net/http/cgi, behind HTTP basic auth. Clone, fetch and
// push go through the real protocol, so code that talks to GitHub's git
// endpoints with go-git or the git CLI can be tested end to end.
package gitserver

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// DefaultBranch is the branch Seed commits to and new branches start from.
const DefaultBranch = "main"

// Options configure a Server.
type Options struct {
	// Check decides whether basic-auth credentials may use the server
	// (GitHub Apps authenticate as user "x-access-token" with the
	// installation token as password). Nil lets every request through.
	Check func(user, password string) bool
}

// Push is one authenticated receive-pack request and what it changed.
type Push struct {
	Repo   string // as named to CreateRepo, e.g. "acme/config"
	User   string
	Status int // HTTP status of the request
	// Refs maps each ref the push changed to its old and new value.
	Refs map[string]RefChange
}

// RefChange is a ref's value before and after a push; "" means absent.
type RefChange struct {
	Old, New string
}

// Server serves the bare repositories under a temporary root.
type Server struct {
	tb      testing.TB
	root    string // bare repositories: <root>/<owner>/<repo>.git
	work    string // scratch clones of the commit helpers
	check   func(user, password string) bool
	backend string // path of git-http-backend
	srv     *httptest.Server

	pushMu sync.Mutex // serializes receive-pack so each push's ref diff is its own

	mu           sync.Mutex
	pushes       []Push
	authFailures int
	commits      int // commits made by the helpers, for distinct, stable dates
}

// New starts a server for the test; it stops at the test's cleanup. It
// skips the test when git is not installed.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed: skipping git server test")
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Fatalf("gitserver: git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		tb.Skipf("git-http-backend not available (%v): skipping git server test", err)
	}
	dir := tb.TempDir()
	s := &Server{
		tb:      tb,
		root:    filepath.Join(dir, "repos"),
		work:    filepath.Join(dir, "work"),
		check:   opts.Check,
		backend: backend,
	}
	for _, d := range []string{s.root, s.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("gitserver: %v", err)
		}
	}
	s.srv = httptest.NewServer(s)
	tb.Cleanup(s.srv.Close)
	return s
}

// BaseURL is the server's root URL, e.g. http://127.0.0.1:PORT.
func (s *Server) BaseURL() string { return s.srv.URL }

// URL is the clone URL of a repository, e.g.
// http://127.0.0.1:PORT/acme/config.git.
func (s *Server) URL(name string) string {
	return s.srv.URL + "/" + repoName(name) + ".git"
}

// Pushes returns the authenticated receive-pack requests so far, oldest first.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Push, len(s.pushes))
	for i, p := range s.pushes {
		p.Refs = maps.Clone(p.Refs)
		out[i] = p
	}
	return out
}

// AuthFailures counts requests refused for missing or wrong credentials.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// ServeHTTP checks credentials and hands the request to git http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	if s.check != nil && (!ok || !s.check(user, password)) {
		s.mu.Lock()
		s.authFailures++
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	h := &cgi.Handler{
		Path: s.backend,
		Dir:  s.root,
		Env: append(gitEnv(),
			"GIT_PROJECT_ROOT="+s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER="+user,
		),
		InheritEnv: []string{"PATH", "TMPDIR"},
		Stderr:     &logWriter{tb: s.tb},
	}
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		// net/http/cgi refuses chunked bodies, which the git CLI sends
		// for pushes above http.postBuffer: buffer them.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
	}
	repo, isPush := receivePackRepo(r)
	if isPush && r.ContentLength == int64(len(flushPkt)) {
		// The git CLI probes with a bare flush packet before a large
		// push; it sends nothing and is not a push of its own.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		isPush = string(body) != flushPkt
	}
	if !isPush {
		h.ServeHTTP(w, r)
		return
	}

	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	before := s.refs(repo)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(rec, r)
	after := s.refs(repo)
	changes := map[string]RefChange{}
	for ref, old := range before {
		if after[ref] != old {
			changes[ref] = RefChange{Old: old, New: after[ref]}
		}
	}
	for ref, sha := range after {
		if _, ok := before[ref]; !ok {
			changes[ref] = RefChange{New: sha}
		}
	}
	s.mu.Lock()
	s.pushes = append(s.pushes, Push{Repo: repo, User: user, Status: rec.status, Refs: changes})
	s.mu.Unlock()
}

// flushPkt is the pkt-line flush packet.
const flushPkt = "0000"

// receivePackRepo recognizes the POST that carries a push and names its
// repository.
func receivePackRepo(r *http.Request) (string, bool) {
	const suffix = ".git/git-receive-pack"
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, suffix) {
		return "", false
	}
	return strings.Trim(strings.TrimSuffix(r.URL.Path, suffix), "/"), true
}

// refs lists a repository's refs for the push diff; a missing repository
// has none.
func (s *Server) refs(name string) map[string]string {
	dir := s.bareDir(name)
	if _, err := os.Stat(dir); err != nil {
		return map[string]string{}
	}
	out, err := s.runGit(dir, nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		s.tb.Errorf("gitserver: list refs of %s: %v", name, err)
		return map[string]string{}
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if sha, ref, ok := strings.Cut(line, " "); ok {
			refs[ref] = sha
		}
	}
	return refs
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets http-backend's streamed responses through.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logWriter sends git http-backend's stderr to the test log.
type logWriter struct {
	tb  testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // an incomplete line waits for the rest
			break
		}
		l.tb.Logf("git http-backend: %s", strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// gitEnv isolates git from the user's and the system's configuration and
// from repository ownership checks in temporary directories.
func gitEnv() []string {
	return []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=safe.directory",
		"GIT_CONFIG_VALUE_0=*",
		"GIT_TERMINAL_PROMPT=0",
	}
}

// repoName normalizes "acme/config" and "acme/config.git" to "acme/config".
func repoName(name string) string {
	return strings.TrimSuffix(strings.Trim(name, "/"), ".git")
}

func (s *Server) bareDir(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(repoName(name))+".git")
}

// runGit runs git in dir with the isolated environment plus extra.
func (s *Server) runGit(dir string, extra []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		// GIT_DIR and friends from a surrounding git would redirect us.
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, gitEnv()...)
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
