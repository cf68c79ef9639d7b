package monitor

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// Live is a version serving traffic, for the triggers to watch.
type Live struct {
	Artifact    string
	Environment string // "" is production
	Version     int
	// Previous is the version Version replaced, the baseline of
	// above_previous_by; 0 when unknown.
	Previous int
}

// Result is one trigger evaluated for one live version.
type Result struct {
	Trigger     string `json:"trigger"`
	Artifact    string `json:"artifact"`
	Environment string `json:"environment"`
	Version     int    `json:"version"`
	Previous    int    `json:"previous,omitempty"`
	Metric      string `json:"metric"`
	// Value is the live version's metric over the window, in the units of
	// Stats.Value (rates in percent).
	Value float64 `json:"value"`
	// PreviousValue is the previous version's metric, for above_previous_by.
	PreviousValue *float64 `json:"previous_value,omitempty"`
	// Op and Threshold are the condition: Value Op Threshold, or for
	// above_previous_by, Value - PreviousValue > Threshold.
	Op             string        `json:"op"`
	Threshold      float64       `json:"threshold"`
	Window         time.Duration `json:"window"`
	For            time.Duration `json:"for"`
	Events         int           `json:"events"`
	PreviousEvents int           `json:"previous_events,omitempty"`
	// Evaluated is false when the condition could not be evaluated, mostly
	// for insufficient data (Reason says why); such a result never holds.
	Evaluated bool `json:"evaluated"`
	// Holding says the condition holds now; Since is when it started to
	// hold without a break, and Firing that it has held for at least For.
	Holding bool      `json:"holding"`
	Since   time.Time `json:"since,omitzero"`
	Firing  bool      `json:"firing"`
	Reason  string    `json:"reason"`
}

// Hold is a condition that holds, and since when: the Evaluator's state.
type Hold struct {
	Trigger     string    `json:"trigger"`
	Artifact    string    `json:"artifact"`
	Environment string    `json:"environment"`
	Version     int       `json:"version"`
	Since       time.Time `json:"since"`
}

type holdKey struct {
	trigger, artifact, env string
	version                int
}

// Evaluator evaluates triggers against a Window and remembers, between
// evaluations, since when each condition has held. It is safe for
// concurrent use.
type Evaluator struct {
	triggers []registry.Trigger
	mu       sync.Mutex
	since    map[holdKey]time.Time
}

// NewEvaluator returns an evaluator for triggers, as validated by registry.
func NewEvaluator(triggers []registry.Trigger) *Evaluator {
	return &Evaluator{triggers: slices.Clone(triggers), since: map[holdKey]time.Time{}}
}

// State returns the conditions that hold, for the caller to persist.
func (e *Evaluator) State() []Hold {
	e.mu.Lock()
	out := make([]Hold, 0, len(e.since))
	for k, t := range e.since {
		out = append(out, Hold{Trigger: k.trigger, Artifact: k.artifact, Environment: k.env, Version: k.version, Since: t})
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(a.Trigger, b.Trigger), cmp.Compare(a.Artifact, b.Artifact),
			cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// Restore replaces the state with holds saved by State, e.g. after a
// restart, so that a condition that held before keeps its Since.
func (e *Evaluator) Restore(holds []Hold) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.since = make(map[holdKey]time.Time, len(holds))
	for _, h := range holds {
		env := h.Environment
		if env == "" {
			env = DefaultEnvironment
		}
		e.since[holdKey{h.Trigger, h.Artifact, env, h.Version}] = h.Since
	}
}

// Evaluate computes every trigger for every live version it applies to (a
// trigger without artifact or environment applies to all) over the window
// [now-window, now] of event time, and returns one Result each, in trigger
// order and then live order.
//
// A live version with fewer than min_events events in the window (at least
// one) is not evaluated. For above_previous_by the previous version is
// measured over the same window; when it has fewer than min_events there
// (it usually stops getting traffic when the live version takes over), its
// last window's worth of events instead: the window ending at its last event
// at or before the live version's first event in w. If that is still too
// few, the trigger cannot be evaluated.
//
// A condition has to hold at consecutive evaluations for the trigger's
// `for` before the result fires: Since is the evaluation at which it started
// to hold, and any evaluation at which it does not hold (including one
// without enough data) starts the clock over. Holds of a trigger no longer
// configured, or of a version no longer live where its artifact and
// environment were evaluated, are forgotten.
func (e *Evaluator) Evaluate(now time.Time, w *Window, live []Live) []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev := &evaluation{now: now, w: w, cache: map[statsKey]Stats{}}
	type scope struct{ trigger, artifact, env string }
	evaluated := map[scope]map[int]bool{}
	configured := map[string]bool{}
	var out []Result
	for _, t := range e.triggers {
		configured[t.Name] = true
		for _, l := range live {
			if l.Environment == "" {
				l.Environment = DefaultEnvironment
			}
			if t.Artifact != "" && t.Artifact != l.Artifact || t.Environment != "" && t.Environment != l.Environment {
				continue
			}
			r, c := ev.check(t, l)
			key := holdKey{t.Name, l.Artifact, l.Environment, l.Version}
			sc := scope{t.Name, l.Artifact, l.Environment}
			if evaluated[sc] == nil {
				evaluated[sc] = map[int]bool{}
			}
			evaluated[sc][l.Version] = true
			if r.Holding {
				since, ok := e.since[key]
				if !ok || since.After(now) {
					since = now
					e.since[key] = since
				}
				r.Since = since
				r.Firing = now.Sub(since) >= r.For
			} else {
				delete(e.since, key)
			}
			if r.Evaluated {
				r.Reason = c.describe(&r, now)
			}
			out = append(out, r)
		}
	}
	for k := range e.since {
		vs, seen := evaluated[scope{k.trigger, k.artifact, k.env}]
		if !configured[k.trigger] || seen && !vs[k.version] {
			delete(e.since, k)
		}
	}
	return out
}

