package evaluator

import (
	"math"
	"slices"
)

// Alpha is the gate's significance level: the most it allows for the chance
// that a PR which changed nothing has any category, or the overall pass
// rate, called a significant regression.
const Alpha = 0.05

// McNemarExact is the exact two-sided McNemar test on the discordant pairs
// of a paired comparison: b pairs passed only on one side, c only on the
// other. Under no change each discordant pair is a fair coin, so the p-value
// is 2·P(X ≤ min(b, c)) for X ~ Binomial(b+c, ½), capped at 1.
//
// The binomial tail is summed in log space so that thousands of discordant
// pairs neither overflow the binomial coefficients nor underflow 2^-n.
// The gate's own test, StratifiedExact, is the one-sided form of this one
// when every case runs once.
func McNemarExact(b, c int) float64 {
	if b < 0 || c < 0 {
		return 1
	}
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	if 2*k == n {
		// The observed split is the most likely one: the tail holds at least half the mass.
		return 1
	}
	logHalfN := float64(n) * math.Log(0.5)
	lgN := logGamma(float64(n + 1))
	// log-sum-exp over i = 0..k of log C(n, i) + n·log ½; the largest term is i = k.
	maxTerm := lgN - logGamma(float64(k+1)) - logGamma(float64(n-k+1)) + logHalfN
	sum := 0.0
	for i := 0; i <= k; i++ {
		t := lgN - logGamma(float64(i+1)) - logGamma(float64(n-i+1)) + logHalfN
		sum += math.Exp(t - maxTerm)
	}
	p := 2 * math.Exp(maxTerm+math.Log(sum))
	return math.Min(1, p)
}

func logGamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// Holm adjusts a family of p-values with the Holm–Bonferroni step-down
// method, which bounds the chance of any false rejection in the family by
// alpha whatever the dependence between the tests. The result is in the
// input order; an adjusted p-value below alpha is a rejection.
func Holm(ps []float64) []float64 {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, m)
	running := 0.0
	for rank, i := range idx {
		adj := math.Min(1, float64(m-rank)*ps[i])
		// Step-down: an adjusted p-value is never below one ranked before it.
		running = math.Max(running, adj)
		out[i] = running
	}
	return out
}

// Percentile returns the p-th percentile (0–100) of xs with linear
// interpolation between the closest ranks (the method of NumPy's default and
// of spreadsheet PERCENTILE.INC). It returns 0 for no values and does not
// modify xs.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	p = math.Max(0, math.Min(100, p))
	h := float64(len(s)-1) * p / 100
	lo := int(math.Floor(h))
	hi := int(math.Ceil(h))
	return s[lo] + (h-float64(lo))*(s[hi]-s[lo])
}

// Agreement summarises a 2×2 table of judge verdicts against human ratings.
type Agreement struct {
	// TP: both pass; FN: human pass, judge fail; FP: human fail, judge pass; TN: both fail.
	TP, FN, FP, TN int
}

// N is the number of rated outputs in the table.
func (a Agreement) N() int { return a.TP + a.FN + a.FP + a.TN }

// Accuracy is the share of outputs on which judge and human agree.
func (a Agreement) Accuracy() float64 {
	if a.N() == 0 {
		return 0
	}
	return float64(a.TP+a.TN) / float64(a.N())
}

// Kappa is Cohen's kappa: agreement corrected for the agreement two raters
// with these pass rates would reach by chance. When chance agreement is
// total (judge and humans each put every output in the same single class)
// kappa is undefined; it is reported as 0 then, since such a table says
// nothing about whether the judge can tell pass from fail.
func (a Agreement) Kappa() float64 {
	n := float64(a.N())
	if n == 0 {
		return 0
	}
	po := float64(a.TP+a.TN) / n
	humanPass := float64(a.TP+a.FN) / n
	judgePass := float64(a.TP+a.FP) / n
	pe := humanPass*judgePass + (1-humanPass)*(1-judgePass)
	if pe >= 1 {
		return 0
	}
	return (po - pe) / (1 - pe)
}

// TPR is the share of human-passed outputs the judge also passed.
func (a Agreement) TPR() float64 { return safeRatio(a.TP, a.TP+a.FN) }

// TNR is the share of human-failed outputs the judge also failed.
func (a Agreement) TNR() float64 { return safeRatio(a.TN, a.TN+a.FP) }

func safeRatio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// Stratum is one case in a paired comparison: N repeats gave a verdict on
// both sides, and BasePass and HeadPass of them passed on each side.
type Stratum struct {
	N, BasePass, HeadPass int
}

// Resolution of StratifiedExact's statistic: each case's evidence is scored
// in steps of at most 1/maxScoreScale of a natural-log unit, coarser when
// needed to keep the null distribution within its support cap, which shrinks
// with the number of cases so that the convolution stays near scoreWork
// operations. A coarser score is still an exact test, of a slightly blunter
// statistic.
const (
	maxScoreScale = 32
	minSupport    = 1 << 12
	maxSupport    = 1 << 15
	scoreWork     = 1 << 26
)

