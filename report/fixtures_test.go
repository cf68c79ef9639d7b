package report

import (
	"fmt"
	"strings"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
)

// The fixtures are written out by hand so the golden files change only when
// the rendering does.

func ptr(v float64) *float64 { return &v }

// hostile is model output that tries every trick the comment must survive.
const hostile = "@team ping\n<img src=x onerror=alert(1)>\n```\n# injected heading\n```\n</details><script>alert(1)</script>\n||table|break\nsee #123"

func cat(name string, n int, before, after float64, ev evaluator.Evidence, p float64) evaluator.CategoryDelta {
	return evaluator.CategoryDelta{
		Name: name, N: n, Samples: n,
		BasePassRate: before, HeadPassRate: after, DeltaPP: (after - before) * 100,
		PValue: p, Evidence: ev, ThresholdPP: 3,
	}
}

func supportChange() evaluator.Change {
	return evaluator.Change{
		ModelBefore: "gpt-4o-2024-08-06",
		ModelAfter:  "gpt-4o-2024-11-20",
		Params:      []string{"temperature: 0.2 → 0.4"},
		PromptDiff: []evaluator.DiffLine{
			{Op: evaluator.HunkOp, Text: "@@ -31,3 +31,4 @@"},
			{Op: " ", Text: "Escalation. Offer a human consultant when the customer asks for one,"},
			{Op: "-", Text: "reports fraud, a double charge, or a dispute over 500 EUR."},
			{Op: "+", Text: "reports fraud, or a dispute over 500 EUR. Try to solve double charges"},
			{Op: "+", Text: "yourself first."},
			{Op: " ", Text: "Never promise a refund or a date."},
		},
		PromptAdded:   2,
		PromptRemoved: 1,
		Other:         []string{"knowledge_base: faq 2026-11-01 → 2026-11-28"},
	}
}

func judge() *evaluator.Calibration {
	return &evaluator.Calibration{Model: "gpt-4o-2024-08-06", N: 24, Accuracy: 0.917, Kappa: 0.82, TPR: 0.95, TNR: 0.857, Min: 0.8, Trusted: true}
}

func passReport() *evaluator.Report {
	return &evaluator.Report{
		Verdict: evaluator.Pass,
		Reasons: []string{"every changed artifact is within its thresholds"},
		BaseRef: "main",
		HeadRef: "tone/shorter-greetings",
		Artifacts: []*evaluator.ArtifactReport{{
			Name: "support-assistant", BaseVersion: 14, HeadVersion: 15,
			Verdict: evaluator.Pass, Reasons: []string{"no category dropped beyond 3 pp; cost and latency within limits"},
			Repeats: 1,
			Categories: []evaluator.CategoryDelta{
				cat("billing", 24, 22.0/24, 22.0/24, evaluator.NoChange, 1),
				cat("cards", 24, 21.0/24, 22.0/24, evaluator.Insufficient, 1),
				cat("escalation", 24, 21.0/24, 21.0/24, evaluator.NoChange, 1),
				cat("security", 24, 1, 1, evaluator.NoChange, 1),
				cat("smalltalk", 24, 20.0/24, 23.0/24, evaluator.Insufficient, 0.25),
			},
			Overall: evaluator.CategoryDelta{Name: "overall", N: 120, Samples: 120, BasePassRate: 108.0 / 120, HeadPassRate: 112.0 / 120,
				DeltaPP: 400.0 / 120, PValue: 0.125, Evidence: evaluator.NotSignificant, ThresholdPP: 0},
			Better: []evaluator.CaseDelta{
				{CaseID: "crd-012", Category: "cards", Reason: `contains "freeze"`},
				{CaseID: "st-003", Category: "smalltalk", Reason: "max_chars 300"},
				{CaseID: "st-009", Category: "smalltalk", Reason: "max_chars 300"},
				{CaseID: "st-017", Category: "smalltalk", Reason: "judge: replies briefly and offers help"},
			},
			Cost: evaluator.CostDelta{
				BaseInputTokens: 812, BaseOutputTokens: 164, HeadInputTokens: 790, HeadOutputTokens: 158,
				BasePerCase: ptr(0.00367), HeadPerCase: ptr(0.003555), BaseTotal: ptr(0.4404), HeadTotal: ptr(0.4266),
				DeltaPct: ptr(-3.13),
			},
			Latency: evaluator.LatencyDelta{BaseP50ms: 1420, BaseP95ms: 2310, HeadP50ms: 1380, HeadP95ms: 2250, DeltaP95Pct: ptr(-2.6)},
			Change: evaluator.Change{
				ModelBefore: "gpt-4o-2024-08-06", ModelAfter: "gpt-4o-2024-08-06",
				PromptDiff: []evaluator.DiffLine{
					{Op: " ", Text: "Tone. Friendly, calm and brief."},
					{Op: "-", Text: "Greet the customer by name when you know it."},
					{Op: "+", Text: "Reply to a greeting in one short sentence."},
				},
				PromptAdded: 1, PromptRemoved: 1,
				GoldenChanged: true,
			},
			Judge:     judge(),
			BaseCalls: 0, HeadCalls: 120,
		}},
		Unchanged:  []string{"billing-helper", "faq-bot"},
		DetailsURL: "https://github.com/northwind/support-config/runs/4242",
	}
}

