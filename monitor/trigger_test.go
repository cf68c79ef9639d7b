package monitor

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/registry"
)

func dur(d time.Duration) registry.Duration { return registry.Duration(d) }

// spread adds n events of version v evenly over [from, from+span), escalating
// the first esc of them; set, when given, edits each event.
func spread(w *Window, v int, from, span time.Duration, n, esc int, set func(i int, e *Event)) {
	es := make([]Event, n)
	for i := range es {
		es[i] = ev(v, from+span*time.Duration(i)/time.Duration(n), 1000)
		es[i].Escalated = i < esc
		if set != nil {
			set(i, &es[i])
		}
	}
	w.Add(es...)
}

func only(t *testing.T, rs []Result) Result {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("got %d results, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

var live15 = []Live{{Artifact: "support-assistant", Version: 15, Previous: 14}}

func TestAboveFiresAtOnce(t *testing.T) {
	trig := registry.Trigger{Name: "cost", Metric: MetricCostPerEvent, Above: ptr(0.004), Window: dur(30 * time.Minute), MinEvents: 100}
	w := NewWindow()
	spread(w, 15, 0, 10*time.Minute, 150, 0, func(_ int, e *Event) { e.CostUSD = ptr(0.005) })
	now := t0.Add(20 * time.Minute)
	r := only(t, NewEvaluator([]registry.Trigger{trig}).Evaluate(now, w, live15))
	if !r.Evaluated || !r.Holding || !r.Firing || !r.Since.Equal(now) || r.Events != 150 {
		t.Errorf("result = %+v, want firing at once", r)
	}
	if want := "cost_per_event $0.0050 is above $0.0040 over 30m0s (150 events)"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}

	// Cheaper events bring the average under the limit.
	spread(w, 15, 10*time.Minute, 5*time.Minute, 150, 0, func(_ int, e *Event) { e.CostUSD = ptr(0.002) })
	r = only(t, NewEvaluator([]registry.Trigger{trig}).Evaluate(now, w, live15))
	if !r.Evaluated || r.Holding || r.Firing || math.Abs(r.Value-0.0035) > 1e-12 {
		t.Errorf("result = %+v, want evaluated, not holding, value 0.0035", r)
	}
	if want := "cost_per_event $0.0035 is not above $0.0040 over 30m0s (300 events)"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}
}

func TestBelowAndOp(t *testing.T) {
	w := NewWindow()
	spread(w, 15, 0, time.Minute, 10, 0, func(i int, e *Event) {
		e.Rating = ptr(float64(1 + i%5)) // average 3
		e.LatencyMS = 2500
	})
	now := t0.Add(2 * time.Minute)
	trigs := []registry.Trigger{
		{Name: "rating-low", Metric: MetricRatingAvg, Below: ptr(3.5), Window: dur(10 * time.Minute)},
		{Name: "rating-very-low", Metric: MetricRatingAvg, Below: ptr(2.0), Window: dur(10 * time.Minute)},
		{Name: "sla", Metric: MetricLatencyP95, Op: ">=", Threshold: ptr(2500.0), Window: dur(10 * time.Minute)},
		{Name: "sla-strict", Metric: MetricLatencyP95, Op: ">", Threshold: ptr(2500.0), Window: dur(10 * time.Minute)},
	}
	rs := NewEvaluator(trigs).Evaluate(now, w, live15)
	want := map[string]bool{"rating-low": true, "rating-very-low": false, "sla": true, "sla-strict": false}
	for _, r := range rs {
		if r.Firing != want[r.Trigger] || !r.Evaluated {
			t.Errorf("%s: firing %v, want %v (%s)", r.Trigger, r.Firing, want[r.Trigger], r.Reason)
		}
	}
	if got := rs[0].Reason; got != "rating_avg 3.00 is below 3.50 over 10m0s (10 events)" {
		t.Errorf("reason %q", got)
	}
	if got := rs[2].Reason; got != "latency_p95_ms 2,500 ms is >= 2,500 ms over 10m0s (10 events)" {
		t.Errorf("reason %q", got)
	}
}

func escalationTrigger(forDur time.Duration) registry.Trigger {
	return registry.Trigger{Name: "escalation-rate", Metric: MetricEscalationRate, AbovePreviousBy: ptr(5.0),
		Window: dur(15 * time.Minute), For: dur(forDur), MinEvents: 200}
}

