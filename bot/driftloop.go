package bot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/drift"
	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
)

// runDrift runs the config repo's drift schedule until ctx ends: at each
// scheduled time the golden set runs against every version live in the
// configured environments.
func (s *Server) runDrift(ctx context.Context) {
	if s.config == nil {
		return
	}
	var next time.Time
	var expr string
	for {
		wait := time.Minute
		if snap, err := s.config.refresh(ctx); err == nil && snap.Repo.Config.Drift != nil {
			if snap.Repo.Config.Drift.Schedule != expr || next.IsZero() {
				expr = snap.Repo.Config.Drift.Schedule
				if sched, err := drift.Schedule(expr); err == nil {
					next = sched.Next(time.Now())
				} else {
					s.log.Warn("drift schedule", "error", err)
					next = time.Time{}
				}
			}
			if !next.IsZero() && !time.Now().Before(next) {
				s.driftOnce(ctx, snap)
				if sched, err := drift.Schedule(expr); err == nil {
					next = sched.Next(time.Now())
				}
			}
			if !next.IsZero() {
				wait = min(max(time.Until(next), 10*time.Millisecond), time.Minute)
			}
		} else if err != nil && ctx.Err() == nil {
			s.log.Warn("drift: config repo", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// driftOnce checks every live version of the configured environments.
func (s *Server) driftOnce(ctx context.Context, snap *snapshot) {
	cfg := snap.Repo.Config
	envs := cfg.Drift.Environments
	if len(envs) == 0 {
		envs = slices.Sorted(maps.Keys(snap.Repo.Environments))
	}
	// No response cache here: the point is to ask the provider again.
	provider, err := evaluator.NewOpenAI(cfg.Providers, s.settings.ProviderEnv, evaluator.OpenAIOptions{Timeout: cfg.Gate.Timeout.D(), Logger: s.log})
	if err != nil {
		s.log.Error("drift", "error", err)
		return
	}
	runner := &drift.Runner{Completer: provider, Store: s.store, Issues: &githubIssues{gh: snap.GH, owner: snap.Owner, repo: snap.Name},
		Repo: snap.FullName(), Logger: s.log}
	for _, envName := range envs {
		env, ok := snap.Repo.Environments[envName]
		if !ok {
			s.log.Warn("drift: no such environment", "environment", envName)
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(env.Entries)) {
			log := s.log.With("artifact", name, "environment", envName, "version", env.Entries[name].Version)
			art, cases, err := liveArtifact(snap, name, env.Entries[name].Version)
			if err != nil {
				log.Warn("drift: live version not resolvable", "error", err)
				continue
			}
			res, err := runner.Check(ctx, cfg, art, cases, envName)
			if err != nil {
				log.Error("drift check", "error", err)
				continue
			}
			log.Info("drift check", "verdict", res.Verdict, "drift", res.Drift, "baseline", res.Baseline, "issue", res.Issue)
		}
	}
}

// liveArtifact is the exact content of the version live in an environment,
// with the golden set of the default branch's head.
func liveArtifact(snap *snapshot, name string, version int) (*registry.Artifact, []*registry.Case, error) {
	art := snap.Repo.Artifacts[name]
	if art == nil || art.Version != version {
		res, err := snap.Git.Resolve(name, version)
		if err != nil {
			return nil, nil, err
		}
		art = res.Artifact
	}
	gs := snap.Repo.GoldenFor(art)
	if gs == nil {
		return nil, nil, fmt.Errorf("no golden set %s", art.GoldenDir())
	}
	return art, gs.Cases, nil
}

// githubIssues is drift's narrow view of the config repo's issues.
type githubIssues struct {
	gh          *github.Client
	owner, repo string
}

var _ drift.Issues = (*githubIssues)(nil)

func (g *githubIssues) FindOpen(ctx context.Context, title string) (int, bool, error) {
	opt := &github.IssueListByRepoOptions{State: "open", Labels: drift.Labels, ListOptions: github.ListOptions{PerPage: 100}}
	for {
		issues, resp, err := g.gh.Issues.ListByRepo(ctx, g.owner, g.repo, opt)
		if err != nil {
			return 0, false, err
		}
		for _, is := range issues {
			if is.GetTitle() == title && !is.IsPullRequest() {
				return is.GetNumber(), true, nil
			}
		}
		if resp.NextPage == 0 {
			return 0, false, nil
		}
		opt.Page = resp.NextPage
	}
}

func (g *githubIssues) Create(ctx context.Context, title, body string, labels []string) (int, error) {
	is, _, err := g.gh.Issues.Create(ctx, g.owner, g.repo, &github.IssueRequest{Title: &title, Body: &body, Labels: &labels})
	if err != nil {
		return 0, err
	}
	return is.GetNumber(), nil
}

func (g *githubIssues) Update(ctx context.Context, number int, body string) error {
	_, _, err := g.gh.Issues.Edit(ctx, g.owner, g.repo, number, &github.IssueRequest{Body: &body})
	return err
}

func (g *githubIssues) Comment(ctx context.Context, number int, body string) error {
	_, _, err := g.gh.Issues.CreateComment(ctx, g.owner, g.repo, number, &github.IssueComment{Body: &body})
	return err
}
