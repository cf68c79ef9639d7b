package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// VersionCheck is the verdict on one artifact's version number.
type VersionCheck struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	Version     int    `json:"version"`
	Expected    int    `json:"expected_version"`
	Digest      string `json:"digest"`
	BaseVersion int    `json:"base_version,omitempty"`
	BaseDigest  string `json:"base_digest,omitempty"`
	// Changed is nil when no base was available to compare against.
	Changed *bool  `json:"changed"`
	New     bool   `json:"new,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	// Line is the line of `version:` in the head file, for annotations and suggestions.
	Line int `json:"line,omitempty"`
}

// CheckVersions applies the version rule to every artifact of head against
// base: changed content needs base+1, unchanged content keeps its number, a
// new artifact starts at 1. base may be nil when no history is available.
func CheckVersions(head, base *Repo) []VersionCheck {
	var out []VersionCheck
	for _, name := range head.ArtifactNames() {
		a := head.Artifacts[name]
		vc := VersionCheck{Name: name, Path: a.Path, Version: a.Version, Expected: a.Version, Digest: a.Digest, OK: true}
		if n := fieldValue(a.Node, "version"); n != nil {
			vc.Line = n.Line
		}
		if base == nil {
			vc.Message = "no base available: digest only"
			out = append(out, vc)
			continue
		}
		b, ok := base.Artifacts[name]
		changed := !ok || b.Digest != a.Digest
		vc.Changed = &changed
		switch {
		case !ok:
			vc.New, vc.Expected = true, 1
		case changed:
			vc.BaseVersion, vc.BaseDigest, vc.Expected = b.Version, b.Digest, b.Version+1
		default:
			vc.BaseVersion, vc.BaseDigest, vc.Expected = b.Version, b.Digest, b.Version
		}
		if vc.Version != vc.Expected {
			vc.OK = false
			switch {
			case vc.New:
				vc.Message = fmt.Sprintf("new artifact: version must be 1, not %d", vc.Version)
			case changed:
				vc.Message = fmt.Sprintf("content changed since base version %d: version must be %d, not %d", b.Version, vc.Expected, vc.Version)
			default:
				vc.Message = fmt.Sprintf("content unchanged since base: version must stay %d, not %d", vc.Expected, vc.Version)
			}
		}
		out = append(out, vc)
	}
	if base != nil {
		for _, name := range base.ArtifactNames() {
			if _, ok := head.Artifacts[name]; ok {
				continue
			}
			b := base.Artifacts[name]
			out = append(out, VersionCheck{Name: name, Path: b.Path, Version: b.Version, BaseVersion: b.Version, BaseDigest: b.Digest,
				Deleted: true, OK: true, Message: fmt.Sprintf("deleted (was version %d); its tags keep every merged version resolvable", b.Version)})
		}
	}
	return out
}

// TagName is the git tag that marks an artifact version on merge.
func TagName(name string, version int) string { return fmt.Sprintf("%s/v%d", name, version) }

// Resolved is one artifact version's exact content and where it came from.
type Resolved struct {
	Artifact *Artifact
	Data     []byte
	Commit   *object.Commit
	// Via is "tag" or "history".
	Via string
}

// ErrVersionNotFound means no tag and no commit on the default branch holds the version.
var ErrVersionNotFound = errors.New("version not found")

// Resolve returns artifact name at version n: through the tag <name>/v<n>
// where it exists, otherwise by walking the default branch's first-parent
// history to the commit that introduced n.
func (g *GitRepo) Resolve(name string, n int) (*Resolved, error) {
	file := path.Join(ArtifactsDir, name+".yaml")
	if ref, err := g.Repo.Reference(plumbing.NewTagReferenceName(TagName(name, n)), true); err == nil {
		c, err := g.Commit(ref.Hash().String())
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", TagName(name, n), err)
		}
		res, err := g.artifactAt(c, file)
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", TagName(name, n), err)
		}
		if res.Artifact.Version != n {
			return nil, fmt.Errorf("tag %s points at %s, where %s has version %d", TagName(name, n), c.Hash.String()[:12], file, res.Artifact.Version)
		}
		res.Via = "tag"
		return res, nil
	}
	head, err := g.defaultBranch()
	if err != nil {
		return nil, err
	}
	// Walk newest to oldest; the last commit seen with version n before an
	// older version appears is the one that introduced n.
	var found *Resolved
	for c := head; c != nil; {
		res, err := g.artifactAt(c, file)
		if err == nil {
			switch {
			case res.Artifact.Version == n:
				res.Via = "history"
				found = res
			case found != nil || res.Artifact.Version < n:
				c = nil
				continue
			}
		} else if found != nil {
			break
		}
		if c.NumParents() == 0 {
			break
		}
		parent, err := c.Parent(0)
		if err != nil {
			return nil, fmt.Errorf("walk history: %w", err)
		}
		c = parent
	}
	if found == nil {
		return nil, fmt.Errorf("%s v%d: no tag %s and no commit on the default branch introduces it: %w", name, n, TagName(name, n), ErrVersionNotFound)
	}
	return found, nil
}

func (g *GitRepo) artifactAt(c *object.Commit, file string) (*Resolved, error) {
	fsys, err := CommitFS(c, g.Sub)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	var ps Problems
	a := loadArtifactData(file, data, &ps)
	if a == nil {
		return nil, fmt.Errorf("%s at %s: %s", file, c.Hash.String()[:12], ps.Error())
	}
	return &Resolved{Artifact: a, Data: data, Commit: c}, nil
}

// defaultBranch is origin's HEAD where the clone knows it, else HEAD.
func (g *GitRepo) defaultBranch() (*object.Commit, error) {
	for _, name := range []plumbing.ReferenceName{"refs/remotes/origin/HEAD", plumbing.HEAD} {
		ref, err := g.Repo.Reference(name, true)
		if err == nil {
			return g.Repo.CommitObject(ref.Hash())
		}
	}
	return nil, fmt.Errorf("no default branch: %w", plumbing.ErrReferenceNotFound)
}

// Tags lists the versions of an artifact that have tags.
func (g *GitRepo) Tags(name string) ([]int, error) {
	iter, err := g.Repo.Tags()
	if err != nil {
		return nil, err
	}
	var out []int
	prefix := name + "/v"
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		short := ref.Name().Short()
		if len(short) > len(prefix) && short[:len(prefix)] == prefix {
			var n int
			if _, err := fmt.Sscanf(short[len(prefix):], "%d", &n); err == nil && fmt.Sprint(n) == short[len(prefix):] {
				out = append(out, n)
			}
		}
		return nil
	})
	if errors.Is(err, storer.ErrStop) {
		err = nil
	}
	return out, err
}

// CheckPointers checks that every environment pointer to an earlier version
// than the one in the tree resolves from history (a tag or the default
// branch), so a rollback to it can actually run.
func CheckPointers(r *Repo, g *GitRepo) Problems {
	var ps Problems
	for _, envName := range slices.Sorted(maps.Keys(r.Environments)) {
		e := r.Environments[envName]
		for _, name := range slices.Sorted(maps.Keys(e.Entries)) {
			entry := e.Entries[name]
			a, ok := r.Artifacts[name]
			if !ok {
				continue
			}
			check := func(v int, what string) {
				if v < 1 || v >= a.Version {
					return
				}
				if _, err := g.Resolve(name, v); err != nil {
					ps.add(e.Path, entry.Node, "%s %d of %s cannot be resolved: no tag %s and no commit on the default branch has it", what, v, name, TagName(name, v))
				}
			}
			check(entry.Version, "version")
			if entry.Canary != nil {
				check(entry.Canary.Version, "canary version")
			}
		}
	}
	return ps
}
