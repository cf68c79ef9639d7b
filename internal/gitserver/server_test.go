package gitserver

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

const token = "ghs_installation_token"

func newServer(t *testing.T) *Server {
	return New(t, Options{Check: func(user, password string) bool {
		return user == "x-access-token" && password == token
	}})
}

func auth(password string) *githttp.BasicAuth {
	return &githttp.BasicAuth{Username: "x-access-token", Password: password}
}

func TestCloneCommitTagAndPushWithGoGit(t *testing.T) {
	s := newServer(t)
	seed := s.Seed("acme/config", map[string]string{
		"artifacts/support-assistant.yaml": "name: support-assistant\nversion: 14\n",
		"environments/production.yaml":     "support-assistant: 14\n",
	}, "initial config")

	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: s.URL("acme/config"), Auth: auth(token)})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	if head.Hash().String() != seed || head.Name() != plumbing.NewBranchReferenceName(DefaultBranch) {
		t.Fatalf("cloned HEAD = %s %s, want %s on main", head.Name(), head.Hash(), seed)
	}
	got, err := os.ReadFile(filepath.Join(dir, "environments", "production.yaml"))
	if err != nil || string(got) != "support-assistant: 14\n" {
		t.Fatalf("cloned file = %q, %v", got, err)
	}

	// A revert branch and a version tag, pushed as the bot would.
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("promptgate/revert-15"), Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "environments", "production.yaml"), []byte("support-assistant: 13\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("environments/production.yaml"); err != nil {
		t.Fatal(err)
	}
	commit, err := wt.Commit("Roll back support-assistant to v13", &git.CommitOptions{
		Author: &object.Signature{Name: "promptgate[bot]", Email: "bot@example.com", When: time.Now()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("support-assistant/v15", plumbing.NewHash(seed), nil); err != nil {
		t.Fatal(err)
	}
	err = repo.Push(&git.PushOptions{
		Auth: auth(token),
		RefSpecs: []config.RefSpec{
			"refs/heads/promptgate/revert-15:refs/heads/promptgate/revert-15",
			"refs/tags/support-assistant/v15:refs/tags/support-assistant/v15",
		},
	})
	if err != nil {
		t.Fatalf("push: %v", err)
	}

	refs := s.Refs("acme/config")
	want := map[string]string{
		"refs/heads/main":                 seed,
		"refs/heads/promptgate/revert-15": commit.String(),
		"refs/tags/support-assistant/v15": seed,
	}
	for ref, sha := range want {
		if refs[ref] != sha {
			t.Errorf("Refs[%s] = %q, want %s", ref, refs[ref], sha)
		}
	}
	if len(refs) != len(want) {
		t.Errorf("Refs = %v, want %v", refs, want)
	}
	if log := s.Log("acme/config", "promptgate/revert-15"); !slices.Equal(log, []string{commit.String(), seed}) {
		t.Errorf("Log = %v", log)
	}
	if msg := s.Message("acme/config", "promptgate/revert-15"); msg != "Roll back support-assistant to v13" {
		t.Errorf("Message = %q", msg)
	}
	if content, ok := s.File("acme/config", "promptgate/revert-15", "environments/production.yaml"); !ok || content != "support-assistant: 13\n" {
		t.Errorf("File = %q, %v", content, ok)
	}

	pushes := s.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("Pushes = %+v, want one", pushes)
	}
	p := pushes[0]
	if p.Repo != "acme/config" || p.User != "x-access-token" || p.Status != http.StatusOK || len(p.Refs) != 2 ||
		p.Refs["refs/tags/support-assistant/v15"] != (RefChange{New: seed}) ||
		p.Refs["refs/heads/promptgate/revert-15"] != (RefChange{New: commit.String()}) {
		t.Errorf("push = %+v", p)
	}
}

func TestWrongOrMissingCredentialsAreRefused(t *testing.T) {
	s := newServer(t)
	seed := s.Seed("acme/config", map[string]string{"README.md": "hello\n"}, "initial")

	tests := []struct {
		name string
		auth transport.AuthMethod
	}{
		{"wrong token", auth("ghs_expired")},
		{"wrong user", &githttp.BasicAuth{Username: "someone", Password: token}},
		{"no credentials", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := git.PlainClone(t.TempDir(), false, &git.CloneOptions{URL: s.URL("acme/config"), Auth: tt.auth})
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Errorf("clone: err = %v, want ErrAuthenticationRequired", err)
			}
		})
	}

	// A push with a bad token changes nothing and is not a push.
	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: s.URL("acme/config"), Auth: auth(token)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("support-assistant/v1", plumbing.NewHash(seed), nil); err != nil {
		t.Fatal(err)
	}
	err = repo.Push(&git.PushOptions{Auth: auth("ghs_expired"), RefSpecs: []config.RefSpec{"refs/tags/*:refs/tags/*"}})
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("push with a bad token: err = %v, want ErrAuthenticationRequired", err)
	}
	if _, ok := s.Refs("acme/config")["refs/tags/support-assistant/v1"]; ok {
		t.Error("tag pushed with a bad token")
	}
	if n := len(s.Pushes()); n != 0 {
		t.Errorf("%d pushes recorded, want 0", n)
	}
	if s.AuthFailures() < 4 {
		t.Errorf("AuthFailures = %d, want at least 4", s.AuthFailures())
	}

	// The refusal is a proper challenge.
	resp, err := http.Get(s.URL("acme/config") + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated GET: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestCommitHelperAndFetch(t *testing.T) {
	s := newServer(t)
	s.CreateRepo("acme/config")
	if refs := s.Refs("acme/config"); len(refs) != 0 {
		t.Fatalf("new repository has refs %v", refs)
	}
	if log := s.Log("acme/config", "main"); log != nil {
		t.Fatalf("Log of unborn main = %v", log)
	}
	base := s.Seed("acme/config", map[string]string{
		"artifacts/a.yaml": "name: a\nversion: 1\n",
		"golden/a/x.yaml":  "cases: []\n",
	}, "base")
	head := s.Commit("acme/config", "feature", map[string]string{"artifacts/a.yaml": "name: a\nversion: 2\n"},
		[]string{"golden/a/x.yaml"}, "bump a")
	tagged := s.Tag("acme/config", "a/v1", base)
	if tagged != base {
		t.Errorf("Tag = %s, want %s", tagged, base)
	}

	if log := s.Log("acme/config", "feature"); !slices.Equal(log, []string{head, base}) {
		t.Errorf("Log(feature) = %v, want [%s %s]", log, head, base)
	}
	if _, ok := s.File("acme/config", "feature", "golden/a/x.yaml"); ok {
		t.Error("deleted file still on the branch")
	}
	if c, ok := s.File("acme/config", "main", "golden/a/x.yaml"); !ok || c != "cases: []\n" {
		t.Errorf("main lost its file: %q, %v", c, ok)
	}

	repo, err := git.PlainClone(t.TempDir(), true, &git.CloneOptions{URL: s.URL("acme/config"), Auth: auth(token)})
	if err != nil {
		t.Fatal(err)
	}
	next := s.Commit("acme/config", "feature", map[string]string{"notes.txt": "more\n"}, nil, "more")
	if err := repo.Fetch(&git.FetchOptions{Auth: auth(token), RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", "feature"), true)
	if err != nil || ref.Hash().String() != next {
		t.Errorf("fetched feature = %v, %v; want %s", ref, err, next)
	}
	if len(s.Pushes()) != 0 {
		t.Errorf("helper commits counted as pushes: %+v", s.Pushes())
	}
}

// The git CLI sends pushes above http.postBuffer (1 MiB) chunked, which
// net/http/cgi alone refuses.
func TestGitCLILargePushAndAnnotatedTag(t *testing.T) {
	s := newServer(t)
	seed := s.Seed("acme/config", map[string]string{"README.md": "hello\n"}, "initial")
	u, err := url.Parse(s.URL("acme/config"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x-access-token", token)

	dir := t.TempDir()
	env := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	run := func(args ...string) string {
		t.Helper()
		out, err := s.runGit(dir, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	run("clone", "--quiet", u.String(), ".")
	blob := make([]byte, 3<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recordings.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "recordings.bin")
	run("commit", "--quiet", "-m", "large")
	run("tag", "-a", "-m", "v2", "support-assistant/v2")
	run("push", "--quiet", "origin", "main", "refs/tags/support-assistant/v2")
	head := run("rev-parse", "HEAD")

	refs := s.Refs("acme/config")
	if refs["refs/heads/main"] != head || refs["refs/tags/support-assistant/v2^{}"] != head ||
		refs["refs/tags/support-assistant/v2"] == head || refs["refs/tags/support-assistant/v2"] == "" {
		t.Errorf("Refs = %v, want main and the peeled annotated tag at %s", refs, head)
	}
	pushes := s.Pushes()
	if len(pushes) != 1 || pushes[0].Refs["refs/heads/main"] != (RefChange{Old: seed, New: head}) {
		t.Errorf("Pushes = %+v", pushes)
	}
}
