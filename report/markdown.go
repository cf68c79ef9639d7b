// Package report renders a gate report for people: the sticky PR comment
// (markdown), the check run's title and summary, and the JSON form that
// `promptgate gate --format json` prints.
package report

import (
	"embed"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
)

// Marker is the hidden first line of the sticky PR comment. The bot finds
// its own comment by it and edits that comment in place.
const Marker = "<!-- promptgate:report -->"

// Limits of GitHub's text fields, in characters.
const (
	// DefaultMaxChars is the longest issue or PR comment GitHub accepts.
	DefaultMaxChars = 65536
	// CheckRunMaxChars is the longest check run output text GitHub accepts.
	CheckRunMaxChars = 65535
)

// AcceptLabel is the PR label by which a reviewer with write access accepts
// a regression the gate found.
const AcceptLabel = "promptgate:accept-regression"

// RerunCommand is the PR comment that makes the bot run the gate again.
const RerunCommand = "/promptgate run"

// Options shape the markdown rendering.
type Options struct {
	// MaxChars bounds the result in characters (runes, as GitHub counts);
	// 0 means DefaultMaxChars.
	MaxChars int
	// DetailsURL is where the full report lives (the check run). When empty,
	// the report's own DetailsURL is used.
	DetailsURL string
	// Notice is markdown shown right under the headline, such as the bot's
	// "regression accepted" line. It counts toward MaxChars; the caller
	// escapes any user text in it (with Inline).
	Notice string
	// Full lifts the limits a PR comment keeps for readability (examples
	// shown, output length, better cases listed), as the check run's text
	// wants. MaxChars still applies.
	Full bool
}

//go:embed templates/*.md.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
}).ParseFS(templateFS, "templates/*.md.tmpl"))

// Markdown renders the report as the sticky PR comment; `promptgate gate
// --format markdown` prints exactly this. The comment never exceeds
// opts.MaxChars: when it would, the worse examples are shortened and then
// dropped, then the prompt diff; the verdict and the tables always stay.
func Markdown(r *evaluator.Report, opts Options) string {
	maxChars := opts.MaxChars
	if maxChars <= 0 {
		maxChars = DefaultMaxChars
	}
	if opts.DetailsURL == "" {
		opts.DetailsURL = r.DetailsURL
	}
	lim := startLimits(opts.Full)
	if s, ok := render(r, opts, lim, maxChars); ok {
		return s
	}
	return fit(r, opts, lim, maxChars)
}

// limits bound the parts of the comment whose length depends on how many
// cases changed. Markdown tightens them until the comment fits.
type limits struct {
	outputRunes   int // per model output; 0: whole
	worse         int // worse examples shown per artifact; -1: all
	better        int // better cases listed per artifact; -1: all
	problems      int // problems listed; -1: all
	categories    int // category rows per artifact; -1: all
	promptDiff    bool
	configDiff    bool
	errorExamples bool
}

// By default the comment shows a readable sample of the examples and points
// at the full report for the rest; Full shows everything that fits.
func startLimits(full bool) limits {
	if full {
		return limits{worse: -1, better: -1, problems: -1, categories: -1, promptDiff: true, configDiff: true, errorExamples: true}
	}
	return limits{outputRunes: 2000, worse: 25, better: 30, problems: -1, categories: -1, promptDiff: true, configDiff: true, errorExamples: true}
}

// fit tightens the limits one step at a time, in the order in which losing
// the content costs the reviewer least.
func fit(r *evaluator.Report, opts Options, lim limits, maxChars int) string {
	try := func() (string, bool) { return render(r, opts, lim, maxChars) }
	for _, n := range []int{1000, 500, 200} {
		if lim.outputRunes == 0 || n < lim.outputRunes {
			lim.outputRunes = n
			if s, ok := try(); ok {
				return s
			}
		}
	}
	if lim.better < 0 || lim.better > 10 {
		lim.better = 10
		if s, ok := try(); ok {
			return s
		}
	}
	// Worse examples: keep as many per artifact as fit.
	most := 0
	for _, a := range r.Artifacts {
		most = max(most, len(a.Worse))
	}
	if lim.worse >= 0 {
		most = min(most, lim.worse)
	}
	lim.worse = 0
	if s, ok := try(); ok {
		lo, hi, best := 1, most-1, s
		for lo <= hi {
			mid := (lo + hi) / 2
			lim.worse = mid
			if s, ok := try(); ok {
				best, lo = s, mid+1
			} else {
				hi = mid - 1
			}
		}
		return best
	}
	steps := []func(){
		func() { lim.better = 0 },
		func() { lim.promptDiff = false },
		func() { lim.configDiff, lim.errorExamples = false, false },
		func() { lim.problems = 20 },
		// Only a golden set with hundreds of categories gets here: keep the
		// rows that matter and the Overall row rather than cut the table.
		func() { lim.categories = 50 },
	}
	for _, step := range steps {
		step()
		if s, ok := try(); ok {
			return s
		}
	}
	return hardCut(r, opts, lim, maxChars)
}

// render executes the templates and reports whether the result fits.
func render(r *evaluator.Report, opts Options, lim limits, maxChars int) (string, bool) {
	body, footer := renderParts(r, opts, lim)
	s := body + "\n\n" + footer + "\n"
	return s, utf8.RuneCountInString(s) <= maxChars
}

func renderParts(r *evaluator.Report, opts Options, lim limits) (body, footer string) {
	v := buildComment(r, opts, lim)
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, "comment", v); err != nil {
		// The templates are fixed and tested; failing here is a bug.
		panic("report: " + err.Error())
	}
	body = b.String()
	b.Reset()
	if err := templates.ExecuteTemplate(&b, "next", v); err != nil {
		panic("report: " + err.Error())
	}
	return body, b.String()
}

// hardCut is the last resort, for reports too large even with every list at
// its shortest (dozens of artifacts): it cuts the body at a line boundary and
// keeps the verdict at the top and "What happens next" at the bottom. With
// every collapsible part already gone, no code block or <details> is left
// open.
func hardCut(r *evaluator.Report, opts Options, lim limits, maxChars int) string {
	body, footer := renderParts(r, opts, lim)
	note := "_… the rest of this report does not fit in a comment"
	if opts.DetailsURL != "" {
		note += ": see the full report " + link(opts.DetailsURL)
	}
	note += "._"
	budget := maxChars - utf8.RuneCountInString("\n\n"+note+"\n\n"+footer+"\n")
	if budget < 0 {
		budget = 0
	}
	body = truncateRunes(body, budget)
	if i := strings.LastIndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	s := strings.TrimRight(body, "\n") + "\n\n" + note + "\n\n" + footer + "\n"
	if utf8.RuneCountInString(s) > maxChars {
		s = truncateRunes(s, maxChars)
	}
	return s
}

// truncateRunes returns the first n runes of s.
func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// link renders a URL as an autolink when it is a plain http(s) URL, and as
// inert text otherwise.
func link(u string) string {
	if (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, " \t\r\n<>\"'`") {
		return "<" + u + ">"
	}
	return Inline(u)
}
