package report

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
)

func TestCheckSummaryTitle(t *testing.T) {
	single := failReport()
	single.Artifacts = single.Artifacts[:1]
	single.Artifacts[0].Latency.DeltaP95Pct = ptr(0.4)
	tests := []struct {
		name string
		r    *evaluator.Report
		want string
	}{
		{"fail", single, "fail: escalation −16.7 pp, cost +38%"},
		{"fail, two artifacts", failReport(), "fail: support-assistant escalation −16.7 pp, cost +38%, p95 +7%"},
		{"pass", passReport(), "pass: no regression, cost −3%, p95 −3%"},
		{"inconclusive", inconclusiveReport(), "inconclusive: errors 0.0% → 26.7%"},
		{"problems", problemsReport(), "fail: 3 problems to fix"},
		{"nothing changed", &evaluator.Report{Verdict: evaluator.Pass}, "pass: no artifact changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, _ := CheckSummary(tt.r)
			if title != tt.want {
				t.Errorf("title = %q, want %q", title, tt.want)
			}
		})
	}
}

func TestCheckSummaryShort(t *testing.T) {
	r := failReport()
	for i := range 200 {
		r.Reasons = append(r.Reasons, "support-assistant: generated-category-"+itoa(i)+" dropped 9.0 pp (limit 3 pp)")
	}
	for _, r := range []*evaluator.Report{failReport(), passReport(), inconclusiveReport(), problemsReport(), r} {
		title, summary := CheckSummary(r)
		if n := utf8.RuneCountInString(summary); n > 1000 {
			t.Errorf("%s: summary is %d characters", title, n)
		}
		if n := utf8.RuneCountInString(title); n > 120 {
			t.Errorf("title is %d characters", n)
		}
	}
	_, summary := CheckSummary(failReport())
	for _, want := range []string{
		"**❌ fail**",
		"- support-assistant: escalation dropped 16.7 pp (limit 3 pp)",
		"- ❌ **support-assistant** v14 → v15: fail · overall 92.5% → 90.0% (−2.5 pp) · 5 worse, 2 better · cost per case +37.6% · p95 latency +7.4%",
		"- ✅ **billing-helper** v7 → v8: pass",
		"cost unknown",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	_, long := CheckSummary(r)
	if !strings.HasSuffix(long, "… see the full report below.") {
		t.Errorf("a cut summary does not say so:\n%s", long)
	}
}