func TestAbovePreviousBySameWindow(t *testing.T) {
	// A canary: both versions take traffic over the same 15 minutes.
	w := NewWindow()
	spread(w, 14, 0, 15*time.Minute, 1000, 80, nil)   // 8%
	spread(w, 15, 0, 15*time.Minute, 1000, 230, nil)  // 23%
	spread(w, 16, 0, 15*time.Minute, 1000, 120, nil)  // 12%: 4 points above v14
	spread(w, 13, 0, 15*time.Minute, 1000, 1000, nil) // never compared
	now := t0.Add(15 * time.Minute)
	e := NewEvaluator([]registry.Trigger{escalationTrigger(0)})
	rs := e.Evaluate(now, w, []Live{
		{Artifact: "support-assistant", Version: 15, Previous: 14},
		{Artifact: "support-assistant", Version: 16, Previous: 14},
	})
	if len(rs) != 2 {
		t.Fatalf("results: %+v", rs)
	}
	r := rs[0]
	if !r.Firing || r.Value != 23 || r.PreviousValue == nil || *r.PreviousValue != 8 || r.PreviousEvents != 1000 || r.Threshold != 5 {
		t.Errorf("v15: %+v", r)
	}
	if want := "escalation_rate 23.0% is 15.0 points above v14's 8.0% (> 5) over 15m0s (1,000 events)"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}
	r = rs[1]
	if r.Holding || !r.Evaluated {
		t.Errorf("v16: %+v", r)
	}
	if want := "escalation_rate 12.0% is 4.0 points above v14's 8.0% (not > 5) over 15m0s (1,000 events)"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}
}

func TestAbovePreviousByFallsBackToBeforeTheDeploy(t *testing.T) {
	// v14 served until the deploy at 60m; v15 since. Evaluated at 75m, v14
	// has no events in the window, so its last 15 minutes count.
	w := NewWindow()
	spread(w, 14, 0, 45*time.Minute, 1000, 500, nil)             // 50%, long ago
	spread(w, 14, 45*time.Minute, 15*time.Minute, 1000, 81, nil) // 8.1%
	spread(w, 15, 60*time.Minute, 15*time.Minute, 1204, 278, nil)
	now := t0.Add(75 * time.Minute)
	r := only(t, NewEvaluator([]registry.Trigger{escalationTrigger(0)}).Evaluate(now, w, live15))
	if !r.Firing || r.PreviousEvents != 1000 {
		t.Fatalf("%+v", r)
	}
	want := "escalation_rate 23.1% is 15.0 points above v14's 8.1% (> 5) over 15m0s (1,204 events; v14 over its last 15m0s before v15, 1,000 events)"
	if r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}

	// Without enough of v14 even before the deploy, nothing is evaluated.
	w = NewWindow()
	spread(w, 14, 50*time.Minute, 10*time.Minute, 150, 0, nil)
	spread(w, 15, 60*time.Minute, 15*time.Minute, 1204, 600, nil)
	r = only(t, NewEvaluator([]registry.Trigger{escalationTrigger(0)}).Evaluate(now, w, live15))
	if r.Evaluated || r.Holding || r.Firing || r.PreviousEvents != 150 {
		t.Errorf("%+v", r)
	}
	if want := "insufficient data: v14 has 0 events over the last 15m0s and 150 in its last 15m0s before v15, need 200"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}

	// Without a previous version there is nothing to compare with.
	r = only(t, NewEvaluator([]registry.Trigger{escalationTrigger(0)}).Evaluate(now, w, []Live{{Artifact: "support-assistant", Version: 15}}))
	if r.Evaluated || !strings.Contains(r.Reason, "no previous version") {
		t.Errorf("%+v", r)
	}
}

func TestMinEventsBlocks(t *testing.T) {
	w := NewWindow()
	spread(w, 14, 0, 10*time.Minute, 1000, 0, nil)
	spread(w, 15, 5*time.Minute, 5*time.Minute, 12, 12, nil) // 100% escalated, but only 12
	now := t0.Add(10 * time.Minute)
	r := only(t, NewEvaluator([]registry.Trigger{escalationTrigger(0)}).Evaluate(now, w, live15))
	if r.Evaluated || r.Holding || r.Firing || r.Events != 12 {
		t.Errorf("%+v", r)
	}
	if want := "insufficient data: 12 events of v15 over the last 15m0s, need 200"; r.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", r.Reason, want)
	}
}

