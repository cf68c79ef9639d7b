package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/promptgate/promptgate/registry"
)

func runValidate(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("validate", "[--repo DIR]", `
Checks promptgate.yaml, artifacts/*.yaml, golden sets and environments/*.yaml.
Prints one line per problem as path:line:col: message. Exit 0 when clean, 1 on problems.`)
	repoFlag := fs.String("repo", "", "config repo directory (default: found from the current directory)")
	if code, done := c.parse(fs, args); done {
		return code
	}
	dir, err := findRoot(c.cwd, *repoFlag)
	if err != nil {
		fmt.Fprintf(c.stderr, "promptgate validate: %v\n", err)
		return 3
	}
	repo := registry.Load(os.DirFS(dir))
	problems := repo.Problems
	if g, err := registry.OpenGit(dir); err == nil && g != nil {
		problems = append(problems, registry.CheckPointers(repo, g)...)
		problems.Sort()
	}
	for _, p := range problems {
		p.Path = relPath(c.cwd, dir, p.Path)
		fmt.Fprintln(c.stdout, p.String())
	}
	for _, p := range repo.Warnings {
		p.Path = relPath(c.cwd, dir, p.Path)
		fmt.Fprintln(c.stdout, p.Warning())
	}
	if len(problems) > 0 {
		fmt.Fprintf(c.stderr, "%d problem(s) in %s\n", len(problems), dir)
		return 1
	}
	cases := 0
	for _, gs := range repo.Golden {
		cases += len(gs.Cases)
	}
	fmt.Fprintf(c.stderr, "ok: %d artifact(s), %d golden case(s), %d environment(s) in %s\n", len(repo.Artifacts), cases, len(repo.Environments), dir)
	return 0
}

// findRoot returns the config repo root: the --repo flag when given, else
// the nearest directory upwards from cwd holding promptgate.yaml, else the
// git work tree root.
func findRoot(cwd, flagDir string) (string, error) {
	if flagDir != "" {
		dir := flagDir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		st, err := os.Stat(dir)
		if err != nil {
			return "", fmt.Errorf("--repo %s: %w", flagDir, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("--repo %s: not a directory", flagDir)
		}
		return filepath.Clean(dir), nil
	}
	for dir := cwd; ; {
		if _, err := os.Stat(filepath.Join(dir, registry.ConfigFile)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if g, err := registry.OpenGit(cwd); err == nil && g != nil {
		return g.Root, nil
	}
	return cwd, nil
}

// relDir is dir relative to cwd when that is shorter, so printed paths are
// clickable from where the user ran the command.
func relDir(cwd, dir string) string {
	if rel, err := filepath.Rel(cwd, dir); err == nil && len(rel) < len(dir) {
		return rel
	}
	return dir
}

func relPath(cwd, dir, p string) string {
	return filepath.ToSlash(filepath.Join(relDir(cwd, dir), p))
}
