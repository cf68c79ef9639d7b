package evaluator

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactMcNemar is the textbook definition in exact rational arithmetic.
func exactMcNemar(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	sum := new(big.Int)
	for i := 0; i <= k; i++ {
		sum.Add(sum, new(big.Int).Binomial(int64(n), int64(i)))
	}
	p := new(big.Rat).SetFrac(new(big.Int).Lsh(sum, 1), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	f, _ := p.Float64()
	return math.Min(1, f)
}

func TestStatMcNemarExact(t *testing.T) {
	tests := []struct {
		b, c int
		want float64
	}{
		{0, 0, 1},
		{0, 6, 0.03125},
		{6, 0, 0.03125},
		{0, 5, 0.0625},
		{1, 9, 0.021484375},
		{2, 8, 0.109375},
		{3, 3, 1},
		{4, 5, 1},
		{10, 30, 0.0022214338},
	}
	for _, tt := range tests {
		if got := McNemarExact(tt.b, tt.c); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tt.b, tt.c, got, tt.want)
		}
	}
	// Large n: no overflow or underflow, and agreement with exact arithmetic.
	for _, bc := range [][2]int{{450, 550}, {480, 520}, {100, 300}, {900, 1000}, {0, 1000}} {
		got, want := McNemarExact(bc[0], bc[1]), exactMcNemar(bc[0], bc[1])
		if math.IsNaN(got) || math.Abs(got-want) > 1e-9*want {
			t.Errorf("McNemarExact(%d, %d) = %g, want %g", bc[0], bc[1], got, want)
		}
	}
}

func TestStatHolm(t *testing.T) {
	got := Holm([]float64{0.01, 0.04, 0.03, 0.5})
	want := []float64{0.04, 0.09, 0.09, 0.5}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("Holm = %v, want %v", got, want)
		}
	}
	if got := Holm([]float64{0.3}); got[0] != 0.3 {
		t.Errorf("Holm of one p-value = %v", got)
	}
	if got := Holm([]float64{0.6, 0.7}); got[0] != 1 || got[1] != 1 {
		t.Errorf("Holm caps at 1: %v", got)
	}
}

func TestStatPercentile(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	tests := []struct{ p, want float64 }{
		{0, 1}, {50, 2.5}, {95, 3.85}, {100, 4}, {25, 1.75},
	}
	for _, tt := range tests {
		if got := Percentile(xs, tt.p); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", xs, tt.p, got, tt.want)
		}
	}
	if xs[0] != 4 {
		t.Error("Percentile sorted its input")
	}
	if got := Percentile(nil, 95); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
	if got := Percentile([]float64{7}, 95); got != 7 {
		t.Errorf("Percentile of one value = %v", got)
	}
}

func TestStatAgreement(t *testing.T) {
	a := Agreement{TP: 8, FN: 2, FP: 1, TN: 4}
	// po = 12/15; pe = (10/15)(9/15) + (5/15)(6/15) = 120/225; kappa = (0.8 - 8/15) / (7/15) = 4/7.
	if a.N() != 15 || math.Abs(a.Accuracy()-0.8) > 1e-12 || math.Abs(a.Kappa()-4.0/7) > 1e-12 {
		t.Errorf("N=%d accuracy=%v kappa=%v", a.N(), a.Accuracy(), a.Kappa())
	}
	if math.Abs(a.TPR()-0.8) > 1e-12 || math.Abs(a.TNR()-0.8) > 1e-12 {
		t.Errorf("TPR=%v TNR=%v", a.TPR(), a.TNR())
	}
	if k := (Agreement{TP: 5}).Kappa(); k != 0 {
		t.Errorf("kappa with one class only = %v, want 0 (undefined)", k)
	}
	if k := (Agreement{TP: 3, TN: 3}).Kappa(); k != 1 {
		t.Errorf("perfect agreement kappa = %v", k)
	}
	if k := (Agreement{FN: 3, FP: 3}).Kappa(); k != -1 {
		t.Errorf("perfect disagreement kappa = %v", k)
	}
	var zero Agreement
	if zero.Accuracy() != 0 || zero.Kappa() != 0 || zero.TPR() != 0 || zero.TNR() != 0 {
		t.Error("empty table should give zeros")
	}
}

