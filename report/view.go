package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
)

// The view types hold every string the templates print, already escaped:
// the templates only lay them out, so nothing untrusted reaches the comment
// without passing through Inline, codeSpan or CodeBlock.

type commentView struct {
	Marker        string
	Icon          string
	Verdict       string
	Notice        string
	Refs          string
	Reasons       []string
	Problems      []string
	MoreProblems  string
	ConfigChanged bool
	ConfigDiff    string
	Artifacts     []artifactView
	Unchanged     string
	Deleted       string
	Pointers      []string
	Next          []string
	FullReport    string
}

type artifactView struct {
	Title         string
	Icon          string
	Verdict       string
	Reasons       []string
	Categories    table
	Notes         []string
	Errors        string
	ErrorExamples string
	Cost          table
	CostTotal     string
	Change        []string
	PromptDiff    string
	PromptTitle   string
	Judge         string
	WorseSummary  string
	Worse         []exampleView
	MoreWorse     string
	Better        string
	Calls         string
}

type table struct {
	Header []string
	Align  []string
	Rows   [][]string
}

type exampleView struct {
	Header      string
	BeforeLabel string
	Before      string
	BeforeNote  string
	AfterLabel  string
	After       string
	AfterNote   string
}

func buildComment(r *evaluator.Report, opts Options, lim limits) commentView {
	v := commentView{
		Marker:        Marker,
		Icon:          icon(r.Verdict),
		Verdict:       verdictWord(r.Verdict),
		ConfigChanged: r.ConfigChanged,
		Notice:        strings.TrimSpace(opts.Notice),
	}
	if r.BaseRef != "" {
		head := "the working tree"
		if r.HeadRef != "" {
			head = codeSpan(r.HeadRef)
		}
		v.Refs = "Base " + codeSpan(r.BaseRef) + " → head " + head + "."
	}
	for _, s := range r.Reasons {
		v.Reasons = append(v.Reasons, Inline(s))
	}
	v.Problems, v.MoreProblems = problemLines(r.Problems, r.Versions, lim.problems, opts.DetailsURL)
	if r.ConfigChanged && lim.configDiff && len(r.ConfigDiff) > 0 {
		v.ConfigDiff = block(diffText(r.ConfigDiff), "diff")
	}
	for _, a := range r.Artifacts {
		v.Artifacts = append(v.Artifacts, buildArtifact(a, opts, lim))
	}
	if len(r.Unchanged) > 0 {
		names := make([]string, len(r.Unchanged))
		for i, n := range r.Unchanged {
			names[i] = Inline(n)
		}
		v.Unchanged = "Unchanged, not run: " + strings.Join(names, ", ") + "."
	}
	if len(r.Deleted) > 0 {
		names := make([]string, len(r.Deleted))
		for i, n := range r.Deleted {
			names[i] = "`" + Inline(n) + "`"
		}
		v.Deleted = "🗑️ Deleted: " + strings.Join(names, ", ") + ". Their tags keep every merged version resolvable; any environment still pointing at one must move first."
	}
	for _, p := range r.Pointers {
		v.Pointers = append(v.Pointers, pointerLine(p))
	}
	v.Next = nextSteps(r)
	if opts.DetailsURL != "" {
		v.FullReport = "Full report: " + link(opts.DetailsURL)
	}
	return v
}