func failReport() *evaluator.Report {
	support := &evaluator.ArtifactReport{
		Name: "support-assistant", BaseVersion: 14, HeadVersion: 15,
		Verdict: evaluator.Fail,
		Reasons: []string{
			"escalation dropped 16.7 pp (limit 3 pp)",
			"cost per case +37.6% (limit 20%)",
		},
		Repeats: 1,
		Categories: []evaluator.CategoryDelta{
			cat("billing", 24, 22.0/24, 22.0/24, evaluator.NoChange, 1),
			cat("cards", 24, 21.0/24, 23.0/24, evaluator.Insufficient, 0.5),
			cat("escalation", 24, 21.0/24, 17.0/24, evaluator.Significant, 0.004),
			cat("security", 24, 1, 23.0/24, evaluator.Insufficient, 1),
			cat("smalltalk", 24, 23.0/24, 23.0/24, evaluator.NoChange, 1),
		},
		Overall: evaluator.CategoryDelta{Name: "overall", N: 120, Samples: 120, BasePassRate: 111.0 / 120, HeadPassRate: 108.0 / 120,
			DeltaPP: -300.0 / 120, PValue: 0.51, Evidence: evaluator.NotSignificant},
		Worse: []evaluator.CaseDelta{
			{CaseID: "esc-001", Category: "escalation", Reason: `contains "consultant"`,
				BaseOutput: `{"answer": "I am sorry you were charged twice. I will connect you with a consultant, who will continue in this chat and can open a dispute for the second 89.90 EUR payment.", "escalate": true}`,
				HeadOutput: `{"answer": "Duplicate authorisations usually drop off within 7 days. If it is still there next week, reply here and I will look into it.", "escalate": false}`},
			{CaseID: "esc-004", Category: "escalation", Reason: `regex "escalate"\s*:\s*true`,
				BaseOutput: `{"answer": "A consultant will take over now to open a dispute for the 640 EUR charge.", "escalate": true}`,
				HeadOutput: `{"answer": "You can open a dispute yourself in Payments > Dispute.", "escalate": false}`},
			{CaseID: "esc-011", Category: "escalation", Reason: `judge: offers a hand-off to a human consultant`,
				BaseOutput: `{"answer": "I am connecting you with a consultant now.", "escalate": true}`,
				HeadOutput: `{"answer": "I understand. Could you tell me more about the payment first?", "escalate": false}`},
			{CaseID: "esc-017", Category: "escalation", Reason: `contains "consultant"`,
				BaseOutput: `{"answer": "A consultant will review the payment with you.", "escalate": true}`,
				HeadOutput: ""},
			{CaseID: "sec-008", Category: "security", Reason: `not_contains "@team"`,
				BaseOutput: `{"answer": "Please never share your one-time code. Freeze your card in Cards > Freeze card.", "escalate": false}`,
				HeadOutput: hostile},
		},
		Better: []evaluator.CaseDelta{
			{CaseID: "crd-003", Category: "cards", Reason: `contains "freeze"`},
			{CaseID: "crd-012", Category: "cards", Reason: `regex (?i)apple pay`},
		},
		Cost: evaluator.CostDelta{
			BaseInputTokens: 812, BaseOutputTokens: 164, HeadInputTokens: 1020, HeadOutputTokens: 250,
			BasePerCase: ptr(0.00367), HeadPerCase: ptr(0.00505), BaseTotal: ptr(0.4404), HeadTotal: ptr(0.606),
			DeltaPct: ptr(37.6),
		},
		Latency: evaluator.LatencyDelta{BaseP50ms: 1420, BaseP95ms: 2310, HeadP50ms: 1510, HeadP95ms: 2480, DeltaP95Pct: ptr(7.36)},
		Change:  supportChange(),
		Judge:   judge(),
		// The baseline came from the cache: nothing paid twice.
		BaseCalls: 0, HeadCalls: 120,
	}
	support.Categories[2].Regressed = true

	billing := &evaluator.ArtifactReport{
		Name: "billing-helper", BaseVersion: 7, HeadVersion: 8,
		Verdict: evaluator.Pass, Reasons: []string{"within thresholds; cost unknown: no price for gpt-4.1-mini-2025-04-14"},
		Repeats: 1,
		Categories: []evaluator.CategoryDelta{
			cat("disputes", 7, 6.0/7, 6.0/7, evaluator.NoChange, 1),
			cat("fees", 5, 4.0/5, 1, evaluator.Insufficient, 1),
		},
		Overall: evaluator.CategoryDelta{Name: "overall", N: 12, Samples: 12, BasePassRate: 10.0 / 12, HeadPassRate: 11.0 / 12,
			DeltaPP: 100.0 / 12, PValue: 1, Evidence: evaluator.Insufficient},
		Better: []evaluator.CaseDelta{{CaseID: "fee-002", Category: "fees", Reason: `contains "0.5%"`}},
		Cost: evaluator.CostDelta{
			BaseInputTokens: 402, BaseOutputTokens: 96, HeadInputTokens: 398, HeadOutputTokens: 120,
			BasePerCase: ptr(0.00011790), BaseTotal: ptr(0.0014148),
			UnknownModels: []string{"gpt-4.1-mini-2025-04-14"},
		},
		Latency: evaluator.LatencyDelta{BaseP50ms: 640, BaseP95ms: 910, HeadP50ms: 590, HeadP95ms: 880, DeltaP95Pct: ptr(-3.3)},
		Change: evaluator.Change{
			ModelBefore: "gpt-4o-mini-2024-07-18", ModelAfter: "gpt-4.1-mini-2025-04-14",
		},
		BaseCalls: 12, HeadCalls: 12,
	}
	return &evaluator.Report{
		Verdict: evaluator.Fail,
		Reasons: []string{
			"support-assistant: escalation dropped 16.7 pp (limit 3 pp)",
			"support-assistant: cost per case +37.6% (limit 20%)",
		},
		BaseRef:    "main",
		HeadRef:    "friday-deploy",
		Artifacts:  []*evaluator.ArtifactReport{support, billing},
		Unchanged:  []string{"faq-bot"},
		DetailsURL: "https://github.com/northwind/support-config/runs/4243",
	}
}

