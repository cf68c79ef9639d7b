package evaluator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// The simulations check the gate's statistics end to end through Compare:
// how often it fails a PR that changed nothing, and how often it catches
// one that broke a few cases of one category.

const (
	simPRs        = 100
	simCategories = 5
	simCases      = 25 // per category
	simRepeats    = 3
	simFlaky      = 5 // per category; the rest are stable
	simStableFail = 3 // per category: stable cases that almost always fail
)

type simCase struct {
	c          *registry.Case
	pBase      float64
	pHead      float64
	latencyMed float64 // ms
}

// simGoldenSet draws a golden set: per category simFlaky cases that pass
// with a probability between 0.5 and 0.8, simStableFail that pass with 0.02,
// and the rest with 0.98; both sides share the probabilities. Each case has
// its own typical latency.
func simGoldenSet(rng *rand.Rand) []*simCase {
	var out []*simCase
	for ci := range simCategories {
		cat := fmt.Sprintf("cat-%d", ci)
		for i := range simCases {
			var p float64
			switch {
			case i < simFlaky:
				p = 0.5 + 0.3*rng.Float64()
			case i < simFlaky+simStableFail:
				p = 0.02
			default:
				p = 0.98
			}
			out = append(out, &simCase{
				c:          &registry.Case{ID: fmt.Sprintf("%s-%02d", cat, i), Category: cat},
				pBase:      p,
				pHead:      p,
				latencyMed: 800 + 1600*rng.Float64(),
			})
		}
	}
	return out
}

// simRun draws one side's outcomes. Latency varies around the case's
// typical value; tokens vary a little, so cost and latency are noisy too.
func simRun(rng *rand.Rand, set []*simCase, head bool) []Outcome {
	var outs []Outcome
	for _, sc := range set {
		p := sc.pBase
		if head {
			p = sc.pHead
		}
		for rep := range simRepeats {
			o := Outcome{
				CaseID:       sc.c.ID,
				Category:     sc.c.Category,
				Repeat:       rep,
				Model:        "gpt-4o-2024-08-06",
				Output:       fmt.Sprintf("answer %d", rng.IntN(1000)),
				Pass:         rng.Float64() < p,
				InputTokens:  700 + rng.IntN(40),
				OutputTokens: 150 + rng.IntN(60),
				Latency:      time.Duration(sc.latencyMed*math.Exp(0.25*rng.NormFloat64())) * time.Millisecond,
			}
			if !o.Pass {
				o.Failed = []string{`contains "consultant"`}
			}
			outs = append(outs, o)
		}
	}
	return outs
}

func simCompare(rng *rand.Rand, set []*simCase) *ArtifactReport {
	cases := make([]*registry.Case, len(set))
	for i, sc := range set {
		cases[i] = sc.c
	}
	in := 2.5
	out := 10.0
	art := &registry.Artifact{Name: "sim", Version: 1, Model: "gpt-4o-2024-08-06"}
	head := *art
	head.Version = 2
	return Compare(CompareInput{
		Name:         "sim",
		Base:         art,
		Head:         &head,
		Cases:        cases,
		BaseOutcomes: simRun(rng, set, false),
		HeadOutcomes: simRun(rng, set, true),
		Repeats:      simRepeats,
		Prices:       map[string]registry.Price{"gpt-4o-2024-08-06": {Input: &in, Output: &out}},
	})
}

// TestSimNoChange: 100 PRs whose candidate behaves exactly like the
// baseline. The gate may fail at most 5 of them.
func TestSimNoChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261203, 1))
	fails := 0
	for pr := range simPRs {
		r := simCompare(rng, simGoldenSet(rng))
		if r.Verdict == Fail {
			fails++
			t.Logf("PR %d failed: %s", pr, strings.Join(r.Reasons, "; "))
		}
		if r.Verdict == Inconclusive {
			t.Errorf("PR %d inconclusive without errors: %v", pr, r.Reasons)
		}
	}
	t.Logf("no-change PRs failed: %d of %d", fails, simPRs)
	if fails > simPRs*5/100 {
		t.Errorf("gate failed %d of %d no-change PRs, want at most 5%%", fails, simPRs)
	}
}

// TestSimBrokenCases: 100 PRs in each of which 4 of the 25 cases of one
// category break (pass probability 0.95 → 0.05). The gate must fail at
// least 95 of them, naming that category.
func TestSimBrokenCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261203, 2))
	caught := 0
	for pr := range simPRs {
		set := simGoldenSet(rng)
		broken := fmt.Sprintf("cat-%d", pr%simCategories)
		n := 0
		for _, sc := range set {
			// Break 4 of the stable passing cases of the category.
			if sc.c.Category == broken && sc.pBase == 0.98 && n < 4 {
				sc.pBase, sc.pHead = 0.95, 0.05
				n++
			}
		}
		r := simCompare(rng, set)
		want := fmt.Sprintf("category %q dropped", broken)
		named := false
		for _, reason := range r.Reasons {
			if strings.HasPrefix(reason, want) && r.Verdict == Fail && !strings.Contains(reason, "not failing") {
				named = true
			}
		}
		if named {
			caught++
		} else {
			t.Logf("PR %d (%s broken) not caught: %s: %s", pr, broken, r.Verdict, strings.Join(r.Reasons, "; "))
		}
	}
	t.Logf("broken PRs failed naming the category: %d of %d", caught, simPRs)
	if caught < simPRs*95/100 {
		t.Errorf("gate caught %d of %d broken PRs, want at least 95%%", caught, simPRs)
	}
}
