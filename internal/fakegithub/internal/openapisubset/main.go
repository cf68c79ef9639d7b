// Command openapisubset copies the operations that internal/fakegithub serves
// out of GitHub's REST description (OpenAPI 3.0, @octokit/openapi) into a
// small JSON file the fake validates requests and responses against.
//
// For each operation it keeps the method, path, whether a body is required,
// the body's JSON schema and every documented status code with, for 2xx, the
// response schema. $refs are inlined, OpenAPI's `nullable` becomes a JSON
// Schema "null" type, and documentation-only keywords (description,
// examples, x-*) are dropped, so each schema compiles on its own as JSON
// Schema 2020-12.
//
// Run from internal/fakegithub with `go generate`.
package main

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// operations are the operationIds the fake serves.
var operations = []string{
	"apps/create-installation-access-token",
	"apps/get-repo-installation",
	"repos/get",
	"repos/get-collaborator-permission-level",
	"pulls/list",
	"pulls/create",
	"pulls/get",
	"pulls/update",
	"pulls/list-files",
	"pulls/list-reviews",
	"pulls/create-review",
	"pulls/list-review-comments",
	"pulls/create-review-comment",
	"pulls/list-requested-reviewers",
	"pulls/request-reviewers",
	"checks/create",
	"checks/get",
	"checks/update",
	"checks/list-for-ref",
	"issues/list-for-repo",
	"issues/create",
	"issues/get",
	"issues/update",
	"issues/list-comments",
	"issues/create-comment",
	"issues/get-comment",
	"issues/update-comment",
	"issues/delete-comment",
	"issues/list-labels-on-issue",
	"issues/add-labels",
	"issues/set-labels",
	"issues/remove-all-labels",
	"issues/remove-label",
	"git/list-matching-refs",
	"git/get-ref",
}

// A patch adds to an operation's request schema a rule that GitHub enforces
// and documents in prose, or in its REST guide, but not in the schema.
type patch struct {
	ops   []string
	note  string
	apply func(schema map[string]any)
}

var patches = []patch{
	{
		ops:  []string{"issues/add-labels", "issues/set-labels"},
		note: "the bare array of label names (or {name} objects) that the operations' descriptions allow, and go-github sends, is a oneOf alternative",
		apply: func(s map[string]any) {
			s["oneOf"] = append(s["oneOf"].([]any), map[string]any{
				"type": "array",
				"items": map[string]any{"anyOf": []any{
					map[string]any{"type": "string"},
					map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}, "required": []any{"name"}},
				}},
			})
		},
	},
	{
		ops:  []string{"checks/create"},
		note: "conclusion is required with status completed or completed_at, as the conclusion property's description says",
		apply: func(s map[string]any) {
			s["allOf"] = []any{
				map[string]any{
					"if":   map[string]any{"properties": map[string]any{"status": map[string]any{"const": "completed"}}, "required": []any{"status"}},
					"then": map[string]any{"required": []any{"conclusion"}},
				},
				map[string]any{
					"if":   map[string]any{"required": []any{"completed_at"}},
					"then": map[string]any{"required": []any{"conclusion"}},
				},
			}
		},
	},
}

// Subset is the output file.
type Subset struct {
	Source     Source      `json:"source"`
	Patches    []string    `json:"patches"`
	Operations []Operation `json:"operations"`
}

// Source names the description the subset was cut from.
type Source struct {
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Title   string `json:"title"`
	Version string `json:"version"`
}

// Operation is one served path and method.
type Operation struct {
	OperationID string              `json:"operationId"`
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	RequestBody *RequestBody        `json:"requestBody,omitempty"`
	Responses   map[string]Response `json:"responses"`
}

// RequestBody is the operation's JSON body.
type RequestBody struct {
	Required bool `json:"required"`
	Schema   any  `json:"schema"`
}

// Response is one documented status; Schema only for 2xx JSON bodies.
type Response struct {
	Schema any `json:"schema,omitempty"`
}

