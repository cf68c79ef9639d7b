package registry

import (
	"errors"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Repo is a loaded config repo. Loading never stops at the first problem:
// everything that could be read is here, and Problems lists the rest.
type Repo struct {
	FS           fs.FS
	Config       *Config
	Artifacts    map[string]*Artifact // by name
	Golden       map[string]*GoldenSet
	Environments map[string]*Environment
	Problems     Problems
	// Warnings are likely mistakes that do not stop anything.
	Warnings Problems
}

// GoldenSet is every case under one golden directory.
type GoldenSet struct {
	Dir    string
	Cases  []*Case
	Digest string
}

// File names of the config repo layout.
const (
	ConfigFile      = "promptgate.yaml"
	ArtifactsDir    = "artifacts"
	GoldenDir       = "golden"
	EnvironmentsDir = "environments"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Load reads and validates the config repo in fsys.
func Load(fsys fs.FS) *Repo {
	r := &Repo{
		FS:           fsys,
		Artifacts:    map[string]*Artifact{},
		Golden:       map[string]*GoldenSet{},
		Environments: map[string]*Environment{},
	}
	r.Config = loadConfig(fsys, &r.Problems)
	for _, p := range yamlFiles(fsys, ArtifactsDir, &r.Problems) {
		if a := loadArtifact(fsys, p, &r.Problems); a != nil {
			if prev, dup := r.Artifacts[a.Name]; dup {
				r.Problems.add(p, fieldNode(a.Node, "name"), "artifact %q is also defined in %s", a.Name, prev.Path)
				continue
			}
			r.Artifacts[a.Name] = a
		}
	}
	r.loadGoldenSets()
	for _, p := range yamlFiles(fsys, EnvironmentsDir, &r.Problems) {
		if e := loadEnvironment(fsys, p, &r.Problems); e != nil {
			r.Environments[e.Name] = e
		}
	}
	validate(r)
	r.Problems.Sort()
	r.Warnings.Sort()
	r.releaseCaseNodes()
	return r
}

// releaseCaseNodes drops the YAML trees behind golden cases once validation
// has used their positions: for large golden sets they dominate memory.
func (r *Repo) releaseCaseNodes() {
	for _, gs := range r.Golden {
		for _, c := range gs.Cases {
			if c.Node != nil {
				c.Line = c.Node.Line
			}
			c.Node, c.Expect.Node = nil, nil
		}
	}
}

// ArtifactNames returns the artifact names in sorted order.
func (r *Repo) ArtifactNames() []string {
	names := make([]string, 0, len(r.Artifacts))
	for n := range r.Artifacts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// GoldenFor returns the golden set an artifact is evaluated on, or nil.
func (r *Repo) GoldenFor(a *Artifact) *GoldenSet {
	return r.Golden[a.GoldenDir()]
}

// GoldenDir is the artifact's golden set directory, golden/<name> by default.
func (a *Artifact) GoldenDir() string {
	if a.GoldenSet != "" {
		return path.Clean(strings.TrimSuffix(a.GoldenSet, "/"))
	}
	return path.Join(GoldenDir, a.Name)
}

// ProviderName is the artifact's provider, openai by default.
func (a *Artifact) ProviderName() string {
	if a.Provider == "" {
		return "openai"
	}
	return a.Provider
}

func yamlFiles(fsys fs.FS, dir string, ps *Problems) []string {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			ps.add(dir, nil, "cannot read directory: %v", err)
		}
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			out = append(out, path.Join(dir, name))
		}
	}
	sort.Strings(out)
	return out
}

func readYAML(fsys fs.FS, p string, ps *Problems) *yaml.Node {
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		ps.add(p, nil, "cannot read file: %v", err)
		return nil
	}
	return parseYAML(p, data, ps)
}

func loadConfig(fsys fs.FS, ps *Problems) *Config {
	cfg := &Config{}
	if _, err := fs.Stat(fsys, ConfigFile); errors.Is(err, fs.ErrNotExist) {
		ps.add(ConfigFile, nil, "missing: a config repo needs promptgate.yaml at its root")
		return cfg
	}
	doc := readYAML(fsys, ConfigFile, ps)
	if doc == nil {
		return cfg
	}
	strict{path: ConfigFile, problems: ps}.decode(doc, cfg)
	return cfg
}

func loadArtifact(fsys fs.FS, p string, ps *Problems) *Artifact {
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		ps.add(p, nil, "cannot read file: %v", err)
		return nil
	}
	return loadArtifactData(p, data, ps)
}

