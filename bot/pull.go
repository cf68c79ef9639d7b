package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
	"github.com/promptgate/promptgate/store"
)

// prContext is what a gate run knows about its PR.
type prContext struct {
	jobID int64
	job   PRJob
	gh    *github.Client
	pr    *github.PullRequest
	log   *slog.Logger
	check *checkRun
}

// handleGateJob gates one PR head: check run, placeholder, clone, gate,
// report. Repo config and thresholds come from the base branch.
func (s *Server) handleGateJob(ctx context.Context, sj *store.Job) (err error) {
	// Until the check exists nothing on the PR shows a failure, so a
	// failure then (GitHub down past the client's retries) is retried.
	started := false
	defer func() {
		if err != nil && !started && ctx.Err() == nil {
			err = retryable{err}
		}
	}()
	var job PRJob
	if err := json.Unmarshal(sj.Payload, &job); err != nil {
		return fmt.Errorf("job payload: %w", err)
	}
	log := s.log.With("repo", job.FullName(), "pr", job.PR, "delivery", job.Delivery, "job", sj.ID, "trigger", job.Trigger)
	gh, err := s.clients.For(job.Installation)
	if err != nil {
		return err
	}
	pr, _, err := gh.PullRequests.Get(ctx, job.Owner, job.Repo, job.PR)
	if err != nil {
		return fmt.Errorf("get PR: %w", err)
	}
	if pr.GetState() != "open" {
		log.Info("PR is not open: nothing to gate")
		return nil
	}
	head := pr.GetHead().GetSHA()
	if job.HeadSHA != "" && job.HeadSHA != head {
		if job.CheckRunID == 0 {
			// A newer push exists; its own delivery gates it.
			log.Info("head moved on: skipping stale run", "job_head", short(job.HeadSHA), "head", short(head))
			return nil
		}
		// "Re-run" on an older commit's check gates the current head on a
		// check of its own and leaves the old commit's check alone.
		log.Info("re-run requested on an older commit: gating the current head", "job_head", short(job.HeadSHA), "head", short(head))
		job.CheckRunID = 0
	}
	job.HeadSHA = head
	log = log.With("head", short(head))
	pc := &prContext{jobID: sj.ID, job: job, gh: gh, pr: pr, log: log}

	writer := false
	if job.Actor != "" && (strings.HasPrefix(job.Trigger, "comment") || strings.HasPrefix(job.Trigger, "label")) {
		writer, err = s.canWrite(ctx, gh, job.Owner, job.Repo, job.Actor)
		if err != nil {
			return err
		}
	}
	if job.Trigger == "comment "+RunCommand && !writer {
		log.Info("run command from a user without write access: ignored", "actor", job.Actor)
		return nil
	}
	if job.Trigger == "label "+LabelAccept {
		if !writer {
			body := fmt.Sprintf("@%s only a reviewer with write access can accept a regression with `%s`; the label has no effect.", job.Actor, LabelAccept)
			_, _, err := gh.Issues.CreateComment(ctx, job.Owner, job.Repo, job.PR, &github.IssueComment{Body: &body})
			return err
		}
		if err := s.store.RecordAcceptance(ctx, job.FullName(), job.PR, head, job.Actor, time.Now()); err != nil {
			return err
		}
		log.Info("regression accepted", "by", job.Actor)
	}

	fork := pr.GetHead().GetRepo().GetFullName() != pr.GetBase().GetRepo().GetFullName()
	if fork && !hasLabel(pr, LabelRun) && !(job.Trigger == "comment "+RunCommand && writer) {
		cr, err := startCheck(ctx, gh, job.Owner, job.Repo, head, job.CheckRunID, fmt.Sprint(sj.ID), "Waiting for a maintainer.")
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("This pull request comes from a fork. Its golden set runs (and spends provider credit) only after someone with write access adds the label `%s` or comments `%s`.", LabelRun, RunCommand)
		return cr.complete(ctx, conclusionNeutral, "Fork PR: waiting for a maintainer to allow the run", msg, "", nil)
	}

	files, err := prFiles(ctx, gh, job.Owner, job.Repo, job.PR)
	if err != nil {
		return err
	}
	touched := llmFiles(files)
	pc.check, err = startCheck(ctx, gh, job.Owner, job.Repo, head, job.CheckRunID, fmt.Sprint(sj.ID), fmt.Sprintf("Gating %s.", short(head)))
	if err != nil {
		return err
	}
	started = true
	log.Info("check started", "check_run", pc.check.id, "llm_files", len(touched))
	if len(touched) == 0 {
		return pc.check.complete(ctx, conclusionSuccess, "No LLM artifacts changed",
			"This PR changes no file under artifacts/, golden/ or environments/ and not promptgate.yaml, so there is nothing to evaluate.", "", nil)
	}
	_, err = stickyComment(ctx, gh, job.Owner, job.Repo, job.PR, placeholder(head, touched))
	if err == nil {
		err = s.gate(ctx, pc, fork)
	}
	if err == nil {
		return nil
	}
	// The check is started: whatever stopped the run, the check must not
	// stay in progress, except at shutdown, when the job resumes on it.
	bg := context.WithoutCancel(ctx)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShutdown):
	case errors.Is(cause, errSuperseded) || errors.Is(err, errSuperseded):
		_ = pc.check.complete(bg, conclusionCancelled, "Superseded by a newer push", "A newer commit was pushed to this PR; its own check has the result.", "", nil)
	default:
		_ = pc.check.complete(bg, conclusionFailure, "promptgate could not run the gate", "The gate stopped with an error: "+redact(err.Error(), s.settings.Secrets())+"\n\nComment `"+RunCommand+"` to retry.", "", nil)
	}
	return err
}

