package bot_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakegithub"
)

// TestValidationAnnotations: a YAML error fails the check with an
// annotation at the file and line, and the comment explains it.
func TestValidationAnnotations(t *testing.T) {
	w := newWorld(t, worldOptions{})
	art := strings.Replace(w.example["artifacts/support-assistant.yaml"], "provider: openai", "provider: openai\ntemprature: 0.3", 1)
	pr, sha := w.openPR("typo", w.files(map[string]string{"artifacts/support-assistant.yaml": art}), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 30*time.Second)
	if cr.Conclusion != "failure" {
		t.Fatalf("conclusion %s", cr.Conclusion)
	}
	line := strings.Count(art[:strings.Index(art, "temprature")], "\n") + 1
	found := false
	for _, a := range cr.Annotations {
		if a.Path == "artifacts/support-assistant.yaml" && a.StartLine == line && strings.Contains(a.Message, `unknown key "temprature"`) && a.Level == "failure" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no annotation at artifacts/support-assistant.yaml:%d in %+v", line, cr.Annotations)
	}
	c := w.stickyComments(pr)
	if len(c) != 1 || !strings.Contains(c[0].Body, "temprature") {
		t.Fatalf("comment does not explain the problem")
	}
	if w.llm.Calls() != 0 {
		t.Errorf("gate ran %d model calls on an invalid repo", w.llm.Calls())
	}
}

// TestManyAnnotationsAreBatched: more than 50 problems go out 50 per request.
func TestManyAnnotationsAreBatched(t *testing.T) {
	w := newWorld(t, worldOptions{})
	over := map[string]string{}
	for _, f := range []string{"escalation", "billing", "cards"} {
		p := "golden/support-assistant/" + f + ".yaml"
		over[p] = regexp.MustCompile(`json_schema: true`).ReplaceAllString(w.example[p], "json_schema: true\n      bogus: 1")
	}
	pr, sha := w.openPR("many", w.files(over), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 30*time.Second)
	if len(cr.Annotations) != 72 {
		t.Fatalf("%d annotations, want all 72", len(cr.Annotations))
	}
	for _, h := range cr.History {
		if len(h.Annotations) > 50 {
			t.Fatalf("a request carried %d annotations", len(h.Annotations))
		}
	}
}

// TestWrongVersionSuggestion: a bumped-wrong version fails the check, and a
// review comment on that line suggests the right number.
func TestWrongVersionSuggestion(t *testing.T) {
	w := newWorld(t, worldOptions{})
	art := strings.Replace(w.example["artifacts/support-assistant.yaml"], "version: 15", "version: 17", 1)
	pr, sha := w.openPR("bump", w.files(map[string]string{"artifacts/support-assistant.yaml": art}), false)
	w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) {
		for i := range p.Files {
			if p.Files[i].Filename == "artifacts/support-assistant.yaml" {
				p.Files[i].Patch = "@@ -6,1 +6,1 @@\n-version: 14\n+version: 17"
			}
		}
	})
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 60*time.Second)
	if cr.Conclusion != "failure" {
		t.Fatalf("conclusion %s", cr.Conclusion)
	}
	rcs := w.gh.ReviewComments(owner, repoName, pr)
	if len(rcs) != 1 || rcs[0].Line != 6 || !strings.Contains(rcs[0].Body, "```suggestion\nversion: 15\n```") {
		t.Fatalf("review comments %+v", rcs)
	}
	c := w.stickyComments(pr)
	if len(c) != 1 || !strings.Contains(c[0].Body, "version: 15") {
		t.Fatalf("comment lacks the fix")
	}
}

// TestNoLLMFilesChanged completes the check at once without a gate.
func TestNoLLMFilesChanged(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("docs", map[string]string{"README.md": "docs only\n"}, false)
	w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) {
		p.Files = []fakegithub.File{{Filename: "README.md", Status: "modified"}}
	})
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	cr := w.waitCheck(sha, 20*time.Second)
	if cr.Conclusion != "success" || !strings.Contains(strings.ToLower(cr.Output.Title), "no llm artifacts changed") {
		t.Fatalf("check %s %q", cr.Conclusion, cr.Output.Title)
	}
	if len(w.stickyComments(pr)) != 0 || w.llm.Calls() != 0 {
		t.Fatal("a docs-only PR got a comment or model calls")
	}
}