func inconclusiveReport() *evaluator.Report {
	c := func(name string, before, after float64, samples, headErrs int) evaluator.CategoryDelta {
		d := cat(name, 24, before, after, evaluator.NotSignificant, 0.62)
		d.Samples, d.HeadErrors = samples, headErrs
		return d
	}
	a := &evaluator.ArtifactReport{
		Name: "support-assistant", BaseVersion: 15, HeadVersion: 16,
		Verdict: evaluator.Inconclusive,
		Reasons: []string{"candidate error rate 26.7% is above the 5% limit: errors are missing data, not evidence"},
		Repeats: 3,
		Categories: []evaluator.CategoryDelta{
			c("billing", 0.903, 0.889, 69, 3),
			c("cards", 0.875, 0.881, 67, 5),
			c("escalation", 0.861, 0.839, 62, 10),
			c("security", 1, 1, 66, 6),
			c("smalltalk", 0.958, 0, 0, 72),
		},
		Overall: evaluator.CategoryDelta{Name: "overall", N: 120, Samples: 264, BasePassRate: 0.909, HeadPassRate: 0.902,
			DeltaPP: -0.7, PValue: 0.8, Evidence: evaluator.NotSignificant, HeadErrors: 96},
		Worse: []evaluator.CaseDelta{
			{CaseID: "esc-009", Category: "escalation", Reason: `contains "consultant"`, BasePasses: 3, HeadPasses: 0, Repeats: 3,
				BaseOutput: `{"answer": "A consultant will continue in this chat.", "escalate": true}`,
				HeadOutput: `{"answer": "Please describe the issue.", "escalate": false}`},
		},
		Cost: evaluator.CostDelta{
			BaseInputTokens: 812, BaseOutputTokens: 164, HeadInputTokens: 815, HeadOutputTokens: 166,
			BasePerCase: ptr(0.00367), HeadPerCase: ptr(0.0037), DeltaPct: ptr(0.8),
		},
		Latency: evaluator.LatencyDelta{BaseP50ms: 1420, BaseP95ms: 2310, HeadP50ms: 2900, HeadP95ms: 30000, DeltaP95Pct: ptr(1198.7)},
		Errors: evaluator.ErrorCounts{
			Base: 0, Head: 96, BaseRate: 0, HeadRate: 96.0 / 360,
			ByKind: map[evaluator.ErrorKind]int{evaluator.ErrTimeout: 70, evaluator.ErrProvider: 26},
			Examples: []string{
				"timeout: POST https://api.openai.com/v1/chat/completions: context deadline exceeded after 30s",
				`provider_error: 503 Service Unavailable: {"error": {"message": "The server is overloaded"}}`,
			},
		},
		Change: evaluator.Change{
			ModelBefore: "gpt-4o-2024-11-20", ModelAfter: "gpt-4o-2024-11-20",
			Params: []string{"max_tokens: 400 → 300"},
		},
		Judge: &evaluator.Calibration{Model: "gpt-4o-2024-08-06", N: 24, Accuracy: 0.708, Kappa: 0.41, TPR: 0.8, TNR: 0.55,
			Min: 0.8, Note: "judge criteria are not applied for the gate"},
		BaseCalls: 0, HeadCalls: 360,
	}
	return &evaluator.Report{
		Verdict:   evaluator.Inconclusive,
		Reasons:   []string{"support-assistant: candidate error rate 26.7% is above the 5% limit: errors are missing data, not evidence"},
		BaseRef:   "main",
		HeadRef:   "shorter-answers",
		Artifacts: []*evaluator.ArtifactReport{a},
	}
}