func (s *Server) gate(ctx context.Context, pc *prContext, fork bool) error {
	job, pr := pc.job, pc.pr
	co, release, err := s.clonePR(ctx, job.Installation, pr, "clone")
	if err != nil {
		return err
	}
	defer release()
	headURL := ""
	if fork {
		headURL = pr.GetHead().GetRepo().GetCloneURL()
	}
	if err := co.fetchHead(ctx, job.PR, headURL, pr.GetHead().GetRef()); err != nil {
		return err
	}
	base, err := co.load(pr.GetBase().GetSHA())
	if err != nil {
		// The base SHA of the event may be behind the branch we cloned.
		if base, err = co.load("refs/heads/" + pr.GetBase().GetRef()); err != nil {
			return err
		}
	}
	headRev := job.HeadSHA
	if _, err := co.git.Commit(headRev); err != nil {
		headRev = "refs/promptgate/head"
	}
	head, err := co.load(headRev)
	if err != nil {
		return err
	}
	// An environment pointer must name a version that resolves.
	head.Problems = append(head.Problems, registry.CheckPointers(head, co.git)...)
	head.Problems.Sort()
	in := evaluator.GateInput{Base: base, Head: head, BaseRef: pr.GetBase().GetRef() + " (" + short(pr.GetBase().GetSHA()) + ")", HeadRef: short(job.HeadSHA)}
	rules := evaluator.Rules(in)
	comp, budget, closeCache, err := s.completer(rules, fork, pc.log)
	if err != nil {
		return err
	}
	defer closeCache()
	start := time.Now()
	rep, err := evaluator.RunGate(ctx, in, evaluator.GateOptions{Completer: comp, Budget: budget, Logger: pc.log})
	if err != nil {
		return err
	}
	rep.DetailsURL = pc.check.url
	// Results are saved first: a merge right after the check completes
	// must find its verdict.
	for _, a := range rep.Artifacts {
		raw, _ := report.JSON(&evaluator.Report{Verdict: a.Verdict, Artifacts: []*evaluator.ArtifactReport{a}})
		digest := ""
		if h := head.Artifacts[a.Name]; h != nil {
			digest = h.Digest
		}
		if err := s.store.SaveGateResult(ctx, store.GateResult{Repo: job.FullName(), PR: job.PR, HeadSHA: job.HeadSHA, Artifact: a.Name,
			Version: a.HeadVersion, Digest: digest, Verdict: string(a.Verdict), ReportJSON: raw, CreatedAt: time.Now()}); err != nil {
			pc.log.Warn("save gate result", "error", err)
		}
	}
	pc.log.Info("gate finished", "verdict", rep.Verdict, "seconds", time.Since(start).Seconds())

	conclusion := map[evaluator.Verdict]string{evaluator.Pass: conclusionSuccess, evaluator.Fail: conclusionFailure, evaluator.Inconclusive: conclusionNeutral}[rep.Verdict]
	title, summary := report.CheckSummary(rep)
	accepted := ""
	if rep.Verdict == evaluator.Fail && hasLabel(pr, LabelAccept) && len(rep.Problems) == 0 && versionsOK(rep.Versions) {
		if acc, err := s.store.Acceptance(ctx, job.FullName(), job.PR, job.HeadSHA); err == nil {
			accepted = acc.User
			conclusion = conclusionSuccess
			title = "Regression accepted by @" + acc.User
			summary = fmt.Sprintf("Regression accepted by @%s at %s with the label `%s`.\n\n%s", acc.User, acc.At.UTC().Format(time.RFC3339), LabelAccept, summary)
		}
	}
	notice := ""
	if accepted != "" {
		notice = "> ✅ **Regression accepted by @" + report.Inline(accepted) + "** with the label `" + LabelAccept + "`; the check is green. Merge still needs an approving review."
	}
	body := report.Markdown(rep, report.Options{DetailsURL: pc.check.url, Notice: notice})
	if err := s.stillCurrent(ctx, pc.jobID); err != nil {
		return err
	}
	if _, err := stickyComment(ctx, pc.gh, job.Owner, job.Repo, job.PR, body); err != nil {
		return err
	}
	// Suggestions go out before the check completes, so whoever sees the
	// result sees the fix too.
	s.suggestVersions(ctx, pc, rep.Versions)
	text := report.Markdown(rep, report.Options{Full: true, MaxChars: report.CheckRunMaxChars})
	if err := pc.check.complete(ctx, conclusion, title, summary, text, annotations(rep.Problems, rep.Versions)); err != nil {
		return err
	}
	s.metrics.gates.WithLabelValues(string(rep.Verdict)).Inc()
	return nil
}