// StratifiedExact tests whether the head passes less (pWorse) or more
// (pBetter) often than the base, one-sided each, with cases as strata.
//
// Why this test. Under no change a case's pass probability is the same on
// both sides, and its repeats are independent draws, so its 2N verdicts are
// exchangeable: given their total s, the head's passes follow
// Hypergeometric(2N, s, N) whatever the case's own pass probability is.
// The test is exact conditional on those totals and needs no assumption
// about how pass probabilities vary across cases. Each case's evidence is
// its one-sided conditional p-value, and the statistic sums their negative
// logarithms (Fisher's combination). The sum weighs a case that broke in
// every repeat (3 of 3 → 0 of 3) far above a flaky case that moved by one,
// which a plain count of passes cannot: that is what lets a few reliably
// broken cases stand out against many noisy ones. The statistic is scored
// on a fine integer grid so its null distribution is computed exactly by
// convolution rather than sampled.
//
// With N = 1 throughout it is the exact McNemar test: 2·min(pWorse,
// pBetter) equals McNemarExact on the discordant pairs.
//
// minP is the smallest one-sided p-value these totals allow (the same in
// both directions); when 2·minP is not below the significance level no
// outcome could have been significant, which is "insufficient evidence".
func StratifiedExact(strata []Stratum) (pWorse, pBetter, minP float64) {
	type scored struct {
		pmf           []float64
		worse, better []int // integer scores per head count, from hmin
		obs           int   // observed head count - hmin
	}
	var ss []scored
	var worseLog, betterLog [][]float64
	total := 0.0
	for _, s := range strata {
		passes := s.BasePass + s.HeadPass
		hmin, hmax := max(0, passes-s.N), min(passes, s.N)
		if s.N <= 0 || hmin == hmax || s.HeadPass < hmin || s.HeadPass > hmax {
			continue // one arrangement only: the case carries no evidence either way
		}
		pmf := hypergeometric(2*s.N, passes, s.N, hmin, hmax)
		w := make([]float64, len(pmf))
		b := make([]float64, len(pmf))
		acc := 0.0
		for j := range pmf {
			acc += pmf[j]
			w[j] = -math.Log(math.Min(1, acc)) // -log P(H <= h)
		}
		acc = 0
		for j := len(pmf) - 1; j >= 0; j-- {
			acc += pmf[j]
			b[j] = -math.Log(math.Min(1, acc)) // -log P(H >= h)
		}
		total += w[0]
		ss = append(ss, scored{pmf: pmf, obs: s.HeadPass - hmin})
		worseLog = append(worseLog, w)
		betterLog = append(betterLog, b)
	}
	if len(ss) == 0 {
		return 1, 1, 1
	}
	support := float64(min(maxSupport, max(minSupport, scoreWork/len(ss))))
	scale := math.Min(maxScoreScale, support/total)
	round := func(xs []float64) []int {
		out := make([]int, len(xs))
		for j, x := range xs {
			out[j] = int(math.Round(scale * x))
		}
		return out
	}
	for i := range ss {
		ss[i].worse = round(worseLog[i])
		ss[i].better = round(betterLog[i])
	}
	tail := func(score func(scored) []int) (p, top float64) {
		dist := []float64{1}
		observed := 0
		for _, s := range ss {
			sc := score(s)
			maxSc := slices.Max(sc)
			next := make([]float64, len(dist)+maxSc)
			for v, a := range dist {
				if a == 0 {
					continue
				}
				for j, q := range s.pmf {
					next[v+sc[j]] += a * q
				}
			}
			dist = next
			observed += sc[s.obs]
		}
		for v := len(dist) - 1; v >= observed; v-- {
			p += dist[v]
		}
		return math.Min(1, p), dist[len(dist)-1]
	}
	pWorse, minW := tail(func(s scored) []int { return s.worse })
	pBetter, minB := tail(func(s scored) []int { return s.better })
	return pWorse, pBetter, math.Min(minW, minB)
}

// hypergeometric returns P(X = h) for h in [hmin, hmax], X the successes in
// n draws without replacement from a population of size pop holding k
// successes.
func hypergeometric(pop, k, n, hmin, hmax int) []float64 {
	logC := func(a, b int) float64 {
		return logGamma(float64(a+1)) - logGamma(float64(b+1)) - logGamma(float64(a-b+1))
	}
	den := logC(pop, n)
	out := make([]float64, hmax-hmin+1)
	for h := hmin; h <= hmax; h++ {
		out[h-hmin] = math.Exp(logC(k, h) + logC(pop-k, n-h) - den)
	}
	return out
}
