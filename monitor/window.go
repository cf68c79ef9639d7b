package monitor

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

// Metrics a trigger may watch (see Stats.Value for their units).
const (
	MetricEscalationRate = "escalation_rate"
	MetricDontKnowRate   = "dont_know_rate"
	MetricErrorRate      = "error_rate"
	MetricCostPerEvent   = "cost_per_event"
	MetricLatencyP50     = "latency_p50_ms"
	MetricLatencyP95     = "latency_p95_ms"
	MetricVolume         = "volume"
	MetricRatingAvg      = "rating_avg"
)

// Series identifies the events of one artifact version in one environment.
type Series struct {
	Artifact    string
	Version     int
	Environment string
}

// Window keeps recent events in memory, per series and sorted by event
// time, for the triggers to compute their metrics over. It is safe for
// concurrent use. Events are kept until Prune drops them.
type Window struct {
	mu      sync.RWMutex
	series  map[Series]*seriesBuf
	scratch sync.Pool // *[]float64 for latency percentiles
}

type seriesBuf struct {
	pts []point // sorted by t; equal times keep arrival order
}

// point is the part of an Event the metrics need, 32 bytes instead of ~170,
// so that a million events stay small and quick to scan.
type point struct {
	t       int64 // unix nanoseconds
	latency float64
	cost    float64 // when flags&hasCost
	rating  float32 // when flags&hasRating
	flags   uint8
}

const (
	escalated uint8 = 1 << iota
	failed          // status other than ok
	hasDontKnow
	dontKnow
	hasCost
	hasRating
)

func toPoint(e *Event) point {
	p := point{t: e.Time.UnixNano(), latency: e.LatencyMS}
	if e.Escalated {
		p.flags |= escalated
	}
	if e.Status != "" && e.Status != StatusOK {
		p.flags |= failed
	}
	if e.DontKnow != nil {
		p.flags |= hasDontKnow
		if *e.DontKnow {
			p.flags |= dontKnow
		}
	}
	if e.CostUSD != nil {
		p.flags |= hasCost
		p.cost = *e.CostUSD
	}
	if e.Rating != nil {
		p.flags |= hasRating
		p.rating = float32(*e.Rating)
	}
	return p
}

// NewWindow returns an empty window.
func NewWindow() *Window {
	return &Window{series: map[Series]*seriesBuf{}}
}

func seriesOf(e *Event) Series {
	env := e.Environment
	if env == "" {
		env = DefaultEnvironment
	}
	return Series{Artifact: e.Artifact, Version: e.Version, Environment: env}
}

func normal(s Series) Series {
	if s.Environment == "" {
		s.Environment = DefaultEnvironment
	}
	return s
}

// Add stores events, in any order. Events that arrive in time order are
// appended; late ones are merged into place once per call and series.
func (w *Window) Add(events ...Event) {
	if len(events) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var (
		late    map[*seriesBuf][]point
		lastKey Series
		last    *seriesBuf
	)
	for i := range events {
		e := &events[i]
		key := seriesOf(e)
		if last == nil || key != lastKey {
			last = w.series[key]
			if last == nil {
				last = &seriesBuf{}
				w.series[key] = last
			}
			lastKey = key
		}
		p := toPoint(e)
		if n := len(last.pts); n == 0 || last.pts[n-1].t <= p.t {
			last.pts = append(last.pts, p)
			continue
		}
		if late == nil {
			late = map[*seriesBuf][]point{}
		}
		late[last] = append(late[last], p)
	}
	for s, ps := range late {
		s.merge(ps)
	}
}

// merge inserts ps, which may be in any order, into the sorted points.
// Only the tail from the earliest new point on is moved.
func (s *seriesBuf) merge(ps []point) {
	slices.SortStableFunc(ps, func(a, b point) int { return cmp.Compare(a.t, b.t) })
	from := upperBound(s.pts, ps[0].t)
	i := len(s.pts) - 1 // last old point
	s.pts = append(s.pts, ps...)
	j := len(ps) - 1 // last new point
	for k := len(s.pts) - 1; j >= 0; k-- {
		if i >= from && s.pts[i].t > ps[j].t {
			s.pts[k] = s.pts[i]
			i--
		} else {
			s.pts[k] = ps[j]
			j--
		}
	}
}

// Prune drops every event older than before. Keep what the triggers need:
// their longest window, and for above_previous_by the previous version's
// last window before the live version's first event, which is only in the
// window as long as the deploy is younger than the retention.
func (w *Window) Prune(before time.Time) {
	cut := before.UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, s := range w.series {
		n := lowerBound(s.pts, cut)
		if n == 0 {
			continue
		}
		if n == len(s.pts) {
			delete(w.series, key)
			continue
		}
		s.pts = s.pts[:copy(s.pts, s.pts[n:])]
	}
}