// stillCurrent stops a run that a newer push superseded before it writes
// results over the newer run's: it asks the store, not just the context,
// since the heartbeat notices a supersede only every lease/3.
func (s *Server) stillCurrent(ctx context.Context, jobID int64) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := s.store.Heartbeat(ctx, jobID, s.queue.owner, s.queue.lease); errors.Is(err, store.ErrLeaseLost) {
		return errSuperseded
	}
	return nil
}

// suggestVersions posts a review comment with a suggestion block on each
// wrong `version:` line. GitHub only takes review comments on lines in the
// diff; elsewhere the check annotation and the report carry the fix.
func (s *Server) suggestVersions(ctx context.Context, pc *prContext, versions []registry.VersionCheck) {
	for _, v := range versions {
		if v.OK || v.Line == 0 {
			continue
		}
		body := fmt.Sprintf("promptgate: %s.\n\n```suggestion\nversion: %d\n```", v.Message, v.Expected)
		_, _, err := pc.gh.PullRequests.CreateComment(ctx, pc.job.Owner, pc.job.Repo, pc.job.PR, &github.PullRequestComment{
			Body: &body, CommitID: &pc.job.HeadSHA, Path: github.String(v.Path), Line: github.Int(v.Line), Side: github.String("RIGHT"),
		})
		if err != nil {
			pc.log.Info("version suggestion not posted (line outside the diff?)", "path", v.Path, "line", v.Line, "error", err)
		}
	}
}

func versionsOK(vs []registry.VersionCheck) bool {
	for _, v := range vs {
		if !v.OK {
			return false
		}
	}
	return true
}

// completer builds the model-call chain for one gate: provider client,
// budget (with the per-PR cap for forks), and the shared response cache.
func (s *Server) completer(rules *registry.Config, fork bool, log *slog.Logger) (evaluator.Completer, *evaluator.Budget, func(), error) {
	provider, err := evaluator.NewOpenAI(rules.Providers, s.settings.ProviderEnv, evaluator.OpenAIOptions{Timeout: rules.Gate.Timeout.D(), Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	budget := &evaluator.Budget{Inner: provider, MaxCalls: rules.Gate.MaxCalls, MaxUSD: rules.Gate.MaxUSD, Prices: rules.Prices}
	capUSD := s.settings.PRMaxUSD
	if fork && s.settings.ForkMaxUSD > 0 {
		capUSD = s.settings.ForkMaxUSD
	}
	if capUSD > 0 && (budget.MaxUSD == 0 || capUSD < budget.MaxUSD) {
		budget.MaxUSD = capUSD
	}
	cache, err := evaluator.OpenCache(filepath.Join(s.settings.DataDir, "cache.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	return &evaluator.Cached{Next: budget, Cache: cache, Logger: log}, budget, func() { cache.Close() }, nil
}

// canWrite reports whether a user has write access (write, maintain or admin).
func (s *Server) canWrite(ctx context.Context, gh *github.Client, owner, repo, user string) (bool, error) {
	perm, _, err := gh.Repositories.GetPermissionLevel(ctx, owner, repo, user)
	if err != nil {
		return false, fmt.Errorf("permission of %s: %w", user, err)
	}
	switch perm.GetPermission() {
	case "admin", "maintain", "write":
		return true, nil
	}
	return false, nil
}

func hasLabel(pr *github.PullRequest, name string) bool {
	for _, l := range pr.Labels {
		if l.GetName() == name {
			return true
		}
	}
	return false
}

func prFiles(ctx context.Context, gh *github.Client, owner, repo string, n int) ([]string, error) {
	var out []string
	opt := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := gh.PullRequests.ListFiles(ctx, owner, repo, n, opt)
		if err != nil {
			return nil, fmt.Errorf("list PR files: %w", err)
		}
		for _, f := range page {
			out = append(out, f.GetFilename())
			if f.GetPreviousFilename() != "" {
				out = append(out, f.GetPreviousFilename())
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

// llmFiles keeps the paths that can change a model's behaviour or the gate.
func llmFiles(files []string) []string {
	var out []string
	for _, f := range files {
		top, _, _ := strings.Cut(f, "/")
		if f == registry.ConfigFile || top == registry.ArtifactsDir || top == registry.GoldenDir || top == registry.EnvironmentsDir {
			out = append(out, f)
		}
	}
	return out
}

// redact removes secrets from text meant for users.
func redact(text string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 6 {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return text
}
