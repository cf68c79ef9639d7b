package monitor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// sink keeps baseline results alive so the compiler cannot drop the work.
var sink float64

// ndjsonBody is n events like DESIGN.md's, half without cost_usd so that
// the cost is computed from prices.
func ndjsonBody(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	var b bytes.Buffer
	for i := range n {
		cost := ""
		if i%2 == 0 {
			cost = fmt.Sprintf(`, "cost_usd": %.4f`, 0.002+rng.Float64()/1000)
		}
		fmt.Fprintf(&b, `{"time": "2026-12-03T10:%02d:%02dZ", "artifact": "support-assistant", "version": %d, "environment": "production", "model": "gpt-4o-2024-08-06", "input_tokens": %d, "output_tokens": %d%s, "latency_ms": %d, "status": "ok", "escalated": %v, "dont_know": false, "rating": %d}`+"\n",
			(i/60)%60, i%60, 14+i%2, 500+rng.IntN(600), 100+rng.IntN(200), cost, 800+rng.IntN(2000), rng.IntN(10) == 0, 1+rng.IntN(5))
	}
	return b.Bytes()
}

// baselineMap decodes each line with plain json.Unmarshal into a map: no
// validation, no strictness. It is the yardstick for ParseEvents.
func baselineMap(body []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			n++
		}
	}
	return n
}

func timeIt(rounds int, f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range rounds {
		start := time.Now()
		f()
		if d := time.Since(start); d < best {
			best = d
		}
	}
	return best
}

func BenchmarkParseNDJSON(b *testing.B) {
	const n = 10000
	body := ndjsonBody(n)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	base := timeIt(5, func() { sink = float64(baselineMap(body)) })
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ok, bad, err := ParseEvents(bytes.NewReader(body), testPrices, now)
		if err != nil || len(bad) != 0 || len(ok) != n {
			b.Fatalf("%d ok, %v, %v", len(ok), bad, err)
		}
	}
	perSec := float64(n) * float64(b.N) / b.Elapsed().Seconds()
	basePerSec := float64(n) / base.Seconds()
	b.ReportMetric(perSec, "events/s")
	b.ReportMetric(basePerSec, "baseline-events/s")
	b.ReportMetric(perSec/basePerSec, "x-baseline")
}

func BenchmarkParseNDJSONBaselineMap(b *testing.B) {
	const n = 10000
	body := ndjsonBody(n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		sink = float64(baselineMap(body))
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// deployWindow holds 1,000,000 events of one artifact: v14 over the first
// 15 minutes, v15 (the Friday deploy) over the next 15.
func deployWindow() *Window {
	rng := rand.New(rand.NewPCG(9, 10))
	w := NewWindow()
	const n = 1_000_000
	batch := make([]Event, 0, 10000)
	for i := range n {
		v, esc, cost := 14, 0.08, 0.003
		if i >= n/2 {
			v, esc, cost = 15, 0.23, 0.0042
		}
		e := ev(v, 30*time.Minute*time.Duration(i)/n, 600+rng.ExpFloat64()*900)
		e.Escalated = rng.Float64() < esc
		e.CostUSD = ptr(cost * (0.5 + rng.Float64()))
		e.DontKnow = ptr(rng.IntN(20) == 0)
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			w.Add(batch...)
			batch = batch[:0]
		}
	}
	w.Add(batch...)
	return w
}

// designTriggers are the three triggers of DESIGN.md.
var designTriggers = []registry.Trigger{
	{Name: "escalation-rate", Metric: MetricEscalationRate, AbovePreviousBy: ptr(5.0), Window: dur(15 * time.Minute), For: dur(10 * time.Minute), MinEvents: 200},
	{Name: "cost", Metric: MetricCostPerEvent, Above: ptr(0.004), Window: dur(30 * time.Minute), MinEvents: 100},
	{Name: "latency-sla", Metric: MetricLatencyP95, Above: ptr(2500.0), Window: dur(10 * time.Minute), For: dur(10 * time.Minute), MinEvents: 100},
}

// linearPass is the baseline: one pass summing the latencies of every event
// in the window, the least any evaluation has to do.
func linearPass(w *Window) float64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	sum := 0.0
	for _, s := range w.series {
		for i := range s.pts {
			sum += s.pts[i].latency
		}
	}
	return sum
}

func BenchmarkEvaluate1M(b *testing.B) {
	w := deployWindow()
	if w.Len() != 1_000_000 {
		b.Fatalf("%d events", w.Len())
	}
	now := t0.Add(30 * time.Minute)
	e := NewEvaluator(designTriggers)
	base := timeIt(10, func() { sink = linearPass(w) })
	b.ResetTimer()
	for b.Loop() {
		rs := e.Evaluate(now, w, live15)
		if len(rs) != 3 || !rs[0].Holding || !rs[1].Firing || !rs[2].Holding {
			b.Fatalf("%+v", rs)
		}
	}
	ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	b.ReportMetric(float64(base.Microseconds())/1000, "baseline-ms")
	b.ReportMetric(ms/(float64(base.Microseconds())/1000), "x-baseline")
}

func BenchmarkEvaluate1MBaseline(b *testing.B) {
	w := deployWindow()
	for b.Loop() {
		sink = linearPass(w)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