// Len returns how many events the window holds.
func (w *Window) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	n := 0
	for _, s := range w.series {
		n += len(s.pts)
	}
	return n
}

// Series lists the series that have events, by artifact, environment and
// version.
func (w *Window) Series() []Series {
	w.mu.RLock()
	out := make([]Series, 0, len(w.series))
	for k := range w.series {
		out = append(out, k)
	}
	w.mu.RUnlock()
	slices.SortFunc(out, func(a, b Series) int {
		return cmp.Or(cmp.Compare(a.Artifact, b.Artifact), cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// Versions lists, in ascending order, the versions of artifact that have
// events in environment env ("" is production).
func (w *Window) Versions(artifact, env string) []int {
	if env == "" {
		env = DefaultEnvironment
	}
	var out []int
	w.mu.RLock()
	for k := range w.series {
		if k.Artifact == artifact && k.Environment == env {
			out = append(out, k.Version)
		}
	}
	w.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Span returns the times of the first and last event of a series.
func (w *Window) Span(s Series) (first, last time.Time, ok bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	b := w.series[normal(s)]
	if b == nil || len(b.pts) == 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(0, b.pts[0].t).UTC(), time.Unix(0, b.pts[len(b.pts)-1].t).UTC(), true
}

// lastAtOrBefore returns the time of the series' last event at or before t.
func (w *Window) lastAtOrBefore(s Series, t time.Time) (time.Time, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	b := w.series[normal(s)]
	if b == nil {
		return time.Time{}, false
	}
	i := upperBound(b.pts, t.UnixNano())
	if i == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, b.pts[i-1].t).UTC(), true
}

// Stats summarises the events of one series.
//
// Rates are fractions (0..1) over the events in the range, except
// DontKnowRate, which is over the events that report dont_know. Latency
// percentiles use linear interpolation between the closest ranks (NumPy's
// default, spreadsheet PERCENTILE.INC: the p-th percentile of n sorted values
// sits at rank (n-1)·p/100), the same definition as the PR gate's report.
type Stats struct {
	Events         int
	EscalationRate float64
	DontKnowRate   float64
	DontKnowKnown  int // events that report dont_know
	ErrorRate      float64
	// CostPerEvent averages the events whose cost is known; nil when none is.
	CostPerEvent *float64
	CostKnown    int
	LatencyP50   float64
	LatencyP95   float64
	// RatingAvg averages the rated events; nil when none is rated.
	RatingAvg *float64
	Ratings   int
	// First and Last are the times of the first and last event in range.
	First, Last time.Time
}

// Value returns a metric in the unit triggers compare against: rates in
// percent (0..100), cost_per_event in USD, latencies in milliseconds, volume
// as a count of events, rating_avg on the 1..5 scale. ok is false when the
// metric is unknown or the events in range cannot tell (no events, no known
// cost, nobody rated).
func (s Stats) Value(metric string) (v float64, ok bool) {
	switch metric {
	case MetricVolume:
		return float64(s.Events), true
	case MetricEscalationRate:
		return 100 * s.EscalationRate, s.Events > 0
	case MetricErrorRate:
		return 100 * s.ErrorRate, s.Events > 0
	case MetricDontKnowRate:
		return 100 * s.DontKnowRate, s.DontKnowKnown > 0
	case MetricLatencyP50:
		return s.LatencyP50, s.Events > 0
	case MetricLatencyP95:
		return s.LatencyP95, s.Events > 0
	case MetricCostPerEvent:
		if s.CostPerEvent == nil {
			return 0, false
		}
		return *s.CostPerEvent, true
	case MetricRatingAvg:
		if s.RatingAvg == nil {
			return 0, false
		}
		return *s.RatingAvg, true
	}
	return 0, false
}

// Stats computes the metrics of series s over the events with
// from <= time <= to. A zero from or to leaves that side open.
func (w *Window) Stats(s Series, from, to time.Time) Stats {
	return w.stats(s, from, to, true)
}

// stats is Stats, leaving the latency percentiles at 0 unless latency is
// set: they cost most of the time, and most triggers do not need them.
func (w *Window) stats(s Series, from, to time.Time, latency bool) Stats {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = from.UnixNano()
	}
	if !to.IsZero() {
		hi = to.UnixNano()
	}
	var st Stats
	var lat *[]float64
	if latency {
		lat = w.latencies()
		defer w.scratch.Put(lat)
	}

	w.mu.RLock()
	b := w.series[normal(s)]
	if b == nil {
		w.mu.RUnlock()
		return st
	}
	i, j := lowerBound(b.pts, lo), upperBound(b.pts, hi)
	if j < i { // from after to
		j = i
	}
	pts := b.pts[i:j]
	st.Events = len(pts)
	if len(pts) == 0 {
		w.mu.RUnlock()
		return st
	}
	st.First, st.Last = time.Unix(0, pts[0].t).UTC(), time.Unix(0, pts[len(pts)-1].t).UTC()
	var esc, fail, dkKnown, dk, costs, ratings int
	var costSum, ratingSum float64
	var ls []float64
	if latency {
		ls = slices.Grow((*lat)[:0], len(pts))[:len(pts)]
		for i := range pts {
			ls[i] = pts[i].latency
		}
	}
	for i := range pts {
		p := &pts[i]
		f := p.flags
		if f == 0 {
			continue
		}
		if f&escalated != 0 {
			esc++
		}
		if f&failed != 0 {
			fail++
		}
		if f&hasDontKnow != 0 {
			dkKnown++
			if f&dontKnow != 0 {
				dk++
			}
		}
		if f&hasCost != 0 {
			costs++
			costSum += p.cost
		}
		if f&hasRating != 0 {
			ratings++
			ratingSum += float64(p.rating)
		}
	}
	w.mu.RUnlock()
	if latency {
		*lat = ls
	}

	n := float64(len(pts))
	st.EscalationRate = float64(esc) / n
	st.ErrorRate = float64(fail) / n
	st.DontKnowKnown = dkKnown
	if dkKnown > 0 {
		st.DontKnowRate = float64(dk) / float64(dkKnown)
	}
	st.CostKnown = costs
	if costs > 0 {
		c := costSum / float64(costs)
		st.CostPerEvent = &c
	}
	st.Ratings = ratings
	if ratings > 0 {
		r := ratingSum / float64(ratings)
		st.RatingAvg = &r
	}
	if latency {
		st.LatencyP50, st.LatencyP95 = percentiles(ls, 50, 95)
	}
	return st
}

func (w *Window) latencies() *[]float64 {
	if p, ok := w.scratch.Get().(*[]float64); ok {
		return p
	}
	return new([]float64)
}

// percentiles returns two percentiles (p <= q) of xs, reordering xs. It
// selects instead of sorting: O(n) on average.
func percentiles(xs []float64, p, q float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	a, k := percentileAt(xs, p)
	// Everything after index k is now >= xs[k]: q's ranks lie there.
	hq := float64(len(xs)-1) * q / 100
	kq := int(hq)
	if kq < k {
		kq = k
	}
	var b float64
	if kq == k {
		b = interpolate(xs, k, hq)
	} else {
		selectK(xs[k+1:], kq-k-1)
		b = interpolate(xs, kq, hq)
	}
	return a, b
}

// percentileAt selects the p-th percentile of xs and returns it with the
// index of its lower rank, which selectK has put in place.
func percentileAt(xs []float64, p float64) (float64, int) {
	h := float64(len(xs)-1) * p / 100
	k := int(h)
	selectK(xs, k)
	return interpolate(xs, k, h), k
}

// interpolate assumes xs[k] is the k-th smallest and nothing after it is
// smaller, and returns the value at fractional rank h (k <= h < k+1).
func interpolate(xs []float64, k int, h float64) float64 {
	lo := xs[k]
	frac := h - float64(k)
	if frac == 0 || k+1 >= len(xs) {
		return lo
	}
	hi := xs[k+1]
	for _, x := range xs[k+2:] {
		if x < hi {
			hi = x
		}
	}
	return lo + frac*(hi-lo)
}

// selectK reorders xs so that xs[k] is the k-th smallest (0-based), nothing
// before it is larger and nothing after it smaller (Hoare's quickselect with
// a median-of-three pivot, sorting outright if the partitions degenerate).
func selectK(xs []float64, k int) {
	lo, hi := 0, len(xs)-1
	for rounds := 0; hi > lo; rounds++ {
		if rounds > 64 {
			slices.Sort(xs[lo : hi+1])
			return
		}
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return // j < k < i: xs[k] equals the pivot and is in place
		}
	}
}

// lowerBound returns the first index whose time is >= t.
func lowerBound(pts []point, t int64) int {
	lo, hi := 0, len(pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].t < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// upperBound returns the first index whose time is > t.
func upperBound(pts []point, t int64) int {
	lo, hi := 0, len(pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].t <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
