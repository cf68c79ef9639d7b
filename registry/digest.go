package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DigestYAML returns the canonical digest of an artifact file: a SHA-256 of
// its content without `version`, with defaults made explicit, so key order,
// comments, quoting and block or flow style do not change it.
func DigestYAML(data []byte) (string, error) {
	c, err := Canonical(data)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Canonical returns the canonical JSON form the digest is computed over.
// Values are read by the artifact's schema: a field that is a string keeps
// its text as written (so `version: 1.10` under knowledge_base stays
// "1.10", not the number 1.1), numeric fields compare by value (0.2 and
// 0.20 are one temperature), a single stop string equals a one-item list,
// and free-form fields (output_schema) are normalised as JSON values.
func Canonical(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("artifact is not a mapping")
	}
	m, ok := canonical(doc.Content[0], reflect.TypeOf(Artifact{}), 0).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("artifact is not a mapping")
	}
	delete(m, "version")
	if p, _ := m["provider"].(string); p == "" {
		m["provider"] = "openai"
	}
	if _, ok := m["golden_set"]; !ok {
		if name, ok := m["name"].(string); ok {
			m["golden_set"] = GoldenDir + "/" + name
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// maxCanonicalDepth bounds the walk, as the loader bounds alias expansion.
const maxCanonicalDepth = 64

// canonical reads node n as a value of type t (nil: untyped).
func canonical(n *yaml.Node, t reflect.Type, depth int) any {
	for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if depth > maxCanonicalDepth || isNull(n) {
		return nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || t == nodeType {
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return normalize(v)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return canonical(n, nil, depth+1)
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = canonical(n.Content[i+1], fields[n.Content[i].Value], depth+1)
		}
		return out
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return canonical(n, nil, depth+1)
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = canonical(n.Content[i+1], t.Elem(), depth+1)
		}
		return out
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && t.Elem().Kind() == reflect.String {
			return []any{n.Value} // a single string where a list of strings is allowed
		}
		if n.Kind != yaml.SequenceNode {
			return canonical(n, nil, depth+1)
		}
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			out[i] = canonical(item, t.Elem(), depth+1)
		}
		return out
	case reflect.String:
		if n.Kind == yaml.ScalarNode {
			return n.Value
		}
	}
	return canonical(n, nil, depth+1)
}

// normalize turns decoded YAML into values whose JSON encoding is canonical:
// string keys (encoding/json sorts them) and numbers in one spelling.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalize(val)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[fmt.Sprint(k)] = normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	case int:
		return json.Number(strconv.Itoa(x))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return json.Number(strconv.FormatInt(int64(x), 10))
		}
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	case time.Time:
		// An unquoted date decodes as a timestamp; quoting it must not change the digest.
		if x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// digestBytes hashes a sequence of byte strings, length-prefixed so that
// boundaries cannot shift between parts.
func digestBytes(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ShortDigest is the first 12 hex digits of a digest, for display.
func ShortDigest(d string) string {
	const prefix = "sha256:"
	if len(d) > len(prefix)+12 {
		return d[len(prefix) : len(prefix)+12]
	}
	return d
}