// TestMergeTagsAndRecordsDeploy: on merge the bot tags support-assistant/v15
// at the merge commit, pushes it, and records the deploy with approvers.
func TestMergeTagsAndRecordsDeploy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	w.waitCheck(sha, 60*time.Second)
	w.gh.AddReview(owner, repoName, pr, fakegithub.Review{User: "alice", State: "APPROVED", CommitID: sha})
	w.gh.AddReview(owner, repoName, pr, fakegithub.Review{User: "bob", State: "COMMENTED", CommitID: sha})
	merge := w.git.Commit(owner+"/"+repoName, "main", w.files(nil), nil, "Merge pull request #1")
	w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) {
		p.State, p.Merged, p.MergeCommitSHA = "closed", true, merge
	})
	if code := w.deliver("pull_request", w.event("closed", pr, nil), w.newDelivery()); code != 202 {
		t.Fatalf("delivery %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	var tagSHA string
	for time.Now().Before(deadline) {
		if tagSHA = w.git.Refs(owner + "/" + repoName)["refs/tags/support-assistant/v15"]; tagSHA != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tagSHA != merge {
		t.Fatalf("tag support-assistant/v15 at %q, want merge commit %s\n%s", tagSHA, merge, tail(w.logs.String(), 3000))
	}
	st := w.openStore()
	var d struct{ ok bool }
	for time.Now().Before(deadline) {
		dep, err := st.DeployOf(context.Background(), owner+"/"+repoName, "support-assistant", 15)
		if err == nil {
			if dep.MergeSHA != merge || dep.PR != pr || strings.Join(dep.Approvers, ",") != "alice" || dep.Verdict != "fail" || dep.Digest == "" {
				t.Fatalf("deploy record %+v", dep)
			}
			d.ok = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !d.ok {
		t.Fatal("no deploy record")
	}
}

// TestRerequestedCheckRunsAgain: GitHub's "Re-run" button reuses the check.
func TestRerequestedCheckRunsAgain(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	first := w.waitCheck(sha, 60*time.Second)
	ev := w.event("rerequested", pr, map[string]any{"check_run": map[string]any{
		"id": first.ID, "name": "promptgate", "head_sha": sha, "status": "completed", "conclusion": first.Conclusion,
		"pull_requests": []any{map[string]any{"number": pr, "id": 1, "url": "https://example/pulls/1",
			"head": map[string]any{"ref": "v15", "sha": sha}, "base": map[string]any{"ref": "main", "sha": sha}}},
	}})
	delete(ev, "pull_request")
	delete(ev, "number")
	if code := w.deliver("check_run", ev, w.newDelivery()); code != 202 {
		t.Fatalf("delivery %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha)
		if seq := strings.Join(cr.Sequence(), " → "); seq == "in_progress → completed/failure → in_progress → completed/failure" {
			if n := len(w.gh.CheckRuns(owner, repoName)); n != 1 {
				t.Fatalf("%d check runs, want the same one re-run", n)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha)
	t.Fatalf("sequence %v", cr.Sequence())
}

// TestConfigChangeGatedUnderBaseRules: a PR that loosens its own
// thresholds is still gated by the base branch's, and the comment says so.
func TestConfigChangeGatedUnderBaseRules(t *testing.T) {
	w := newWorld(t, worldOptions{})
	loose := strings.Replace(w.example["promptgate.yaml"], "max_category_drop_pp: 3 ", "max_category_drop_pp: 90", 1)
	if loose == w.example["promptgate.yaml"] {
		t.Fatal("threshold not found in the example config")
	}
	pr, sha := w.openPR("loosen", w.files(map[string]string{"promptgate.yaml": loose}), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	if cr := w.waitCheck(sha, 60*time.Second); cr.Conclusion != "failure" {
		t.Fatalf("loosened PR concluded %s", cr.Conclusion)
	}
	c := w.stickyComments(pr)
	if len(c) != 1 || !strings.Contains(c[0].Body, "promptgate.yaml") || !strings.Contains(c[0].Body, "max_category_drop_pp: 90") {
		t.Fatalf("comment does not show the config change")
	}
}

// TestMergeWithClashingVersion: two PRs bumped to v15; after the first
// merges, the second merges cleanly in git. Its version is wrong on main,
// so the bot leaves the v15 tag alone and says what to do.
func TestMergeWithClashingVersion(t *testing.T) {
	w := newWorld(t, worldOptions{})
	repo := owner + "/" + repoName
	mergePR := func(branch string, files map[string]string) int {
		pr, _ := w.openPR(branch, files, false)
		merge := w.git.Commit(repo, "main", files, nil, "Merge "+branch)
		w.gh.EditPull(owner, repoName, pr, func(p *fakegithub.PullRequest) { p.State, p.Merged, p.MergeCommitSHA = "closed", true, merge })
		w.deliver("pull_request", w.event("closed", pr, nil), w.newDelivery())
		return pr
	}
	mergePR("first", w.files(nil))
	deadline := time.Now().Add(30 * time.Second)
	for w.git.Refs(repo)["refs/tags/support-assistant/v15"] == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	first := w.git.Refs(repo)["refs/tags/support-assistant/v15"]
	if first == "" {
		t.Fatal("first merge not tagged")
	}
	other := strings.Replace(w.example["artifacts/support-assistant.yaml"], "You are Nova", "You are Nova, always", 1)
	pr := mergePR("second", w.files(map[string]string{"artifacts/support-assistant.yaml": other}))
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		for _, c := range w.gh.Comments(owner, repoName, pr) {
			if strings.Contains(c.Body, "needs a follow-up") {
				if !strings.Contains(c.Body, "version: 16") {
					t.Fatalf("follow-up lacks the fix: %s", c.Body)
				}
				if got := w.git.Refs(repo)["refs/tags/support-assistant/v15"]; got != first {
					t.Fatalf("tag v15 moved to %s", got)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no follow-up comment\n%s", tail(w.logs.String(), 3000))
}
