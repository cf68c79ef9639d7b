package bot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/registry"
)

// configRepo follows the config repo production runs from: a clone of its
// default branch (with tags, so earlier versions resolve), refreshed on
// demand, and the registry loaded from its head.
type configRepo struct {
	owner, name string
	dir         string
	clients     *Clients

	mu      sync.Mutex
	repo    *git.Repository
	branch  string
	head    *registry.Repo
	headSHA string
	inst    int64
}

func newConfigRepo(full, dataDir string, clients *Clients) *configRepo {
	owner, name, _ := strings.Cut(full, "/")
	return &configRepo{owner: owner, name: name, dir: filepath.Join(dataDir, "config-repo"), clients: clients}
}

// snapshot is the config repo as of one refresh.
type snapshot struct {
	Repo     *registry.Repo
	Git      *registry.GitRepo
	SHA      string
	Branch   string
	Inst     int64
	GH       *github.Client
	Owner    string
	Name     string
	CloneURL string
}

// refresh fetches the default branch and tags and reloads the registry.
func (c *configRepo) refresh(ctx context.Context) (*snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == 0 {
		id, err := c.clients.InstallationFor(ctx, c.owner, c.name)
		if err != nil {
			return nil, err
		}
		c.inst = id
	}
	gh, err := c.clients.For(c.inst)
	if err != nil {
		return nil, err
	}
	meta, _, err := gh.Repositories.Get(ctx, c.owner, c.name)
	if err != nil {
		return nil, fmt.Errorf("config repo %s/%s: %w", c.owner, c.name, err)
	}
	token, err := c.clients.Token(ctx, c.inst)
	if err != nil {
		return nil, err
	}
	auth := &githttp.BasicAuth{Username: "x-access-token", Password: token}
	branch := meta.GetDefaultBranch()
	if c.repo == nil {
		os.RemoveAll(c.dir)
		repo, err := git.PlainCloneContext(ctx, c.dir, true, &git.CloneOptions{
			URL: meta.GetCloneURL(), Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true, Tags: git.AllTags,
		})
		if err != nil {
			return nil, fmt.Errorf("clone config repo: %w", err)
		}
		c.repo = repo
	} else {
		err := c.repo.FetchContext(ctx, &git.FetchOptions{Auth: auth, Tags: git.AllTags, Force: true,
			RefSpecs: []config.RefSpec{config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/heads/%s", branch, branch))}})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Errorf("fetch config repo: %w", err)
		}
	}
	g := &registry.GitRepo{Repo: c.repo, Sub: "."}
	fsys, commit, err := g.FSAt("refs/heads/" + branch)
	if err != nil {
		return nil, err
	}
	if commit.Hash.String() != c.headSHA || c.head == nil {
		c.head = registry.Load(fsys)
		c.headSHA = commit.Hash.String()
	}
	c.branch = branch
	return &snapshot{Repo: c.head, Git: g, SHA: c.headSHA, Branch: branch, Inst: c.inst, GH: gh, Owner: c.owner, Name: c.name, CloneURL: meta.GetCloneURL()}, nil
}

// FullName is owner/name.
func (s *snapshot) FullName() string { return s.Owner + "/" + s.Name }
