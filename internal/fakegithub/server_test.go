package fakegithub

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v62/github"
)

const (
	testAppID   = 4242
	testInstall = 7
	owner       = "acme"
	repoName    = "prompts"
)

// testKey is generated once; RSA key generation is the slow part of setup.
var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// newFake starts a fake with one repository and fails the test at the end
// if the fake ever answered against the description.
func newFake(t *testing.T, mod ...func(*Options)) *Server {
	t.Helper()
	opts := Options{AppID: testAppID, PublicKey: &testKey.PublicKey, InstallationID: testInstall, GitBaseURL: "http://git.test"}
	for _, m := range mod {
		m(&opts)
	}
	srv := New(opts)
	t.Cleanup(func() {
		for _, v := range srv.Violations() {
			if strings.HasPrefix(v, "fakegithub bug") {
				t.Errorf("%s", v)
			}
		}
		srv.Close()
	})
	srv.AddRepo(Repo{Owner: owner, Name: repoName})
	return srv
}

// client is a go-github client authenticated as installation id through a
// real ghinstallation transport, at baseURL (the fake's APIURL by default).
func client(t *testing.T, srv *Server, id int64, baseURL ...string) *github.Client {
	t.Helper()
	base := srv.APIURL()
	if len(baseURL) > 0 {
		base = baseURL[0]
	}
	itr, err := ghinstallation.New(http.DefaultTransport, testAppID, id, keyPEM(testKey))
	if err != nil {
		t.Fatal(err)
	}
	itr.BaseURL = strings.TrimSuffix(base, "/")
	c, err := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(base, base)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// raw sends a request with an arbitrary JSON body through c's transport.
func raw(t *testing.T, c *github.Client, method, path string, body any) (*github.Response, error) {
	t.Helper()
	req, err := c.NewRequest(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(context.Background(), req, nil)
}

func status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	return 0
}

func violationsWith(srv *Server, sub string) []string {
	var out []string
	for _, v := range srv.Violations() {
		if strings.Contains(v, sub) {
			out = append(out, v)
		}
	}
	return out
}

func TestSubsetAndHandlersAgree(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.ops) != len(handlers) {
		t.Errorf("subset has %d operations, fake has %d handlers", len(sp.ops), len(handlers))
	}
	for id := range handlers {
		if sp.byID[id] == nil {
			t.Errorf("handler %s has no operation in testdata/openapi-subset.json", id)
		}
	}
	want := map[string]int{
		"checks/create": 201, "checks/update": 200, "issues/create-comment": 201,
		"issues/delete-comment": 204, "pulls/create": 201, "pulls/create-review": 200,
		"apps/create-installation-access-token": 201, "issues/add-labels": 200,
		"issues/remove-all-labels": 204, "pulls/request-reviewers": 201,
	}
	for id, code := range want {
		if got := sp.byID[id].Success; got != code {
			t.Errorf("%s answers %d, the description says %d", id, got, code)
		}
	}
}

func TestMatch(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, op string
		params           map[string]string
	}{
		{"GET", "/repos/a/b/issues/comments/5", "issues/get-comment", map[string]string{"comment_id": "5"}},
		{"GET", "/repos/a/b/issues/5/comments", "issues/list-comments", map[string]string{"issue_number": "5"}},
		{"GET", "/repos/a/b/commits/feature/x/check-runs", "checks/list-for-ref", map[string]string{"ref": "feature/x"}},
		{"GET", "/repos/a/b/git/matching-refs/tags/", "git/list-matching-refs", map[string]string{"ref": "tags/"}},
		{"DELETE", "/repos/a/b/issues/3/labels/needs%20review", "issues/remove-label", map[string]string{"name": "needs review"}},
		{"GET", "/repos/a/b/git/refs/tags", "", nil},
		{"DELETE", "/repos/a/b/check-runs", "", nil},
	}
	for _, tt := range tests {
		op, params, _ := sp.match(tt.method, tt.path)
		got := ""
		if op != nil {
			got = op.ID
		}
		if got != tt.op {
			t.Errorf("%s %s matched %q, want %q", tt.method, tt.path, got, tt.op)
			continue
		}
		for k, v := range tt.params {
			if params[k] != v {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, params[k], v)
			}
		}
	}
}

