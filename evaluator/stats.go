package evaluator

import (
	"math"
	"slices"
)

// Alpha is the significance level of the gate's paired tests.
const Alpha = 0.05

// McNemarExact is the exact two-sided McNemar test on the discordant pairs
// of a paired comparison: b pairs passed only on one side, c only on the
// other. Under no change each discordant pair is a fair coin, so the p-value
// is 2·P(X ≤ min(b, c)) for X ~ Binomial(b+c, ½), capped at 1.
//
// The binomial tail is summed in log space so that thousands of discordant
// pairs neither overflow the binomial coefficients nor underflow 2^-n.
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

// MinDiscordant is the fewest discordant pairs with which the exact McNemar
// test can reach p < alpha at all: with n pairs the smallest possible
// p-value is 2·2^-n (every pair on one side). Below it a change can only be
// reported as insufficient evidence. For alpha 0.05 it is 6.
func MinDiscordant(alpha float64) int {
	if alpha <= 0 {
		return math.MaxInt
	}
	n := 1
	for 2*math.Pow(0.5, float64(n)) >= alpha {
		n++
	}
	return n
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

// Stratum is one case's paired repeats in a comparison: N repeats gave a
// verdict on both sides, BasePass and HeadPass of them passed on each side.
type Stratum struct {
	N, BasePass, HeadPass int
}

// StratifiedExact is the exact conditional test that base and head have the
// same pass probability in every stratum (case), for independent repeats.
// Under that hypothesis a case's 2N verdicts are exchangeable, so given
// their total s the head's passes follow Hypergeometric(2N, s, N); the
// statistic is the head's total passes, whose null distribution is the
// convolution of those hypergeometrics. The p-value is two-sided (twice the
// smaller tail, capped at 1), like McNemarExact, which it equals when every
// N is 1.
//
// minP is the smallest p-value these margins allow: when it is not below
// alpha no outcome could have been significant, which is "insufficient
// evidence" rather than "not significant".
func StratifiedExact(strata []Stratum) (p, minP float64) {
	dist := []float64{1} // dist[k]: P(informative head passes sum to lo+k)
	lo, observed := 0, 0
	for _, s := range strata {
		total := s.BasePass + s.HeadPass
		hmin, hmax := max(0, total-s.N), min(total, s.N)
		if s.N <= 0 || hmin == hmax {
			continue // every arrangement gives the same head count: no information
		}
		pmf := hypergeometric(2*s.N, total, s.N, hmin, hmax)
		next := make([]float64, len(dist)+hmax-hmin)
		for i, a := range dist {
			if a == 0 {
				continue
			}
			for j, b := range pmf {
				next[i+j] += a * b
			}
		}
		dist = next
		lo += hmin
		observed += s.HeadPass
	}
	k := observed - lo
	var lower, upper float64
	for i, v := range dist {
		if i <= k {
			lower += v
		}
		if i >= k {
			upper += v
		}
	}
	p = math.Min(1, 2*math.Min(lower, upper))
	minP = math.Min(1, 2*math.Min(dist[0], dist[len(dist)-1]))
	return p, minP
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
