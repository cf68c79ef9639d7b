package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/store"
)

// handleMergeJob makes a merged PR's versions real: it tags <name>/v<N> at
// the merge commit for every artifact the PR changed, pushes the tags, and
// records each deploy with its approvers and gate verdict.
func (s *Server) handleMergeJob(ctx context.Context, sj *store.Job) error {
	var job PRJob
	if err := json.Unmarshal(sj.Payload, &job); err != nil {
		return fmt.Errorf("job payload: %w", err)
	}
	log := s.log.With("repo", job.FullName(), "pr", job.PR, "delivery", job.Delivery, "job", sj.ID)
	gh, err := s.clients.For(job.Installation)
	if err != nil {
		return err
	}
	pr, _, err := gh.PullRequests.Get(ctx, job.Owner, job.Repo, job.PR)
	if err != nil {
		return fmt.Errorf("get PR: %w", err)
	}
	if !pr.GetMerged() || pr.GetMergeCommitSHA() == "" {
		log.Info("PR not merged: nothing to tag")
		return nil
	}
	mergeSHA := pr.GetMergeCommitSHA()
	co, release, err := s.clonePR(ctx, job.Installation, pr, "merge")
	if err != nil {
		return err
	}
	defer release()
	merge, err := co.git.Commit(mergeSHA)
	if err != nil {
		return fmt.Errorf("merge commit %s not on %s: %w", short(mergeSHA), pr.GetBase().GetRef(), err)
	}
	head, err := co.load(mergeSHA)
	if err != nil {
		return err
	}
	var before *registry.Repo
	if merge.NumParents() > 0 {
		parent, err := merge.Parent(0)
		if err != nil {
			return err
		}
		if before, err = co.load(parent.Hash.String()); err != nil {
			return err
		}
	}
	approvers, err := approvers(ctx, gh, job.Owner, job.Repo, job.PR)
	if err != nil {
		return err
	}
	acceptedBy := ""
	if acc, err := s.store.Acceptance(ctx, job.FullName(), job.PR, pr.GetHead().GetSHA()); err == nil {
		acceptedBy = acc.User
	}
	var tags, problems []string
	for _, vc := range registry.CheckVersions(head, before) {
		if vc.Deleted || vc.Changed == nil || !*vc.Changed {
			continue
		}
		tag := registry.TagName(vc.Name, vc.Version)
		alog := log.With("artifact", vc.Name, "version", vc.Version)
		if !vc.OK {
			// Two PRs that bumped to the same number can both merge cleanly.
			problems = append(problems, fmt.Sprintf("`%s`: %s, so v%d was not tagged. Open a PR that sets `version: %d`.", vc.Path, vc.Message, vc.Version, vc.Expected))
			continue
		}
		if ref, err := co.repo.Tag(tag); err == nil {
			if ref.Hash() != merge.Hash {
				// Versions are immutable: never move an existing tag.
				problems = append(problems, fmt.Sprintf("tag `%s` already names other content (commit `%s`); v%d of %s is ambiguous. Bump the version in a new PR.", tag, short(ref.Hash().String()), vc.Version, vc.Name))
				continue
			}
		} else if errors.Is(err, git.ErrTagNotFound) {
			if _, err := co.repo.CreateTag(tag, plumbing.NewHash(mergeSHA), nil); err != nil {
				return fmt.Errorf("tag %s: %w", tag, err)
			}
			tags = append(tags, tag)
		} else {
			return err
		}
		verdict := "unknown"
		if gr, err := s.store.LatestGateResult(ctx, job.FullName(), vc.Name, vc.Digest); err == nil {
			verdict = gr.Verdict
		}
		d := store.Deploy{Repo: job.FullName(), Artifact: vc.Name, Version: vc.Version, Digest: vc.Digest, PR: job.PR,
			MergeSHA: mergeSHA, Approvers: approvers, Verdict: verdict, AcceptedBy: acceptedBy, DeployedAt: time.Now().UTC()}
		if err := s.store.RecordDeploy(ctx, d); errors.Is(err, store.ErrConflict) {
			problems = append(problems, fmt.Sprintf("v%d of %s was already deployed with other content; this merge was not recorded as its deploy.", vc.Version, vc.Name))
			continue
		} else if err != nil {
			return err
		}
		alog.Info("deploy recorded", "tag", tag, "approvers", approvers, "verdict", verdict)
	}
	if len(tags) > 0 {
		if err := co.pushTags(ctx, tags); err != nil {
			return err
		}
		log.Info("tags pushed", "tags", tags)
	}
	if len(problems) > 0 {
		log.Error("merge left versions unresolved", "problems", problems)
		body := "## ⚠️ promptgate: this merge needs a follow-up\n\n- " + strings.Join(problems, "\n- ") + "\n"
		if _, _, err := gh.Issues.CreateComment(ctx, job.Owner, job.Repo, job.PR, &github.IssueComment{Body: &body}); err != nil {
			return fmt.Errorf("comment merge problems: %w", err)
		}
	}
	return nil
}

// approvers are the users whose latest review of the PR is an approval.
func approvers(ctx context.Context, gh *github.Client, owner, repo string, n int) ([]string, error) {
	latest := map[string]string{}
	opt := &github.ListOptions{PerPage: 100}
	for {
		reviews, resp, err := gh.PullRequests.ListReviews(ctx, owner, repo, n, opt)
		if err != nil {
			return nil, fmt.Errorf("list reviews: %w", err)
		}
		for _, r := range reviews {
			switch r.GetState() {
			case "APPROVED", "CHANGES_REQUESTED", "DISMISSED":
				latest[r.GetUser().GetLogin()] = r.GetState()
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	out := []string{}
	for user, state := range latest {
		if state == "APPROVED" {
			out = append(out, user)
		}
	}
	sort.Strings(out)
	return out, nil
}
