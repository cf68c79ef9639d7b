package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// ev builds an ok, production event of support-assistant.
func ev(version int, at time.Duration, latency float64) Event {
	return Event{Time: t0.Add(at), Artifact: "support-assistant", Version: version,
		Environment: "production", Status: "ok", LatencyMS: latency}
}

func TestStatsHandMade(t *testing.T) {
	w := NewWindow()
	var es []Event
	// Ten events with latencies 10..100 ms, added in reverse order.
	for i := 10; i >= 1; i-- {
		e := ev(15, time.Duration(i)*time.Second, float64(10*i))
		switch i {
		case 1, 2, 3:
			e.Escalated = true
		}
		if i == 4 {
			e.Status = "timeout"
		}
		if i <= 4 {
			e.DontKnow = ptr(i == 1)
		}
		if i%2 == 0 {
			e.CostUSD = ptr(0.001 * float64(i))
		}
		if i == 9 || i == 10 {
			e.Rating = ptr(float64(i - 6))
		}
		es = append(es, e)
	}
	w.Add(es...)
	s := Series{"support-assistant", 15, "production"}
	st := w.Stats(s, t0, t0.Add(time.Minute))

	if st.Events != 10 {
		t.Fatalf("Events = %d", st.Events)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"EscalationRate", st.EscalationRate, 0.3},
		{"ErrorRate", st.ErrorRate, 0.1},
		{"DontKnowRate", st.DontKnowRate, 0.25}, // 1 of the 4 that report it
		{"DontKnowKnown", float64(st.DontKnowKnown), 4},
		// Linear interpolation: rank (10-1)*0.5 = 4.5 between 50 and 60;
		// rank (10-1)*0.95 = 8.55 between 90 and 100.
		{"LatencyP50", st.LatencyP50, 55},
		{"LatencyP95", st.LatencyP95, 95.5},
		{"CostPerEvent", *st.CostPerEvent, 0.006}, // (2+4+6+8+10)/5 thousandths
		{"CostKnown", float64(st.CostKnown), 5},
		{"RatingAvg", *st.RatingAvg, 3.5},
		{"Ratings", float64(st.Ratings), 2},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !st.First.Equal(t0.Add(time.Second)) || !st.Last.Equal(t0.Add(10*time.Second)) {
		t.Errorf("First, Last = %v, %v", st.First, st.Last)
	}

	// Values for triggers: rates in percent.
	values := map[string]float64{
		MetricEscalationRate: 30, MetricErrorRate: 10, MetricDontKnowRate: 25,
		MetricCostPerEvent: 0.006, MetricLatencyP50: 55, MetricLatencyP95: 95.5,
		MetricVolume: 10, MetricRatingAvg: 3.5,
	}
	for m, want := range values {
		got, ok := st.Value(m)
		if !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("Value(%s) = %v, %v; want %v", m, got, ok, want)
		}
	}
	if _, ok := st.Value("escalation"); ok {
		t.Error("Value of an unknown metric is ok")
	}

	// The range is inclusive at both ends.
	if got := w.Stats(s, t0.Add(3*time.Second), t0.Add(5*time.Second)); got.Events != 3 || got.LatencyP50 != 40 {
		t.Errorf("[3s, 5s]: %d events, p50 %v; want 3 events, p50 40", got.Events, got.LatencyP50)
	}
	if got := w.Stats(s, time.Time{}, t0.Add(2*time.Second)); got.Events != 2 {
		t.Errorf("open start: %d events, want 2", got.Events)
	}
	if got := w.Stats(s, t0.Add(time.Hour), t0); got.Events != 0 {
		t.Errorf("from after to: %d events", got.Events)
	}
}

func TestStatsUnknowns(t *testing.T) {
	w := NewWindow()
	w.Add(ev(1, 0, 5), ev(1, time.Second, 7))
	st := w.Stats(Series{Artifact: "support-assistant", Version: 1}, time.Time{}, time.Time{})
	if st.Events != 2 || st.CostPerEvent != nil || st.RatingAvg != nil || st.CostKnown != 0 {
		t.Errorf("stats = %+v, want unknown cost and rating", st)
	}
	for _, m := range []string{MetricCostPerEvent, MetricRatingAvg, MetricDontKnowRate} {
		if _, ok := st.Value(m); ok {
			t.Errorf("Value(%s) is known without data", m)
		}
	}
	empty := w.Stats(Series{Artifact: "other", Version: 1}, time.Time{}, time.Time{})
	if v, ok := empty.Value(MetricVolume); !ok || v != 0 {
		t.Errorf("volume of nothing = %v, %v; want 0, true", v, ok)
	}
	if _, ok := empty.Value(MetricLatencyP95); ok {
		t.Error("p95 of nothing is known")
	}
}

