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
