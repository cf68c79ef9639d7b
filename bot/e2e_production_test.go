package bot_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptgate/promptgate/bot"
	"github.com/promptgate/promptgate/internal/fakegithub"
	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/store"
)

// post sends a JSON or NDJSON body with a bearer token and decodes the answer.
func post(t testing.TB, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// productionEvents are n events of one version over [from, to), a share
// of them escalated.
func productionEvents(version, n int, escalated float64, from, to time.Time) string {
	var b bytes.Buffer
	step := to.Sub(from) / time.Duration(n)
	for i := 0; i < n; i++ {
		esc := float64(i%100) < escalated*100
		fmt.Fprintf(&b, `{"time":%q,"artifact":"support-assistant","version":%d,"environment":"production","model":"gpt-4o-2024-08-06","input_tokens":812,"output_tokens":164,"cost_usd":0.0031,"latency_ms":%d,"status":"ok","escalated":%t}`+"\n",
			from.Add(time.Duration(i)*step).UTC().Format(time.RFC3339Nano), version, 1500+i%400, esc)
	}
	return b.String()
}

func (w *world) recordDeploy(version, pr int, approvers ...string) {
	st := w.openStore()
	if err := st.RecordDeploy(w.t.Context(), store.Deploy{Repo: owner + "/" + repoName, Artifact: "support-assistant", Version: version,
		Digest: fmt.Sprintf("sha256:v%d", version), PR: pr, MergeSHA: w.git.Refs(owner + "/" + repoName)["refs/heads/main"],
		Approvers: approvers, Verdict: "pass", DeployedAt: time.Now()}); err != nil {
		w.t.Fatal(err)
	}
}

// waitRevertPR waits for the bot's revert PR and returns it.
func (w *world) waitRevertPR(timeout time.Duration) fakegithub.PullRequest {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if prs := w.gh.CreatedPulls(owner, repoName); len(prs) > 0 {
			return prs[0]
		}
		time.Sleep(25 * time.Millisecond)
	}
	w.t.Fatalf("no revert PR within %s\n%s", timeout, tail(w.logs.String(), 4000))
	return fakegithub.PullRequest{}
}

// TestEventsFireTriggerAndOpenRevertPR: production events over HTTP push
// the escalation rate of v15 15 points above v14's; the bot opens one
// revert PR that moves the pointer back to v14, with the evidence.
func TestEventsFireTriggerAndOpenRevertPR(t *testing.T) {
	w := newWorld(t, worldOptions{production: true, noBot: true})
	w.recordDeploy(15, 1, "alice")
	w.startBot(2)
	now := time.Now()
	// v14 served until 20 minutes ago at 8% escalations; v15 since, at 23%.
	code, ans := post(t, w.url+"/api/v1/events", eventsToken, productionEvents(14, 300, 0.08, now.Add(-40*time.Minute), now.Add(-20*time.Minute)))
	if code != 200 || ans["accepted"] != 300.0 {
		t.Fatalf("ingest v14: %d %v", code, ans)
	}
	start := time.Now()
	code, ans = post(t, w.url+"/api/v1/events", eventsToken, productionEvents(15, 300, 0.23, now.Add(-14*time.Minute), now))
	if code != 200 || ans["accepted"] != 300.0 {
		t.Fatalf("ingest v15: %d %v", code, ans)
	}
	pr := w.waitRevertPR(20 * time.Second)
	t.Logf("events to revert PR: %s", time.Since(start))
	if pr.HeadRef != "promptgate/revert-support-assistant-v15" || pr.BaseRef != "main" {
		t.Fatalf("revert PR %s → %s", pr.HeadRef, pr.BaseRef)
	}
	for _, want := range []string{"escalation-rate", "v15", "v14", "23.0%", "v14 (previous)", "#1", "@alice", "merging this PR is the rollback"} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, pr.Body)
		}
	}
	content, ok := w.git.File(owner+"/"+repoName, "refs/heads/"+pr.HeadRef, "environments/production.yaml")
	if !ok || !strings.Contains(content, "support-assistant: 14") || !strings.Contains(content, "# Which version") {
		t.Fatalf("pointer file on the revert branch:\n%s", content)
	}
	if got := w.gh.RequestedReviewers(owner, repoName, pr.Number); len(got) != 1 || got[0] != "alice" {
		t.Errorf("requested reviewers %v, want v15's approver alice", got)
	}
	// The trigger keeps firing: no second PR.
	time.Sleep(time.Second)
	if n := len(w.gh.CreatedPulls(owner, repoName)); n != 1 {
		t.Fatalf("%d revert PRs", n)
	}
	if !strings.Contains(w.logs.String(), "alert_to_pr_seconds") {
		t.Error("alert-to-PR time not logged")
	}
}