// problemLines lists validation problems and wrong version numbers, each as
// location: message, a wrong number with the exact fix.
func problemLines(ps []registry.Problem, vs []registry.VersionCheck, limit int, detailsURL string) (lines []string, more string) {
	for _, vc := range vs {
		if vc.OK {
			continue
		}
		loc := vc.Path
		if vc.Line > 0 {
			loc += ":" + strconv.Itoa(vc.Line)
		}
		msg := vc.Message
		if msg == "" {
			msg = fmt.Sprintf("version must be %d, not %d", vc.Expected, vc.Version)
		}
		lines = append(lines, codeSpan(loc)+": "+Inline(msg)+fmt.Sprintf(" — set `version: %d`", vc.Expected))
	}
	for _, p := range ps {
		loc := p.Path
		if p.Line > 0 {
			loc += ":" + strconv.Itoa(p.Line)
			if p.Col > 0 {
				loc += ":" + strconv.Itoa(p.Col)
			}
		}
		lines = append(lines, codeSpan(loc)+": "+Inline(p.Message))
	}
	if limit >= 0 && len(lines) > limit {
		more = "… and " + Thousands(len(lines)-limit) + " more"
		if detailsURL != "" {
			more += ": see the full report " + link(detailsURL)
		}
		more += "; `promptgate validate` lists them all."
		lines = lines[:limit]
	}
	return lines, more
}

func buildArtifact(a *evaluator.ArtifactReport, opts Options, lim limits) artifactView {
	isNew := a.BaseVersion == 0
	v := artifactView{
		Icon:    icon(a.Verdict),
		Verdict: verdictWord(a.Verdict),
	}
	if isNew {
		v.Title = fmt.Sprintf("%s v%d (new)", Inline(a.Name), a.HeadVersion)
		v.Notes = append(v.Notes, "A new artifact: there is no baseline to compare against.")
	} else {
		v.Title = fmt.Sprintf("%s v%d → v%d", Inline(a.Name), a.BaseVersion, a.HeadVersion)
	}
	for _, s := range a.Reasons {
		v.Reasons = append(v.Reasons, Inline(s))
	}
	v.Categories = categoryTable(a, isNew, lim.categories)
	if a.Repeats > 1 {
		v.Notes = append(v.Notes, fmt.Sprintf("Each case ran %d times per side; the rates count paired samples.", a.Repeats))
	}
	if a.BudgetSpent != "" {
		v.Notes = append(v.Notes, "⚠️ The run budget stopped this run early ("+Inline(a.BudgetSpent)+" spent): cases that did not run count as errors.")
	}
	v.Errors = errorLine(a.Errors)
	if lim.errorExamples && len(a.Errors.Examples) > 0 {
		v.ErrorExamples = block(strings.Join(a.Errors.Examples, "\n"), "")
	}
	v.Cost, v.CostTotal = costTable(a, isNew)
	v.Change, v.PromptTitle, v.PromptDiff = changeLines(a.Change, lim.promptDiff)
	v.Judge = judgeLine(a.Judge)
	buildExamples(&v, a, opts, lim)
	v.Calls = "**Model calls**: " + callCount("baseline", a.BaseCalls, a.Errors.Base) + " · " + callCount("candidate", a.HeadCalls, a.Errors.Head)
	if isNew {
		v.Calls = "**Model calls**: " + callCount("candidate", a.HeadCalls, a.Errors.Head)
	}
	return v
}

func categoryTable(a *evaluator.ArtifactReport, isNew bool, limit int) table {
	errs := a.Errors.Base > 0 || a.Errors.Head > 0
	t := table{
		Header: []string{"category", "n", "before", "after", "Δ pp", "evidence"},
		Align:  []string{":--", "--:", "--:", "--:", "--:", ":--"},
	}
	if errs {
		t.Header = append(t.Header, "errors before / after")
		t.Align = append(t.Align, "--:")
	}
	row := func(c evaluator.CategoryDelta, name string) []string {
		if c.Regressed {
			name = "🔻 " + name
		}
		before, after, delta := rate(c.BasePassRate), rate(c.HeadPassRate), signed(c.DeltaPP, 1)
		if c.N > 0 && c.Samples == 0 {
			before, after, delta = "—", "—", "—"
		}
		if isNew {
			before, delta = "—", "—"
		}
		ev := evidence(c)
		if c.N > 0 && c.Samples == 0 {
			ev = "no data: every sample was an error"
		}
		cells := []string{name, Thousands(c.N), before, after, delta, ev}
		if errs {
			cells = append(cells, Thousands(c.BaseErrors)+" / "+Thousands(c.HeadErrors))
		}
		return cells
	}
	for _, c := range keepCategories(a.Categories, limit) {
		t.Rows = append(t.Rows, row(c, Inline(c.Name)))
	}
	if rest := len(a.Categories) - limit; limit >= 0 && rest > 0 {
		more := make([]string, len(t.Header))
		more[0] = "… " + plural(rest, "more category", "more categories")
		more[len(more)-1] = "smaller changes: see the full report"
		t.Rows = append(t.Rows, more)
	}
	t.Rows = append(t.Rows, row(a.Overall, "**Overall**"))
	return t
}