func TestStatStratifiedExactIsMcNemarForOneRepeat(t *testing.T) {
	for worse := 0; worse <= 14; worse++ {
		for better := 0; better <= 14; better++ {
			var strata []Stratum
			for range worse {
				strata = append(strata, Stratum{N: 1, BasePass: 1})
			}
			for range better {
				strata = append(strata, Stratum{N: 1, HeadPass: 1})
			}
			strata = append(strata, Stratum{N: 1, BasePass: 1, HeadPass: 1}, Stratum{N: 1})
			pw, pb, minP := StratifiedExact(strata)
			if got, want := math.Min(1, 2*math.Min(pw, pb)), McNemarExact(worse, better); math.Abs(got-want) > 1e-12 {
				t.Errorf("worse=%d better=%d: 2·min(one-sided) = %v, McNemar = %v", worse, better, got, want)
			}
			if want := math.Pow(0.5, float64(worse+better)); math.Abs(minP-want) > 1e-12 {
				t.Errorf("worse=%d better=%d: minP = %v, want %v", worse, better, minP, want)
			}
		}
	}
}

func TestStatStratifiedExact(t *testing.T) {
	// One case that passed 3 of 3 and now fails 3 of 3: of the C(6,3) = 20
	// equally likely ways to split its 3 passes, one gives the head none.
	pw, pb, minP := StratifiedExact([]Stratum{{N: 3, BasePass: 3}})
	if math.Abs(pw-0.05) > 1e-12 || math.Abs(pb-1) > 1e-12 || math.Abs(minP-0.05) > 1e-12 {
		t.Errorf("3/3 → 0/3: pWorse=%v pBetter=%v minP=%v", pw, pb, minP)
	}
	// Four such cases: (1/20)^4.
	four := []Stratum{{3, 3, 0}, {3, 3, 0}, {3, 3, 0}, {3, 3, 0}}
	if pw, _, _ := StratifiedExact(four); math.Abs(pw-6.25e-6)/6.25e-6 > 1e-9 {
		t.Errorf("four broken cases: pWorse = %v, want 6.25e-6", pw)
	}
	// Cases that cannot move (all pass or all fail on both sides) carry no
	// evidence and change nothing.
	withStable := append(append([]Stratum{}, four...), Stratum{3, 3, 3}, Stratum{3, 0, 0}, Stratum{2, 2, 2})
	if a, _, _ := StratifiedExact(withStable); math.Abs(a-6.25e-6)/6.25e-6 > 1e-9 {
		t.Errorf("stable cases changed pWorse to %v", a)
	}
	// Nothing informative.
	if pw, pb, minP := StratifiedExact([]Stratum{{3, 3, 3}, {1, 0, 0}}); pw != 1 || pb != 1 || minP != 1 {
		t.Errorf("no informative case: %v %v %v", pw, pb, minP)
	}
	// Swapping the sides swaps the two one-sided p-values.
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		var s, swapped []Stratum
		for range 1 + rng.IntN(30) {
			n := 1 + rng.IntN(4)
			st := Stratum{N: n, BasePass: rng.IntN(n + 1), HeadPass: rng.IntN(n + 1)}
			s = append(s, st)
			swapped = append(swapped, Stratum{N: n, BasePass: st.HeadPass, HeadPass: st.BasePass})
		}
		w1, b1, m1 := StratifiedExact(s)
		w2, b2, m2 := StratifiedExact(swapped)
		if math.Abs(w1-b2) > 1e-9 || math.Abs(b1-w2) > 1e-9 || math.Abs(m1-m2) > 1e-12 {
			t.Fatalf("not symmetric: %v → (%v %v %v) vs (%v %v %v)", s, w1, b1, m1, w2, b2, m2)
		}
		if w1 < m1-1e-15 || b1 < m1-1e-15 || w1 > 1 || b1 > 1 {
			t.Fatalf("p-values %v %v outside [minP %v, 1]", w1, b1, m1)
		}
	}
}

// TestStatStratifiedExactLevel checks the test is valid: under no change,
// with case pass rates from stable to flaky, a one-sided p below 0.05 occurs
// at most 5% of the time.
func TestStatStratifiedExactLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const trials = 2000
	rejected := 0
	for range trials {
		var strata []Stratum
		for range 25 {
			p := []float64{0.98, 0.02, 0.5 + 0.3*rng.Float64()}[rng.IntN(3)]
			st := Stratum{N: 3}
			for range 3 {
				if rng.Float64() < p {
					st.BasePass++
				}
				if rng.Float64() < p {
					st.HeadPass++
				}
			}
			strata = append(strata, st)
		}
		if pw, _, _ := StratifiedExact(strata); pw < 0.05 {
			rejected++
		}
	}
	if rate := float64(rejected) / trials; rate > 0.05+3*math.Sqrt(0.05*0.95/trials) {
		t.Errorf("one-sided rejection rate under no change = %.3f, want ≤ 0.05", rate)
	}
}