func main() {
	in := flag.String("in", "", "GitHub REST description, .json or .json.gz")
	out := flag.String("out", "testdata/openapi-subset.json", "output file")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapisubset:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := readDescription(in)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", in, err)
	}
	sum := sha256.Sum256(raw)
	info, _ := doc["info"].(map[string]any)
	sub := Subset{
		Source: Source{
			File:    filepath.Base(in),
			SHA256:  hex.EncodeToString(sum[:]),
			Title:   str(info["title"]),
			Version: str(info["version"]),
		},
	}
	r := &resolver{doc: doc}
	paths, _ := doc["paths"].(map[string]any)
	found := map[string]bool{}
	pathKeys := make([]string, 0, len(paths))
	for p := range paths {
		pathKeys = append(pathKeys, p)
	}
	sort.Strings(pathKeys)
	for _, p := range pathKeys {
		item, _ := paths[p].(map[string]any)
		for _, method := range []string{"get", "post", "put", "patch", "delete"} {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			id := str(op["operationId"])
			if !slices.Contains(operations, id) {
				continue
			}
			o, err := r.operation(id, strings.ToUpper(method), p, op)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			found[id] = true
			sub.Operations = append(sub.Operations, o)
		}
	}
	for _, id := range operations {
		if !found[id] {
			return fmt.Errorf("operation %s not in %s", id, in)
		}
	}
	for _, p := range patches {
		sub.Patches = append(sub.Patches, strings.Join(p.ops, ", ")+": "+p.note)
	}
	sort.Slice(sub.Operations, func(i, j int) bool {
		return sub.Operations[i].OperationID < sub.Operations[j].OperationID
	})
	b, err := json.MarshalIndent(sub, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

func readDescription(in string) ([]byte, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rd io.Reader = f
	if strings.HasSuffix(in, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in, err)
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

type resolver struct {
	doc map[string]any
}

func (r *resolver) operation(id, method, path string, op map[string]any) (Operation, error) {
	o := Operation{OperationID: id, Method: method, Path: path, Responses: map[string]Response{}}
	if rb, ok := op["requestBody"].(map[string]any); ok {
		rb, err := r.deref(rb)
		if err != nil {
			return o, err
		}
		schema := jsonSchema(rb)
		if schema == nil {
			return o, fmt.Errorf("request body without a JSON schema")
		}
		s, err := r.schema(schema, nil)
		if err != nil {
			return o, fmt.Errorf("request body: %w", err)
		}
		for _, p := range patches {
			if slices.Contains(p.ops, id) {
				p.apply(s.(map[string]any))
			}
		}
		req, _ := rb["required"].(bool)
		o.RequestBody = &RequestBody{Required: req, Schema: s}
	}
	responses, _ := op["responses"].(map[string]any)
	for code, v := range responses {
		resp, _ := v.(map[string]any)
		resp, err := r.deref(resp)
		if err != nil {
			return o, err
		}
		var out Response
		if strings.HasPrefix(code, "2") {
			if schema := jsonSchema(resp); schema != nil {
				s, err := r.schema(schema, nil)
				if err != nil {
					return o, fmt.Errorf("response %s: %w", code, err)
				}
				out.Schema = s
			}
		}
		o.Responses[code] = out
	}
	return o, nil
}

// jsonSchema returns content["application/json"].schema of a request body
// or response object.
func jsonSchema(obj map[string]any) any {
	content, _ := obj["content"].(map[string]any)
	for _, ct := range []string{"application/json", "application/vnd.github.v3.star+json"} {
		if media, ok := content[ct].(map[string]any); ok {
			return media["schema"]
		}
	}
	return nil
}

// deref follows a $ref at the top of a request body or response object.
func (r *resolver) deref(obj map[string]any) (map[string]any, error) {
	for range 10 {
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj, nil
		}
		v, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		obj, _ = v.(map[string]any)
	}
	return nil, fmt.Errorf("$ref chain too long")
}

func (r *resolver) lookup(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("external $ref %q", ref)
	}
	var cur any = r.doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: not an object at %q", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, tok)
		}
	}
	return cur, nil
}

// dropped are keywords that only document.
var dropped = map[string]bool{
	"description": true, "example": true, "examples": true, "externalDocs": true,
	"title": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"discriminator": true, "xml": true, "default": true,
}

// schema converts an OpenAPI 3.0 schema object to JSON Schema, inlining
// $refs. stack holds the refs being inlined, to refuse cycles.
func (r *resolver) schema(v any, stack []string) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	if ref, ok := m["$ref"].(string); ok {
		if slices.Contains(stack, ref) {
			return nil, fmt.Errorf("cyclic $ref %s", ref)
		}
		target, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		return r.schema(target, append(stack, ref))
	}
	out := map[string]any{}
	for k, val := range m {
		if dropped[k] || strings.HasPrefix(k, "x-") || k == "nullable" {
			continue
		}
		switch k {
		case "properties", "patternProperties":
			props := map[string]any{}
			for name, p := range val.(map[string]any) {
				s, err := r.schema(p, stack)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				props[name] = s
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			s, err := r.schema(val, stack)
			if err != nil {
				return nil, err
			}
			out[k] = s
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, item := range val.([]any) {
				s, err := r.schema(item, stack)
				if err != nil {
					return nil, err
				}
				list = append(list, s)
			}
			out[k] = list
		default:
			out[k] = val
		}
	}
	if nullable, _ := m["nullable"].(bool); nullable {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
			if enum, ok := out["enum"].([]any); ok && !slices.Contains(enum, any(nil)) {
				out["enum"] = append(enum, nil)
			}
		default:
			return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}, nil
		}
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
