package report

import (
	"strings"
	"testing"

	"github.com/promptgate/promptgate/evaluator"
)

func TestMarkdownShowsPointerMovesAndDeletions(t *testing.T) {
	r := &evaluator.Report{Verdict: evaluator.Pass, Reasons: []string{"only environment pointers move (3)"},
		Deleted: []string{"old-bot"},
		Pointers: []evaluator.PointerChange{
			{Environment: "production", Artifact: "support-assistant", From: 15, To: 14},
			{Environment: "production", Artifact: "billing-helper", From: 7, To: 7, CanaryTo: 8, CanaryWeight: 10},
			{Environment: "staging", Artifact: "new-bot", To: 1},
		}}
	md := Markdown(r, Options{})
	for _, want := range []string{
		"### Environments this PR moves",
		"`support-assistant` in `production`: v15 → v14 (rollback)",
		"`billing-helper` in `production`: v7 → v7 (canary); canary none → v8 at 10% of traffic",
		"`new-bot` in `staging`: none → v1 (first deploy)",
		"🗑️ Deleted: `old-bot`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestCostRowsWithoutData: a side with no usable sample shows no figures
// and no change, instead of "−100%".
func TestCostRowsWithoutData(t *testing.T) {
	base := 0.0025
	a := &evaluator.ArtifactReport{Name: "sa", BaseVersion: 1, HeadVersion: 2, Verdict: evaluator.Inconclusive, Repeats: 1,
		Overall: evaluator.CategoryDelta{Name: "overall", N: 10},
		Errors:  evaluator.ErrorCounts{Head: 10, HeadRate: 1},
		Cost:    evaluator.CostDelta{BaseInputTokens: 900, BaseOutputTokens: 50, BasePerCase: &base},
		Latency: evaluator.LatencyDelta{BaseP50ms: 500, BaseP95ms: 700},
		Change:  evaluator.Change{ModelBefore: "m-2024-01-01", ModelAfter: "m-2024-01-01"},
	}
	md := Markdown(&evaluator.Report{Verdict: evaluator.Inconclusive, Artifacts: []*evaluator.ArtifactReport{a}}, Options{})
	for _, want := range []string{"| input tokens | 900 | — | n/a |", "| latency p95 | 700 ms | — | n/a |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "−100") {
		t.Errorf("a side without data shows a −100%% change:\n%s", md)
	}
}
