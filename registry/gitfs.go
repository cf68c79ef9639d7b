package registry

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TreeFS is a read-only fs.FS over a git tree, so a config repo can be
// loaded from any commit exactly as from a directory.
type TreeFS struct {
	tree *object.Tree
	when time.Time
}

// NewTreeFS returns an fs.FS over tree; when stamps file times.
func NewTreeFS(tree *object.Tree, when time.Time) *TreeFS {
	return &TreeFS{tree: tree, when: when}
}

// CommitFS returns an fs.FS over a commit's tree, rooted at sub.
func CommitFS(c *object.Commit, sub string) (fs.FS, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	sub = path.Clean(sub)
	if sub != "." && sub != "" {
		tree, err = tree.Tree(sub)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return emptyFS{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", sub, c.Hash, err)
		}
	}
	return NewTreeFS(tree, c.Committer.When), nil
}

// Open implements fs.FS.
func (t *TreeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &treeDir{fsys: t, tree: t.tree, name: "."}, nil
	}
	entry, err := t.tree.FindEntry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if entry.Mode == filemode.Dir {
		sub, err := t.tree.Tree(name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{fsys: t, tree: sub, name: path.Base(name)}, nil
	}
	f, err := t.tree.TreeEntryFile(entry)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{ReadCloser: r, info: fileInfo{name: path.Base(name), size: f.Size, mode: 0o644, when: t.when}}, nil
}

type treeFile struct {
	io.ReadCloser
	info fileInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

type treeDir struct {
	fsys *TreeFS
	tree *object.Tree
	name string
	read int
}

func (d *treeDir) Stat() (fs.FileInfo, error) {
	return fileInfo{name: d.name, mode: fs.ModeDir | 0o755, when: d.fsys.when}, nil
}
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	entries := d.tree.Entries[d.read:]
	if n > 0 && len(entries) > n {
		entries = entries[:n]
	}
	out := make([]fs.DirEntry, 0, len(entries))
	for _, e := range entries {
		info := fileInfo{name: e.Name, mode: 0o644, when: d.fsys.when}
		if e.Mode == filemode.Dir {
			info.mode = fs.ModeDir | 0o755
		} else if e.Mode == filemode.Submodule {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	d.read += len(entries)
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
	when time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.when }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	if name == "." {
		return &emptyDir{}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

type emptyDir struct{}

func (emptyDir) Stat() (fs.FileInfo, error)         { return fileInfo{name: ".", mode: fs.ModeDir}, nil }
func (emptyDir) Read([]byte) (int, error)           { return 0, io.EOF }
func (emptyDir) Close() error                       { return nil }
func (emptyDir) ReadDir(int) ([]fs.DirEntry, error) { return nil, nil }

// GitRepo is a config repo's git history: the repository and where inside
// its work tree the config repo sits.
type GitRepo struct {
	Repo *git.Repository
	// Root is the work tree root; Sub is the config repo's path inside it.
	Root, Sub string
}

// OpenGit finds the git repository containing dir (searching upwards).
// It returns nil and no error when dir is not inside a git work tree.
func OpenGit(dir string) (*GitRepo, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository at %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open work tree of %s: %w", dir, err)
	}
	root := wt.Filesystem.Root()
	sub, err := relPath(root, dir)
	if err != nil {
		return nil, err
	}
	return &GitRepo{Repo: repo, Root: root, Sub: sub}, nil
}

// Commit resolves a revision (branch, tag, sha, HEAD~1, origin/main) to a commit.
func (g *GitRepo) Commit(rev string) (*object.Commit, error) {
	h, err := g.Repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		// A bare branch name may only exist as a remote-tracking branch.
		if !strings.Contains(rev, "/") {
			if h2, err2 := g.Repo.ResolveRevision(plumbing.Revision("refs/remotes/origin/" + rev)); err2 == nil {
				h = h2
				err = nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("resolve %q: the history does not go back that far", rev)
			}
			return nil, fmt.Errorf("resolve %q: %w", rev, err)
		}
	}
	c, err := g.Repo.CommitObject(*h)
	if err != nil {
		// An annotated tag resolves to the tag object; peel it.
		if tag, terr := g.Repo.TagObject(*h); terr == nil {
			return tag.Commit()
		}
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// FSAt returns the config repo as it is at rev.
func (g *GitRepo) FSAt(rev string) (fs.FS, *object.Commit, error) {
	c, err := g.Commit(rev)
	if err != nil {
		return nil, nil, err
	}
	fsys, err := CommitFS(c, g.Sub)
	return fsys, c, err
}

// relPath is dir relative to the work tree root, slash-separated, with
// symlinks resolved on both sides (temp dirs are often behind one).
func relPath(root, dir string) (string, error) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if real, err := filepath.EvalSymlinks(a); err == nil {
			a = real
		}
		return a
	}
	rel, err := filepath.Rel(abs(root), abs(dir))
	if err != nil {
		return "", fmt.Errorf("%s is not inside %s: %w", dir, root, err)
	}
	return filepath.ToSlash(rel), nil
}
