package evaluator

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/promptgate/promptgate/registry"
)

// Checker applies a golden case's deterministic criteria (everything but
// the judge) to one output. Build it once per artifact: the output schema
// is compiled once, and each case's needles and regexes are prepared once
// and reused for every repeat and both sides. It is safe for concurrent use.
type Checker struct {
	schema *jsonschema.Schema // nil when the artifact has no output_schema
	cases  sync.Map           // *registry.Case → *preparedCase
}

// preparedCase holds what Check needs for one case, built once. The failure
// strings are built here too, so a failing check allocates only its slice.
type preparedCase struct {
	contains    []needle
	notContains []needle
	regexes     []compiledRegex
	jsonSchema  bool
	maxChars    int
	maxCharsLbl string
}

type needle struct {
	lower string // lower-cased once, compared with the lower-cased output
	label string // e.g. `contains "consultant"`
}

type compiledRegex struct {
	re    *regexp.Regexp // nil when the pattern does not compile
	label string
}

// NewChecker compiles the artifact's output_schema. A schema that does not
// compile is an error of the artifact, not of the model, so it stops here
// rather than failing every json_schema criterion.
func NewChecker(a *registry.Artifact) (*Checker, error) {
	ch := &Checker{}
	if a != nil && len(a.OutputSchema) > 0 {
		s, err := registry.CompileSchema(a.OutputSchema)
		if err != nil {
			return nil, fmt.Errorf("compile output_schema of %s: %w", a.Name, err)
		}
		ch.schema = s
	}
	return ch, nil
}

// Prepare compiles the criteria of a whole golden set up front and reports
// every regex that does not compile (validation should have caught them).
// Check prepares unseen cases lazily, so calling Prepare is optional.
func (ch *Checker) Prepare(cases []*registry.Case) error {
	var errs []error
	for _, c := range cases {
		pc := ch.prepared(c)
		for i, r := range pc.regexes {
			if r.re == nil {
				_, err := regexp.Compile(c.Expect.Regex[i])
				errs = append(errs, fmt.Errorf("case %s: regex %q: %w", c.ID, c.Expect.Regex[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func (ch *Checker) prepared(c *registry.Case) *preparedCase {
	if v, ok := ch.cases.Load(c); ok {
		return v.(*preparedCase)
	}
	v, _ := ch.cases.LoadOrStore(c, prepareCase(c))
	return v.(*preparedCase)
}

func prepareCase(c *registry.Case) *preparedCase {
	e := c.Expect
	pc := &preparedCase{jsonSchema: e.JSONSchema, maxChars: e.MaxChars}
	for _, s := range e.Contains {
		pc.contains = append(pc.contains, needle{strings.ToLower(s), "contains " + strconv.Quote(s)})
	}
	for _, s := range e.NotContains {
		pc.notContains = append(pc.notContains, needle{strings.ToLower(s), "not_contains " + strconv.Quote(s)})
	}
	for _, s := range e.Regex {
		re, err := regexp.Compile(s)
		lbl := "regex " + s
		if err != nil {
			lbl += " (does not compile)"
		}
		pc.regexes = append(pc.regexes, compiledRegex{re, lbl})
	}
	if e.MaxChars > 0 {
		pc.maxCharsLbl = "max_chars " + strconv.Itoa(e.MaxChars)
	}
	return pc
}

// Check returns the criteria of c that output breaks, in the order
// contains, not_contains, regex, json_schema, max_chars; nil means it
// passes. The judge criterion is not applied here: it needs a model call
// (see Judge).
//
// contains and not_contains compare lower-cased text, so matching ignores
// case for every script Unicode lower-cases.
func (ch *Checker) Check(c *registry.Case, output string) (failed []string) {
	pc := ch.prepared(c)
	if len(pc.contains)+len(pc.notContains) > 0 {
		lower := strings.ToLower(output)
		for _, n := range pc.contains {
			if !strings.Contains(lower, n.lower) {
				failed = append(failed, n.label)
			}
		}
		for _, n := range pc.notContains {
			if strings.Contains(lower, n.lower) {
				failed = append(failed, n.label)
			}
		}
	}
	for _, r := range pc.regexes {
		if r.re == nil || !r.re.MatchString(output) {
			failed = append(failed, r.label)
		}
	}
	if pc.jsonSchema {
		if msg := ch.checkSchema(output); msg != "" {
			failed = append(failed, msg)
		}
	}
	if pc.maxChars > 0 {
		if n := utf8.RuneCountInString(output); n > pc.maxChars {
			failed = append(failed, pc.maxCharsLbl+" (got "+strconv.Itoa(n)+")")
		}
	}
	return failed
}

// checkSchema returns "" when output is JSON that satisfies the schema, or
// the failure. With no output_schema the criterion asks only for JSON.
func (ch *Checker) checkSchema(output string) string {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(StripJSONFence(output)))
	if err != nil {
		return "json_schema: not JSON (" + err.Error() + ")"
	}
	if ch.schema == nil {
		return ""
	}
	if err := ch.schema.Validate(doc); err != nil {
		return schemaFailure(err)
	}
	return ""
}

// StripJSONFence returns s without surrounding whitespace and without a
// Markdown code fence (```json … ``` or ``` … ```) wrapping the whole of it.
// Models often fence JSON even when told not to; the fence is presentation,
// not content, so the JSON inside is what gets checked. JSON with prose
// around it is not unwrapped: that is a real format failure.
func StripJSONFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	body := s[3 : len(s)-3]
	nl := strings.IndexByte(body, '\n')
	if nl < 0 {
		return s
	}
	// The info string after the opening fence may only name the language.
	if lang := strings.TrimSpace(body[:nl]); lang != "" && !strings.EqualFold(lang, "json") {
		return s
	}
	return strings.TrimSpace(body[nl+1:])
}

// schemaFailure names the first violated keyword, by instance location, e.g.
// `json_schema: /escalate: expected boolean, got string`. The library's
// causes come in map order, so they are sorted to keep reports stable.
func schemaFailure(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "json_schema: " + err.Error()
	}
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	msgs := make([]string, 0, len(leaves))
	for _, l := range leaves {
		msgs = append(msgs, leafMessage(l))
	}
	slices.Sort(msgs)
	msgs = slices.Compact(msgs)
	out := "json_schema: " + msgs[0]
	if len(msgs) > 1 {
		out += fmt.Sprintf(" (+%d more)", len(msgs)-1)
	}
	return out
}

// pointerEscaper escapes a JSON Pointer reference token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func leafMessage(e *jsonschema.ValidationError) string {
	var text string
	if t, ok := e.ErrorKind.(*kind.Type); ok {
		text = "expected " + strings.Join(t.Want, " or ") + ", got " + t.Got
	} else {
		text = e.BasicOutput().Error.String()
	}
	if len(e.InstanceLocation) == 0 {
		return text
	}
	var b strings.Builder
	for _, tok := range e.InstanceLocation {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(tok))
	}
	return b.String() + ": " + text
}
