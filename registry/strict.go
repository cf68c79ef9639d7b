package registry

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// strict decodes yaml.Node trees into Go structs the way a config repo
// needs: every unknown key, wrong type and missing required key becomes a
// Problem at its own line, and decoding carries on so one run reports them all.
//
// Field conventions: the yaml tag names the key; `pg:"required"` marks a
// required key; a field `Node *yaml.Node` with tag `yaml:"-"` receives the
// struct's own mapping node so later checks can point at exact positions.
type strict struct {
	path     string
	problems *Problems
	// work bounds the nodes visited per document, so alias bombs and
	// self-referencing aliases end with a problem instead of a hang.
	work *int
}

// maxWork is the most nodes one document may expand to through aliases.
const maxWork = 200000

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	nodePtrType     = reflect.TypeOf(&yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// parseYAML parses one YAML document, turning a syntax error into a
// positioned Problem. It returns nil when the file is empty or broken.
func parseYAML(path string, data []byte, ps *Problems) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
			// For these errors yaml.v3 reports its context mark, which is
			// zero-based; shift it to the line the trouble is on.
			if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found a tab character") {
				line++
			}
		}
		*ps = append(*ps, Problem{Path: path, Line: line, Col: 1, Message: "invalid YAML: " + msg})
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return &doc
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

// decode fills out (a pointer) from the document or value node n.
func (d strict) decode(n *yaml.Node, out any) {
	work := 0
	d.work = &work
	d.value(n, reflect.ValueOf(out).Elem())
}

func (d strict) fail(n *yaml.Node, format string, args ...any) {
	d.problems.add(d.path, n, format, args...)
}

func (d strict) value(n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	*d.work++
	if *d.work == maxWork {
		d.fail(n, "document too large after expanding aliases")
	}
	if *d.work >= maxWork {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case v.Type() == nodePtrType:
		v.Set(reflect.ValueOf(n))
		return
	case reflect.PointerTo(v.Type()).Implements(unmarshalerType):
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, "%s", cleanYAMLError(err))
		}
		return
	}
	if isNull(n) && v.Kind() != reflect.Interface {
		if v.Kind() == reflect.Pointer || v.Kind() == reflect.Map || v.Kind() == reflect.Slice {
			return // explicit null means absent
		}
		d.fail(n, "expected %s, got null", describeType(v.Type()))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.value(n, nv.Elem())
		v.Set(nv)
	case reflect.Struct:
		d.structValue(n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, "expected a list, got %s", describeNode(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, "expected a mapping, got %s", describeNode(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		keys := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if keys[n.Content[i].Value] {
				d.fail(n.Content[i], "duplicate key %q", n.Content[i].Value)
				continue
			}
			keys[n.Content[i].Value] = true
			k := reflect.New(v.Type().Key()).Elem()
			d.value(n.Content[i], k)
			val := reflect.New(v.Type().Elem()).Elem()
			d.value(n.Content[i+1], val)
			m.SetMapIndex(k, val)
		}
		v.Set(m)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, "%s", cleanYAMLError(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, "expected %s, got %s", describeType(v.Type()), describeNode(n))
			return
		}
		if v.Kind() == reflect.String && n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" && n.Tag != "!!timestamp" {
			d.fail(n, "expected %s, got %s", describeType(v.Type()), describeNode(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, "expected %s, got %s", describeType(v.Type()), describeNode(n))
		}
	}
}

type fieldInfo struct {
	index    int
	required bool
}

func (d strict) structValue(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, "expected a mapping, got %s", describeNode(n))
		return
	}
	t := v.Type()
	fields := map[string]fieldInfo{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			if f.Name == "Node" && f.Type == nodePtrType {
				v.Field(i).Set(reflect.ValueOf(n))
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = fieldInfo{index: i, required: f.Tag.Get("pg") == "required"}
		names = append(names, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.fail(k, "duplicate key %q: a reader sees the first value, the loader would take this one", k.Value)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			d.fail(k, "unknown key %q%s", k.Value, suggest(k.Value, names))
			continue
		}
		seen[k.Value] = true
		d.value(val, v.Field(f.index))
	}
	sort.Strings(names)
	for _, name := range names {
		if fields[name].required && !seen[name] {
			d.fail(n, "missing required key %q", name)
		}
	}
}

// suggest offers the closest known key for a misspelt one.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return " (known keys: " + strings.Join(slices.Sorted(slices.Values(known)), ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("string %q", v)
		case "!!null":
			return "null"
		default:
			return fmt.Sprintf("%s %s", strings.TrimPrefix(n.Tag, "!!"), v)
		}
	}
	return "an unexpected node"
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.String()
}

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	return yamlLineRE.ReplaceAllString(msg, "")
}
