// Package fakegithub is an in-memory fake of GitHub's REST API for
// end-to-end tests of the bot: real HTTP on httptest, a go-github client and
// a ghinstallation transport pointed at it, and state a test seeds and reads
// back.
//
// It is kept true to GitHub's own REST description: the operations it serves
// and their request and response schemas come from
// testdata/openapi-subset.json, cut from @octokit/openapi's description by
// internal/openapisubset. A request to any other path or method answers 404
// as GitHub does; a body that breaks the operation's schema answers 422 (400
// for JSON that does not parse) and is recorded in Violations, so a test can
// fail on a request GitHub would refuse even when the code under test
// swallows the error. Each operation answers with the one 2xx status the
// description documents (201 for creates, 204 for deletes, 200 otherwise),
// and every success body the fake writes is checked against the documented
// response schema (types and enums; not GitHub's long lists of required
// fields), a mismatch being recorded as a violation too.
//
// Authentication is GitHub App authentication: POST
// /app/installations/{id}/access_tokens wants an RS256 JWT signed with the
// App's key and issues an installation token; every repository operation
// wants such a token ("token" or "Bearer" scheme). The API is served both at
// the root and under /api/v3, GitHub Enterprise Server's prefix.
package fakegithub

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EnterprisePrefix is the path GitHub Enterprise Server serves its REST API
// under; the fake serves the API both there and at the root.
const EnterprisePrefix = "/api/v3"

const docsURL = "https://docs.github.com/rest"

