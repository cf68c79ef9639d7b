package bot

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/registry"
)

// checkout is a bare clone of the config repo holding what one job needs:
// the base branch with its history and tags, plus the PR's head.
type checkout struct {
	repo *git.Repository
	git  *registry.GitRepo
	auth *githttp.BasicAuth
}

// cloneRepo clones cloneURL's base branch (with tags, for resolving earlier
// versions) into dir over HTTPS, authenticating with the installation token.
// Only that branch is fetched; the head is fetched separately.
func cloneRepo(ctx context.Context, dir, cloneURL, branch, token string) (*checkout, error) {
	auth := &githttp.BasicAuth{Username: "x-access-token", Password: token}
	repo, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{
		URL: cloneURL, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(branch),
		SingleBranch: true, Tags: git.AllTags,
	})
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", cloneURL, err)
	}
	return &checkout{repo: repo, git: &registry.GitRepo{Repo: repo, Sub: "."}, auth: auth}, nil
}

// fetchHead fetches a PR's head into refs/promptgate/head: GitHub's
// refs/pull/<n>/head on the base repository, which exists for same-repo
// and fork PRs alike, else the head branch (from the fork's URL for a fork).
func (c *checkout) fetchHead(ctx context.Context, pr int, forkURL, branch string) error {
	pull := config.RefSpec(fmt.Sprintf("+refs/pull/%d/head:refs/promptgate/head", pr))
	err := c.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Auth: c.auth, RefSpecs: []config.RefSpec{pull}, Tags: git.NoTags})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	remote := "origin"
	if forkURL != "" {
		remote = "head"
		if _, err := c.repo.Remote(remote); errors.Is(err, git.ErrRemoteNotFound) {
			if _, err := c.repo.CreateRemote(&config.RemoteConfig{Name: remote, URLs: []string{forkURL}}); err != nil {
				return err
			}
		}
	}
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/promptgate/head", branch))
	err = c.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, Auth: c.auth, RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch head %s: %w", branch, err)
	}
	return nil
}

// pushTags pushes tags to origin.
func (c *checkout) pushTags(ctx context.Context, tags []string) error {
	var specs []config.RefSpec
	for _, t := range tags {
		specs = append(specs, config.RefSpec(fmt.Sprintf("refs/tags/%s:refs/tags/%s", t, t)))
	}
	err := c.repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: c.auth, RefSpecs: specs})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push tags: %w", err)
	}
	return nil
}

// load reads the config repo at a commit.
func (c *checkout) load(rev string) (*registry.Repo, error) {
	fsys, _, err := c.git.FSAt(rev)
	if err != nil {
		return nil, err
	}
	return registry.Load(fsys), nil
}

// clonePR clones a PR's base repository and branch into a temporary
// directory under the data dir, with the installation token; release
// removes it.
func (s *Server) clonePR(ctx context.Context, installation int64, pr *github.PullRequest, prefix string) (co *checkout, release func(), err error) {
	token, err := s.clients.Token(ctx, installation)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(s.settings.DataDir, prefix+"-*")
	if err != nil {
		return nil, nil, err
	}
	release = func() { os.RemoveAll(dir) }
	co, err = cloneRepo(ctx, dir, pr.GetBase().GetRepo().GetCloneURL(), pr.GetBase().GetRef(), token)
	if err != nil {
		release()
		return nil, nil, err
	}
	return co, release, nil
}