// phases runs one evaluation per minute with a 1-minute window: at minute i
// the window holds 100 events that are all escalated when bad[i], none
// otherwise, against a previous version that never escalates.
func phases(t *testing.T, e *Evaluator, bad []bool) []Result {
	t.Helper()
	w := NewWindow()
	var out []Result
	for i, b := range bad {
		start := time.Duration(i) * time.Minute
		esc := 0
		if b {
			esc = 100
		}
		spread(w, 14, start+time.Second, 50*time.Second, 100, 0, nil)
		spread(w, 15, start+time.Second, 50*time.Second, 100, esc, nil)
		out = append(out, only(t, e.Evaluate(t0.Add(start+59*time.Second), w, live15)))
	}
	return out
}

func minuteTrigger(forDur time.Duration) registry.Trigger {
	tr := escalationTrigger(forDur)
	tr.Window, tr.MinEvents = dur(time.Minute), 50
	return tr
}

func firing(rs []Result) []bool {
	out := make([]bool, len(rs))
	for i, r := range rs {
		out[i] = r.Firing
	}
	return out
}

func TestForHoldsThenFires(t *testing.T) {
	rs := phases(t, NewEvaluator([]registry.Trigger{minuteTrigger(3 * time.Minute)}), []bool{true, true, true, true, true})
	if got, want := firing(rs), []bool{false, false, false, true, true}; !equalBools(got, want) {
		t.Errorf("firing = %v, want %v", got, want)
	}
	for i, r := range rs {
		if !r.Holding || !r.Since.Equal(rs[0].Since) {
			t.Errorf("minute %d: holding %v since %v", i, r.Holding, r.Since)
		}
	}
	if want := "escalation_rate 100.0% is 100.0 points above v14's 0.0% (> 5) for 2m0s (fires at 3m0s) over 1m0s (100 events)"; rs[2].Reason != want {
		t.Errorf("reason\n got %q\nwant %q", rs[2].Reason, want)
	}
	if want := "escalation_rate 100.0% is 100.0 points above v14's 0.0% (> 5) for 3m0s over 1m0s (100 events)"; rs[3].Reason != want {
		t.Errorf("reason\n got %q\nwant %q", rs[3].Reason, want)
	}
}

func TestForResetsWhenConditionBreaks(t *testing.T) {
	e := NewEvaluator([]registry.Trigger{minuteTrigger(3 * time.Minute)})
	rs := phases(t, e, []bool{true, true, true, true, false})
	if got, want := firing(rs), []bool{false, false, false, true, false}; !equalBools(got, want) {
		t.Errorf("firing = %v, want %v", got, want)
	}
	if r := rs[4]; r.Holding || !r.Since.IsZero() {
		t.Errorf("after the break: %+v", r)
	}
	if len(e.State()) != 0 {
		t.Errorf("state after the break: %v", e.State())
	}
}