// Options configure a Server. AppID and PublicKey are required.
type Options struct {
	// AppID is the GitHub App's ID, the JWT's "iss".
	AppID int64
	// PublicKey verifies the App JWTs.
	PublicKey *rsa.PublicKey
	// AppSlug names the App; its comments and reviews are by
	// "<AppSlug>[bot]". Default "promptgate".
	AppSlug string
	// InstallationID is the installation a repository belongs to when
	// Repo.InstallationID is 0. Default 1.
	InstallationID int64
	// GitBaseURL is where repositories are cloned from: a repository's
	// clone_url is GitBaseURL/owner/name.git. Default: the fake's own URL
	// (which serves no git). SetGitBaseURL changes it later.
	GitBaseURL string
	// Refs, when set, lists a repository's git refs ("refs/heads/main" →
	// sha), e.g. from the test's git server. It answers the git refs
	// operations and resolves a new pull request's head and base, which
	// must then exist. Without it, refs come from SetRef. It is called with
	// the fake's lock held and must not call back into the Server.
	Refs func(owner, repo string) map[string]string
	// TokenTTL is how long an installation token lives. Default 1h.
	TokenTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Request is one request the fake answered.
type Request struct {
	Method string
	// Path is relative to the API root (without /api/v3).
	Path     string
	RawQuery string
	// Operation is the operationId the request matched, or "".
	Operation string
	Status    int
	// Body is the request body as received.
	Body string
}

// Server is a running fake. Close it when done. All methods are safe for
// concurrent use.
type Server struct {
	// URL is the server's root, e.g. http://127.0.0.1:1234.
	URL string

	opts Options
	spec *spec
	ts   *httptest.Server

	mu         sync.Mutex
	gitBaseURL string
	nextID     int64
	userIDs    map[string]int64
	repos      map[string]*repoRec // by lower-case "owner/name"
	repoOrder  []*repoRec
	comments   map[int64]*commentRec
	tokens     map[string]issuedToken
	tokenOrder []string
	faults     []*faultRule
	requests   []Request
	violations []string
}

// New starts a fake. It panics when opts lack AppID or PublicKey, or when the
// embedded description subset is unusable (a bug in this package).
func New(opts Options) *Server {
	if opts.AppID == 0 || opts.PublicKey == nil {
		panic("fakegithub: Options.AppID and Options.PublicKey are required")
	}
	if opts.AppSlug == "" {
		opts.AppSlug = "promptgate"
	}
	if opts.InstallationID == 0 {
		opts.InstallationID = 1
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	sp, err := loadSpec()
	if err != nil {
		panic("fakegithub: " + err.Error())
	}
	for _, op := range sp.ops {
		if handlers[op.ID] == nil {
			panic("fakegithub: no handler for " + op.ID)
		}
	}
	s := &Server{
		opts:     opts,
		spec:     sp,
		nextID:   1000,
		userIDs:  map[string]int64{},
		repos:    map[string]*repoRec{},
		comments: map[int64]*commentRec{},
		tokens:   map[string]issuedToken{},
	}
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	s.gitBaseURL = opts.GitBaseURL
	if s.gitBaseURL == "" {
		s.gitBaseURL = s.URL
	}
	return s
}

// APIURL is the base URL for go-github and ghinstallation, in the GitHub
// Enterprise Server shape: URL + "/api/v3/". go-github's
// WithEnterpriseURLs(APIURL(), APIURL()) and ghinstallation's BaseURL
// (with or without the trailing slash) both take it; so does URL + "/".
func (s *Server) APIURL() string { return s.URL + EnterprisePrefix + "/" }

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// SetGitBaseURL changes the base of clone_url, for a git server started
// after the fake.
func (s *Server) SetGitBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gitBaseURL = strings.TrimRight(u, "/")
}

// Requests returns every request answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Violations returns a line for each request GitHub would have refused for
// its content (a body breaking the operation's schema, JSON that does not
// parse, a rule the description states in prose, an endpoint the
// description does not have), and for any response of the fake that broke
// the description (a bug here). A test that passes should see none.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// call is one request being answered.
type call struct {
	s      *Server
	r      *http.Request
	op     *operation
	params map[string]string
	// prefix is "" or EnterprisePrefix, as the request came.
	prefix string
	raw    []byte
	cred   credential
	repo   *repoRec // for /repos/{owner}/{repo}/... operations
	// apiPath is the request path relative to the API root.
	apiPath string
	status  int
}

// decode unmarshals the (already validated) body into v.
func (c *call) decode(v any) {
	if len(bytes.TrimSpace(c.raw)) > 0 {
		_ = json.Unmarshal(c.raw, v) // the schema has vouched for the shape
	}
}

// reply is a handler's answer.
type reply struct {
	status int
	body   any // nil: no body
	header http.Header
}

type handler func(c *call) reply

// handlers maps each served operationId to its handler; New checks that the
// description subset and this table agree. Handlers run with s.mu held.
var handlers = map[string]handler{
	"apps/create-installation-access-token":   (*call).createInstallationToken,
	"apps/get-repo-installation":              (*call).getRepoInstallation,
	"repos/get":                               (*call).getRepo,
	"repos/get-collaborator-permission-level": (*call).getPermission,
	"pulls/list":                              (*call).listPulls,
	"pulls/create":                            (*call).createPull,
	"pulls/get":                               (*call).getPull,
	"pulls/update":                            (*call).updatePull,
	"pulls/list-files":                        (*call).listFiles,
	"pulls/list-reviews":                      (*call).listReviews,
	"pulls/create-review":                     (*call).createReview,
	"pulls/list-review-comments":              (*call).listReviewComments,
	"pulls/create-review-comment":             (*call).createReviewComment,
	"pulls/list-requested-reviewers":          (*call).listRequestedReviewers,
	"pulls/request-reviewers":                 (*call).requestReviewers,
	"checks/create":                           (*call).createCheckRun,
	"checks/get":                              (*call).getCheckRun,
	"checks/update":                           (*call).updateCheckRun,
	"checks/list-for-ref":                     (*call).listCheckRunsForRef,
	"issues/list-for-repo":                    (*call).listIssues,
	"issues/create":                           (*call).createIssue,
	"issues/get":                              (*call).getIssue,
	"issues/update":                           (*call).updateIssue,
	"issues/list-comments":                    (*call).listComments,
	"issues/create-comment":                   (*call).createComment,
	"issues/get-comment":                      (*call).getComment,
	"issues/update-comment":                   (*call).updateComment,
	"issues/delete-comment":                   (*call).deleteComment,
	"issues/list-labels-on-issue":             (*call).listLabels,
	"issues/add-labels":                       (*call).addLabels,
	"issues/set-labels":                       (*call).setLabels,
	"issues/remove-all-labels":                (*call).removeAllLabels,
	"issues/remove-label":                     (*call).removeLabel,
	"git/list-matching-refs":                  (*call).listMatchingRefs,
	"git/get-ref":                             (*call).getRef,
}

// appOperations are answered to the App itself (JWT), not an installation.
var appOperations = map[string]bool{
	"apps/create-installation-access-token": true,
	"apps/get-repo-installation":            true,
}

// ServeHTTP answers one request: route by the description, inject faults,
// authenticate, validate the body, then run the operation's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	escaped := r.URL.EscapedPath()
	prefix := ""
	if escaped == EnterprisePrefix || strings.HasPrefix(escaped, EnterprisePrefix+"/") {
		prefix = EnterprisePrefix
		escaped = strings.TrimPrefix(escaped, EnterprisePrefix)
	}
	apiPath := r.URL.Path
	if prefix != "" {
		apiPath = strings.TrimPrefix(apiPath, EnterprisePrefix)
	}
	if apiPath == "" {
		apiPath = "/"
	}
	entry := Request{Method: r.Method, Path: apiPath, RawQuery: r.URL.RawQuery, Body: string(raw)}
	status := s.serve(w, r, raw, prefix, escaped, apiPath, &entry)
	entry.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, entry)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, raw []byte, prefix, escaped, apiPath string, entry *Request) int {
	w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	w.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%d", time.Now().UnixNano()))
	op, params, _ := s.spec.match(r.Method, escaped)
	if op == nil {
		s.violate("%s %s: no such operation in GitHub's REST description (or not served by the fake)", r.Method, apiPath)
		return writeError(w, http.StatusNotFound, "Not Found", nil)
	}
	entry.Operation = op.ID
	if f := s.takeFault(r.Method, apiPath, op); f != 0 {
		return s.writeFault(w, f)
	}
	cred, err := s.authenticate(r.Header.Get("Authorization"), appOperations[op.ID])
	if err != nil {
		return writeError(w, http.StatusUnauthorized, err.Error(), nil)
	}
	c := &call{s: s, r: r, op: op, params: params, prefix: prefix, raw: raw, cred: cred, apiPath: apiPath}

	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(op.Path, "/repos/{owner}/{repo}") {
		c.repo = s.repo(params["owner"], params["repo"])
		// GitHub hides repositories an installation cannot see behind 404.
		if c.repo == nil || (!cred.app && c.repo.installationID != cred.installationID) {
			return writeError(w, http.StatusNotFound, "Not Found", nil)
		}
	}
	if op.body != nil && !s.checkBody(w, c) {
		return c.status
	}
	rep := handlers[op.ID](c)
	if rep.status == 0 {
		rep.status = op.Success
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.status == http.StatusUnprocessableEntity || rep.status == http.StatusBadRequest {
		s.violateLocked("%s %s: %d %s", r.Method, apiPath, rep.status, summarize(rep.body))
	}
	if rep.status == op.Success && op.response != nil && rep.body != nil {
		s.checkResponse(op, rep.body)
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return rep.status
	}
	writeJSON(w, rep.status, rep.body)
	return rep.status
}

// checkBody parses and validates the request body; on failure it has
// answered, recorded the violation and set c.status. s.mu is held.
func (s *Server) checkBody(w http.ResponseWriter, c *call) bool {
	raw := bytes.TrimSpace(c.raw)
	// GitHub reads a JSON null as no parameters; ghinstallation sends one
	// when it has no token options.
	if len(raw) == 0 || string(raw) == "null" {
		if !c.op.bodyRequired {
			return true
		}
		raw = []byte("{}") // GitHub then reports the missing fields
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		s.violateLocked("%s %s: body is not JSON: %v", c.r.Method, c.apiPath, err)
		c.status = writeError(w, http.StatusBadRequest, "Problems parsing JSON", nil)
		return false
	}
	errs := validate(c.op.body, doc)
	if len(errs) == 0 {
		return true
	}
	resource := resourceName(c.op.ID)
	msgs := make([]string, len(errs))
	list := make([]any, len(errs))
	for i, e := range errs {
		e.Resource = resource
		list[i] = e
		switch {
		case e.Code == "missing_field":
			msgs[i] = e.Message
		case e.Field == "":
			msgs[i] = "body: " + e.Message
		default:
			msgs[i] = e.Field + ": " + e.Message
		}
	}
	s.violateLocked("%s %s (%s): body breaks the schema: %s", c.r.Method, c.apiPath, c.op.ID, strings.Join(msgs, "; "))
	c.status = writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(msgs, "\n"), list)
	return false
}