func TestInstallationTokenAndRepo(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	for _, base := range []string{srv.APIURL(), srv.URL + "/"} {
		c := client(t, srv, testInstall, base)
		if base == srv.URL+"/" {
			c = github.NewClient(c.Client()) // root-served, as api.github.com
			var err error
			if c.BaseURL, err = c.BaseURL.Parse(base); err != nil {
				t.Fatal(err)
			}
		}
		repo, resp, err := c.Repositories.Get(ctx, owner, repoName)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if resp.StatusCode != 200 || repo.GetDefaultBranch() != "main" || repo.GetFullName() != "acme/prompts" ||
			repo.GetOwner().GetLogin() != owner || repo.GetCloneURL() != "http://git.test/acme/prompts.git" ||
			repo.GetPrivate() || repo.GetFork() || repo.GetID() == 0 || repo.GetNodeID() == "" {
			t.Errorf("%s: repo = %+v", base, repo)
		}
	}
	tokens := srv.Tokens()
	if len(tokens) != 2 {
		t.Fatalf("tokens issued = %d, want 2 (one per transport)", len(tokens))
	}
	for _, tok := range tokens {
		if !strings.HasPrefix(tok, "ghs_") || !srv.ValidToken(tok) {
			t.Errorf("token %q: want a valid ghs_ token", tok)
		}
	}
	if srv.ValidToken("ghs_made_up") {
		t.Error("ValidToken accepted a token never issued")
	}
	reqs := srv.Requests()
	if reqs[0].Operation != "apps/create-installation-access-token" || reqs[0].Status != 201 || reqs[0].Path != "/app/installations/7/access_tokens" {
		t.Errorf("first request = %+v", reqs[0])
	}

	// The token response itself, through go-github's Apps service.
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, testAppID, keyPEM(testKey))
	if err != nil {
		t.Fatal(err)
	}
	atr.BaseURL = srv.APIURL()
	app, _ := github.NewClient(&http.Client{Transport: atr}).WithEnterpriseURLs(srv.APIURL(), srv.APIURL())
	tok, resp, err := app.Apps.CreateInstallationToken(ctx, testInstall, nil)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("CreateInstallationToken: %v", err)
	}
	if d := time.Until(tok.GetExpiresAt().Time); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expires_at in %v, want about 1h", d)
	}
	inst, _, err := app.Apps.FindRepositoryInstallation(ctx, owner, repoName)
	if err != nil || inst.GetID() != testInstall || inst.GetAppID() != testAppID {
		t.Errorf("FindRepositoryInstallation = %+v, %v", inst, err)
	}
	if _, _, err := app.Apps.CreateInstallationToken(ctx, 999, nil); status(err) != 404 {
		t.Errorf("token for unknown installation: %v, want 404", err)
	}
}

