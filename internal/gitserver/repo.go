package gitserver

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$`)

// commitEpoch is the date of the helpers' first commit; each later one is a
// minute on, so commits made the same way get the same SHAs run after run.
var commitEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// CreateRepo creates an empty bare repository (default branch main) that
// accepts pushes, and returns its directory. A repository that exists is
// left as it is.
func (s *Server) CreateRepo(name string) string {
	s.tb.Helper()
	name = repoName(name)
	if !validName.MatchString(name) || strings.Contains(name, "..") {
		s.tb.Fatalf("gitserver: invalid repository name %q", name)
	}
	dir := s.bareDir(name)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		s.tb.Fatalf("gitserver: %v", err)
	}
	s.must(s.runGit(s.root, nil, "init", "--quiet", "--bare", "--initial-branch="+DefaultBranch, dir))
	s.must(s.runGit(dir, nil, "config", "http.receivepack", "true"))
	return dir
}

// Seed creates the repository if needed and commits files to its default
// branch. It returns the commit's SHA.
func (s *Server) Seed(name string, files map[string]string, message string) string {
	s.tb.Helper()
	s.CreateRepo(name)
	return s.Commit(name, DefaultBranch, files, nil, message)
}

// Commit writes files (path → content) and deletes paths on branch, in one
// commit pushed straight into the repository (not through HTTP, so it is not
// one of Pushes). A new branch starts from the default branch. It returns
// the commit's SHA.
func (s *Server) Commit(name, branch string, files map[string]string, deletes []string, message string) string {
	s.tb.Helper()
	bare := s.bareDir(name)
	if _, err := os.Stat(bare); err != nil {
		s.tb.Fatalf("gitserver: commit to %s: no such repository", name)
	}
	clone, err := os.MkdirTemp(s.work, "clone-")
	if err != nil {
		s.tb.Fatalf("gitserver: %v", err)
	}
	defer os.RemoveAll(clone)

	s.must(s.runGit(s.work, nil, "clone", "--quiet", bare, clone))
	switch {
	case s.hasRef(clone, "refs/remotes/origin/"+branch):
		s.must(s.runGit(clone, nil, "checkout", "--quiet", "-B", branch, "origin/"+branch))
	case s.hasRef(clone, "refs/remotes/origin/"+DefaultBranch):
		s.must(s.runGit(clone, nil, "checkout", "--quiet", "-B", branch, "origin/"+DefaultBranch))
	default: // an empty repository
		s.must(s.runGit(clone, nil, "checkout", "--quiet", "--orphan", branch))
	}

	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(clone, filepath.FromSlash(path.Clean(p)))
		if !strings.HasPrefix(full, clone+string(filepath.Separator)) {
			s.tb.Fatalf("gitserver: path %q leaves the repository", p)
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			s.tb.Fatalf("gitserver: %v", err)
		}
		if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
			s.tb.Fatalf("gitserver: %v", err)
		}
	}
	for _, p := range deletes {
		s.must(s.runGit(clone, nil, "rm", "--quiet", "-r", "--", p))
	}
	s.must(s.runGit(clone, nil, "add", "--all"))

	s.mu.Lock()
	date := commitEpoch.Add(time.Duration(s.commits) * time.Minute)
	s.commits++
	s.mu.Unlock()
	stamp := fmt.Sprintf("@%d +0000", date.Unix())
	s.must(s.runGit(clone, []string{
		"GIT_AUTHOR_NAME=gitserver", "GIT_AUTHOR_EMAIL=gitserver@example.com", "GIT_AUTHOR_DATE=" + stamp,
		"GIT_COMMITTER_NAME=gitserver", "GIT_COMMITTER_EMAIL=gitserver@example.com", "GIT_COMMITTER_DATE=" + stamp,
	}, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", message))
	s.must(s.runGit(clone, nil, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch))
	return strings.TrimSpace(s.must(s.runGit(clone, nil, "rev-parse", "HEAD")))
}

// Tag points a lightweight tag at rev (a SHA, branch or tag) directly in the
// repository and returns the commit SHA it names.
func (s *Server) Tag(name, tag, rev string) string {
	s.tb.Helper()
	dir := s.bareDir(name)
	s.must(s.runGit(dir, nil, "tag", tag, rev))
	return strings.TrimSpace(s.must(s.runGit(dir, nil, "rev-parse", "refs/tags/"+tag+"^{commit}")))
}

// SetRef points ref (e.g. refs/pull/7/head, as GitHub keeps for every pull
// request) at rev directly in the repository.
func (s *Server) SetRef(name, ref, rev string) {
	s.tb.Helper()
	s.must(s.runGit(s.bareDir(name), nil, "update-ref", ref, rev))
}

// Refs maps every ref of the repository to the object it names, as
// `git ls-remote` shows them: an annotated tag also appears as
// "<ref>^{}" with the commit it points at.
func (s *Server) Refs(name string) map[string]string {
	s.tb.Helper()
	out := s.must(s.runGit(s.bareDir(name), nil, "for-each-ref", "--format=%(objectname) %(*objectname) %(refname)"))
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 2:
			refs[f[1]] = f[0]
		case 3:
			refs[f[2]] = f[0]
			refs[f[2]+"^{}"] = f[1]
		}
	}
	return refs
}

// Log lists the commits reachable from ref, newest first, as SHAs; nil when
// ref does not exist.
func (s *Server) Log(name, ref string) []string {
	s.tb.Helper()
	dir := s.bareDir(name)
	if _, err := s.runGit(dir, nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return nil
	}
	out := s.must(s.runGit(dir, nil, "log", "--format=%H", ref, "--"))
	return strings.Fields(out)
}

// Message returns the full message of the commit rev names.
func (s *Server) Message(name, rev string) string {
	s.tb.Helper()
	return strings.TrimSpace(s.must(s.runGit(s.bareDir(name), nil, "log", "-1", "--format=%B", rev, "--")))
}

// File returns the content of a file at rev; ok is false when it does not
// exist there.
func (s *Server) File(name, rev, file string) (content string, ok bool) {
	s.tb.Helper()
	out, err := s.runGit(s.bareDir(name), nil, "show", rev+":"+file)
	if err != nil {
		return "", false
	}
	return out, true
}

func (s *Server) hasRef(dir, ref string) bool {
	_, err := s.runGit(dir, nil, "rev-parse", "--verify", "--quiet", ref)
	return err == nil
}

// must fails the test on a helper's git error.
func (s *Server) must(out string, err error) string {
	s.tb.Helper()
	if err != nil {
		s.tb.Fatalf("gitserver: %v", err)
	}
	return out
}
