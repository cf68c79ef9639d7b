package bot_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakegithub"
)

// TestForkPolicy: a fork PR waits for a maintainer; a reader's
// "/promptgate run" does nothing; a writer's runs the gate.
func TestForkPolicy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("from-fork", w.files(nil), true)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 20*time.Second)
	if cr.Conclusion != "neutral" || !strings.Contains(cr.Output.Title, "waiting for a maintainer") {
		t.Fatalf("fork check %s %q", cr.Conclusion, cr.Output.Title)
	}
	if w.llm.Calls() != 0 {
		t.Fatalf("fork PR spent %d model calls before approval", w.llm.Calls())
	}
	comment := func(user string) {
		id := w.gh.AddComment(owner, repoName, pr, user, "/promptgate run")
		ev := w.event("created", pr, map[string]any{
			"issue":   map[string]any{"number": pr, "pull_request": map[string]any{"url": "https://example/pulls/1"}},
			"comment": map[string]any{"id": id, "body": "/promptgate run", "user": map[string]any{"login": user}},
			"sender":  map[string]any{"login": user},
		})
		delete(ev, "pull_request")
		delete(ev, "number")
		if code := w.deliver("issue_comment", ev, w.newDelivery()); code != 202 {
			t.Fatalf("comment delivery %d", code)
		}
	}
	comment("mallory")
	time.Sleep(1500 * time.Millisecond)
	if w.llm.Calls() != 0 {
		t.Fatalf("a reader's /promptgate run spent %d calls", w.llm.Calls())
	}
	comment("alice")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha); cr.Status == "completed" && cr.Conclusion == "failure" {
			if w.llm.Calls() == 0 {
				t.Fatal("gate concluded without model calls")
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("writer's /promptgate run did not gate the fork PR\n%s", tail(w.logs.String(), 3000))
}

// TestAcceptRegression: the label from a reader does nothing; from a
// writer it turns the failed check green, naming who accepted it.
func TestAcceptRegression(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	if cr := w.waitCheck(sha, 60*time.Second); cr.Conclusion != "failure" {
		t.Fatalf("conclusion %s", cr.Conclusion)
	}
	label := func(user string) {
		w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) { p.Labels = []string{"promptgate:accept-regression"} })
		ev := w.event("labeled", pr, map[string]any{"label": map[string]any{"name": "promptgate:accept-regression"}, "sender": map[string]any{"login": user}})
		w.deliver("pull_request", ev, w.newDelivery())
	}
	label("mallory")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(w.gh.Comments(owner, repoName, pr)) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha); cr.Conclusion != "failure" {
		t.Fatalf("a reader's label changed the check to %s", cr.Conclusion)
	}
	label("alice")
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha)
		if cr.Status == "completed" && cr.Conclusion == "success" {
			if !strings.Contains(cr.Output.Title, "accepted by @alice") {
				t.Fatalf("title %q", cr.Output.Title)
			}
			c := w.stickyComments(pr)
			if len(c) != 1 || !strings.Contains(c[0].Body, "Regression accepted by @alice") {
				t.Fatalf("comment does not record the acceptance")
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("writer's label did not turn the check green\n%s", tail(w.logs.String(), 3000))
}

// TestForgedPayloadsRejected: bad, missing or forged signatures and
// malformed bodies get 400 and nothing is processed.
func TestForgedPayloadsRejected(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, _ := w.openPR("v15", w.files(nil), false)
	ev := w.event("opened", pr, nil)
	cases := map[string]int{
		"unsigned":     deliverTo(t, w.url, "pull_request", ev, w.newDelivery(), ""),
		"wrong secret": deliverTo(t, w.url, "pull_request", ev, w.newDelivery(), "not-the-secret"),
	}
	for name, code := range cases {
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	// A validly signed body that is not a pull_request payload.
	if code := deliverTo(t, w.url, "pull_request", "not an object", w.newDelivery(), secret); code != http.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", code)
	}
	// An event nobody handles is accepted and ignored.
	if code := deliverTo(t, w.url, "star", map[string]any{"action": "created"}, w.newDelivery(), secret); code != http.StatusAccepted {
		t.Errorf("unhandled event: %d, want 202", code)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(w.gh.CheckRuns(owner, repoName)); n != 0 {
		t.Fatalf("%d check runs after forged deliveries", n)
	}
	st := w.openStore()
	if jobs, _ := st.Jobs(t.Context(), "gate", ""); len(jobs) != 0 {
		t.Fatalf("%d jobs queued from forged deliveries", len(jobs))
	}
}

// TestGitHubTransientFailures: 502s and a secondary rate limit on the
// check-run API are retried with the backoff in the logs, and the run
// completes.
func TestGitHubTransientFailures(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.gh.FailNext("POST", "checks/create", 2, fakegithub.BadGateway)
	w.gh.FailNext("PATCH", "checks/update", 1, fakegithub.SecondaryRateLimit)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 60*time.Second)
	if cr.Conclusion != "failure" {
		t.Fatalf("conclusion %s", cr.Conclusion)
	}
	logs := w.logs.String()
	if strings.Count(logs, `"status":502`) < 2 || !strings.Contains(logs, `"status":403`) || !strings.Contains(logs, `"backoff"`) {
		t.Fatalf("backoff not logged:\n%s", tail(logs, 3000))
	}
}

// TestNoSecretsLeak runs a gate and a validation failure and scans every
// log line, comment, check output and review comment for the secrets.
func TestNoSecretsLeak(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	w.waitCheck(sha, 60*time.Second)
	// A provider that rejects the key makes errors that could echo it.
	w.deliver("pull_request", w.event("opened", pr, nil), "forged-"+w.newDelivery())
	var texts []string
	texts = append(texts, w.logs.String())
	for _, c := range w.gh.Comments(owner, repoName, pr) {
		texts = append(texts, c.Bodies...)
	}
	for _, cr := range w.gh.CheckRuns(owner, repoName) {
		texts = append(texts, cr.Output.Title, cr.Output.Summary, cr.Output.Text)
	}
	for _, r := range w.gh.Requests() {
		texts = append(texts, r.Body)
	}
	all := strings.Join(texts, "\n")
	secrets := append([]string{secret, providerKy, strings.TrimSpace(string(w.keyPEM))}, w.gh.Tokens()...)
	pemBody := strings.Split(string(w.keyPEM), "\n")[3]
	secrets = append(secrets, pemBody)
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.12s… found in logs, comments or check output", s)
		}
	}
}

