package drift

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
)

// A drift in a large golden set with long answers still fits one issue body,
// with the explanation and the list of dropped categories bounded.
func TestIssueBodyFitsGitHubLimit(t *testing.T) {
	ar := &evaluator.ArtifactReport{Name: "support-assistant", BaseVersion: 15, HeadVersion: 15, Verdict: evaluator.Fail, Repeats: 1}
	for c := range 60 {
		name := fmt.Sprintf("category-%02d-%s", c, strings.Repeat("é", 40))
		ar.Categories = append(ar.Categories, evaluator.CategoryDelta{Name: name, N: 50, Samples: 50,
			BasePassRate: 1, HeadPassRate: 0.1, DeltaPP: -90, PValue: 1e-9, Evidence: evaluator.Significant, Regressed: true, ThresholdPP: 3})
		for i := range 10 {
			ar.Worse = append(ar.Worse, evaluator.CaseDelta{CaseID: fmt.Sprintf("c%02d-%02d", c, i), Category: name,
				Reason: `contains "consultant"`, BaseOutput: strings.Repeat("a consultant will call you @team ", 200),
				HeadOutput: strings.Repeat("```</details> no ", 300), BasePasses: 1, Repeats: 1})
		}
	}
	ar.Overall = evaluator.CategoryDelta{Name: "overall", N: 3000, Samples: 3000, BasePassRate: 1, HeadPassRate: 0.1, DeltaPP: -90, Regressed: true}
	art := &registry.Artifact{Name: "support-assistant", Version: 15, Model: "gpt-4o-2024-08-06", Digest: "sha256:" + strings.Repeat("ab", 32)}
	now := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	body := issueBody(art, "production", ar, now.Add(-24*time.Hour), now)
	if n := utf8.RuneCountInString(body); n > 65536 {
		t.Fatalf("issue body has %d characters, over GitHub's 65,536", n)
	}
	if !strings.Contains(body, "changed the model behind the same name") || strings.Count(body, "→ 10.0% (−90.0 pp") != 30 || !strings.Contains(body, "… and 31 more") {
		t.Errorf("explanation or dropped categories cut:\n%.3000s", body)
	}
}