// refPercentile is the definition Stats documents, computed by sorting.
func refPercentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	h := float64(len(s)-1) * p / 100
	lo, hi := int(math.Floor(h)), int(math.Ceil(h))
	return s[lo] + (h-float64(lo))*(s[hi]-s[lo])
}

func TestPercentilesMatchSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 5, 19, 20, 21, 100, 101, 1000, 4097} {
		for _, kind := range []string{"random", "sorted", "reversed", "few distinct", "all equal"} {
			xs := make([]float64, n)
			for i := range xs {
				switch kind {
				case "random":
					xs[i] = rng.ExpFloat64() * 1000
				case "sorted":
					xs[i] = float64(i)
				case "reversed":
					xs[i] = float64(n - i)
				case "few distinct":
					xs[i] = float64(rng.IntN(3) * 100)
				case "all equal":
					xs[i] = 42
				}
			}
			want50, want95 := refPercentile(xs, 50), refPercentile(xs, 95)
			got50, got95 := percentiles(slices.Clone(xs), 50, 95)
			if math.Abs(got50-want50) > 1e-9 || math.Abs(got95-want95) > 1e-9 {
				t.Errorf("n=%d %s: p50, p95 = %v, %v; want %v, %v", n, kind, got50, got95, want50, want95)
			}
		}
	}
}

func TestAddOutOfOrderKeepsTimeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := NewWindow()
	var all []int64
	for batch := range 50 {
		var es []Event
		for i := range 200 {
			// Mostly increasing, with stragglers up to a minute late.
			at := time.Duration(batch*200+i) * time.Second
			if rng.IntN(10) == 0 {
				at -= time.Duration(rng.IntN(60)) * time.Second
			}
			v := 1 + rng.IntN(2)
			es = append(es, ev(v, at, float64(at/time.Second)))
			if v == 1 {
				all = append(all, int64(at))
			}
		}
		w.Add(es...)
	}
	b := w.series[Series{"support-assistant", 1, "production"}]
	if len(b.pts) != len(all) {
		t.Fatalf("%d points, want %d", len(b.pts), len(all))
	}
	slices.Sort(all)
	for i, p := range b.pts {
		if p.t != t0.Add(time.Duration(all[i])).UnixNano() {
			t.Fatalf("point %d at %v, want %v", i, time.Unix(0, p.t).Sub(t0), time.Duration(all[i]))
		}
		if p.latency != float64(time.Duration(all[i])/time.Second) {
			t.Fatalf("point %d carries latency %v of another event", i, p.latency)
		}
	}
}

func TestPruneSeriesVersionsSpan(t *testing.T) {
	w := NewWindow()
	w.Add(ev(14, 0, 1), ev(14, time.Minute, 1), ev(15, 2*time.Minute, 1), ev(15, 3*time.Minute, 1))
	other := ev(3, time.Minute, 1)
	other.Artifact, other.Environment = "billing-helper", "staging"
	w.Add(other)

	if got := w.Versions("support-assistant", ""); !slices.Equal(got, []int{14, 15}) {
		t.Errorf("Versions = %v", got)
	}
	want := []Series{{"billing-helper", 3, "staging"}, {"support-assistant", 14, "production"}, {"support-assistant", 15, "production"}}
	if got := w.Series(); !slices.Equal(got, want) {
		t.Errorf("Series = %v", got)
	}
	first, last, ok := w.Span(Series{Artifact: "support-assistant", Version: 15})
	if !ok || !first.Equal(t0.Add(2*time.Minute)) || !last.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("Span = %v %v %v", first, last, ok)
	}

	w.Prune(t0.Add(time.Minute)) // keeps events at exactly 1m
	if got := w.Len(); got != 4 {
		t.Errorf("after prune: %d events, want 4", got)
	}
	w.Prune(t0.Add(2 * time.Minute))
	if got := w.Versions("support-assistant", "production"); !slices.Equal(got, []int{15}) {
		t.Errorf("after prune: Versions = %v, want [15]", got)
	}
	if got := w.Series(); len(got) != 1 {
		t.Errorf("after prune: Series = %v", got)
	}
}

func TestWindowConcurrentUse(t *testing.T) {
	w := NewWindow()
	s := Series{Artifact: "support-assistant", Version: 1}
	done := make(chan bool)
	go func() {
		for i := range 2000 {
			w.Add(ev(1, time.Duration(i)*time.Millisecond, float64(i)))
		}
		done <- true
	}()
	for range 200 {
		w.Stats(s, t0, t0.Add(time.Hour))
	}
	<-done
	if st := w.Stats(s, t0, t0.Add(time.Hour)); st.Events != 2000 {
		t.Errorf("%d events", st.Events)
	}
}