// TestForkSpendCap: a fork PR's gate stops at PROMPTGATE_FORK_MAX_USD and is
// inconclusive, never green.
func TestForkSpendCap(t *testing.T) {
	w := newWorld(t, worldOptions{noBot: true})
	w.extraEnv = map[string]string{"PROMPTGATE_FORK_MAX_USD": "0.01"}
	w.startBot(0)
	pr, sha := w.openPR("from-fork", w.files(nil), true)
	w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) { p.Labels = []string{"promptgate:run"} })
	w.deliver("pull_request", w.event("labeled", pr, map[string]any{"label": map[string]any{"name": "promptgate:run"}, "sender": map[string]any{"login": "alice"}}), w.newDelivery())
	cr := w.waitCheck(sha, 60*time.Second)
	if cr.Conclusion != "neutral" || !strings.Contains(cr.Output.Text, "budget") {
		t.Fatalf("capped fork PR: %s %q\n%s", cr.Conclusion, cr.Output.Title, cr.Output.Summary)
	}
	if calls := w.llm.Calls(); calls >= 240 {
		t.Fatalf("%d model calls despite the cap", calls)
	}
}

// TestGateRetriedWhenGitHubIsDownAtStart: GitHub failing past the client's
// retries before the check exists leaves nothing on the PR, so the job is
// tried again and the check appears.
func TestGateRetriedWhenGitHubIsDownAtStart(t *testing.T) {
	w := newWorld(t, worldOptions{noBot: true})
	w.extraEnv = map[string]string{"PROMPTGATE_RETRY_DELAY": "200ms"}
	w.startBot(0)
	pr, sha := w.openPR("v15", w.files(nil), false)
	ev := w.event("opened", pr, nil)
	w.gh.FailNext("GET", "pulls/get", 6, fakegithub.BadGateway)
	w.deliver("pull_request", ev, w.newDelivery())
	cr := w.waitCheck(sha, 90*time.Second)
	if cr.Conclusion != "failure" || !strings.Contains(w.logs.String(), "job failed; retrying") {
		t.Fatalf("conclusion %s\n%s", cr.Conclusion, tail(w.logs.String(), 2000))
	}
}
