package evaluator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestZZRates(t *testing.T) {
	const n = 1000
	rng := rand.New(rand.NewPCG(99, 1))
	fails, catFails := 0, 0
	for range n {
		r := simCompare(rng, simGoldenSet(rng))
		if r.Verdict == Fail {
			fails++
			for _, c := range r.Categories {
				if c.Regressed {
					catFails++
					break
				}
			}
		}
	}
	caught, dropped := 0, 0
	for pr := range n {
		set := simGoldenSet(rng)
		broken := fmt.Sprintf("cat-%d", pr%simCategories)
		k := 0
		for _, sc := range set {
			if sc.c.Category == broken && sc.pBase == 0.98 && k < 4 {
				sc.pBase, sc.pHead = 0.95, 0.05
				k++
			}
		}
		r := simCompare(rng, set)
		for _, c := range r.Categories {
			if c.Name == broken && -c.DeltaPP > 3 {
				dropped++
			}
		}
		for _, reason := range r.Reasons {
			if strings.HasPrefix(reason, fmt.Sprintf("category %q dropped", broken)) && r.Verdict == Fail && !strings.Contains(reason, "not failing") {
				caught++
				break
			}
		}
	}
	t.Logf("flaky=%d null fail %.3f (by category %.3f) power %.3f ceiling %.3f", simFlaky, float64(fails)/n, float64(catFails)/n, float64(caught)/n, float64(dropped)/n)
}
