package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakegithub"
)

// TestPullRequestGate: an engineer opens a PR that ships v15; the check
// goes in_progress then failure, a placeholder comment becomes the report,
// and nothing GitHub would reject was sent.
func TestPullRequestGate(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	if code := w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery()); code != 202 {
		t.Fatalf("delivery: %d", code)
	}
	cr := w.waitCheck(sha, 60*time.Second)
	if got := strings.Join(cr.Sequence(), " → "); got != "in_progress → completed/failure" {
		t.Fatalf("check sequence %q", got)
	}
	if !strings.Contains(cr.Output.Title, "escalation") || !strings.Contains(cr.Output.Text, "escalation") {
		t.Fatalf("check output: %q\n%s", cr.Output.Title, cr.Output.Summary)
	}
	comments := w.stickyComments(pr)
	if len(comments) != 1 {
		t.Fatalf("%d sticky comments", len(comments))
	}
	c := comments[0]
	if !strings.Contains(c.Bodies[0], "running the golden set") || c.Edits < 1 {
		t.Fatalf("placeholder not posted first: %d edits, first body %q", c.Edits, c.Bodies[0][:min(200, len(c.Bodies[0]))])
	}
	for _, want := range []string{"support-assistant v14 → v15", "🔻 escalation", "What happens next", cr.DetailsURL} {
		if want != "" && !strings.Contains(c.Body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestDuplicateDeliveriesAndRacingPushes: a redelivered event is processed
// once, and two pushes in quick succession leave exactly one sticky
// comment with the newest head's result.
func TestDuplicateDeliveriesAndRacingPushes(t *testing.T) {
	w := newWorld(t, worldOptions{latency: 20 * time.Millisecond})
	pr, sha1 := w.openPR("v15", w.files(nil), false)
	ev := w.event("opened", pr, nil)
	id := w.newDelivery()
	for i := 0; i < 3; i++ {
		if code := w.deliver("pull_request", ev, id); code != 202 {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	// A second push while the first run is going.
	time.Sleep(300 * time.Millisecond)
	sha2 := w.git.Commit(owner+"/"+repoName, "v15", map[string]string{"README.md": "notes\n"}, nil, "second push")
	w.git.SetRef(owner+"/"+repoName, "refs/pull/1/head", sha2)
	w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) { p.HeadSHA = sha2 })
	w.deliver("pull_request", w.event("synchronize", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha2, 90*time.Second)
	if cr.Conclusion != "failure" {
		t.Fatalf("newest head concluded %s", cr.Conclusion)
	}
	// The first head's check is either superseded or was skipped as stale.
	if old, ok := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha1); ok {
		deadline := time.Now().Add(10 * time.Second)
		for old.Status != "completed" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			old, _ = w.gh.LatestCheckRun(owner, repoName, "promptgate", sha1)
		}
		if old.Status != "completed" {
			t.Errorf("old head's check left %s", old.Status)
		}
	}
	time.Sleep(500 * time.Millisecond)
	comments := w.stickyComments(pr)
	if len(comments) != 1 {
		t.Fatalf("%d sticky comments after duplicate deliveries and racing pushes", len(comments))
	}
	if !strings.Contains(comments[0].Body, "head `"+sha2[:12]+"`") {
		t.Errorf("sticky comment does not show the newest head %s:\n%.600s", sha2[:12], comments[0].Body)
	}
	st := w.openStore()
	jobs, err := st.Jobs(context.Background(), "gate", "acme/llm-config#1")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("%d gate jobs for 3 deliveries of one event and one push, want 2", len(jobs))
	}
}