// keepCategories picks at most limit categories (all when limit < 0): the
// regressed ones first, then the largest changes, shown in their original
// order.
func keepCategories(cs []evaluator.CategoryDelta, limit int) []evaluator.CategoryDelta {
	if limit < 0 || len(cs) <= limit {
		return cs
	}
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := cs[idx[i]], cs[idx[j]]
		if a.Regressed != b.Regressed {
			return a.Regressed
		}
		return math.Abs(a.DeltaPP) > math.Abs(b.DeltaPP)
	})
	idx = idx[:limit]
	sort.Ints(idx)
	out := make([]evaluator.CategoryDelta, len(idx))
	for i, k := range idx {
		out[i] = cs[k]
	}
	return out
}

// evidence says how far the paired test supports the change; a regressed
// row also names the threshold it broke.
func evidence(c evaluator.CategoryDelta) string {
	var s string
	switch c.Evidence {
	case evaluator.Significant:
		s = "significant (" + pValue(c.PValue) + ")"
	case "":
		s = "—"
	default:
		s = Inline(string(c.Evidence))
	}
	if c.Regressed {
		s += " · **drop over the " + number(c.ThresholdPP) + " pp limit**"
	}
	return s
}

func errorLine(e evaluator.ErrorCounts) string {
	if e.Base == 0 && e.Head == 0 {
		return "**Errors**: none on either side."
	}
	s := fmt.Sprintf("**Errors** (missing data, not failures): baseline %s (%s) · candidate %s (%s)",
		Thousands(e.Base), rate(e.BaseRate), Thousands(e.Head), rate(e.HeadRate))
	kinds := make([]evaluator.ErrorKind, 0, len(e.ByKind))
	for k := range e.ByKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if e.ByKind[kinds[i]] != e.ByKind[kinds[j]] {
			return e.ByKind[kinds[i]] > e.ByKind[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = Inline(string(k)) + " " + Thousands(e.ByKind[k])
	}
	if len(parts) > 0 {
		s += " — " + strings.Join(parts, ", ")
	}
	return s + "."
}

func costTable(a *evaluator.ArtifactReport, isNew bool) (table, string) {
	c, l := a.Cost, a.Latency
	t := table{
		Header: []string{"per case", "before", "after", "Δ"},
		Align:  []string{":--", "--:", "--:", "--:"},
	}
	usdCell := func(p *float64, model string) string {
		if p == nil {
			return unknownPrice(model, c.UnknownModels)
		}
		return usd(*p)
	}
	t.Rows = [][]string{
		{"input tokens", tokens(c.BaseInputTokens), tokens(c.HeadInputTokens), deltaPct(change(c.BaseInputTokens, c.HeadInputTokens))},
		{"output tokens", tokens(c.BaseOutputTokens), tokens(c.HeadOutputTokens), deltaPct(change(c.BaseOutputTokens, c.HeadOutputTokens))},
		{"cost", usdCell(c.BasePerCase, a.Change.ModelBefore), usdCell(c.HeadPerCase, a.Change.ModelAfter), deltaPct(c.DeltaPct)},
		{"latency p50", latency(l.BaseP50ms), latency(l.HeadP50ms), deltaPct(change(l.BaseP50ms, l.HeadP50ms))},
		{"latency p95", latency(l.BaseP95ms), latency(l.HeadP95ms), deltaPct(p95Change(l))},
	}
	// A side without a single usable sample has no figures: show that,
	// not a −100% change.
	expected := a.Overall.N * max(a.Repeats, 1)
	for side, errs := range map[int]int{1: a.Errors.Base, 2: a.Errors.Head} {
		if expected > 0 && errs >= expected {
			for _, row := range t.Rows {
				if row[0] != "cost" { // the cost cell already says why it is unknown
					row[side] = "—"
				}
				row[3] = "n/a"
			}
		}
	}
	if isNew {
		for _, row := range t.Rows {
			row[1], row[3] = "—", "—"
		}
	}
	var total string
	if c.BaseTotal != nil || c.HeadTotal != nil {
		total = "Cost of this run: baseline " + usdCell(c.BaseTotal, a.Change.ModelBefore) + ", candidate " + usdCell(c.HeadTotal, a.Change.ModelAfter) + "."
		if isNew {
			total = "Cost of this run: " + usdCell(c.HeadTotal, a.Change.ModelAfter) + "."
		}
	}
	return t, total
}

// latency shows a percentile; zero means no call returned on that side, as
// no real call takes 0 ms.
func latency(ms float64) string {
	if ms == 0 {
		return "—"
	}
	return millis(ms)
}

func p95Change(l evaluator.LatencyDelta) *float64 {
	if l.DeltaP95Pct != nil {
		return l.DeltaP95Pct
	}
	return change(l.BaseP95ms, l.HeadP95ms)
}

// unknownPrice explains a cost that is not known: a model without a price
// (named, so the reader knows what to add to promptgate.yaml) or a side
// without a single usable call. An unknown cost is never shown as $0.
func unknownPrice(model string, unknown []string) string {
	if len(unknown) == 0 {
		return "unknown (no data)"
	}
	names := unknown
	for _, m := range unknown {
		if m == model {
			names = []string{model}
			break
		}
	}
	escaped := make([]string, len(names))
	for i, n := range names {
		escaped[i] = Inline(n)
	}
	return "unknown (no price for " + strings.Join(escaped, ", ") + ")"
}

func changeLines(c evaluator.Change, withDiff bool) (lines []string, diffTitle, diff string) {
	switch {
	case c.ModelBefore == "":
		lines = append(lines, "model: "+codeSpan(c.ModelAfter))
	case c.ModelBefore == c.ModelAfter:
		lines = append(lines, "model: "+codeSpan(c.ModelAfter)+" (unchanged)")
	default:
		lines = append(lines, "model: "+codeSpan(c.ModelBefore)+" → "+codeSpan(c.ModelAfter))
	}
	for _, p := range c.Params {
		lines = append(lines, Inline(p))
	}
	counts := "+" + Thousands(c.PromptAdded) + " " + minus + Thousands(c.PromptRemoved) + " lines"
	switch {
	case len(c.PromptDiff) == 0 && c.PromptAdded == 0 && c.PromptRemoved == 0:
		lines = append(lines, "prompt: unchanged")
	case withDiff && len(c.PromptDiff) > 0:
		lines = append(lines, "prompt: "+counts+" (diff below)")
		diffTitle, diff = "Prompt diff ("+counts+")", block(diffText(c.PromptDiff), "diff")
	default:
		lines = append(lines, "prompt: "+counts+" (diff left out to fit; see the full report)")
	}
	for _, o := range c.Other {
		lines = append(lines, Inline(o))
	}
	if c.GoldenChanged {
		lines = append(lines, "golden set changed: both sides ran on the new set")
	}
	return lines, diffTitle, diff
}

func diffText(lines []evaluator.DiffLine) string {
	var b strings.Builder
	for _, l := range lines {
		switch l.Op {
		case evaluator.HunkOp:
			// A hunk header carries its own "@@" marks.
		case "":
			b.WriteByte(' ')
		default:
			b.WriteString(l.Op)
		}
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func judgeLine(j *evaluator.Calibration) string {
	if j == nil {
		return ""
	}
	var s string
	if j.N == 0 {
		s = "**Judge** " + codeSpan(j.Model) + ": no agreement with human ratings measured"
	} else {
		s = fmt.Sprintf("**Judge** %s against %s: accuracy %s, κ %s, TPR %s, TNR %s",
			codeSpan(j.Model), plural(j.N, "human rating", "human ratings"), rate(j.Accuracy),
			strconv.FormatFloat(j.Kappa, 'f', 2, 64), rate(j.TPR), rate(j.TNR))
	}
	if j.Errors > 0 {
		s += ", " + plural(j.Errors, "judge error", "judge errors")
	}
	if j.Trusted {
		s += " — trusted (minimum agreement " + rate(j.Min) + ")."
	} else {
		s += " — **not trusted** (minimum agreement " + rate(j.Min) + "): its verdicts are shown but do not count for the gate."
	}
	if note := Inline(j.Note); note != "" {
		r, n := utf8.DecodeRuneInString(note)
		s += " " + strings.ToUpper(string(r)) + note[n:]
		if !strings.HasSuffix(note, ".") {
			s += "."
		}
	}
	return s
}

func buildExamples(v *artifactView, a *evaluator.ArtifactReport, opts Options, lim limits) {
	if n := len(a.Worse); n > 0 {
		v.WorseSummary = "🔻 " + plural(n, "case", "cases") + " got worse (passed before, fail now)"
		shown := a.Worse
		if lim.worse >= 0 && len(shown) > lim.worse {
			shown = shown[:lim.worse]
		}
		for _, c := range shown {
			v.Worse = append(v.Worse, example(c, a.Repeats, lim.outputRunes))
		}
		switch rest := n - len(shown); {
		case len(shown) == 0:
			v.MoreWorse = seeFull(opts.DetailsURL)
		case rest > 0:
			v.MoreWorse = "… and " + Thousands(rest) + " more worse " + pluralWord(rest, "case", "cases") + ": " + seeFull(opts.DetailsURL)
		}
	}
	if n := len(a.Better); n > 0 {
		shown := a.Better
		if lim.better >= 0 && len(shown) > lim.better {
			shown = shown[:lim.better]
		}
		items := make([]string, len(shown))
		for i, c := range shown {
			items[i] = Inline(c.CaseID) + " (" + Inline(c.Category) + ")"
		}
		s := "**" + plural(n, "case", "cases") + " got better** (failed before, pass now)"
		if len(items) > 0 {
			s += ": " + strings.Join(items, ", ")
		}
		if rest := n - len(shown); rest > 0 {
			if len(items) > 0 {
				s += ", "
			} else {
				s += ": "
			}
			s += "… and " + Thousands(rest) + " more"
		}
		v.Better = s + "."
	}
}

func seeFull(detailsURL string) string {
	if detailsURL != "" {
		return "see the full report " + link(detailsURL)
	}
	return "see the full report (`promptgate gate --format json`)"
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func example(c evaluator.CaseDelta, repeats, outputRunes int) exampleView {
	reason := c.Reason
	if reason == "" {
		reason = strings.Join(c.Failed, "; ")
	}
	h := "**" + Inline(c.CaseID) + "** · " + Inline(c.Category)
	if reason != "" {
		h += " · failed: " + Inline(truncateRunes(reason, 500))
	}
	if c.Repeats > 0 {
		repeats = c.Repeats
	}
	e := exampleView{Header: h, BeforeLabel: "Before (passed):", AfterLabel: "After (failed):"}
	if repeats > 1 {
		e.BeforeLabel = fmt.Sprintf("Before (passed %d of %d):", c.BasePasses, repeats)
		e.AfterLabel = fmt.Sprintf("After (passed %d of %d):", c.HeadPasses, repeats)
	}
	e.Before, e.BeforeNote = output(c.BaseOutput, outputRunes)
	e.After, e.AfterNote = output(c.HeadOutput, outputRunes)
	return e
}

// output renders one model output as a code block, cut to limit runes.
func output(s string, limit int) (code, note string) {
	if strings.TrimSpace(s) == "" {
		return "_(empty output)_", ""
	}
	if n := utf8.RuneCountInString(s); limit > 0 && n > limit {
		s = truncateRunes(s, limit) + "…"
		note = "_(first " + Thousands(limit) + " of " + Thousands(n) + " characters)_"
	}
	return block(s, ""), note
}

// block is a code block without its final newline: the templates put the
// blank lines around it.
func block(s, lang string) string {
	return strings.TrimSuffix(CodeBlock(s, lang), "\n")
}

// callCount says how many model calls a side paid for. Zero calls with no
// errors means the cache answered everything: an unchanged baseline is not
// paid for twice.
func callCount(side string, n, errors int) string {
	switch {
	case n == 0 && errors == 0:
		return side + " served from cache: 0 calls"
	case n == 0:
		return side + ": 0 calls"
	}
	return side + ": " + plural(n, "call", "calls")
}

// nextSteps tells the reviewer what to do about this verdict.
func nextSteps(r *evaluator.Report) []string {
	var out []string
	problems := len(r.Problems) > 0
	for _, vc := range r.Versions {
		problems = problems || !vc.OK
	}
	if problems && r.Verdict != evaluator.Pass {
		out = append(out, "Fix the problems listed above and push; the gate runs again on the new commit.")
	}
	switch r.Verdict {
	case evaluator.Pass:
		s := "Review the diff; approval by a reviewer and merge is the gate."
		var tags []string
		for _, a := range r.Artifacts {
			tags = append(tags, codeSpan(registry.TagName(a.Name, a.HeadVersion)))
		}
		if len(tags) > 0 {
			s += " On merge the bot tags " + strings.Join(tags, ", ") + "."
		}
		out = append(out, s)
	case evaluator.Fail:
		regressed := false
		for _, a := range r.Artifacts {
			regressed = regressed || a.Verdict == evaluator.Fail
		}
		if regressed || !problems {
			out = append(out, "Fix the regression, or a reviewer with write access may accept it with the label `"+AcceptLabel+"`.")
		}
	case evaluator.Inconclusive:
		out = append(out, "Re-run (comment `"+RerunCommand+"`) once the provider is healthy; errors are not evidence.")
	default:
		out = append(out, "The gate did not reach a verdict; re-run it (comment `"+RerunCommand+"`).")
	}
	return out
}

// pointerLine describes one moved environment pointer: a deploy, a
// rollback, a canary started, moved or stopped.
func pointerLine(p evaluator.PointerChange) string {
	ver := func(v int) string {
		if v == 0 {
			return "none"
		}
		return fmt.Sprintf("v%d", v)
	}
	what := "deploy"
	switch {
	case p.To == 0:
		what = "pointer removed"
	case p.From == 0:
		what = "first deploy"
	case p.To < p.From:
		what = "rollback"
	case p.To == p.From:
		what = "canary"
	}
	line := fmt.Sprintf("`%s` in `%s`: %s → %s (%s)", Inline(p.Artifact), Inline(p.Environment), ver(p.From), ver(p.To), what)
	if p.CanaryFrom != 0 || p.CanaryTo != 0 {
		line += fmt.Sprintf("; canary %s → %s", ver(p.CanaryFrom), ver(p.CanaryTo))
		if p.CanaryTo != 0 {
			line += fmt.Sprintf(" at %s%% of traffic", number(p.CanaryWeight))
		}
	}
	return line
}