type statsKey struct {
	s        Series
	from, to int64
	latency  bool
}

// evaluation is one Evaluate call; it computes each series' stats over a
// given range once, however many triggers ask.
type evaluation struct {
	now   time.Time
	w     *Window
	cache map[statsKey]Stats
}

func (ev *evaluation) stats(s Series, from, to time.Time, metric string) Stats {
	latency := metric == MetricLatencyP50 || metric == MetricLatencyP95
	k := statsKey{s, from.UnixNano(), to.UnixNano(), latency}
	st, ok := ev.cache[k]
	if !ok {
		st = ev.w.stats(s, from, to, latency)
		ev.cache[k] = st
	}
	return st
}

// condition is a trigger's comparison.
type condition struct {
	metric   string
	op       string
	x        float64
	relative bool   // above_previous_by: compare Value - PreviousValue
	word     string // how the reason says op: "above", "below", ">=" ...
	prevNote string // how the previous version was measured, when not over the window
}

func conditionOf(t registry.Trigger) (condition, bool) {
	c := condition{metric: t.Metric}
	switch {
	case t.AbovePreviousBy != nil:
		c.op, c.x, c.relative, c.word = ">", *t.AbovePreviousBy, true, "above"
	case t.Above != nil:
		c.op, c.x, c.word = ">", *t.Above, "above"
	case t.Below != nil:
		c.op, c.x, c.word = "<", *t.Below, "below"
	case t.Threshold != nil && (t.Op == ">" || t.Op == ">=" || t.Op == "<" || t.Op == "<="):
		c.op, c.x, c.word = t.Op, *t.Threshold, t.Op
	default:
		return c, false
	}
	return c, true
}

var knownMetrics = map[string]bool{
	MetricEscalationRate: true, MetricDontKnowRate: true, MetricErrorRate: true,
	MetricCostPerEvent: true, MetricLatencyP50: true, MetricLatencyP95: true,
	MetricVolume: true, MetricRatingAvg: true,
}

// check evaluates one trigger for one live version, without the for-state.
func (ev *evaluation) check(t registry.Trigger, l Live) (Result, condition) {
	win := t.Window.D()
	r := Result{
		Trigger: t.Name, Artifact: l.Artifact, Environment: l.Environment,
		Version: l.Version, Previous: l.Previous, Metric: t.Metric,
		Window: win, For: t.For.D(),
	}
	c, ok := conditionOf(t)
	r.Op, r.Threshold = c.op, c.x
	switch {
	case !knownMetrics[t.Metric]:
		r.Reason = fmt.Sprintf("not evaluated: unknown metric %q", t.Metric)
		return r, c
	case !ok:
		r.Reason = "not evaluated: the trigger has no condition (above, below, above_previous_by, or op with threshold)"
		return r, c
	case win <= 0:
		r.Reason = "not evaluated: the trigger has no window"
		return r, c
	}
	need := t.MinEvents
	if need < 1 && t.Metric != MetricVolume {
		need = 1
	}
	from := ev.now.Add(-win)
	cur := Series{l.Artifact, l.Version, l.Environment}
	st := ev.stats(cur, from, ev.now, t.Metric)
	r.Events = st.Events
	if st.Events < need {
		r.Reason = fmt.Sprintf("insufficient data: %s of v%d over the last %s, need %s",
			plural(st.Events, "event"), l.Version, win, group(int64(need)))
		return r, c
	}
	v, ok := st.Value(t.Metric)
	if !ok {
		r.Reason = fmt.Sprintf("insufficient data: no event of v%d over the last %s %s", l.Version, win, reports(t.Metric))
		return r, c
	}
	r.Value = v
	if !c.relative {
		r.Evaluated = true
		r.Holding = compare(v, c.op, c.x)
		return r, c
	}

	if l.Previous <= 0 {
		r.Reason = fmt.Sprintf("not evaluated: no previous version of %s in %s to compare with", l.Artifact, l.Environment)
		return r, c
	}
	prev := Series{l.Artifact, l.Previous, l.Environment}
	pst := ev.stats(prev, from, ev.now, t.Metric)
	if pst.Events < need {
		inWindow := pst.Events
		if first, _, ok := ev.w.Span(cur); ok {
			if last, ok := ev.w.lastAtOrBefore(prev, first); ok {
				pst = ev.stats(prev, last.Add(-win), last, t.Metric)
				c.prevNote = fmt.Sprintf("v%d over its last %s before v%d, %s", l.Previous, win, l.Version, plural(pst.Events, "event"))
			}
		}
		if pst.Events < need {
			r.PreviousEvents = pst.Events
			msg := fmt.Sprintf("insufficient data: v%d has %s over the last %s", l.Previous, plural(inWindow, "event"), win)
			if c.prevNote != "" {
				msg += fmt.Sprintf(" and %s in its last %s before v%d", group(int64(pst.Events)), win, l.Version)
			}
			r.Reason = msg + ", need " + group(int64(need))
			return r, c
		}
	}
	r.PreviousEvents = pst.Events
	pv, ok := pst.Value(t.Metric)
	if !ok {
		r.Reason = fmt.Sprintf("insufficient data: no event of v%d %s", l.Previous, reports(t.Metric))
		return r, c
	}
	r.PreviousValue = &pv
	r.Evaluated = true
	r.Holding = compare(v-pv, ">", c.x)
	return r, c
}

