package evaluator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type zzStrat struct {
	pmf  []float64
	hmin int
	obs  int
	lowTail []float64 // P(H <= h) for each h
}

func zzPrep(strata []Stratum) []zzStrat {
	var out []zzStrat
	for _, s := range strata {
		total := s.BasePass + s.HeadPass
		hmin, hmax := max(0, total-s.N), min(total, s.N)
		if hmin == hmax { continue }
		pmf := hypergeometric(2*s.N, total, s.N, hmin, hmax)
		lt := make([]float64, len(pmf))
		acc := 0.0
		for i, v := range pmf { acc += v; lt[i] = acc }
		out = append(out, zzStrat{pmf, hmin, s.HeadPass, lt})
	}
	return out
}

// stat kinds: 0 = -sum h (CMH, large when head worse); 1 = fisher lower
func zzStat(ss []zzStrat, hs []int, kind int) float64 {
	v := 0.0
	for i, s := range ss {
		h := hs[i] - s.hmin
		switch kind {
		case 0:
			v -= float64(hs[i])
		case 1:
			v += -2 * math.Log(math.Min(1, s.lowTail[h]))
		case 2: // mid-p fisher
			mp := s.lowTail[h] - s.pmf[h]/2
			v += -2 * math.Log(mp)
		}
	}
	return v
}

func zzMC(ss []zzStrat, kind int, B int, rng *rand.Rand) float64 {
	obs := make([]int, len(ss))
	for i, s := range ss { obs[i] = s.obs }
	o := zzStat(ss, obs, kind)
	hs := make([]int, len(ss))
	cnt := 0
	for b := 0; b < B; b++ {
		for i, s := range ss {
			u := rng.Float64()
			j := 0
			for j < len(s.lowTail)-1 && u > s.lowTail[j] { j++ }
			hs[i] = s.hmin + j
		}
		if zzStat(ss, hs, kind) >= o-1e-9 { cnt++ }
	}
	return float64(1+cnt) / float64(1+B)
}

func TestZZStudy(t *testing.T) {
	type cs struct{ pb, ph float64 }
	for _, flaky := range []int{3, 5, 8} {
		reps := 3
		rng := rand.New(rand.NewPCG(1, 2))
		mc := rand.New(rand.NewPCG(3, 4))
		const trials = 400
		kinds := 3
		nullF := make([]int, kinds); pow := make([]int, kinds)
		for trial := 0; trial < 2*trials; trial++ {
			broken := trial >= trials
			var cases []cs
			for ci := 0; ci < 5; ci++ {
				for i := 0; i < 25; i++ {
					var p float64
					switch {
					case i < flaky: p = 0.5 + 0.3*rng.Float64()
					case i < flaky+3: p = 0.02
					default: p = 0.98
					}
					pb, ph := p, p
					if broken && ci == trial%5 && i >= 21 { pb, ph = 0.95, 0.05 }
					cases = append(cases, cs{pb, ph})
				}
			}
			strata := make([][]Stratum, 5)
			drop := make([]float64, 5)
			for i, k := range cases {
				ci := i / 25
				st := Stratum{N: reps}
				for r := 0; r < reps; r++ {
					if rng.Float64() < k.pb { st.BasePass++ }
					if rng.Float64() < k.ph { st.HeadPass++ }
				}
				drop[ci] += float64(st.BasePass-st.HeadPass) / 75 * 100
				strata[ci] = append(strata[ci], st)
			}
			for kind := 0; kind < kinds; kind++ {
				ps := make([]float64, 5)
				for ci := range ps { ps[ci] = zzMC(zzPrep(strata[ci]), kind, 2000, mc) }
				adj := Holm(ps)
				any, hit := false, false
				for ci := range ps {
					if drop[ci] > 3 && adj[ci] < 0.05 { any = true; if ci == trial%5 { hit = true } }
				}
				if !broken && any { nullF[kind]++ }
				if broken && hit { pow[kind]++ }
			}
		}
		for kind := 0; kind < kinds; kind++ {
			t.Log(fmt.Sprintf("flaky=%d kind=%d one-sided holm: null fail %.3f power %.3f", flaky, kind, float64(nullF[kind])/trials, float64(pow[kind])/trials))
		}
	}
}