func alertmanager(status string, labels map[string]string) string {
	lb, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"EscalationsHigh\"}","truncatedAlerts":0,"status":%q,"receiver":"promptgate",
"groupLabels":{"alertname":"EscalationsHigh"},"commonLabels":%s,"commonAnnotations":{"summary":"Escalation rate 23%% over the last 15m"},
"externalURL":"http://alertmanager:9093","alerts":[{"status":%q,"labels":%s,"annotations":{"summary":"Escalation rate 23%% over the last 15m"},
"startsAt":"2026-12-03T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"c0ffee"}]}`, status, lb, status, lb)
}

// TestAlertmanagerOpensOneRevertPR: an Alertmanager v4 payload opens the
// revert PR; repeats and a flap (resolve, fire) comment on it instead of
// opening more; an unknown artifact is refused with the reason.
func TestAlertmanagerOpensOneRevertPR(t *testing.T) {
	w := newWorld(t, worldOptions{production: true})
	labels := map[string]string{"alertname": "EscalationsHigh", "artifact": "support-assistant", "environment": "production", "severity": "page"}
	if code, _ := post(t, w.url+"/api/alerts", "wrong", alertmanager("firing", labels)); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	start := time.Now()
	if code, ans := post(t, w.url+"/api/alerts", alertsToken, alertmanager("firing", labels)); code != 202 {
		t.Fatalf("alert: %d %v", code, ans)
	}
	pr := w.waitRevertPR(10 * time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("alert to revert PR took %s", took)
	}
	if !strings.Contains(pr.Body, "EscalationsHigh") || !strings.Contains(pr.Body, "Escalation rate 23%") {
		t.Errorf("body:\n%s", pr.Body)
	}
	for _, status := range []string{"firing", "firing", "resolved", "firing"} {
		if code, ans := post(t, w.url+"/api/alerts", alertsToken, alertmanager(status, labels)); code != 202 {
			t.Fatalf("%s: %d %v", status, code, ans)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(w.gh.Comments(owner, repoName, pr.Number)) < 4 && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
	}
	comments := w.gh.Comments(owner, repoName, pr.Number)
	if len(comments) != 4 || !strings.Contains(comments[2].Body, "resolved") {
		t.Fatalf("%d comments on the revert PR: %+v", len(comments), comments)
	}
	if n := len(w.gh.CreatedPulls(owner, repoName)); n != 1 {
		t.Fatalf("%d revert PRs for one incident", n)
	}

	// The on-call closes the PR without merging; the next alert is a new
	// episode with a new PR, not a comment on a closed one.
	w.gh.EditPull(owner, repoName, pr.Number, func(p *fakegithub.PullRequest) { p.State = "closed" })
	if code, _ := post(t, w.url+"/api/alerts", alertsToken, alertmanager("firing", labels)); code != 202 {
		t.Fatalf("alert after close: %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(w.gh.CreatedPulls(owner, repoName)) < 2 && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
	}
	if n := len(w.gh.CreatedPulls(owner, repoName)); n != 2 {
		t.Fatalf("%d revert PRs after the first was closed, want a new one\n%s", n, tail(w.logs.String(), 2000))
	}
	labels["artifact"] = "billing-helper"
	code, ans := post(t, w.url+"/api/alerts", alertsToken, alertmanager("firing", labels))
	if code != 422 || !strings.Contains(fmt.Sprint(ans), "unknown artifact") {
		t.Fatalf("unknown artifact: %d %v", code, ans)
	}
	if code, _ := post(t, w.url+"/api/alerts", alertsToken, `{"artifact": "support-assistant", "status": "exploded"}`); code != 422 {
		t.Fatalf("bad status: %d", code)
	}
}

// TestMalformedEvents: bad events are refused with index and reason, good
// ones in the same batch kept; broken batches store nothing.
func TestMalformedEvents(t *testing.T) {
	w := newWorld(t, worldOptions{production: true})
	now := time.Now().UTC().Format(time.RFC3339)
	good := fmt.Sprintf(`{"time":%q,"artifact":"support-assistant","version":15,"latency_ms":900,"status":"ok","escalated":false}`, now)
	noVersion := fmt.Sprintf(`{"time":%q,"artifact":"support-assistant","latency_ms":900,"status":"ok","escalated":false}`, now)
	code, ans := post(t, w.url+"/api/v1/events", eventsToken, good+"\n"+noVersion+"\n"+good+"\n")
	if code != 207 || ans["accepted"] != 2.0 {
		t.Fatalf("mixed batch: %d %v", code, ans)
	}
	rej := ans["rejected"].([]any)[0].(map[string]any)
	if rej["index"] != 1.0 || !strings.Contains(rej["reason"].(string), "version") {
		t.Fatalf("rejection %v", rej)
	}
	if code, _ := post(t, w.url+"/api/v1/events", eventsToken, "["+good+", {broken"); code != 400 {
		t.Fatalf("broken array: %d", code)
	}
	if code, _ := post(t, w.url+"/api/v1/events", eventsToken, noVersion); code != 422 {
		t.Fatalf("all bad: %d", code)
	}
	if code, _ := post(t, w.url+"/api/v1/events", "", good); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	st := w.openStore()
	if n, _ := st.EventCount(t.Context()); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

// TestRollbackCommandOpensPR: `promptgate rollback` opens the same revert
// PR through the App; asking again adds a comment instead of a second PR.
func TestRollbackCommandOpensPR(t *testing.T) {
	w := newWorld(t, worldOptions{production: true, noBot: true})
	env := w.env()
	env["PROMPTGATE_DATA_DIR"] = t.TempDir()
	settings, err := bot.LoadSettings(func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	log := bot.NewLogger(w.logs, slog.LevelInfo, settings.Secrets())
	job := bot.RevertJob{Artifact: "support-assistant", Environment: "production", Source: "promptgate rollback (oncall)", Status: "firing", Reason: "customers report wrong refunds"}
	out, err := bot.Rollback(t.Context(), settings, log, job)
	if err != nil || !out.Created || out.PR == 0 || out.Incident.RestoreTo != 14 {
		t.Fatalf("rollback: %+v %v\n%s", out, err, tail(w.logs.String(), 2000))
	}
	out, err = bot.Rollback(t.Context(), settings, log, job)
	if err != nil || out.Created || out.PR == 0 {
		t.Fatalf("second rollback: %+v %v", out, err)
	}
	if n := len(w.gh.CreatedPulls(owner, repoName)); n != 1 {
		t.Fatalf("%d PRs", n)
	}
	if c := w.gh.Comments(owner, repoName, out.PR); len(c) != 1 {
		t.Fatalf("%d comments on the revert PR", len(c))
	}
}

// TestDriftOpensOneIssue: the schedule runs the golden set on the live
// version; the first run is the baseline; when the provider's model changes
// behind the same name, one drift issue opens, and later runs update it.
func TestDriftOpensOneIssue(t *testing.T) {
	var drifted atomic.Bool
	w := newWorld(t, worldOptions{production: true, drift: "@every 2s", respond: func(sim func(fakeopenai.ChatRequest) fakeopenai.Reply) func(fakeopenai.ChatRequest) fakeopenai.Reply {
		return func(req fakeopenai.ChatRequest) fakeopenai.Reply {
			r := sim(req)
			if drifted.Load() && strings.Contains(r.Content, "consultant") {
				r.Content = strings.ReplaceAll(strings.ReplaceAll(r.Content, "consultant", "agent"), `"escalate": true`, `"escalate": false`)
			}
			return r
		}
	}})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.logs.String(), `"baseline":true`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(w.logs.String(), `"baseline":true`) {
		t.Fatalf("no baseline drift run\n%s", tail(w.logs.String(), 3000))
	}
	if n := len(w.gh.Issues(owner, repoName)); n != 0 {
		t.Fatalf("%d issues after the baseline run", n)
	}
	drifted.Store(true)
	for time.Now().Before(deadline.Add(30*time.Second)) && len(w.gh.Issues(owner, repoName)) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	issues := w.gh.Issues(owner, repoName)
	if len(issues) != 1 || !strings.Contains(issues[0].Title, "silent drift in support-assistant v15 (production)") || !strings.Contains(issues[0].Body, "escalation") {
		t.Fatalf("issues: %+v\n%s", issues, tail(w.logs.String(), 3000))
	}
	// The next drifted run updates the same issue.
	time.Sleep(3 * time.Second)
	if n := len(w.gh.Issues(owner, repoName)); n != 1 {
		t.Fatalf("%d drift issues, want 1", n)
	}
}

// TestCanaryAlertStopsTheCanary: an alert about the canary version opens a
// PR that removes the canary and leaves the live version alone.
func TestCanaryAlertStopsTheCanary(t *testing.T) {
	w := newWorld(t, worldOptions{production: true, noBot: true})
	w.git.Commit(owner+"/"+repoName, "main", map[string]string{
		"environments/production.yaml": "# canary of v15\nsupport-assistant: {version: 14, canary: {version: 15, weight: 10}}\n"}, nil, "canary v15")
	w.startBot(2)
	labels := map[string]string{"alertname": "CanaryErrors", "artifact": "support-assistant", "environment": "production", "version": "15"}
	if code, ans := post(t, w.url+"/api/alerts", alertsToken, alertmanager("firing", labels)); code != 202 {
		t.Fatalf("alert: %d %v", code, ans)
	}
	pr := w.waitRevertPR(10 * time.Second)
	content, _ := w.git.File(owner+"/"+repoName, "refs/heads/"+pr.HeadRef, "environments/production.yaml")
	if !strings.Contains(content, "version: 14") || strings.Contains(content, "canary:") {
		t.Fatalf("pointer file on the revert branch %s:\n%s\n%s", pr.HeadRef, content, tail(w.logs.String(), 2000))
	}
}