func loadArtifactData(p string, data []byte, ps *Problems) *Artifact {
	doc := parseYAML(p, data, ps)
	if doc == nil {
		if len(*ps) == 0 || (*ps)[len(*ps)-1].Path != p {
			ps.add(p, nil, "empty artifact file")
		}
		return nil
	}
	a := &Artifact{Path: p}
	strict{path: p, problems: ps}.decode(doc, a)
	if a.Node == nil {
		return nil
	}
	base := strings.TrimSuffix(strings.TrimSuffix(path.Base(p), ".yaml"), ".yml")
	switch {
	case a.Name == "":
	case !nameRE.MatchString(a.Name):
		ps.add(p, fieldValue(a.Node, "name"), "artifact name %q must match [a-z0-9-]+", a.Name)
	case a.Name != base:
		ps.add(p, fieldValue(a.Node, "name"), "artifact name %q differs from its file name %q", a.Name, base)
	}
	// The file name is the artifact's identity; a mismatched name is reported above.
	a.Name = base
	if d, err := DigestYAML(data); err == nil {
		a.Digest = d
	}
	return a
}

func (r *Repo) loadGoldenSets() {
	dirs := map[string]bool{}
	entries, err := fs.ReadDir(r.FS, GoldenDir)
	if err == nil {
		for _, e := range entries {
			if e.IsDir() {
				dirs[path.Join(GoldenDir, e.Name())] = true
			}
		}
	}
	for _, a := range r.Artifacts {
		dirs[a.GoldenDir()] = true
	}
	for dir := range dirs {
		if st, err := fs.Stat(r.FS, dir); err != nil || !st.IsDir() {
			continue // reported against the artifact that names it
		}
		r.Golden[dir] = loadGoldenSet(r.FS, dir, &r.Problems)
	}
}

func loadGoldenSet(fsys fs.FS, dir string, ps *Problems) *GoldenSet {
	gs := &GoldenSet{Dir: dir}
	var files []string
	_ = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			ps.add(p, nil, "cannot read: %v", err)
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	seen := map[string]*Case{}
	var contents [][]byte
	for _, p := range files {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			ps.add(p, nil, "cannot read file: %v", err)
			continue
		}
		contents = append(contents, []byte(p), data)
		doc := parseYAML(p, data, ps)
		if doc == nil {
			continue
		}
		var gf GoldenFile
		strict{path: p, problems: ps}.decode(doc, &gf)
		for _, c := range gf.Cases {
			if c == nil {
				continue
			}
			c.File = p
			c.Line = nodeLine(c.Node)
			if c.Category == "" {
				c.Category = gf.Category
			}
			if c.Category == "" && c.Node != nil {
				ps.add(p, c.Node, "case %q has no category: set `category:` on the file or the case", c.ID)
			}
			if c.ID == "" {
				continue
			}
			if prev, dup := seen[c.ID]; dup {
				ps.add(p, fieldValue(c.Node, "id"), "duplicate case id %q (first defined at %s:%d)", c.ID, prev.File, prev.Line)
				continue
			}
			seen[c.ID] = c
			gs.Cases = append(gs.Cases, c)
		}
	}
	gs.Digest = digestBytes(contents...)
	return gs
}

func loadEnvironment(fsys fs.FS, p string, ps *Problems) *Environment {
	name := strings.TrimSuffix(strings.TrimSuffix(path.Base(p), ".yaml"), ".yml")
	env := &Environment{Name: name, Path: p, Entries: map[string]EnvEntry{}}
	doc := readYAML(fsys, p, ps)
	if doc == nil {
		return env
	}
	n := doc.Content[0]
	env.Node = n
	if n.Kind != yaml.MappingNode {
		ps.add(p, n, "expected a mapping of artifact name to version, got %s", describeNode(n))
		return env
	}
	d := strict{path: p, problems: ps}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := env.Entries[k.Value]; dup {
			ps.add(p, k, "duplicate key %q: one artifact, one pointer", k.Value)
			continue
		}
		e := EnvEntry{Node: v}
		switch v.Kind {
		case yaml.ScalarNode:
			if err := v.Decode(&e.Version); err != nil || v.Tag != "!!int" {
				ps.add(p, v, "expected a version number or {version, canary}, got %s", describeNode(v))
				continue
			}
		case yaml.MappingNode:
			var long struct {
				Version int     `yaml:"version" pg:"required"`
				Canary  *Canary `yaml:"canary"`
			}
			d.decode(v, &long)
			e.Version, e.Canary = long.Version, long.Canary
		default:
			ps.add(p, v, "expected a version number or {version, canary}, got %s", describeNode(v))
			continue
		}
		env.Entries[k.Value] = e
	}
	return env
}

// fieldNode returns the key node of field key in mapping n, or n itself.
func fieldNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return n
}

// fieldValue returns the value node of field key in mapping n, or n itself.
func fieldValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

func nodeLine(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}
