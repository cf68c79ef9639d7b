package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// Metrics a trigger may watch.
var triggerMetrics = map[string]bool{
	"escalation_rate": true, "dont_know_rate": true, "error_rate": true,
	"cost_per_event": true, "latency_p50_ms": true, "latency_p95_ms": true,
	"volume": true, "rating_avg": true,
}

var triggerOps = map[string]bool{">": true, ">=": true, "<": true, "<=": true}

// templateVarRE finds {{var}} placeholders; spaces inside the braces are allowed.
var templateVarRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}`)

// TemplateVars returns the variables a template uses, in order of first use.
func TemplateVars(tmpl string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range templateVarRE.FindAllStringSubmatch(tmpl, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// Fill replaces each {{var}} in tmpl with its value. Unknown variables stay
// as written: validation reports them before anything runs.
func Fill(tmpl string, vars map[string]string) string {
	if !strings.Contains(tmpl, "{{") {
		return tmpl
	}
	return templateVarRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := strings.TrimSpace(m[2 : len(m)-2])
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// ContextVar is filled from a case's `context` rather than its vars.
const ContextVar = "context"

func validate(r *Repo) {
	validateConfig(r)
	for _, name := range r.ArtifactNames() {
		validateArtifact(r, r.Artifacts[name])
	}
	for _, gs := range r.Golden {
		validateGolden(r, gs)
	}
	for _, e := range r.Environments {
		validateEnvironment(r, e)
	}
}

func validateConfig(r *Repo) {
	c, ps := r.Config, &r.Problems
	if c.Node == nil {
		return
	}
	const p = ConfigFile
	for name, prov := range c.Providers {
		if prov.BaseURL == "" && name != "openai" && prov.Node != nil {
			ps.add(p, prov.Node, "provider %q needs a base_url", name)
		}
		if prov.BaseURL != "" && !strings.HasPrefix(prov.BaseURL, "http://") && !strings.HasPrefix(prov.BaseURL, "https://") {
			ps.add(p, fieldValue(prov.Node, "base_url"), "provider %q: base_url must start with http:// or https://", name)
		}
		if prov.RequestsPerMinute < 0 {
			ps.add(p, fieldValue(prov.Node, "requests_per_minute"), "provider %q: requests_per_minute must be >= 0", name)
		}
		if prov.TokensPerMinute < 0 {
			ps.add(p, fieldValue(prov.Node, "tokens_per_minute"), "provider %q: tokens_per_minute must be >= 0", name)
		}
	}
	for model, price := range c.Prices {
		for _, f := range []struct {
			key string
			v   *float64
		}{{"input", price.Input}, {"output", price.Output}} {
			if f.v != nil && (*f.v < 0 || *f.v > 10000) {
				ps.add(p, fieldValue(price.Node, f.key), "price of %s %s must be between 0 and 10000 USD per million tokens, got %v", model, f.key, *f.v)
			}
		}
	}
	g := c.Gate
	if g.Node != nil {
		if g.Repeats < 0 || g.Repeats > 100 {
			ps.add(p, fieldValue(g.Node, "repeats"), "gate.repeats must be between 1 and 100, got %d", g.Repeats)
		}
		if g.Concurrency < 0 || g.Concurrency > 1024 {
			ps.add(p, fieldValue(g.Node, "concurrency"), "gate.concurrency must be between 1 and 1024, got %d", g.Concurrency)
		}
		pct := func(key string, v *float64, max float64) {
			if v != nil && (*v < 0 || *v > max) {
				ps.add(p, fieldValue(g.Node, key), "gate.%s must be between 0 and %v, got %v", key, max, *v)
			}
		}
		pct("max_category_drop_pp", g.MaxCategoryDropPP, 100)
		pct("max_overall_drop_pp", g.MaxOverallDropPP, 100)
		pct("max_cost_increase_pct", g.MaxCostIncreasePct, 100000)
		pct("max_p95_latency_increase_pct", g.MaxP95LatencyIncreasePct, 100000)
		pct("max_error_rate", g.MaxErrorRate, 1)
		if g.MaxCalls < 0 {
			ps.add(p, fieldValue(g.Node, "max_calls"), "gate.max_calls must be >= 0")
		}
		if g.MaxUSD < 0 {
			ps.add(p, fieldValue(g.Node, "max_usd"), "gate.max_usd must be >= 0")
		}
		for cat, cg := range g.Categories {
			if cg.MaxDropPP != nil && (*cg.MaxDropPP < 0 || *cg.MaxDropPP > 100) {
				ps.add(p, fieldValue(g.Node, "categories"), "gate.categories.%s.max_drop_pp must be between 0 and 100", cat)
			}
		}
	}
	if j := c.Judge; j != nil && j.Node != nil {
		if j.MinAgreement < 0 || j.MinAgreement > 1 {
			ps.add(p, fieldValue(j.Node, "min_agreement"), "judge.min_agreement must be between 0 and 1, got %v", j.MinAgreement)
		}
		if j.Model != "" {
			if why := CheckModel(j.Model, c.AllowModels); why != "" {
				ps.add(p, fieldValue(j.Node, "model"), "judge: %s", why)
			}
		}
		if j.Provider != "" && !r.hasProvider(j.Provider) {
			ps.add(p, fieldValue(j.Node, "provider"), "judge provider %q is not defined under providers", j.Provider)
		}
	}
	if c.Drift != nil {
		if _, err := ParseSchedule(c.Drift.Schedule); err != nil && c.Drift.Schedule != "" {
			ps.add(p, fieldValue(fieldValue(c.Node, "drift"), "schedule"), "drift.%v", err)
		}
	}
	names := map[string]bool{}
	for _, t := range c.Triggers {
		at := func(key string) *yaml.Node { return fieldValue(t.Node, key) }
		if names[t.Name] && t.Name != "" {
			ps.add(p, at("name"), "duplicate trigger name %q", t.Name)
		}
		names[t.Name] = true
		if t.Metric != "" && !triggerMetrics[t.Metric] {
			ps.add(p, at("metric"), "trigger %q: unknown metric %q (one of %s)", t.Name, t.Metric, strings.Join(slices.Sorted(maps.Keys(triggerMetrics)), ", "))
		}
		conds := 0
		for _, set := range []bool{t.Above != nil, t.Below != nil, t.AbovePreviousBy != nil, t.Op != "" || t.Threshold != nil} {
			if set {
				conds++
			}
		}
		if t.Node != nil && conds != 1 {
			ps.add(p, t.Node, "trigger %q needs exactly one condition: above, below, above_previous_by, or op with threshold", t.Name)
		}
		if (t.Op != "") != (t.Threshold != nil) {
			ps.add(p, t.Node, "trigger %q: op and threshold go together", t.Name)
		} else if t.Op != "" && !triggerOps[t.Op] {
			ps.add(p, at("op"), "trigger %q: op must be one of >, >=, <, <=", t.Name)
		}
		if isRateMetric(t.Metric) {
			for _, v := range []struct {
				key string
				v   *float64
			}{{"above", t.Above}, {"below", t.Below}, {"above_previous_by", t.AbovePreviousBy}, {"threshold", t.Threshold}} {
				if v.v != nil && *v.v > 0 && *v.v < 1 {
					r.Warnings.add(p, at(v.key), "trigger %q: %s is in percent, so %v means %v%%, not %v%%; write %v for that",
						t.Name, t.Metric, *v.v, *v.v, *v.v*100, *v.v*100)
				}
			}
		}
		if t.MinEvents < 0 {
			ps.add(p, at("min_events"), "trigger %q: min_events must be >= 0", t.Name)
		}
		if t.Window.D() == 0 && t.Node != nil {
			ps.add(p, t.Node, "trigger %q needs a window, such as 15m", t.Name)
		}
	}
}

func (r *Repo) hasProvider(name string) bool {
	if name == "openai" {
		return true
	}
	_, ok := r.Config.Providers[name]
	return ok
}

func validateArtifact(r *Repo, a *Artifact) {
	ps, p := &r.Problems, a.Path
	at := func(key string) *yaml.Node { return fieldValue(a.Node, key) }
	if a.Version < 1 && fieldNode(a.Node, "version") != a.Node {
		ps.add(p, at("version"), "version must be a positive integer, got %d", a.Version)
	}
	if !r.hasProvider(a.ProviderName()) {
		ps.add(p, at("provider"), "provider %q is not defined under providers in %s", a.ProviderName(), ConfigFile)
	}
	if a.Model != "" {
		if why := CheckModel(a.Model, r.Config.AllowModels); why != "" {
			ps.add(p, at("model"), "%s", why)
		} else {
			r.warnUnpriced(p, at("model"), a.Model)
		}
	}
	validateParams(ps, p, &a.Params)
	if a.SystemPrompt == "" && a.Templates["system"] == "" {
		ps.add(p, a.Node, "missing system_prompt")
	}
	if _, ok := a.Templates["user"]; !ok && a.Node != nil {
		ps.add(p, at("templates"), "templates.user is required: it becomes the user message of each case")
	}
	for k := range a.Templates {
		if k != "user" && k != "system" {
			ps.add(p, at("templates"), "unknown template %q (user or system)", k)
		}
	}
	if a.OutputSchema != nil {
		if err := compileSchema(a.OutputSchema); err != nil {
			ps.add(p, at("output_schema"), "invalid output_schema: %v", err)
		}
	}
	for i, rt := range a.Routing {
		if rt.Model != "" {
			if why := CheckModel(rt.Model, r.Config.AllowModels); why != "" {
				ps.add(p, fieldValue(rt.Node, "model"), "routing[%d]: %s", i, why)
			}
		}
		if rt.Model != "" {
			r.warnUnpriced(p, fieldValue(rt.Node, "model"), rt.Model)
		}
		if rt.Provider != "" && !r.hasProvider(rt.Provider) {
			ps.add(p, fieldValue(rt.Node, "provider"), "routing[%d]: provider %q is not defined", i, rt.Provider)
		}
		if rt.Node != nil && len(rt.When) == 0 {
			ps.add(p, fieldValue(rt.Node, "when"), "routing[%d]: when needs at least one condition", i)
		}
		if rt.Params != nil {
			validateParams(ps, p, rt.Params)
		}
	}
	dir := a.GoldenDir()
	if st, err := fs.Stat(r.FS, dir); err != nil || !st.IsDir() {
		ps.add(p, at("golden_set"), "golden set %s does not exist", dir)
		return
	}
	gs := r.Golden[dir]
	if gs == nil {
		return
	}
	if len(gs.Cases) == 0 {
		ps.add(p, at("golden_set"), "golden set %s has no cases", dir)
	}
	vars := TemplateVars(a.Templates["user"] + "\n" + a.Templates["system"] + "\n" + a.SystemPrompt)
	for _, v := range vars {
		if v == ContextVar {
			continue
		}
		var missing []*Case
		for _, c := range gs.Cases {
			if _, ok := c.Vars[v]; !ok {
				missing = append(missing, c)
			}
		}
		// When no case provides the variable the template is the mistake;
		// point there once instead of at every case.
		if len(missing) == len(gs.Cases) && len(missing) > 1 {
			ps.add(p, at("templates"), "template uses {{%s}}, which no case in %s provides (add it to each case's vars)", v, dir)
			continue
		}
		for _, c := range missing {
			ps.add(c.File, fieldNode(c.Node, "vars"), "case %q does not provide var %q, which %s uses in its templates", c.ID, v, p)
		}
	}
	for _, c := range gs.Cases {
		if c.Expect.JSONSchema && a.OutputSchema == nil {
			ps.add(c.File, fieldValue(c.Expect.Node, "json_schema"), "case %q expects json_schema, but %s has no output_schema", c.ID, p)
		}
	}
}

func validateParams(ps *Problems, p string, pr *Params) {
	at := func(key string) *yaml.Node { return fieldValue(pr.Node, key) }
	if pr.Temperature != nil && (*pr.Temperature < 0 || *pr.Temperature > 2) {
		ps.add(p, at("temperature"), "params.temperature must be between 0 and 2, got %v", *pr.Temperature)
	}
	if pr.TopP != nil && (*pr.TopP <= 0 || *pr.TopP > 1) {
		ps.add(p, at("top_p"), "params.top_p must be in (0, 1], got %v", *pr.TopP)
	}
	if pr.MaxTokens != nil && (*pr.MaxTokens < 1 || *pr.MaxTokens > 1000000) {
		ps.add(p, at("max_tokens"), "params.max_tokens must be between 1 and 1000000, got %d", *pr.MaxTokens)
	}
	for _, f := range []struct {
		key string
		v   *float64
	}{{"presence_penalty", pr.PresencePenalty}, {"frequency_penalty", pr.FrequencyPenalty}} {
		if f.v != nil && (*f.v < -2 || *f.v > 2) {
			ps.add(p, at(f.key), "params.%s must be between -2 and 2, got %v", f.key, *f.v)
		}
	}
	if len(pr.Stop) > 4 {
		ps.add(p, at("stop"), "params.stop takes at most 4 sequences, got %d", len(pr.Stop))
	}
}

func validateGolden(r *Repo, gs *GoldenSet) {
	ps := &r.Problems
	for _, c := range gs.Cases {
		e := c.Expect
		if len(e.Contains) == 0 && len(e.NotContains) == 0 && len(e.Regex) == 0 && !e.JSONSchema && e.MaxChars == 0 && e.Judge == "" {
			ps.add(c.File, c.Node, "case %q has no criteria: it would pass whatever the model says; add contains, regex, json_schema, max_chars or judge", c.ID)
		}
		seq := fieldValue(e.Node, "regex")
		for i, re := range e.Regex {
			if _, err := regexp.Compile(re); err != nil {
				n := seq
				if seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
					n = seq.Content[i]
				}
				ps.add(c.File, n, "case %q: invalid regex %q: %v", c.ID, re, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		}
		if e.MaxChars < 0 {
			ps.add(c.File, fieldValue(e.Node, "max_chars"), "case %q: max_chars must be positive", c.ID)
		}
		if e.Judge != "" && r.Config.Judge == nil {
			ps.add(c.File, fieldValue(e.Node, "judge"), "case %q uses judge, but %s has no judge model", c.ID, ConfigFile)
		}
		if len(c.Human) > 0 && e.Judge == "" {
			ps.add(c.File, fieldValue(c.Node, "human"), "case %q has human ratings but no judge rubric to calibrate", c.ID)
		}
	}
}

func validateEnvironment(r *Repo, e *Environment) {
	ps := &r.Problems
	for name, entry := range e.Entries {
		a, ok := r.Artifacts[name]
		if !ok {
			ps.add(e.Path, fieldNode(e.Node, name), "unknown artifact %q (no artifacts/%s.yaml)", name, name)
			continue
		}
		check := func(n *yaml.Node, v int, what string) {
			switch {
			case v < 1:
				ps.add(e.Path, n, "%s of %s must be a positive version number, got %d", what, name, v)
			case v > a.Version && a.Version > 0:
				ps.add(e.Path, n, "%s %d of %s does not exist: %s is at version %d", what, v, name, a.Path, a.Version)
			}
		}
		vn := entry.Node
		if entry.Node != nil && entry.Node.Kind == yaml.MappingNode {
			vn = fieldValue(entry.Node, "version")
		}
		check(vn, entry.Version, "version")
		if c := entry.Canary; c != nil {
			check(fieldValue(c.Node, "version"), c.Version, "canary version")
			if c.Weight < 0 || c.Weight > 100 {
				ps.add(e.Path, fieldValue(c.Node, "weight"), "canary weight of %s must be between 0 and 100, got %v", name, c.Weight)
			}
			if c.Version == entry.Version {
				ps.add(e.Path, fieldValue(c.Node, "version"), "canary version of %s equals the live version %d", name, c.Version)
			}
		}
	}
}

// compileSchema checks that an output_schema is a valid JSON Schema.
func compileSchema(schema map[string]any) error {
	_, err := CompileSchema(schema)
	return err
}

// CompileSchema compiles an artifact's output_schema with a real JSON Schema
// implementation (draft 2020-12 unless $schema says otherwise).
func CompileSchema(schema map[string]any) (*jsonschema.Schema, error) {
	// Round-trip through JSON so YAML-decoded numbers have the types the library expects.
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("output_schema.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("output_schema.json")
	if err != nil {
		return nil, schemaError(err)
	}
	return s, nil
}

// schemaError flattens the library's nested metaschema errors into one
// line that names the offending schema locations, without file URLs.
func schemaError(err error) error {
	var sve *jsonschema.SchemaValidationError
	if !errors.As(err, &sve) {
		return err
	}
	var ve *jsonschema.ValidationError
	if !errors.As(sve.Err, &ve) {
		return err
	}
	var msgs []string
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			msgs = append(msgs, fmt.Sprintf("at %s: %s", loc, e.ErrorKind.LocalizedString(message.NewPrinter(language.English))))
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	if len(msgs) == 0 {
		return errors.New("not a valid JSON Schema")
	}
	return errors.New(strings.Join(msgs, "; "))
}

func isRateMetric(m string) bool {
	return m == "escalation_rate" || m == "dont_know_rate" || m == "error_rate"
}

// warnUnpriced warns when a repo that prices its models lacks a price for
// one an artifact uses: the gate cannot compare its cost.
func (r *Repo) warnUnpriced(path string, n *yaml.Node, model string) {
	if len(r.Config.Prices) == 0 {
		return
	}
	if _, ok := r.Config.Prices[model]; !ok {
		r.Warnings.add(path, n, "no price for %s in %s: its cost shows as unknown and the gate cannot compare it", model, ConfigFile)
	}
}
