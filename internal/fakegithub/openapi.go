package fakegithub

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:generate go run ./internal/openapisubset -in ../../../shared/reference/github-rest-openapi.json.gz -out testdata/openapi-subset.json

// subsetJSON is the part of GitHub's REST description the fake serves, cut
// by internal/openapisubset.
//
//go:embed testdata/openapi-subset.json
var subsetJSON []byte

// operation is one documented path and method, ready to match and validate.
type operation struct {
	ID       string
	Method   string
	Path     string // the description's template, e.g. /repos/{owner}/{repo}
	segments []string
	// Success is the operation's one documented 2xx status.
	Success int
	// Statuses are all documented statuses.
	Statuses []int

	bodyRequired bool
	body         *jsonschema.Schema // nil: the operation takes no body
	response     *jsonschema.Schema // nil: no body on success
}

// spec is the loaded subset.
type spec struct {
	Version string
	ops     []*operation
	byID    map[string]*operation
}

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

// loadSpec parses and compiles the embedded subset once per process; the
// compiled schemas are read-only and shared by every Server.
func loadSpec() (*spec, error) {
	specOnce.Do(func() { loadedSpec, specErr = parseSpec(subsetJSON) })
	return loadedSpec, specErr
}

func parseSpec(data []byte) (*spec, error) {
	var raw struct {
		Source struct {
			Version string `json:"version"`
		} `json:"source"`
		Operations []struct {
			OperationID string `json:"operationId"`
			Method      string `json:"method"`
			Path        string `json:"path"`
			RequestBody *struct {
				Required bool            `json:"required"`
				Schema   json.RawMessage `json:"schema"`
			} `json:"requestBody"`
			Responses map[string]struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"responses"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("openapi subset: %w", err)
	}
	sp := &spec{Version: raw.Source.Version, byID: map[string]*operation{}}
	for _, o := range raw.Operations {
		op := &operation{ID: o.OperationID, Method: o.Method, Path: o.Path, segments: splitPath(o.Path)}
		var successSchema json.RawMessage
		for code, resp := range o.Responses {
			n, err := strconv.Atoi(code)
			if err != nil {
				return nil, fmt.Errorf("openapi subset: %s: status %q", o.OperationID, code)
			}
			op.Statuses = append(op.Statuses, n)
			if n/100 == 2 {
				if op.Success != 0 {
					return nil, fmt.Errorf("openapi subset: %s: more than one 2xx status", o.OperationID)
				}
				op.Success = n
				successSchema = resp.Schema
			}
		}
		sort.Ints(op.Statuses)
		if op.Success == 0 {
			return nil, fmt.Errorf("openapi subset: %s: no 2xx status", o.OperationID)
		}
		var err error
		if o.RequestBody != nil {
			op.bodyRequired = o.RequestBody.Required
			if op.body, err = compileSchema(o.OperationID+"/request", o.RequestBody.Schema, false); err != nil {
				return nil, err
			}
		}
		if len(successSchema) > 0 {
			if op.response, err = compileSchema(o.OperationID+"/response", successSchema, true); err != nil {
				return nil, err
			}
		}
		sp.ops = append(sp.ops, op)
		sp.byID[op.ID] = op
	}
	return sp, nil
}

// compileSchema compiles one schema of the subset. Response schemas are
// compiled leniently: the fake answers with the fields a client reads, not
// with every field GitHub marks required, so "required" is dropped (and
// oneOf, which dropping it makes ambiguous, becomes anyOf); types, enums and
// shapes of what the fake does send are still checked.
func compileSchema(name string, raw json.RawMessage, lenient bool) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("openapi subset: %s: %w", name, err)
	}
	if lenient {
		doc = relax(doc)
	}
	c := jsonschema.NewCompiler()
	loc := "mem:///" + name + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("openapi subset: %s: %w", name, err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("openapi subset: %s: %w", name, err)
	}
	return s, nil
}

func relax(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if k == "required" {
				continue
			}
			if k == "oneOf" {
				if _, both := t["anyOf"]; !both {
					out["anyOf"] = relax(val)
				} else {
					out["allOf"] = append(asList(out["allOf"]), map[string]any{"anyOf": relax(val)})
				}
				continue
			}
			if k == "allOf" {
				out[k] = append(asList(out[k]), relax(val).([]any)...)
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for name, p := range val.(map[string]any) {
					props[name] = relax(p)
				}
				out[k] = props
				continue
			}
			out[k] = relax(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, item := range t {
			out[i] = relax(item)
		}
		return out
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// match finds the operation for a method and an API-root-relative escaped
// path, and its path parameters. A literal segment beats a parameter, so
// /issues/comments/{comment_id} wins over /issues/{issue_number}/comments;
// {ref} may span several segments (refs/heads/feature/x). pathKnown reports
// whether some operation has this path under another method.
func (sp *spec) match(method, escapedPath string) (op *operation, params map[string]string, pathKnown bool) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	bestScore := -1
	for _, o := range sp.ops {
		p := map[string]string{}
		score, ok := matchSegments(o.segments, segs, p)
		if !ok {
			continue
		}
		if o.Method != method {
			pathKnown = true
			continue
		}
		if score > bestScore {
			op, params, bestScore = o, p, score
		}
	}
	return op, params, pathKnown || op != nil
}

// matchSegments matches template segments against path segments, filling
// params, and scores the match by its number of literal segments.
func matchSegments(tmpl, segs []string, params map[string]string) (int, bool) {
	if len(tmpl) == 0 {
		return 0, len(segs) == 0
	}
	t := tmpl[0]
	if !strings.HasPrefix(t, "{") {
		if len(segs) == 0 || segs[0] != t {
			return 0, false
		}
		score, ok := matchSegments(tmpl[1:], segs[1:], params)
		return score + 1, ok
	}
	name := strings.Trim(t, "{}")
	if name == "ref" {
		// A ref is one or more segments; try the longest first.
		for n := len(segs) - len(tmpl) + 1; n >= 1; n-- {
			if score, ok := matchSegments(tmpl[1:], segs[n:], params); ok {
				params[name] = strings.Join(segs[:n], "/")
				return score, true
			}
		}
		return 0, false
	}
	if len(segs) == 0 || segs[0] == "" {
		return 0, false
	}
	score, ok := matchSegments(tmpl[1:], segs[1:], params)
	if ok {
		params[name] = segs[0]
	}
	return score, ok
}

var printer = message.NewPrinter(language.English)

// fieldError is one schema violation, shaped like an entry of GitHub's
// "errors" array.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// validate checks v against s and flattens the failures to their leaves.
func validate(s *jsonschema.Schema, v any) []fieldError {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []fieldError{{Code: "invalid", Message: err.Error()}}
	}
	var out []fieldError
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := strings.Join(e.InstanceLocation, "/")
		add := func(fe fieldError) {
			key := fe.Field + "\x00" + fe.Message
			if !seen[key] {
				seen[key] = true
				out = append(out, fe)
			}
		}
		// A missing property is GitHub's "missing_field" on that field.
		if req, ok := e.ErrorKind.(*kind.Required); ok {
			for _, name := range req.Missing {
				add(fieldError{Field: strings.TrimPrefix(loc+"/"+name, "/"), Code: "missing_field", Message: strconv.Quote(name) + " wasn't supplied."})
			}
			return
		}
		add(fieldError{Field: loc, Code: "invalid", Message: e.ErrorKind.LocalizedString(printer)})
	}
	walk(ve)
	return out
}