func TestBadCredentials(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *rsa.PrivateKey, iss string, iat, exp time.Time) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": iss, "iat": iat.Unix(), "exp": exp.Unix()}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := strconv.Itoa(testAppID)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"good", "Bearer " + sign(testKey, good, now.Add(-30*time.Second), now.Add(9*time.Minute)), 201},
		{"other key", "Bearer " + sign(other, good, now.Add(-30*time.Second), now.Add(9*time.Minute)), 401},
		{"other app", "Bearer " + sign(testKey, "1", now.Add(-30*time.Second), now.Add(9*time.Minute)), 401},
		{"expired", "Bearer " + sign(testKey, good, now.Add(-20*time.Minute), now.Add(-10*time.Minute)), 401},
		{"too long", "Bearer " + sign(testKey, good, now, now.Add(time.Hour)), 401},
		{"issued in the future", "Bearer " + sign(testKey, good, now.Add(5*time.Minute), now.Add(9*time.Minute)), 401},
		{"garbage", "Bearer not.a.jwt", 401},
		{"none", "", 401},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", srv.APIURL()+"app/installations/7/access_tokens", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, resp.StatusCode, tt.want, body)
		}
	}

	// ghinstallation with the wrong key fails to get a token.
	itr, _ := ghinstallation.New(http.DefaultTransport, testAppID, testInstall, keyPEM(other))
	itr.BaseURL = srv.APIURL()
	c, _ := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(srv.APIURL(), srv.APIURL())
	_, _, err = c.Repositories.Get(ctx, owner, repoName)
	var herr *ghinstallation.HTTPError
	if !errors.As(err, &herr) || herr.Response.StatusCode != 401 {
		t.Errorf("wrong key: %v, want a 401 from the token endpoint", err)
	}

	// Repository operations want an issued installation token.
	for _, auth := range []string{"", "token ghs_forged", "Bearer " + sign(testKey, good, now, now.Add(5*time.Minute))} {
		req, _ := http.NewRequest("GET", srv.APIURL()+"repos/acme/prompts", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("GET repo with %q: %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestInstallationScopeAndTokenExpiry(t *testing.T) {
	srv := newFake(t, func(o *Options) { o.TokenTTL = 30 * time.Second })
	srv.AddRepo(Repo{Owner: "other", Name: "repo", InstallationID: 8})
	ctx := context.Background()
	c := client(t, srv, testInstall)
	if _, _, err := c.Repositories.Get(ctx, "other", "repo"); status(err) != 404 {
		t.Errorf("repo of another installation: %v, want 404", err)
	}
	// ghinstallation renews a token that expires within a minute, so a 30 s
	// token is renewed before every request.
	if _, _, err := c.Repositories.Get(ctx, owner, repoName); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Tokens()); n != 2 {
		t.Errorf("tokens = %d, want 2", n)
	}
	srv.ExpireTokens()
	for _, tok := range srv.Tokens() {
		if srv.ValidToken(tok) {
			t.Errorf("token %s still valid after ExpireTokens", tok)
		}
	}
}

func TestCheckRunLifecycle(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	sha := strings.Repeat("a", 40)
	number := srv.AddPull(owner, repoName, PullRequest{HeadSHA: sha, HeadRef: "tweak"})

	run, resp, err := c.Checks.CreateCheckRun(ctx, owner, repoName, github.CreateCheckRunOptions{
		Name: "promptgate", HeadSHA: sha, Status: github.String("in_progress"),
		ExternalID: github.String("delivery-1"), DetailsURL: github.String("https://pg.test/runs/1"),
		Output: &github.CheckRunOutput{Title: github.String("Running"), Summary: github.String("Running the golden set")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || run.GetID() == 0 || run.GetStatus() != "in_progress" || run.GetHeadSHA() != sha ||
		run.GetHTMLURL() == "" || run.GetNodeID() == "" || run.GetApp().GetID() != testAppID ||
		len(run.PullRequests) != 1 || run.PullRequests[0].GetNumber() != number {
		t.Fatalf("created %+v (status %d)", run, resp.StatusCode)
	}

	annotations := func(n, from int) []*github.CheckRunAnnotation {
		var out []*github.CheckRunAnnotation
		for i := range n {
			out = append(out, &github.CheckRunAnnotation{
				Path: github.String("artifacts/a.yaml"), StartLine: github.Int(from + i), EndLine: github.Int(from + i),
				AnnotationLevel: github.String("failure"), Message: github.String("bad key"),
			})
		}
		return out
	}
	for batch := range 2 {
		_, resp, err := c.Checks.UpdateCheckRun(ctx, owner, repoName, run.GetID(), github.UpdateCheckRunOptions{
			Output: &github.CheckRunOutput{Title: github.String("Problems"), Summary: github.String("100 problems"), Annotations: annotations(50, batch*50+1)},
		})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("update %d: %v", batch, err)
		}
	}
	final, _, err := c.Checks.UpdateCheckRun(ctx, owner, repoName, run.GetID(), github.UpdateCheckRunOptions{
		Name: "promptgate", Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{Title: github.String("2 categories worse"), Summary: github.String("see details"), Text: github.String("long report")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if final.GetStatus() != "completed" || final.GetConclusion() != "failure" || final.GetCompletedAt().IsZero() ||
		final.GetOutput().GetAnnotationsCount() != 100 || final.GetName() != "promptgate" {
		t.Errorf("final = %+v", final)
	}

	// More than 50 annotations in one request is refused, as documented.
	_, _, err = c.Checks.UpdateCheckRun(ctx, owner, repoName, run.GetID(), github.UpdateCheckRunOptions{
		Output: &github.CheckRunOutput{Summary: github.String("x"), Annotations: annotations(51, 1)},
	})
	if status(err) != 422 {
		t.Errorf("51 annotations: %v, want 422", err)
	}
	if len(violationsWith(srv, "output/annotations")) != 1 {
		t.Errorf("violations = %q, want one about output/annotations", srv.Violations())
	}
	// So is output text over 65535 characters, and an unknown level.
	_, _, err = c.Checks.CreateCheckRun(ctx, owner, repoName, github.CreateCheckRunOptions{
		Name: "promptgate", HeadSHA: sha,
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Text: github.String(strings.Repeat("x", 65536))},
	})
	if status(err) != 422 {
		t.Errorf("text of 65536: %v, want 422", err)
	}
	_, _, err = c.Checks.CreateCheckRun(ctx, owner, repoName, github.CreateCheckRunOptions{
		Name: "promptgate", HeadSHA: sha,
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: []*github.CheckRunAnnotation{{
			Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("error"), Message: github.String("m"),
		}}},
	})
	if status(err) != 422 {
		t.Errorf("annotation_level error: %v, want 422", err)
	}

	got, ok := srv.LatestCheckRun(owner, repoName, "promptgate", sha)
	if !ok {
		t.Fatal("no check run recorded")
	}
	if seq := strings.Join(got.Sequence(), " → "); seq != "in_progress → in_progress → in_progress → completed/failure" {
		t.Errorf("sequence = %s", seq)
	}
	if len(got.Annotations) != 100 || got.Annotations[99].StartLine != 100 || got.Output.Text != "long report" ||
		got.ExternalID != "delivery-1" || len(got.History[1].Annotations) != 50 {
		t.Errorf("recorded run = %+v", got)
	}

	list, _, err := c.Checks.ListCheckRunsForRef(ctx, owner, repoName, sha, nil)
	if err != nil || list.GetTotal() != 1 || list.CheckRuns[0].GetConclusion() != "failure" {
		t.Errorf("ListCheckRunsForRef = %+v, %v", list, err)
	}
	list, _, err = c.Checks.ListCheckRunsForRef(ctx, owner, repoName, "tweak", nil)
	if err != nil || list.GetTotal() != 1 {
		t.Errorf("ListCheckRunsForRef by branch = %+v, %v", list, err)
	}
	one, _, err := c.Checks.GetCheckRun(ctx, owner, repoName, run.GetID())
	if err != nil || one.GetOutput().GetTitle() != "2 categories worse" {
		t.Errorf("GetCheckRun = %+v, %v", one, err)
	}
}

func TestMissingRequiredFieldIsRefusedAndRecorded(t *testing.T) {
	srv := newFake(t)
	c := client(t, srv, testInstall)
	_, err := raw(t, c, "POST", "repos/acme/prompts/check-runs", map[string]any{"name": "promptgate", "status": "queued"})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 {
		t.Fatalf("check run without head_sha: %v, want 422", err)
	}
	if !strings.HasPrefix(er.Message, "Invalid request") || len(er.Errors) == 0 || er.Errors[0].Code != "missing_field" {
		t.Errorf("error = %+v", er)
	}
	if v := violationsWith(srv, "head_sha"); len(v) != 1 || !strings.Contains(v[0], "checks/create") {
		t.Errorf("violations = %q", srv.Violations())
	}
	if len(srv.CheckRuns(owner, repoName)) != 0 {
		t.Error("a refused check run was recorded")
	}

	// Wrong type, and completed without a conclusion.
	if _, err := raw(t, c, "POST", "repos/acme/prompts/check-runs", map[string]any{"name": 5, "head_sha": "abc"}); status(err) != 422 {
		t.Errorf("name as number: %v, want 422", err)
	}
	if _, err := raw(t, c, "POST", "repos/acme/prompts/check-runs", map[string]any{"name": "n", "head_sha": "abc", "status": "completed"}); status(err) != 422 {
		t.Errorf("completed without conclusion: %v, want 422", err)
	}
	if n := len(srv.Violations()); n != 3 {
		t.Errorf("violations = %d, want 3: %q", n, srv.Violations())
	}
}

func TestIssueComments(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	number := srv.AddPull(owner, repoName, PullRequest{Title: "tweak prompt"})
	srv.AddComment(owner, repoName, number, "alice", "looks good")

	cm, resp, err := c.Issues.CreateComment(ctx, owner, repoName, number, &github.IssueComment{Body: github.String("<!-- promptgate --> running")})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v", err)
	}
	if cm.GetID() == 0 || cm.GetUser().GetLogin() != "promptgate[bot]" || cm.GetHTMLURL() == "" || cm.GetNodeID() == "" {
		t.Errorf("comment = %+v", cm)
	}
	edited, resp, err := c.Issues.EditComment(ctx, owner, repoName, cm.GetID(), &github.IssueComment{Body: github.String("<!-- promptgate --> report")})
	if err != nil || resp.StatusCode != 200 || edited.GetBody() != "<!-- promptgate --> report" {
		t.Fatalf("edit: %+v, %v", edited, err)
	}
	for i := range 3 {
		if _, _, err := c.Issues.CreateComment(ctx, owner, repoName, number, &github.IssueComment{Body: github.String("extra " + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}

	// Paginated listing, following Link headers.
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2}}
	pages := 0
	for {
		page, resp, err := c.Issues.ListComments(ctx, owner, repoName, number, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, page...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(all) != 5 || pages != 3 || all[0].GetUser().GetLogin() != "alice" || all[1].GetBody() != "<!-- promptgate --> report" {
		t.Errorf("listed %d comments in %d pages: first %q", len(all), pages, all[0].GetBody())
	}

	if resp, err := c.Issues.DeleteComment(ctx, owner, repoName, all[4].GetID()); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := c.Issues.GetComment(ctx, owner, repoName, all[4].GetID()); status(err) != 404 {
		t.Errorf("get deleted comment: %v, want 404", err)
	}

	// GitHub's 65536-character limit.
	_, _, err = c.Issues.CreateComment(ctx, owner, repoName, number, &github.IssueComment{Body: github.String(strings.Repeat("é", 65537))})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 || len(er.Errors) != 1 || !strings.Contains(er.Errors[0].Message, "Body is too long") {
		t.Errorf("long comment: %v, want 422 Body is too long", err)
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, repoName, number, &github.IssueComment{Body: github.String(strings.Repeat("é", 65536))}); err != nil {
		t.Errorf("comment of exactly 65536 characters: %v", err)
	}
	if _, _, err := c.Issues.EditComment(ctx, owner, repoName, cm.GetID(), &github.IssueComment{Body: github.String(strings.Repeat("x", 65537))}); status(err) != 422 {
		t.Errorf("long edit: %v, want 422", err)
	}
	if len(violationsWith(srv, "Body is too long")) != 2 {
		t.Errorf("violations = %q", srv.Violations())
	}

	comments := srv.Comments(owner, repoName, number)
	if len(comments) != 5 || comments[1].Edits != 1 || len(comments[1].Bodies) != 2 || comments[1].Body != "<!-- promptgate --> report" {
		t.Errorf("comments = %+v", comments)
	}
	if got := srv.CommentActivity(owner, repoName, number); got != (CommentActivity{Created: 5, Edited: 1, Deleted: 1}) {
		t.Errorf("activity = %+v", got)
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, repoName, 999, &github.IssueComment{Body: github.String("x")}); status(err) != 404 {
		t.Errorf("comment on missing issue: %v, want 404", err)
	}
}

func TestFaults(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	opts := github.CreateCheckRunOptions{Name: "promptgate", HeadSHA: strings.Repeat("b", 40)}

	srv.FailNext("POST", "/repos/{owner}/{repo}/check-runs", 1, BadGateway)
	if _, _, err := c.Checks.CreateCheckRun(ctx, owner, repoName, opts); status(err) != 502 {
		t.Fatalf("first create: %v, want 502", err)
	}
	if _, resp, err := c.Checks.CreateCheckRun(ctx, owner, repoName, opts); err != nil || resp.StatusCode != 201 {
		t.Fatalf("retry: %v", err)
	}
	if n := len(srv.CheckRuns(owner, repoName)); n != 1 {
		t.Errorf("check runs = %d, want 1 (the 502 must not create one)", n)
	}

	srv.FailNext("", "checks/create", 1, TooManyRequests)
	_, _, err := c.Checks.CreateCheckRun(ctx, owner, repoName, opts)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 429 || er.Response.Header.Get("Retry-After") != "1" {
		t.Errorf("429: %v", err)
	}

	srv.FailNext("POST", "", 1, SecondaryRateLimit)
	_, _, err = c.Issues.CreateComment(ctx, owner, repoName, srv.AddPull(owner, repoName, PullRequest{}), &github.IssueComment{Body: github.String("x")})
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) {
		t.Fatalf("secondary rate limit: %T %v, want *github.AbuseRateLimitError", err, err)
	}
	if abuse.RetryAfter == nil || *abuse.RetryAfter != time.Second || !strings.Contains(abuse.Message, "secondary rate limit") {
		t.Errorf("abuse error = %+v", abuse)
	}

	srv.FailNext("GET", "/repos/acme/*", 1, PrimaryRateLimit)
	// go-github then refuses requests until the reset, so a fresh client.
	_, _, err = client(t, srv, testInstall).Repositories.Get(ctx, owner, repoName)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 {
		t.Errorf("primary rate limit: %v, want *github.RateLimitError", err)
	}

	var statuses []int
	for _, r := range srv.Requests() {
		if r.Operation != "apps/create-installation-access-token" {
			statuses = append(statuses, r.Status)
		}
	}
	if got := strconv.Itoa(len(statuses)); got != "5" || statuses[0] != 502 || statuses[1] != 201 || statuses[2] != 429 || statuses[3] != 403 || statuses[4] != 403 {
		t.Errorf("request statuses = %v", statuses)
	}
	if len(srv.Violations()) != 0 {
		t.Errorf("faults are not violations: %q", srv.Violations())
	}
}

func TestUnknownEndpoint(t *testing.T) {
	srv := newFake(t)
	c := client(t, srv, testInstall)
	for _, tt := range []struct{ method, path string }{
		{"GET", "repos/acme/prompts/git/refs/tags"}, // gone from the description: matching-refs replaced it
		{"DELETE", "repos/acme/prompts/check-runs"},
		{"GET", "nope"},
	} {
		_, err := raw(t, c, tt.method, tt.path, nil)
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != 404 || er.Message != "Not Found" || er.DocumentationURL == "" {
			t.Errorf("%s %s: %v, want GitHub's 404", tt.method, tt.path, err)
		}
	}
	if n := len(violationsWith(srv, "no such operation")); n != 3 {
		t.Errorf("violations = %q", srv.Violations())
	}
}

func TestPullRequests(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	srv.SetPermission(owner, repoName, "bob", "write")
	patch := "@@ -1,3 +1,4 @@\n name: support\n-version: 14\n+version: 15\n+model: gpt-4o-2024-08-06\n params: {}"
	head := strings.Repeat("c", 40)
	number := srv.AddPull(owner, repoName, PullRequest{
		Title: "bump", User: "alice", HeadSHA: head, HeadRef: "bump", Labels: []string{"prompt"},
		Files: []File{
			{Filename: "artifacts/support.yaml", Additions: 2, Deletions: 1, Patch: patch},
			{Filename: "golden/support/a.yaml", Status: "added", Additions: 10},
			{Filename: "README.md", Additions: 1, Deletions: 1},
		},
		Reviews: []Review{{User: "bob", State: "APPROVED"}},
	})

	pr, _, err := c.PullRequests.Get(ctx, owner, repoName, number)
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetNumber() != number || pr.GetHead().GetSHA() != head || pr.GetHead().GetRef() != "bump" ||
		pr.GetBase().GetRef() != "main" || pr.GetUser().GetLogin() != "alice" || pr.GetHead().GetRepo().GetFork() ||
		len(pr.Labels) != 1 || pr.Labels[0].GetName() != "prompt" || pr.GetHTMLURL() == "" || pr.GetNodeID() == "" ||
		pr.GetBase().GetRepo().GetCloneURL() != "http://git.test/acme/prompts.git" {
		t.Errorf("pull = %+v", pr)
	}

	files, resp, err := c.PullRequests.ListFiles(ctx, owner, repoName, number, &github.ListOptions{PerPage: 2})
	if err != nil || len(files) != 2 || resp.NextPage != 2 || resp.LastPage != 2 || files[0].GetSHA() == "" || files[0].GetChanges() != 3 {
		t.Errorf("files page 1 = %v (next %d), %v", files, resp.NextPage, err)
	}
	files, resp, _ = c.PullRequests.ListFiles(ctx, owner, repoName, number, &github.ListOptions{PerPage: 2, Page: 2})
	if len(files) != 1 || resp.NextPage != 0 || files[0].GetFilename() != "README.md" {
		t.Errorf("files page 2 = %v", files)
	}

	reviews, _, err := c.PullRequests.ListReviews(ctx, owner, repoName, number, nil)
	if err != nil || len(reviews) != 1 || reviews[0].GetState() != "APPROVED" || reviews[0].GetUser().GetLogin() != "bob" || reviews[0].GetSubmittedAt().IsZero() {
		t.Errorf("reviews = %v, %v", reviews, err)
	}

	// A COMMENT review with a suggestion on a line of the diff.
	review, resp, err := c.PullRequests.CreateReview(ctx, owner, repoName, number, &github.PullRequestReviewRequest{
		CommitID: github.String(head), Event: github.String("COMMENT"), Body: github.String("version is wrong"),
		Comments: []*github.DraftReviewComment{{
			Path: github.String("artifacts/support.yaml"), Line: github.Int(2), Side: github.String("RIGHT"),
			Body: github.String("```suggestion\nversion: 15\n```"),
		}},
	})
	if err != nil || resp.StatusCode != 200 || review.GetState() != "COMMENTED" || review.GetID() == 0 {
		t.Fatalf("review = %+v, %v", review, err)
	}
	for _, bad := range []*github.DraftReviewComment{
		{Path: github.String("not/in/the/diff.yaml"), Line: github.Int(1), Body: github.String("x")},
		{Path: github.String("artifacts/support.yaml"), Line: github.Int(40), Body: github.String("x")},
		{Path: github.String("artifacts/support.yaml"), Line: github.Int(4), Side: github.String("LEFT"), Body: github.String("x")},
	} {
		_, _, err := c.PullRequests.CreateReview(ctx, owner, repoName, number, &github.PullRequestReviewRequest{
			Event: github.String("COMMENT"), Body: github.String("x"), Comments: []*github.DraftReviewComment{bad},
		})
		if status(err) != 422 {
			t.Errorf("review comment at %s:%d: %v, want 422", bad.GetPath(), bad.GetLine(), err)
		}
	}
	rc, resp, err := c.PullRequests.CreateComment(ctx, owner, repoName, number, &github.PullRequestComment{
		CommitID: github.String(head), Path: github.String("artifacts/support.yaml"), Line: github.Int(3), Side: github.String("RIGHT"),
		Body: github.String("pin checked"),
	})
	if err != nil || resp.StatusCode != 201 || rc.GetID() == 0 || rc.GetLine() != 3 {
		t.Fatalf("review comment = %+v, %v", rc, err)
	}
	if _, err := raw(t, c, "POST", "repos/acme/prompts/pulls/"+strconv.Itoa(number)+"/comments", map[string]any{"body": "x", "path": "README.md", "line": 1}); status(err) != 422 {
		t.Errorf("review comment without commit_id: %v, want 422", err)
	}
	if got := srv.ReviewComments(owner, repoName, number); len(got) != 2 || !strings.Contains(got[0].Body, "suggestion") || got[0].ReviewID != review.GetID() || got[1].Line != 3 {
		t.Errorf("recorded review comments = %+v", got)
	}

	// Reviewers must be collaborators, and not the author.
	if _, _, err := c.PullRequests.RequestReviewers(ctx, owner, repoName, number, github.ReviewersRequest{Reviewers: []string{"mallory"}}); status(err) != 422 {
		t.Errorf("request a non-collaborator: %v, want 422", err)
	}
	if _, resp, err := c.PullRequests.RequestReviewers(ctx, owner, repoName, number, github.ReviewersRequest{Reviewers: []string{"bob"}}); err != nil || resp.StatusCode != 201 {
		t.Errorf("request bob: %v", err)
	}
	if got := srv.RequestedReviewers(owner, repoName, number); len(got) != 1 || got[0] != "bob" {
		t.Errorf("requested = %v", got)
	}
	if _, _, err := c.PullRequests.Get(ctx, owner, repoName, 999); status(err) != 404 {
		t.Errorf("missing pull: %v, want 404", err)
	}
}

func TestCreatePullRequest(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	srv.SetRef(owner, repoName, "heads/main", strings.Repeat("1", 40))
	srv.SetRef(owner, repoName, "refs/heads/promptgate/revert-support-v15", strings.Repeat("2", 40))
	srv.SetRef(owner, repoName, "tags/support/v14", strings.Repeat("3", 40))
	srv.SetRef(owner, repoName, "tags/support/v15", strings.Repeat("4", 40))
	srv.SetPermission(owner, repoName, "oncall", "write")

	newPR := &github.NewPullRequest{
		Title: github.String("Revert support to v14"), Head: github.String("acme:promptgate/revert-support-v15"),
		Base: github.String("main"), Body: github.String("escalation-rate fired"),
	}
	pr, resp, err := c.PullRequests.Create(ctx, owner, repoName, newPR)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v", err)
	}
	if pr.GetHead().GetSHA() != strings.Repeat("2", 40) || pr.GetUser().GetLogin() != "promptgate[bot]" || pr.GetState() != "open" {
		t.Errorf("pr = %+v", pr)
	}
	if _, _, err := c.PullRequests.Create(ctx, owner, repoName, newPR); status(err) != 422 {
		t.Errorf("duplicate: %v, want 422", err)
	}
	_, _, err = c.PullRequests.Create(ctx, owner, repoName, &github.NewPullRequest{Title: github.String("x"), Head: github.String("no-such-branch"), Base: github.String("main")})
	if status(err) != 422 {
		t.Errorf("unknown head: %v, want 422", err)
	}
	if _, err := raw(t, c, "POST", "repos/acme/prompts/pulls", map[string]any{"title": "no head"}); status(err) != 422 {
		t.Errorf("missing head/base: %v, want 422", err)
	}

	open, _, err := c.PullRequests.List(ctx, owner, repoName, &github.PullRequestListOptions{State: "open", Head: "acme:promptgate/revert-support-v15"})
	if err != nil || len(open) != 1 || open[0].GetNumber() != pr.GetNumber() {
		t.Errorf("list by head = %v, %v", open, err)
	}
	open, _, _ = c.PullRequests.List(ctx, owner, repoName, &github.PullRequestListOptions{State: "open", Head: "acme:other"})
	if len(open) != 0 {
		t.Errorf("list by other head = %v", open)
	}
	if _, _, err := c.PullRequests.RequestReviewers(ctx, owner, repoName, pr.GetNumber(), github.ReviewersRequest{Reviewers: []string{"oncall"}}); err != nil {
		t.Errorf("request reviewers: %v", err)
	}
	created := srv.CreatedPulls(owner, repoName)
	if len(created) != 1 || created[0].Body != "escalation-rate fired" || created[0].HeadRef != "promptgate/revert-support-v15" ||
		created[0].BaseRef != "main" || len(created[0].RequestedReviewers) != 1 {
		t.Errorf("created = %+v", created)
	}
	closed, resp, err := c.PullRequests.Edit(ctx, owner, repoName, pr.GetNumber(), &github.PullRequest{State: github.String("closed")})
	if err != nil || resp.StatusCode != 200 || closed.GetState() != "closed" || closed.GetClosedAt().IsZero() {
		t.Errorf("close: %+v, %v", closed, err)
	}

	refs, _, err := c.Git.ListMatchingRefs(ctx, owner, repoName, &github.ReferenceListOptions{Ref: "tags/support/"})
	if err != nil || len(refs) != 2 || refs[1].GetRef() != "refs/tags/support/v15" || refs[1].GetObject().GetSHA() != strings.Repeat("4", 40) {
		t.Errorf("matching refs = %v, %v", refs, err)
	}
	ref, _, err := c.Git.GetRef(ctx, owner, repoName, "tags/support/v14")
	if err != nil || ref.GetObject().GetSHA() != strings.Repeat("3", 40) {
		t.Errorf("get ref = %v, %v", ref, err)
	}
	if _, _, err := c.Git.GetRef(ctx, owner, repoName, "tags/support/v99"); status(err) != 404 {
		t.Errorf("missing ref: %v, want 404", err)
	}
}

func TestIssuesLabelsPermissions(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	srv.AddRepo(Repo{Owner: owner, Name: "private", Private: true})
	srv.SetPermission(owner, repoName, "alice", "admin")
	srv.SetPermission(owner, repoName, "carol", "maintain")

	is, resp, err := c.Issues.Create(ctx, owner, repoName, &github.IssueRequest{
		Title: github.String("Drift on support v14"), Body: github.String("golden set dropped"), Labels: &[]string{"promptgate", "drift"},
	})
	if err != nil || resp.StatusCode != 201 || is.GetNumber() == 0 || len(is.Labels) != 2 || is.GetUser().GetLogin() != "promptgate[bot]" {
		t.Fatalf("create issue = %+v, %v", is, err)
	}
	srv.AddIssue(owner, repoName, Issue{Title: "human issue", Labels: []string{"drift"}})
	list, _, err := c.Issues.ListByRepo(ctx, owner, repoName, &github.IssueListByRepoOptions{State: "open", Labels: []string{"promptgate", "drift"}})
	if err != nil || len(list) != 1 || list[0].GetNumber() != is.GetNumber() {
		t.Errorf("list by labels = %v, %v", list, err)
	}
	edited, _, err := c.Issues.Edit(ctx, owner, repoName, is.GetNumber(), &github.IssueRequest{State: github.String("closed"), StateReason: github.String("not_planned")})
	if err != nil || edited.GetState() != "closed" || edited.GetStateReason() != "not_planned" {
		t.Errorf("close issue = %+v, %v", edited, err)
	}
	if got := srv.Issues(owner, repoName); len(got) != 2 || got[0].State != "closed" || !got[0].ViaAPI {
		t.Errorf("issues = %+v", got)
	}

	number := srv.AddPull(owner, repoName, PullRequest{})
	labels, resp, err := c.Issues.AddLabelsToIssue(ctx, owner, repoName, number, []string{"promptgate/fail", "needs review"})
	if err != nil || resp.StatusCode != 200 || len(labels) != 2 {
		t.Fatalf("add labels = %v, %v", labels, err)
	}
	if _, err := c.Issues.RemoveLabelForIssue(ctx, owner, repoName, number, "needs review"); err != nil {
		t.Errorf("remove label: %v", err)
	}
	if _, err := c.Issues.RemoveLabelForIssue(ctx, owner, repoName, number, "absent"); status(err) != 404 {
		t.Errorf("remove absent label: %v, want 404", err)
	}
	if _, _, err := c.Issues.ReplaceLabelsForIssue(ctx, owner, repoName, number, []string{"promptgate/pass"}); err != nil {
		t.Errorf("replace labels: %v", err)
	}
	got, _, _ := c.Issues.ListLabelsByIssue(ctx, owner, repoName, number, nil)
	if len(got) != 1 || got[0].GetName() != "promptgate/pass" || srv.Labels(owner, repoName, number)[0] != "promptgate/pass" {
		t.Errorf("labels = %v", got)
	}
	if resp, err := c.Issues.RemoveLabelsForIssue(ctx, owner, repoName, number); err != nil || resp.StatusCode != 204 {
		t.Errorf("remove all labels: %v", err)
	}

	for _, tt := range []struct{ repo, user, perm, role string }{
		{repoName, "alice", "admin", "admin"},
		{repoName, "carol", "write", "maintain"},
		{repoName, "stranger", "read", "read"},
		{"private", "stranger", "none", "none"},
		{repoName, owner, "admin", "admin"},
	} {
		p, _, err := c.Repositories.GetPermissionLevel(ctx, owner, tt.repo, tt.user)
		if err != nil || p.GetPermission() != tt.perm || p.GetUser().GetLogin() != tt.user {
			t.Errorf("%s on %s = %+v, %v; want %s", tt.user, tt.repo, p, err, tt.perm)
		}
	}
	if len(srv.Violations()) != 0 {
		t.Errorf("violations = %q", srv.Violations())
	}
}

func TestRequestLogAndBadJSON(t *testing.T) {
	srv := newFake(t)
	c := client(t, srv, testInstall)
	req, _ := http.NewRequest("POST", srv.APIURL()+"repos/acme/prompts/issues", strings.NewReader("{not json"))
	resp, err := c.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Message string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Message != "Problems parsing JSON" {
		t.Errorf("bad JSON: %d %q", resp.StatusCode, body.Message)
	}
	if len(violationsWith(srv, "not JSON")) != 1 {
		t.Errorf("violations = %q", srv.Violations())
	}
	log := srv.Requests()
	last := log[len(log)-1]
	if last.Method != "POST" || last.Path != "/repos/acme/prompts/issues" || last.Status != 400 || last.Body != "{not json" || last.Operation != "issues/create" {
		t.Errorf("last request = %+v", last)
	}
}

func TestForkAndEditedPull(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	number := srv.AddPull(owner, repoName, PullRequest{User: "eve", Fork: true, HeadRef: "patch-1"})
	pr, _, err := c.PullRequests.Get(ctx, owner, repoName, number)
	if err != nil {
		t.Fatal(err)
	}
	if !pr.GetHead().GetRepo().GetFork() || pr.GetHead().GetRepo().GetFullName() != "eve/prompts" ||
		pr.GetHead().GetLabel() != "eve:patch-1" || pr.GetBase().GetRepo().GetFullName() != "acme/prompts" {
		t.Errorf("fork pull head = %+v", pr.GetHead())
	}
	srv.AddReview(owner, repoName, number, Review{User: "bob", State: "APPROVED"})
	newHead := strings.Repeat("d", 40)
	if !srv.EditPull(owner, repoName, number, func(p *PullRequest) { p.HeadSHA = newHead }) {
		t.Fatal("EditPull found no pull request")
	}
	pr, _, _ = c.PullRequests.Get(ctx, owner, repoName, number)
	if pr.GetHead().GetSHA() != newHead || len(srv.Reviews(owner, repoName, number)) != 1 {
		t.Errorf("after EditPull: head %s, reviews %v", pr.GetHead().GetSHA(), srv.Reviews(owner, repoName, number))
	}
}

func TestResponseCheckCatchesTypeErrors(t *testing.T) {
	srv := newFake(t)
	op := srv.spec.byID["pulls/get"]
	srv.mu.Lock()
	srv.checkResponse(op, map[string]any{"number": "1", "state": "merged", "user": map[string]any{"login": 5}})
	srv.mu.Unlock()
	v := srv.Violations()
	for _, want := range []string{"/number", "/state", "/user/login"} {
		if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, want+":") }) {
			t.Errorf("no violation at %s in %q", want, v)
		}
	}
	srv.mu.Lock()
	srv.violations = nil // the cleanup check would report these on purpose
	srv.mu.Unlock()
}

// TestSubsetIsCurrent regenerates the subset from GitHub's description, when
// it is at hand, and compares it with testdata.
func TestSubsetIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the extractor")
	}
	ref := os.Getenv("PROMPTGATE_GITHUB_OPENAPI")
	if ref == "" {
		ref = filepath.Join("..", "..", "..", "shared", "reference", "github-rest-openapi.json.gz")
	}
	if _, err := os.Stat(ref); err != nil {
		t.Skipf("description not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), "subset.json")
	cmd := exec.Command("go", "run", "./internal/openapisubset", "-in", ref, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("extractor: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, subsetJSON) {
		t.Error("testdata/openapi-subset.json is stale: run go generate ./internal/fakegithub")
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c := client(t, srv, testInstall)
	number := srv.AddPull(owner, repoName, PullRequest{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				body := fmt.Sprintf("worker %d comment %d", i, j)
				if _, _, err := c.Issues.CreateComment(ctx, owner, repoName, number, &github.IssueComment{Body: &body}); err != nil {
					t.Error(err)
				}
				_ = srv.Comments(owner, repoName, number)
				_ = srv.Requests()
			}
		}()
	}
	wg.Wait()
	if got := srv.CommentActivity(owner, repoName, number).Created; got != 40 {
		t.Errorf("created = %d, want 40", got)
	}
}
