package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.md from the current rendering")

func TestMarkdownGolden(t *testing.T) {
	tests := []struct {
		name string
		r    *evaluator.Report
		opts Options
	}{
		{"pass", passReport(), Options{}},
		{"fail", failReport(), Options{}},
		{"inconclusive", inconclusiveReport(), Options{}},
		{"problems", problemsReport(), Options{}},
		{"truncated", manyWorse(40, 1500), Options{MaxChars: 12000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Markdown(tt.r, tt.opts)
			path := filepath.Join("testdata", tt.name+".golden.md")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./report -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendering (go test ./report -update rewrites it):\n%s", path, firstDiff(string(want), got))
			}
			if max := tt.opts.MaxChars; max > 0 && utf8.RuneCountInString(got) > max {
				t.Errorf("%d characters, limit %d", utf8.RuneCountInString(got), max)
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl || i >= len(w) || i >= len(g) {
			return "line " + itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return ""
}

func itoa(n int) string { return Thousands(n) }

func TestMarkdownFail(t *testing.T) {
	md := Markdown(failReport(), Options{})
	if !strings.HasPrefix(md, Marker+"\n") {
		t.Errorf("does not start with the marker line:\n%.200s", md)
	}
	for _, want := range []string{
		"## ❌ promptgate: fail",
		"| 🔻 escalation | 24 | 87.5% | 70.8% | −16.7 | significant (p=0.004) · **drop over the 3 pp limit** |",
		"| **Overall** | 120 | 92.5% | 90.0% | −2.5 | not significant |",
		"| cost | $0.00367 | $0.00505 | +37.6% |",
		"unknown (no price for gpt-4.1-mini-2025-04-14)",
		"baseline served from cache: 0 calls",
		"```diff\n",
		"label `promptgate:accept-regression`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(md, "| cost | $0.000118 | $0 |") || strings.Contains(md, "$0 |") {
		t.Error("an unknown cost is shown as $0")
	}
	assertInert(t, md)
}

// assertInert checks that nothing hostile is live outside code blocks: no
// HTML, no mention, no issue reference, no heading that the output brought.
func assertInert(t *testing.T, md string) {
	t.Helper()
	outside := outsideFences(t, md)
	for _, bad := range []string{"<img", "<script", "@team", "#123", "||table"} {
		if strings.Contains(outside, bad) {
			t.Errorf("%q is live outside code blocks", bad)
		}
	}
	for _, line := range strings.Split(outside, "\n") {
		if strings.Contains(strings.TrimLeft(line, " #"), "injected heading") && strings.HasPrefix(strings.TrimLeft(line, " "), "#") {
			t.Errorf("an injected heading is live: %q", line)
		}
	}
	if n := strings.Count(outside, "<details>"); n != strings.Count(outside, "</details>") {
		t.Errorf("%d <details> but %d </details> outside code blocks", n, strings.Count(outside, "</details>"))
	}
}

// outsideFences returns the lines of md that are not inside fenced code
// blocks, following CommonMark: a block closes only on a line of the same
// fence character at least as long as the opening fence.
func outsideFences(t *testing.T, md string) string {
	t.Helper()
	var out []string
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence == "" {
			if n := leading(trimmed, '`'); n >= 3 && len(line)-len(trimmed) < 4 {
				fence = trimmed[:n]
				continue
			}
			out = append(out, line)
			continue
		}
		if n := leading(trimmed, '`'); n >= len(fence) && strings.TrimSpace(trimmed[n:]) == "" {
			fence = ""
		}
	}
	if fence != "" {
		t.Errorf("a code block is never closed")
	}
	return strings.Join(out, "\n")
}

func leading(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

func TestMarkdownHostileUserText(t *testing.T) {
	r := failReport()
	a := r.Artifacts[0]
	a.Categories[2].Name = "@team <b>escalation</b> | x"
	a.Worse[0].CaseID = "#123 @team"
	a.Worse[0].Category = "</details><script>"
	a.Worse[0].Reason = "```\n# injected heading\n```"
	a.Better[0].CaseID = "@team ping"
	a.Change.Params = []string{"<img src=x onerror=alert(1)>"}
	r.Unchanged = []string{"||table|break"}
	md := Markdown(r, Options{})
	assertInert(t, md)
	if !strings.Contains(md, "| 🔻 @\u200bteam &lt;b&gt;escalation&lt;/b&gt; \\| x | 24 |") {
		t.Errorf("escaped category row missing:\n%s", md)
	}
}

func TestMarkdownFitsManyWorseCases(t *testing.T) {
	r := manyWorse(5000, 3*1024)
	for _, tt := range []struct {
		name string
		opts Options
		max  int
	}{
		{"comment", Options{}, DefaultMaxChars},
		{"check run", Options{Full: true, MaxChars: CheckRunMaxChars}, CheckRunMaxChars},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md := Markdown(r, tt.opts)
			if n := utf8.RuneCountInString(md); n > tt.max {
				t.Fatalf("%d characters, limit %d", n, tt.max)
			}
			for _, want := range []string{
				Marker, "## ❌ promptgate: fail",
				"| 🔻 escalation | 24 | 87.5% | 70.8% | −16.7 |",
				"| **Overall** | 120 |",
				"**esc-0001** · escalation",
				"more worse cases: see the full report <https://github.com/northwind/support-config/runs/4243>",
				"### What happens next",
			} {
				if !strings.Contains(md, want) {
					t.Errorf("missing %q", want)
				}
			}
			assertInert(t, md)
		})
	}
}

func TestMarkdownManyCategories(t *testing.T) {
	r := failReport()
	a := r.Artifacts[0]
	for i := range 3000 {
		a.Categories = append(a.Categories, cat("generated-category-"+itoa(i), 10, 0.5, 0.5, evaluator.NoChange, 1))
	}
	md := Markdown(r, Options{MaxChars: 20000})
	if n := utf8.RuneCountInString(md); n > 20000 {
		t.Fatalf("%d characters, limit 20000", n)
	}
	for _, want := range []string{
		"| 🔻 escalation | 24 | 87.5% | 70.8% | −16.7 |",
		"| **Overall** | 120 | 92.5% | 90.0% | −2.5 |",
		"| … 2,955 more categories |",
		"### What happens next",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	assertInert(t, md)
}

func TestMarkdownHardCut(t *testing.T) {
	r := failReport()
	for i := range 400 {
		a := *r.Artifacts[0]
		a.Name = "artifact-" + itoa(i)
		r.Artifacts = append(r.Artifacts, &a)
	}
	md := Markdown(r, Options{MaxChars: 20000})
	if n := utf8.RuneCountInString(md); n > 20000 {
		t.Fatalf("%d characters, limit 20000", n)
	}
	for _, want := range []string{Marker, "## ❌ promptgate: fail", "does not fit in a comment", "### What happens next"} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	assertInert(t, md)
}

func TestMarkdownNextSteps(t *testing.T) {
	tests := []struct {
		name string
		r    *evaluator.Report
		want []string
	}{
		{"pass", passReport(), []string{"Review the diff; approval by a reviewer and merge is the gate. On merge the bot tags `support-assistant/v15`."}},
		{"fail", failReport(), []string{"Fix the regression, or a reviewer with write access may accept it with the label `promptgate:accept-regression`."}},
		{"inconclusive", inconclusiveReport(), []string{"Re-run (comment `/promptgate run`) once the provider is healthy; errors are not evidence."}},
		{"problems", problemsReport(), []string{"Fix the problems listed above and push"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := Markdown(tt.r, Options{})
			next := md[strings.Index(md, "### What happens next"):]
			for _, w := range tt.want {
				if !strings.Contains(next, w) {
					t.Errorf("What happens next lacks %q:\n%s", w, next)
				}
			}
			if tt.name == "problems" && strings.Contains(next, AcceptLabel) {
				t.Errorf("offers to accept a regression when there is none:\n%s", next)
			}
		})
	}
}

func TestMarkdownProblems(t *testing.T) {
	md := Markdown(problemsReport(), Options{})
	for _, want := range []string{
		"- `artifacts/support-assistant.yaml:6`: content changed since base version 15: version must be 16, not 15 — set `version: 16`",
		"- `artifacts/support-assistant.yaml:9:10`: params: unknown field \"temprature\" (did you mean \"temperature\"?)",
		"This PR edits `promptgate.yaml`; the gate ran under the base branch's rules",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(md, "billing-helper.yaml") {
		t.Error("a right version number is listed as a problem")
	}
}

func TestMarkdownMissingData(t *testing.T) {
	r := &evaluator.Report{
		Verdict: evaluator.Inconclusive,
		Artifacts: []*evaluator.ArtifactReport{{
			Name: "support-assistant", BaseVersion: 0, HeadVersion: 1, Verdict: evaluator.Inconclusive,
			Categories: []evaluator.CategoryDelta{{Name: "billing", N: 24, Evidence: evaluator.Insufficient, HeadErrors: 24}},
			Overall:    evaluator.CategoryDelta{Name: "overall", N: 24, Evidence: evaluator.Insufficient, HeadErrors: 24},
			Errors:     evaluator.ErrorCounts{Head: 24, HeadRate: 1, ByKind: map[evaluator.ErrorKind]int{evaluator.ErrCacheMiss: 24}},
			Change:     evaluator.Change{ModelAfter: "gpt-4o-2024-11-20"},
		}},
	}
	md := Markdown(r, Options{})
	for _, want := range []string{
		"### ⚠️ support-assistant v1 (new): inconclusive",
		"| billing | 24 | — | — | — | no data: every sample was an error | 0 / 24 |",
		"| cost | — | unknown (no data) | — |",
		"| latency p95 | — | — | — |",
		"cache\\_miss 24",
		"A new artifact: there is no baseline to compare against.",
		"**Model calls**: candidate: 0 calls\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
}

func TestMarkdownNoticeCountsTowardLimit(t *testing.T) {
	notice := "> ✅ **Regression accepted by @\u200breviewer** with the label `" + AcceptLabel + "`." + strings.Repeat(" padding", 100)
	md := Markdown(manyWorse(5000, 3*1024), Options{Notice: notice})
	if n := utf8.RuneCountInString(md); n > DefaultMaxChars {
		t.Fatalf("%d characters, limit %d", n, DefaultMaxChars)
	}
	if !strings.HasPrefix(md, Marker+"\n## ❌ promptgate: fail\n\n> ✅ **Regression accepted by") {
		t.Errorf("notice not under the headline:\n%.300s", md)
	}
}
