package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/promptgate/promptgate/registry"
)

func runVersion(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("version", "[--repo DIR] [--base REF] [--json]", `
Shows, per artifact: name, version, digest, whether it changed since the base,
and the version it must have. Content that changed needs base version + 1;
unchanged content keeps its number; a new artifact starts at 1.
Exit 0 when every number is right, 1 when one is wrong, 3 on an error.`)
	repoFlag := fs.String("repo", "", "config repo directory (default: found from the current directory)")
	base := fs.String("base", "", "git ref to compare against (default: the default branch, origin/HEAD or HEAD)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, done := c.parse(fs, args); done {
		return code
	}
	dir, err := findRoot(c.cwd, *repoFlag)
	if err != nil {
		fmt.Fprintf(c.stderr, "promptgate version: %v\n", err)
		return 3
	}
	head := registry.Load(os.DirFS(dir))
	for _, p := range head.Problems {
		fmt.Fprintf(c.stderr, "warning: %s\n", p)
	}
	var baseRepo *registry.Repo
	note := ""
	g, err := registry.OpenGit(dir)
	switch {
	case err != nil:
		fmt.Fprintf(c.stderr, "promptgate version: %v\n", err)
		return 3
	case g == nil:
		note = "not a git repository: no base available, showing digests only"
	default:
		ref := *base
		if ref == "" {
			ref = defaultBase(g)
		}
		if ref == "" {
			note = "no commits yet: no base available, showing digests only"
			break
		}
		fsys, commit, err := g.FSAt(ref)
		if err != nil {
			fmt.Fprintf(c.stderr, "promptgate version: base %v\n", err)
			return 3
		}
		baseRepo = registry.Load(fsys)
		note = fmt.Sprintf("base: %s (%s)", ref, commit.Hash.String()[:12])
	}
	checks := registry.CheckVersions(head, baseRepo)
	code := 0
	for _, vc := range checks {
		if !vc.OK {
			code = 1
		}
	}
	if *asJSON {
		out := struct {
			Base      string                  `json:"base,omitempty"`
			Note      string                  `json:"note"`
			Artifacts []registry.VersionCheck `json:"artifacts"`
		}{Base: *base, Note: note, Artifacts: checks}
		if out.Artifacts == nil {
			out.Artifacts = []registry.VersionCheck{}
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return code
	}
	fmt.Fprintln(c.stderr, note)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT\tVERSION\tDIGEST\tCHANGED\tEXPECTED\tSTATUS")
	for _, vc := range checks {
		changed := "?"
		if vc.Changed != nil {
			changed = map[bool]string{true: "yes", false: "no"}[*vc.Changed]
		}
		if vc.Deleted {
			changed = "deleted"
		}
		status := "ok"
		if !vc.OK {
			status = "WRONG"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", vc.Name, vc.Version, registry.ShortDigest(vc.Digest), changed, vc.Expected, status)
	}
	tw.Flush()
	for _, vc := range checks {
		if !vc.OK {
			fmt.Fprintf(c.stdout, "%s:%d: %s (set `version: %d`)\n", relPath(c.cwd, dir, vc.Path), vc.Line, vc.Message, vc.Expected)
		}
	}
	return code
}

// defaultBase picks the ref a working tree is compared against: the remote
// default branch where the clone knows it, else HEAD.
func defaultBase(g *registry.GitRepo) string {
	for _, ref := range []string{"refs/remotes/origin/HEAD", "HEAD"} {
		if _, err := g.Commit(ref); err == nil {
			return ref
		}
	}
	return ""
}
