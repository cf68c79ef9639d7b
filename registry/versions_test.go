package registry

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func gitCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writeArtifact(t *testing.T, dir string, version int, prompt string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755)
	body := "name: sa\nversion: " + strconv.Itoa(version) + "\nmodel: gpt-4o-2024-08-06\nsystem_prompt: " + prompt + "\ntemplates: {user: \"{{q}}\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "artifacts", "sa.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResolve covers both ways a version is found: through its tag, and by
// walking first-parent history when no tag exists.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "main")
	writeArtifact(t, dir, 1, "one")
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-qm", "v1")
	writeArtifact(t, dir, 2, "two")
	gitCmd(t, dir, "commit", "-qam", "v2")
	gitCmd(t, dir, "tag", "sa/v2")
	// An unrelated commit after v2 keeps v2's content.
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-qm", "docs")
	writeArtifact(t, dir, 3, "three")
	gitCmd(t, dir, "commit", "-qam", "v3")

	g, err := OpenGit(dir)
	if err != nil || g == nil {
		t.Fatalf("open: %v", err)
	}
	for _, tc := range []struct {
		version int
		prompt  string
		via     string
	}{{1, "one", "history"}, {2, "two", "tag"}, {3, "three", "history"}} {
		res, err := g.Resolve("sa", tc.version)
		if err != nil {
			t.Fatalf("resolve v%d: %v", tc.version, err)
		}
		if res.Artifact.SystemPrompt != tc.prompt || res.Via != tc.via || res.Artifact.Version != tc.version {
			t.Errorf("v%d: got prompt %q via %s version %d", tc.version, res.Artifact.SystemPrompt, res.Via, res.Artifact.Version)
		}
	}
	if _, err := g.Resolve("sa", 9); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("v9: want ErrVersionNotFound, got %v", err)
	}
	tags, err := g.Tags("sa")
	if err != nil || len(tags) != 1 || tags[0] != 2 {
		t.Errorf("tags = %v, %v", tags, err)
	}
}

func TestCheckVersionsRules(t *testing.T) {
	load := func(files map[string]string) *Repo {
		dir := t.TempDir()
		for p, body := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
			os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644)
		}
		return Load(os.DirFS(dir))
	}
	art := func(name string, v int, prompt string) string {
		return "name: " + name + "\nversion: " + strconv.Itoa(v) + "\nmodel: gpt-4o-2024-08-06\nsystem_prompt: " + prompt + "\ntemplates: {user: hi}\n"
	}
	base := load(map[string]string{"artifacts/a.yaml": art("a", 3, "x"), "artifacts/gone.yaml": art("gone", 2, "x")})
	head := load(map[string]string{
		"artifacts/a.yaml":   art("a", 3, "changed"),
		"artifacts/new.yaml": art("new", 2, "x"),
	})
	got := map[string]VersionCheck{}
	for _, vc := range CheckVersions(head, base) {
		got[vc.Name] = vc
	}
	if vc := got["a"]; vc.OK || vc.Expected != 4 || !*vc.Changed {
		t.Errorf("changed without bump: %+v", vc)
	}
	if vc := got["new"]; vc.OK || vc.Expected != 1 || !vc.New {
		t.Errorf("new at 2: %+v", vc)
	}
	if vc := got["gone"]; !vc.Deleted {
		t.Errorf("deleted not reported: %+v", vc)
	}
}