// compare tells whether v op x holds, treating values that differ only by
// floating-point noise as equal (23% − 18% is 5 points, not 5.000000000000004).
func compare(v float64, op string, x float64) bool {
	eq := math.Abs(v-x) <= 1e-9*math.Max(1, math.Max(math.Abs(v), math.Abs(x)))
	switch op {
	case ">":
		return v > x && !eq
	case ">=":
		return v > x || eq
	case "<":
		return v < x && !eq
	case "<=":
		return v < x || eq
	}
	return false
}

// describe writes the reason of an evaluated result, such as
// "escalation_rate 23.1% is 15.0 points above v14's 8.1% (> 5) for 10m0s
// over 15m0s (1,204 events)".
func (c condition) describe(r *Result, now time.Time) string {
	var b strings.Builder
	b.WriteString(r.Metric)
	b.WriteByte(' ')
	b.WriteString(formatMetric(r.Metric, r.Value))
	if c.relative {
		d := r.Value - *r.PreviousValue
		dir := "above"
		if d < 0 {
			dir = "below"
		}
		fmt.Fprintf(&b, " is %s %s v%d's %s (", formatDelta(r.Metric, math.Abs(d)), dir, r.Previous, formatMetric(r.Metric, *r.PreviousValue))
		if !r.Holding {
			b.WriteString("not ")
		}
		fmt.Fprintf(&b, "> %s)", formatDeltaThreshold(r.Metric, c.x))
	} else {
		b.WriteString(" is ")
		if !r.Holding {
			b.WriteString("not ")
		}
		fmt.Fprintf(&b, "%s %s", c.word, formatMetric(r.Metric, c.x))
	}
	if r.Holding && r.For > 0 {
		held := now.Sub(r.Since).Round(time.Second)
		fmt.Fprintf(&b, " for %s", held)
		if !r.Firing {
			fmt.Fprintf(&b, " (fires at %s)", r.For)
		}
	}
	fmt.Fprintf(&b, " over %s (%s", r.Window, plural(r.Events, "event"))
	if c.prevNote != "" {
		fmt.Fprintf(&b, "; %s", c.prevNote)
	}
	b.WriteByte(')')
	return b.String()
}

func isRate(metric string) bool {
	return metric == MetricEscalationRate || metric == MetricDontKnowRate || metric == MetricErrorRate
}

// formatMetric writes a value in its metric's unit.
func formatMetric(metric string, v float64) string {
	switch {
	case isRate(metric):
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case metric == MetricCostPerEvent:
		return formatUSD(v)
	case metric == MetricLatencyP50 || metric == MetricLatencyP95:
		return group(int64(math.Round(v))) + " ms"
	case metric == MetricVolume:
		return group(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatDelta writes a difference between two values of a metric.
func formatDelta(metric string, d float64) string {
	if isRate(metric) {
		return strconv.FormatFloat(d, 'f', 1, 64) + " points"
	}
	return formatMetric(metric, d)
}

// formatDeltaThreshold writes above_previous_by's N as configured: in
// points for rates.
func formatDeltaThreshold(metric string, x float64) string {
	if isRate(metric) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return formatMetric(metric, x)
}

func formatUSD(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.001 || a == 0:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	return "$" + strconv.FormatFloat(v, 'f', 6, 64)
}

// reports names what an event must carry for metric to be known.
func reports(metric string) string {
	switch metric {
	case MetricCostPerEvent:
		return "has a known cost (cost_usd, or a price for its model)"
	case MetricDontKnowRate:
		return "reports dont_know"
	case MetricRatingAvg:
		return "has a rating"
	}
	return "has " + metric
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return group(int64(n)) + " " + noun + "s"
}

// group writes n with thousands separators: 1,204.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
