package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
	"github.com/promptgate/promptgate/store"
)

// KindRevert jobs open (or comment on) the revert PR of an incident.
const KindRevert = "revert"

// RevertJob is an alert or a fired trigger asking for a rollback.
type RevertJob struct {
	Artifact    string `json:"artifact"`
	Environment string `json:"environment"`
	// Version is the version the alert is about; 0 means the live one.
	Version int `json:"version,omitempty"`
	// To forces the version to restore (promptgate rollback --to).
	To int `json:"to,omitempty"`
	// Source names the trigger or alert; Status is firing or resolved.
	Source string `json:"source"`
	Status string `json:"status"`
	// Reason is one human sentence with the numbers.
	Reason string `json:"reason"`
	// Evidence is markdown for the PR body: the metrics of N and N-1.
	Evidence   string    `json:"evidence,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// RevertOutcome says what handling a RevertJob did.
type RevertOutcome struct {
	Incident store.Incident
	PR       int
	Created  bool   // a new PR was opened
	Note     string // why no PR, when there is none
}

func (s *Server) handleRevertJob(ctx context.Context, sj *store.Job) error {
	var job RevertJob
	if err := json.Unmarshal(sj.Payload, &job); err != nil {
		return fmt.Errorf("job payload: %w", err)
	}
	_, err := s.revert(ctx, job)
	return err
}

// revert handles one alert for an artifact: the first one for an incident
// opens the revert PR; later ones, and resolutions, comment on it.
func (s *Server) revert(ctx context.Context, job RevertJob) (RevertOutcome, error) {
	if s.config == nil {
		return RevertOutcome{}, errors.New("no config repo: set PROMPTGATE_CONFIG_REPO")
	}
	snap, err := s.config.refresh(ctx)
	if err != nil {
		return RevertOutcome{}, err
	}
	log := s.log.With("repo", snap.FullName(), "artifact", job.Artifact, "environment", job.Environment, "source", job.Source)
	env, ok := snap.Repo.Environments[job.Environment]
	if !ok {
		return RevertOutcome{}, fmt.Errorf("environment %q not in %s", job.Environment, registry.EnvironmentsDir)
	}
	entry, ok := env.Entries[job.Artifact]
	if !ok {
		return RevertOutcome{}, fmt.Errorf("artifact %q has no pointer in %s", job.Artifact, env.Path)
	}
	live := entry.Version
	version := job.Version
	if version == 0 {
		version = live
	}
	log = log.With("version", version)
	// One worker at a time per incident, across replicas: the first alert
	// opens the PR, the ones that arrive meanwhile wait and then comment.
	unlock, err := s.lockIncident(ctx, snap.FullName(), job.Artifact, job.Environment, version)
	if err != nil {
		return RevertOutcome{}, err
	}
	defer unlock()
	inc, created, err := s.store.OpenIncident(ctx, store.Incident{Repo: snap.FullName(), Artifact: job.Artifact, Environment: job.Environment,
		Version: version, Source: job.Source, Reason: job.Reason})
	if err != nil {
		return RevertOutcome{}, err
	}
	if !created && inc.PR != 0 {
		// The episode ends when its PR is merged or closed: a later alert
		// starts a new one with a new PR, instead of commenting on a dead one.
		if pr, _, err := snap.GH.PullRequests.Get(ctx, snap.Owner, snap.Name, inc.PR); err == nil && pr.GetState() == "closed" {
			if err := s.store.UpdateIncident(ctx, inc.ID, store.IncidentClosed, inc.PR, inc.RestoreTo, fmt.Sprintf("revert PR #%d closed", inc.PR)); err != nil {
				return RevertOutcome{}, err
			}
			if inc, created, err = s.store.OpenIncident(ctx, store.Incident{Repo: snap.FullName(), Artifact: job.Artifact, Environment: job.Environment,
				Version: version, Source: job.Source, Reason: job.Reason}); err != nil {
				return RevertOutcome{}, err
			}
		}
	}
	out := RevertOutcome{Incident: inc, PR: inc.PR}
	if !created {
		// One incident, one PR: further alerts and resolutions are comments.
		if inc.PR != 0 {
			body := fmt.Sprintf("**%s** %s: %s", report.Inline(job.Source), map[bool]string{true: "resolved", false: "fired again"}[job.Status == "resolved"], report.Inline(job.Reason))
			if _, _, err := snap.GH.Issues.CreateComment(ctx, snap.Owner, snap.Name, inc.PR, &github.IssueComment{Body: &body}); err != nil {
				return out, fmt.Errorf("comment on revert PR #%d: %w", inc.PR, err)
			}
			log.Info("alert added to the open revert PR", "pr", inc.PR, "status", job.Status)
			return out, nil
		}
		if inc.Status != store.IncidentOpen {
			log.Info("incident already handled without a PR", "status", inc.Status, "reason", inc.Reason)
			out.Note = inc.Reason
			return out, nil
		}
		// An earlier attempt stopped before its PR existed: try again.
	}
	if job.Status == "resolved" {
		note := "resolved before any revert PR was opened"
		_ = s.store.UpdateIncident(ctx, inc.ID, store.IncidentNoPR, 0, 0, note)
		out.Note = note
		return out, nil
	}
	canary := entry.Canary != nil && version == entry.Canary.Version && version != live
	if version != live && !canary {
		note := fmt.Sprintf("%s no longer points at v%d (it points at v%d): the pointer already moved, no revert PR opened", env.Path, version, live)
		log.Info(note)
		_ = s.store.UpdateIncident(ctx, inc.ID, store.IncidentNoPR, 0, 0, note)
		out.Note = note
		return out, nil
	}
	var prev int
	var source string
	if canary {
		// A canary that misbehaves is stopped: the pointer stays at the
		// live version and the canary goes.
		prev, source, err = live, "the live version beside the canary", nil
		live = version
	} else {
		prev, source, err = s.previousVersion(ctx, snap, job.Artifact, live, job.To)
	}
	if err != nil {
		note := fmt.Sprintf("no previous version of %s to restore: %v", job.Artifact, err)
		log.Warn(note)
		_ = s.store.UpdateIncident(ctx, inc.ID, store.IncidentNoPR, 0, 0, note)
		out.Note = note
		return out, nil
	}
	pr, err := s.openRevertPR(ctx, snap, env, job, live, prev, source)
	if err != nil {
		return out, err
	}
	if err := s.store.UpdateIncident(ctx, inc.ID, store.IncidentOpen, pr.GetNumber(), prev, job.Reason); err != nil {
		return out, err
	}
	elapsed := time.Since(job.ReceivedAt)
	s.metrics.revertSeconds.Observe(elapsed.Seconds())
	log.Info("revert PR opened", "pr", pr.GetNumber(), "restore", prev, "alert_to_pr_seconds", elapsed.Seconds())
	out.PR, out.Created = pr.GetNumber(), true
	out.Incident.PR, out.Incident.RestoreTo = pr.GetNumber(), prev
	return out, nil
}

// previousVersion is the version live before `live`: the deploy recorded
// before it, else the newest tag below it, else the newest earlier version
// on the default branch. It must resolve to exact content.
func (s *Server) previousVersion(ctx context.Context, snap *snapshot, artifact string, live, forced int) (int, string, error) {
	try := func(v int, how string) (int, string, error) {
		if _, err := snap.Git.Resolve(artifact, v); err != nil {
			return 0, "", err
		}
		return v, how, nil
	}
	if forced > 0 {
		return try(forced, "requested")
	}
	deploys, err := s.store.Deploys(ctx, snap.FullName(), artifact)
	if err == nil {
		for _, d := range deploys { // newest first
			if d.Version < live {
				return try(d.Version, fmt.Sprintf("deploy record (PR #%d)", d.PR))
			}
		}
	}
	tags, _ := snap.Git.Tags(artifact)
	best := 0
	for _, t := range tags {
		if t < live && t > best {
			best = t
		}
	}
	if best > 0 {
		return try(best, "tag "+registry.TagName(artifact, best))
	}
	for v := live - 1; v >= 1; v-- {
		if _, err := snap.Git.Resolve(artifact, v); err == nil {
			return v, "history", nil
		}
	}
	return 0, "", fmt.Errorf("no deploy record, tag or commit holds an earlier version than v%d", live)
}

// RevertBranch is the branch a revert PR comes from.
func RevertBranch(artifact string, version int) string {
	return fmt.Sprintf("promptgate/revert-%s-v%d", artifact, version)
}

// openRevertPR commits the pointer change on a branch, pushes it and opens
// the PR (or finds the one already open for that branch).
func (s *Server) openRevertPR(ctx context.Context, snap *snapshot, env *registry.Environment, job RevertJob, live, prev int, source string) (*github.PullRequest, error) {
	branch := RevertBranch(job.Artifact, live)
	open, _, err := snap.GH.PullRequests.List(ctx, snap.Owner, snap.Name, &github.PullRequestListOptions{State: "open", Head: snap.Owner + ":" + branch})
	if err != nil {
		return nil, fmt.Errorf("list PRs: %w", err)
	}
	if len(open) > 0 {
		return open[0], nil
	}
	token, err := s.clients.Token(ctx, snap.Inst)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.settings.DataDir, "revert-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	auth := &githttp.BasicAuth{Username: "x-access-token", Password: token}
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: snap.CloneURL, Auth: auth,
		ReferenceName: plumbing.NewBranchReferenceName(snap.Branch), SingleBranch: true, Depth: 1})
	if err != nil {
		return nil, fmt.Errorf("clone for revert: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true}); err != nil {
		return nil, err
	}
	file := env.Path
	data, err := os.ReadFile(path.Join(dir, file))
	if err != nil {
		return nil, err
	}
	// Setting the version also drops any canary.
	edited, err := registry.SetPointer(data, job.Artifact, prev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := os.WriteFile(path.Join(dir, file), edited, 0o644); err != nil {
		return nil, err
	}
	if _, err := wt.Add(file); err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("Roll back %s to v%d in %s\n\n%s fired: %s\n", job.Artifact, prev, job.Environment, job.Source, job.Reason)
	sig := &object.Signature{Name: "promptgate[bot]", Email: "promptgate[bot]@users.noreply.github.com", When: time.Now()}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return nil, fmt.Errorf("commit revert: %w", err)
	}
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/heads/%s", branch, branch))
	if err := repo.PushContext(ctx, &git.PushOptions{Auth: auth, RefSpecs: []config.RefSpec{spec}}); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("push %s: %w", branch, err)
	}
	body := s.revertBody(ctx, snap, job, live, prev, source)
	title := fmt.Sprintf("Roll back %s to v%d in %s (%s)", job.Artifact, prev, job.Environment, job.Source)
	pr, _, err := snap.GH.PullRequests.Create(ctx, snap.Owner, snap.Name, &github.NewPullRequest{
		Title: &title, Head: &branch, Base: &snap.Branch, Body: &body,
	})
	if err != nil {
		return nil, fmt.Errorf("open revert PR: %w", err)
	}
	if d, err := s.store.DeployOf(ctx, snap.FullName(), job.Artifact, live); err == nil && len(d.Approvers) > 0 {
		if _, _, err := snap.GH.PullRequests.RequestReviewers(ctx, snap.Owner, snap.Name, pr.GetNumber(), github.ReviewersRequest{Reviewers: d.Approvers}); err != nil {
			s.log.Warn("request reviewers on revert PR", "pr", pr.GetNumber(), "error", err)
		}
	}
	return pr, nil
}

// revertBody is the evidence a human needs at 3 a.m. to merge with confidence.
func (s *Server) revertBody(ctx context.Context, snap *snapshot, job RevertJob, live, prev int, source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Roll back `%s` from v%d to v%d in `%s`\n\n", report.Inline(job.Artifact), live, prev, report.Inline(job.Environment))
	fmt.Fprintf(&b, "**%s** fired: %s\n\n", report.Inline(job.Source), report.Inline(job.Reason))
	if job.Evidence != "" {
		b.WriteString(job.Evidence + "\n\n")
	}
	fmt.Fprintf(&b, "This PR moves the pointer in `environments/%s.yaml` back to v%d (found by %s). ", report.Inline(job.Environment), prev, report.Inline(source))
	b.WriteString("Nothing has been rolled back yet: **merging this PR is the rollback.**\n\n")
	if d, err := s.store.DeployOf(ctx, snap.FullName(), job.Artifact, live); err == nil {
		approvers := "nobody on record"
		if len(d.Approvers) > 0 {
			approvers = "@" + strings.Join(d.Approvers, ", @")
		}
		fmt.Fprintf(&b, "v%d came from #%d (merge `%s`), approved by %s; its gate verdict was **%s**", live, d.PR, short(d.MergeSHA), approvers, d.Verdict)
		if d.AcceptedBy != "" {
			fmt.Fprintf(&b, ", regression accepted by @%s", d.AcceptedBy)
		}
		b.WriteString(".\n\n")
	} else {
		fmt.Fprintf(&b, "No deploy record for v%d: it was not merged through promptgate.\n\n", live)
	}
	b.WriteString(s.restoredGoldenResult(ctx, snap, job.Artifact, live, prev))
	b.WriteString("Further alerts for this incident are added here as comments; no second PR is opened.\n")
	return b.String()
}

// restoredGoldenResult describes the cached golden-set result of the version
// being restored: its own gate run where there was one, else the baseline
// side of the gate that brought in the live version (which ran it too).
func (s *Server) restoredGoldenResult(ctx context.Context, snap *snapshot, artifact string, live, prev int) string {
	describe := func(gr store.GateResult, side string) string {
		var rep evaluator.Report
		if json.Unmarshal(gr.ReportJSON, &rep) != nil || len(rep.Artifacts) != 1 {
			return ""
		}
		a := rep.Artifacts[0]
		pass := func(c evaluator.CategoryDelta) float64 {
			if side == "base" {
				return c.BasePassRate
			}
			return c.HeadPassRate
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Golden set of v%d (cached, from the gate of PR #%d): overall pass rate %.1f%%", prev, gr.PR, 100*pass(a.Overall))
		for _, c := range a.Categories {
			fmt.Fprintf(&b, " · %s %.1f%%", report.Inline(c.Name), 100*pass(c))
		}
		return b.String() + ".\n\n"
	}
	if res, err := snap.Git.Resolve(artifact, prev); err == nil {
		if gr, err := s.store.LatestGateResult(ctx, snap.FullName(), artifact, res.Artifact.Digest); err == nil {
			if d := describe(gr, "head"); d != "" {
				return d
			}
		}
	}
	if res, err := snap.Git.Resolve(artifact, live); err == nil {
		if gr, err := s.store.LatestGateResult(ctx, snap.FullName(), artifact, res.Artifact.Digest); err == nil {
			var rep evaluator.Report
			if json.Unmarshal(gr.ReportJSON, &rep) == nil && len(rep.Artifacts) == 1 && rep.Artifacts[0].BaseVersion == prev {
				if d := describe(gr, "base"); d != "" {
					return d
				}
			}
		}
	}
	return fmt.Sprintf("No cached golden-set result for v%d.\n\n", prev)
}

// Rollback opens the revert PR for an artifact from the command line, the
// same PR a firing trigger opens, and waits for it.
func Rollback(ctx context.Context, settings *Settings, log *slog.Logger, job RevertJob) (RevertOutcome, error) {
	if settings.ConfigRepo == "" {
		return RevertOutcome{}, errors.New("PROMPTGATE_CONFIG_REPO (owner/name) is required to open the PR")
	}
	srv, err := New(ctx, settings, log)
	if err != nil {
		return RevertOutcome{}, err
	}
	defer srv.Close()
	if job.ReceivedAt.IsZero() {
		job.ReceivedAt = time.Now()
	}
	return srv.revert(ctx, job)
}

// LocalRollback makes the revert branch and commit in a local clone, for
// review before pushing: the pointer of artifact in environments/<env>.yaml
// goes back to `to`, or to the version before the live one.
func LocalRollback(dir, artifact, env string, to int, reason string) (branch string, from, restored int, err error) {
	g, err := registry.OpenGit(dir)
	if err != nil {
		return "", 0, 0, err
	}
	if g == nil {
		return "", 0, 0, fmt.Errorf("%s is not inside a git repository", dir)
	}
	wt, err := g.Repo.Worktree()
	if err != nil {
		return "", 0, 0, err
	}
	file := path.Join(g.Sub, registry.EnvironmentsDir, env+".yaml")
	data, err := os.ReadFile(path.Join(g.Root, file))
	if err != nil {
		return "", 0, 0, fmt.Errorf("read %s: %w", file, err)
	}
	repo := registry.Load(os.DirFS(path.Join(g.Root, g.Sub)))
	e, ok := repo.Environments[env]
	if !ok {
		return "", 0, 0, fmt.Errorf("no environment %q", env)
	}
	entry, ok := e.Entries[artifact]
	if !ok {
		return "", 0, 0, fmt.Errorf("%s has no pointer for %s", file, artifact)
	}
	from = entry.Version
	if to == 0 {
		tags, _ := g.Tags(artifact)
		for _, t := range tags {
			if t < from && t > to {
				to = t
			}
		}
		for v := from - 1; to == 0 && v >= 1; v-- {
			if _, err := g.Resolve(artifact, v); err == nil {
				to = v
			}
		}
		if to == 0 {
			return "", from, 0, fmt.Errorf("no earlier version of %s than v%d resolves from tags or history", artifact, from)
		}
	} else if _, err := g.Resolve(artifact, to); err != nil && to != from {
		return "", from, 0, fmt.Errorf("v%d of %s: %w", to, artifact, err)
	}
	if to == from {
		return "", from, to, fmt.Errorf("%s already points at v%d", file, to)
	}
	edited, err := registry.SetPointer(data, artifact, to)
	if err != nil {
		return "", from, to, err
	}
	if st, err := wt.Status(); err == nil {
		var dirty []string
		for f, fs := range st {
			if fs.Worktree != git.Untracked || fs.Staging != git.Untracked {
				dirty = append(dirty, f)
			}
		}
		if len(dirty) > 0 {
			sort.Strings(dirty)
			return "", from, to, fmt.Errorf("uncommitted changes to %s: commit or stash them first", strings.Join(dirty, ", "))
		}
	}
	if _, err := g.Repo.Reference(plumbing.NewBranchReferenceName(RevertBranch(artifact, from)), false); err == nil {
		return "", from, to, fmt.Errorf("branch %s already exists: delete it (git branch -D %s) or push it", RevertBranch(artifact, from), RevertBranch(artifact, from))
	}
	branch = RevertBranch(artifact, from)
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true}); err != nil {
		return "", from, to, fmt.Errorf("create branch %s: %w", branch, err)
	}
	if err := os.WriteFile(path.Join(g.Root, file), edited, 0o644); err != nil {
		return branch, from, to, err
	}
	if _, err := wt.Add(file); err != nil {
		return branch, from, to, err
	}
	sig := &object.Signature{Name: "promptgate", Email: "promptgate@localhost", When: time.Now()}
	if cfg, err := g.Repo.ConfigScoped(config.GlobalScope); err == nil && cfg.User.Name != "" {
		sig.Name, sig.Email = cfg.User.Name, cfg.User.Email
	}
	msg := fmt.Sprintf("Roll back %s to v%d in %s\n\n%s\n", artifact, to, env, reason)
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return branch, from, to, fmt.Errorf("commit: %w", err)
	}
	return branch, from, to, nil
}

// lockIncident waits for the incident's lock (at most two minutes) and
// returns its release.
func (s *Server) lockIncident(ctx context.Context, repo, artifact, env string, version int) (func(), error) {
	name := fmt.Sprintf("incident:%s:%s:%s:%d", repo, artifact, env, version)
	owner := fmt.Sprintf("%s-%d", s.queue.owner, time.Now().UnixNano())
	deadline := time.Now().Add(2 * time.Minute)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ok, err := s.store.TryLock(ctx, name, owner, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		if ok {
			return func() { _ = s.store.Unlock(context.WithoutCancel(ctx), name, owner) }, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("incident %s is busy", name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
