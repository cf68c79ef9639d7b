package report

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
)

// Sizes of the check run's title and summary. GitHub allows more; these keep
// the title to one line in the checks list and the summary to a glance.
const (
	maxTitleRunes   = 120
	maxSummaryRunes = 1000
)

// CheckSummary returns the check run's title, such as
// "fail: escalation −16.7 pp, cost +38%", and a short markdown summary of at
// most 1,000 characters for its summary field. The full report goes in the
// check run's text (Markdown with Options.Full).
func CheckSummary(r *evaluator.Report) (title, summary string) {
	return checkTitle(r), checkSummary(r)
}

func checkTitle(r *evaluator.Report) string {
	multi := len(r.Artifacts) > 1
	var parts []string
	switch r.Verdict {
	case evaluator.Fail:
		for _, a := range r.Artifacts {
			if a.Verdict != evaluator.Fail {
				continue
			}
			var ap []string
			for _, c := range a.Categories {
				if c.Regressed {
					ap = append(ap, oneLine(c.Name)+" "+signed(c.DeltaPP, 1)+" pp")
				}
			}
			if a.Overall.Regressed {
				ap = append(ap, "overall "+signed(a.Overall.DeltaPP, 1)+" pp")
			}
			ap = append(ap, moved(a)...)
			if len(ap) > 0 && multi {
				ap[0] = oneLine(a.Name) + " " + ap[0]
			}
			parts = append(parts, ap...)
		}
		if n := problemCount(r); n > 0 {
			parts = append(parts, plural(n, "problem", "problems")+" to fix")
		}
	case evaluator.Pass:
		if len(r.Artifacts) == 0 {
			parts = append(parts, "no artifact changed")
			break
		}
		parts = append(parts, "no regression")
		for _, a := range r.Artifacts {
			ap := moved(a)
			if len(ap) > 0 && multi {
				ap[0] = oneLine(a.Name) + " " + ap[0]
			}
			parts = append(parts, ap...)
		}
	case evaluator.Inconclusive:
		for _, a := range r.Artifacts {
			e := a.Errors
			if e.Head == 0 && e.Base == 0 {
				continue
			}
			prefix := ""
			if multi {
				prefix = oneLine(a.Name) + " "
			}
			parts = append(parts, prefix+"errors "+rate(e.BaseRate)+" → "+rate(e.HeadRate))
		}
	}
	if len(parts) == 0 && len(r.Reasons) > 0 {
		parts = append(parts, oneLine(r.Reasons[0]))
	}
	title := string(r.Verdict)
	if title == "" {
		title = "unknown"
	}
	if len(parts) > 0 {
		title += ": " + strings.Join(parts, ", ")
	}
	if utf8.RuneCountInString(title) > maxTitleRunes {
		title = truncateRunes(title, maxTitleRunes-1) + "…"
	}
	return title
}

// moved names the cost and p95 latency changes that round to at least 1%.
func moved(a *evaluator.ArtifactReport) []string {
	var out []string
	if p := a.Cost.DeltaPct; p != nil && math.Abs(math.Round(*p)) >= 1 {
		out = append(out, "cost "+signed(*p, 0)+"%")
	}
	if p := p95Change(a.Latency); p != nil && math.Abs(math.Round(*p)) >= 1 {
		out = append(out, "p95 "+signed(*p, 0)+"%")
	}
	return out
}

func problemCount(r *evaluator.Report) int {
	n := len(r.Problems)
	for _, vc := range r.Versions {
		if !vc.OK {
			n++
		}
	}
	return n
}

// oneLine flattens text for the title, which GitHub shows as plain text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(inlineRune, s)), " ")
}

func checkSummary(r *evaluator.Report) string {
	var reasons, artifacts []string
	for _, s := range r.Reasons {
		reasons = append(reasons, "- "+Inline(s))
	}
	if n := problemCount(r); n > 0 {
		reasons = append(reasons, "- "+plural(n, "problem", "problems")+" to fix in the config repo")
	}
	for _, a := range r.Artifacts {
		artifacts = append(artifacts, "- "+artifactSummary(a))
	}
	if len(r.Unchanged) > 0 {
		artifacts = append(artifacts, "- unchanged, not run: "+plural(len(r.Unchanged), "artifact", "artifacts"))
	}
	const more = "\n\n… see the full report below."
	var b strings.Builder
	b.WriteString("**" + icon(r.Verdict) + " " + verdictWord(r.Verdict) + "**")
	used := utf8.RuneCountInString(b.String())
	for _, group := range [][]string{reasons, artifacts} {
		for i, l := range group {
			sep := "\n"
			if i == 0 {
				sep = "\n\n"
			}
			n := utf8.RuneCountInString(sep + l)
			if used+n+utf8.RuneCountInString(more) > maxSummaryRunes {
				return b.String() + more
			}
			b.WriteString(sep + l)
			used += n
		}
	}
	return b.String()
}

func artifactSummary(a *evaluator.ArtifactReport) string {
	var s strings.Builder
	s.WriteString(icon(a.Verdict) + " **" + Inline(a.Name) + "** ")
	if a.BaseVersion == 0 {
		s.WriteString("v" + strconv.Itoa(a.HeadVersion) + " (new): ")
	} else {
		s.WriteString("v" + strconv.Itoa(a.BaseVersion) + " → v" + strconv.Itoa(a.HeadVersion) + ": ")
	}
	s.WriteString(verdictWord(a.Verdict))
	o := a.Overall
	if o.Samples > 0 || o.N == 0 {
		s.WriteString(" · overall " + rate(o.BasePassRate) + " → " + rate(o.HeadPassRate) + " (" + signed(o.DeltaPP, 1) + " pp)")
	}
	s.WriteString(" · " + Thousands(len(a.Worse)) + " worse, " + Thousands(len(a.Better)) + " better")
	if a.Cost.DeltaPct != nil {
		s.WriteString(" · cost per case " + deltaPct(a.Cost.DeltaPct))
	} else if a.Cost.BasePerCase == nil || a.Cost.HeadPerCase == nil {
		s.WriteString(" · cost unknown")
	}
	if p := p95Change(a.Latency); p != nil {
		s.WriteString(" · p95 latency " + deltaPct(p))
	}
	if a.Errors.Base > 0 || a.Errors.Head > 0 {
		s.WriteString(" · errors " + Thousands(a.Errors.Base) + " → " + Thousands(a.Errors.Head))
	}
	return s.String()
}