// checkResponse records a violation when the fake's own answer breaks the
// documented response schema.
func (s *Server) checkResponse(op *operation, body any) {
	b, err := json.Marshal(body)
	if err == nil {
		var doc any
		doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err == nil {
			for _, e := range validate(op.response, doc) {
				s.violations = append(s.violations, fmt.Sprintf("fakegithub bug: %s response breaks the description at /%s: %s", op.ID, e.Field, e.Message))
			}
			return
		}
	}
	s.violations = append(s.violations, fmt.Sprintf("fakegithub bug: %s response: %v", op.ID, err))
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violateLocked(format, args...)
}

func (s *Server) violateLocked(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func summarize(body any) string {
	b, _ := json.Marshal(body)
	return string(b)
}

// resourceName is the "resource" GitHub names in validation errors.
func resourceName(opID string) string {
	switch {
	case strings.HasPrefix(opID, "checks/"):
		return "CheckRun"
	case strings.Contains(opID, "review-comment"):
		return "PullRequestReviewComment"
	case strings.Contains(opID, "review"):
		return "PullRequestReview"
	case strings.HasPrefix(opID, "pulls/"):
		return "PullRequest"
	case strings.Contains(opID, "comment"):
		return "IssueComment"
	case strings.Contains(opID, "label"):
		return "Label"
	case strings.HasPrefix(opID, "issues/"):
		return "Issue"
	case strings.HasPrefix(opID, "apps/"):
		return "InstallationToken"
	}
	return "Resource"
}

// errorBody is GitHub's error shape.
func errorBody(message string, errs []any) map[string]any {
	m := map[string]any{"message": message, "documentation_url": docsURL}
	if errs != nil {
		m["errors"] = errs
	}
	return m
}

func writeError(w http.ResponseWriter, status int, message string, errs []any) int {
	writeJSON(w, status, errorBody(message, errs))
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errorBody("fakegithub: "+err.Error(), nil))
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail is a handler's error answer.
func fail(status int, message string, errs ...any) reply {
	return reply{status: status, body: errorBody(message, errs)}
}

func notFound() reply { return fail(http.StatusNotFound, "Not Found") }

// validationFailed is GitHub's 422 for a request that passes the schema but
// not GitHub's own rules.
func validationFailed(resource, field, code, message string) reply {
	e := map[string]any{"resource": resource, "code": code}
	if field != "" {
		e["field"] = field
	}
	if message != "" {
		e["message"] = message
	}
	return fail(http.StatusUnprocessableEntity, "Validation Failed", e)
}