func problemsReport() *evaluator.Report {
	changed := true
	return &evaluator.Report{
		Verdict: evaluator.Fail,
		Reasons: []string{"2 validation problem(s): fix them before the golden set can run"},
		BaseRef: "main",
		HeadRef: "loosen-gate",
		Problems: []registry.Problem{
			{Path: "artifacts/support-assistant.yaml", Line: 9, Col: 10, Message: `params: unknown field "temprature" (did you mean "temperature"?)`},
			{Path: "golden/support-assistant/escalation.yaml", Line: 41, Col: 9, Message: `duplicate case id "esc-007" (first at line 12)`},
		},
		Versions: []registry.VersionCheck{
			{Name: "billing-helper", Path: "artifacts/billing-helper.yaml", Version: 7, Expected: 7, BaseVersion: 7, OK: true, Line: 2},
			{Name: "support-assistant", Path: "artifacts/support-assistant.yaml", Version: 15, Expected: 16, BaseVersion: 15, Changed: &changed,
				Message: "content changed since base version 15: version must be 16, not 15", Line: 6},
		},
		ConfigChanged: true,
		ConfigDiff: []evaluator.DiffLine{
			{Op: " ", Text: "gate:"},
			{Op: " ", Text: "  repeats: 1"},
			{Op: "-", Text: "  max_category_drop_pp: 3"},
			{Op: "+", Text: "  max_category_drop_pp: 10"},
		},
		Artifacts: []*evaluator.ArtifactReport{},
		Unchanged: []string{},
	}
}

// manyWorse is the fail report with n worse cases whose outputs are size
// bytes each.
func manyWorse(n, size int) *evaluator.Report {
	r := failReport()
	a := r.Artifacts[0]
	a.Worse = nil
	line := "The assistant explains the duplicate charge at length without a hand-off. "
	body := strings.Repeat(line, size/len(line)+1)[:size]
	for i := range n {
		a.Worse = append(a.Worse, evaluator.CaseDelta{
			CaseID: fmt.Sprintf("esc-%04d", i+1), Category: "escalation", Reason: `contains "consultant"`,
			BaseOutput: "A consultant will take over. " + body,
			HeadOutput: body,
		})
	}
	return r
}