func TestFlappingDoesNotFireEarly(t *testing.T) {
	// true, false, then true for good: the clock starts again at minute 2.
	rs := phases(t, NewEvaluator([]registry.Trigger{minuteTrigger(3 * time.Minute)}), []bool{true, false, true, true, true, true, true})
	if got, want := firing(rs), []bool{false, false, false, false, false, true, true}; !equalBools(got, want) {
		t.Errorf("firing = %v, want %v", got, want)
	}
	if !rs[5].Since.Equal(t0.Add(2*time.Minute + 59*time.Second)) {
		t.Errorf("since = %v", rs[5].Since)
	}
	// Insufficient data also breaks the hold.
	e := NewEvaluator([]registry.Trigger{minuteTrigger(2 * time.Minute)})
	w := NewWindow()
	spread(w, 14, 0, 10*time.Minute, 2000, 0, nil)
	spread(w, 15, 0, 50*time.Second, 100, 100, nil)
	spread(w, 15, 2*time.Minute, 50*time.Second, 100, 100, nil)
	spread(w, 15, 3*time.Minute, 50*time.Second, 100, 100, nil)
	var got []bool
	for i := range 4 {
		r := only(t, e.Evaluate(t0.Add(time.Duration(i)*time.Minute+59*time.Second), w, live15))
		got = append(got, r.Holding)
	}
	if want := []bool{true, false, true, true}; !equalBools(got, want) {
		t.Errorf("holding = %v, want %v", got, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStateRestore(t *testing.T) {
	trig := minuteTrigger(3 * time.Minute)
	e := NewEvaluator([]registry.Trigger{trig})
	rs := phases(t, e, []bool{true, true})
	state := e.State()
	if len(state) != 1 || !state[0].Since.Equal(rs[0].Since) || state[0].Version != 15 || state[0].Environment != "production" {
		t.Fatalf("state = %+v", state)
	}
	// Survives a JSON round trip and a restart.
	raw, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	var saved []Hold
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}
	restarted := NewEvaluator([]registry.Trigger{trig})
	restarted.Restore(saved)
	w := NewWindow()
	spread(w, 14, 3*time.Minute+time.Second, 50*time.Second, 100, 0, nil)
	spread(w, 15, 3*time.Minute+time.Second, 50*time.Second, 100, 100, nil)
	r := only(t, restarted.Evaluate(t0.Add(3*time.Minute+59*time.Second), w, live15))
	if !r.Firing || !r.Since.Equal(rs[0].Since) {
		t.Errorf("after restore: %+v", r)
	}
}

func TestStaleHoldsAreForgotten(t *testing.T) {
	e := NewEvaluator([]registry.Trigger{minuteTrigger(time.Hour)})
	e.Restore([]Hold{
		{Trigger: "escalation-rate", Artifact: "support-assistant", Environment: "production", Version: 13, Since: t0},
		{Trigger: "escalation-rate", Artifact: "billing-helper", Environment: "production", Version: 7, Since: t0},
		{Trigger: "removed-trigger", Artifact: "support-assistant", Environment: "production", Version: 15, Since: t0},
	})
	e.Evaluate(t0.Add(time.Minute), NewWindow(), live15)
	// v13 is no longer live where support-assistant was evaluated, the
	// removed trigger is gone; billing-helper was not evaluated and stays.
	state := e.State()
	if len(state) != 1 || state[0].Artifact != "billing-helper" {
		t.Errorf("state = %+v", state)
	}
}

func TestTriggerScope(t *testing.T) {
	trigs := []registry.Trigger{
		{Name: "all", Metric: MetricVolume, Below: ptr(1.0), Window: dur(time.Minute)},
		{Name: "sa-only", Metric: MetricVolume, Below: ptr(1.0), Window: dur(time.Minute), Artifact: "support-assistant"},
		{Name: "staging-only", Metric: MetricVolume, Below: ptr(1.0), Window: dur(time.Minute), Environment: "staging"},
	}
	live := []Live{
		{Artifact: "support-assistant", Version: 15},
		{Artifact: "billing-helper", Version: 7, Environment: "staging"},
	}
	var got []string
	for _, r := range NewEvaluator(trigs).Evaluate(t0, NewWindow(), live) {
		got = append(got, r.Trigger+"/"+r.Artifact+"/"+r.Environment)
		// volume needs no events: none at all is below 1, at once.
		if !r.Firing {
			t.Errorf("%s: %s", r.Trigger, r.Reason)
		}
	}
	want := "all/support-assistant/production all/billing-helper/staging sa-only/support-assistant/production staging-only/billing-helper/staging"
	if strings.Join(got, " ") != want {
		t.Errorf("results for %v", got)
	}
}

func TestUnknownCostIsInsufficientNotZero(t *testing.T) {
	trig := registry.Trigger{Name: "cost", Metric: MetricCostPerEvent, Below: ptr(0.001), Window: dur(time.Hour)}
	w := NewWindow()
	spread(w, 15, 0, time.Minute, 300, 0, nil) // no cost known
	r := only(t, NewEvaluator([]registry.Trigger{trig}).Evaluate(t0.Add(time.Minute), w, live15))
	if r.Evaluated || r.Firing || !strings.Contains(r.Reason, "has a known cost") {
		t.Errorf("%+v", r)
	}
}
