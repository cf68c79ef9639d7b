package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/promptgate/promptgate/monitor"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
	"github.com/promptgate/promptgate/store"
)

// monitorLoop follows production: it reads new events from the store into
// a sliding window, evaluates the config repo's triggers on an interval,
// exports per-version metrics, and queues a revert job when a trigger fires.
type monitorLoop struct {
	s      *Server
	window *monitor.Window
	lastID int64

	mu       sync.Mutex
	snap     *snapshot
	eval     *monitor.Evaluator
	triggers string // the triggers the evaluator was built from, as JSON
	// firing is when a revert job was queued for each firing trigger.
	firing map[string]time.Time
	// recent are ids past lastID already in the window.
	recent map[int64]bool
	kick   chan struct{}
}

// holdsState is the store key of the triggers' "holding since" times.
const holdsState = "monitor.holds"

// commitSlack bounds how long an event's transaction can stay open after
// its id was handed out.
const commitSlack = 10 * time.Second

// revertRetry is how long a firing trigger waits for its revert PR before
// it queues the revert again.
const revertRetry = 2 * time.Minute

// incidentHasPR says whether a firing result's incident got its PR, or was
// settled without one.
func (m *monitorLoop) incidentHasPR(ctx context.Context, snap *snapshot, r monitor.Result) bool {
	inc, err := m.s.store.IncidentOf(ctx, snap.FullName(), r.Artifact, r.Environment, r.Version)
	return err == nil && (inc.PR != 0 || inc.Status != store.IncidentOpen)
}

// keepEvents is how much event history the window holds: enough for the
// longest trigger window and for a previous version's baseline after a deploy.
const keepEvents = 24 * time.Hour

func newMonitorLoop(s *Server) *monitorLoop {
	return &monitorLoop{s: s, window: monitor.NewWindow(), firing: map[string]time.Time{}, recent: map[int64]bool{}, kick: make(chan struct{}, 1)}
}

func (m *monitorLoop) interval() time.Duration {
	if m.s.settings.MonitorInterval > 0 {
		return m.s.settings.MonitorInterval
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.snap != nil && m.snap.Repo.Config.Monitor.Interval > 0 {
		return m.snap.Repo.Config.Monitor.Interval.D()
	}
	return time.Minute
}

func (m *monitorLoop) run(ctx context.Context) {
	for {
		if err := m.tick(ctx, time.Now()); err != nil && ctx.Err() == nil {
			m.s.log.Warn("monitor", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-time.After(m.interval()):
		}
	}
}

// prices are the config repo's token prices, for events without a cost.
func (m *monitorLoop) prices() map[string]registry.Price {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.snap == nil {
		return nil
	}
	return m.snap.Repo.Config.Prices
}

// knows says why an alert's artifact and environment cannot be acted on,
// or "" when they can.
func (m *monitorLoop) knows(artifact, env string) string {
	if artifact == "" {
		return "no artifact label: alerts must say which artifact they are about"
	}
	m.mu.Lock()
	snap := m.snap
	m.mu.Unlock()
	if snap == nil && m.s.config != nil {
		var err error
		if snap, err = m.s.config.refresh(context.Background()); err != nil {
			return "the config repo cannot be read: " + err.Error()
		}
		m.mu.Lock()
		m.snap = snap
		m.mu.Unlock()
	}
	if snap == nil {
		return "no config repo configured (PROMPTGATE_CONFIG_REPO)"
	}
	if _, ok := snap.Repo.Artifacts[artifact]; !ok {
		return fmt.Sprintf("unknown artifact %q: %s has no artifacts/%s.yaml", artifact, snap.FullName(), artifact)
	}
	e, ok := snap.Repo.Environments[env]
	if !ok {
		return fmt.Sprintf("unknown environment %q: %s has no environments/%s.yaml", env, snap.FullName(), env)
	}
	if _, ok := e.Entries[artifact]; !ok {
		return fmt.Sprintf("artifact %q is not deployed in %s", artifact, env)
	}
	return ""
}

// tick is one evaluation: refresh, read, prune, evaluate, act.
func (m *monitorLoop) tick(ctx context.Context, now time.Time) error {
	if m.lastID == 0 {
		// After a start, read only what the window keeps.
		id, err := m.s.store.EventIDBefore(ctx, now.Add(-keepEvents))
		if err != nil {
			return err
		}
		m.lastID = id
	}
	// Ids are handed out before commit, so on PostgreSQL a lower id can
	// become visible after a higher one. The reader only moves its
	// position past events received more than commitSlack ago, and
	// remembers the newer ones it already added.
	safe := m.lastID
	for after := m.lastID; ; {
		batch, err := m.s.store.EventsAfter(ctx, after, 10000)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		var events []monitor.Event
		for _, e := range batch {
			if !m.recent[e.ID] {
				events = append(events, fromStoreEvent(e))
			}
			if e.ReceivedAt.Before(now.Add(-commitSlack)) && safe == after {
				safe = e.ID
				delete(m.recent, e.ID)
			} else {
				m.recent[e.ID] = true
			}
			after = e.ID
		}
		m.window.Add(events...)
	}
	for id := range m.recent {
		if id <= safe {
			delete(m.recent, id)
		}
	}
	m.lastID = safe
	m.window.Prune(now.Add(-keepEvents))
	if m.s.config == nil {
		return nil
	}
	snap, err := m.s.config.refresh(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.snap = snap
	cfg := snap.Repo.Config
	raw, _ := json.Marshal(cfg.Triggers)
	if m.eval == nil || string(raw) != m.triggers {
		ev := monitor.NewEvaluator(cfg.Triggers)
		if m.eval != nil {
			ev.Restore(m.eval.State())
		} else if saved, ok, err := m.s.store.GetState(ctx, holdsState); err == nil && ok {
			// After a restart a condition that held keeps its start time,
			// so `for` does not begin again from zero.
			var holds []monitor.Hold
			if json.Unmarshal([]byte(saved), &holds) == nil {
				ev.Restore(holds)
			}
		}
		m.eval, m.triggers = ev, string(raw)
	}
	eval := m.eval
	m.mu.Unlock()

	var live []monitor.Live
	for _, envName := range slices.Sorted(maps.Keys(snap.Repo.Environments)) {
		env := snap.Repo.Environments[envName]
		for _, name := range slices.Sorted(maps.Keys(env.Entries)) {
			entry := env.Entries[name]
			v := entry.Version
			prev := m.previous(ctx, snap, name, v)
			live = append(live, monitor.Live{Artifact: name, Environment: envName, Version: v, Previous: prev})
			if c := entry.Canary; c != nil {
				// A canary is watched too, against the version beside it.
				live = append(live, monitor.Live{Artifact: name, Environment: envName, Version: c.Version, Previous: v})
				m.exportSeries(name, envName, c.Version, now)
			}
			m.exportSeries(name, envName, v, now)
			if prev > 0 {
				m.exportSeries(name, envName, prev, now)
			}
		}
	}
	results := eval.Evaluate(now, m.window, live)
	if holds, err := json.Marshal(eval.State()); err == nil {
		if err := m.s.store.SetState(ctx, holdsState, string(holds)); err != nil {
			m.s.log.Warn("save trigger state", "error", err)
		}
	}
	for _, r := range results {
		key := fmt.Sprintf("%s|%s|%s|%d", r.Trigger, r.Artifact, r.Environment, r.Version)
		gauge := m.s.metrics.triggers.WithLabelValues(r.Trigger, r.Artifact, strconv.Itoa(r.Version), r.Environment)
		if !r.Firing {
			gauge.Set(0)
			delete(m.firing, key)
			continue
		}
		gauge.Set(1)
		if queued, ok := m.firing[key]; ok {
			// Already acted on while it keeps firing, unless that revert
			// job failed: then the incident still has no PR, so try again.
			if now.Sub(queued) < revertRetry || m.incidentHasPR(ctx, snap, r) {
				continue
			}
		}
		m.firing[key] = now
		job := RevertJob{Artifact: r.Artifact, Environment: r.Environment, Version: r.Version, Source: "trigger " + r.Trigger,
			Status: "firing", Reason: r.Reason, Evidence: m.evidence(r, now), ReceivedAt: now}
		body, _ := json.Marshal(job)
		if _, _, err := m.s.store.Enqueue(ctx, KindRevert, "", body); err != nil {
			delete(m.firing, key)
			return err
		}
		m.s.log.Warn("trigger fired", "trigger", r.Trigger, "artifact", r.Artifact, "environment", r.Environment, "version", r.Version, "reason", r.Reason)
		m.s.queue.wake()
	}
	return nil
}

// previous is the version `live` replaced, for above_previous_by: the
// deploy before it, else the newest tag below it, else live-1.
func (m *monitorLoop) previous(ctx context.Context, snap *snapshot, artifact string, live int) int {
	if deploys, err := m.s.store.Deploys(ctx, snap.FullName(), artifact); err == nil {
		for _, d := range deploys {
			if d.Version < live {
				return d.Version
			}
		}
	}
	best := 0
	if tags, err := snap.Git.Tags(artifact); err == nil {
		for _, t := range tags {
			if t < live && t > best {
				best = t
			}
		}
	}
	if best == 0 && live > 1 {
		best = live - 1
	}
	return best
}

// exportWindow is the span the per-version gauges on /metrics cover.
const exportWindow = 15 * time.Minute

func (m *monitorLoop) exportSeries(artifact, env string, version int, now time.Time) {
	st := m.window.Stats(monitor.Series{Artifact: artifact, Version: version, Environment: env}, now.Add(-exportWindow), now)
	v := strconv.Itoa(version)
	for _, metric := range []string{monitor.MetricVolume, monitor.MetricEscalationRate, monitor.MetricDontKnowRate, monitor.MetricErrorRate,
		monitor.MetricCostPerEvent, monitor.MetricLatencyP50, monitor.MetricLatencyP95} {
		if val, ok := st.Value(metric); ok {
			m.s.metrics.series.WithLabelValues(artifact, v, env, metric).Set(val)
		}
	}
}

// evidence is the revert PR's table: the live and previous versions over
// the trigger's window.
func (m *monitorLoop) evidence(r monitor.Result, now time.Time) string {
	from := now.Add(-r.Window)
	cur := m.window.Stats(monitor.Series{Artifact: r.Artifact, Version: r.Version, Environment: r.Environment}, from, now)
	var b strings.Builder
	fmt.Fprintf(&b, "| over the last %s | v%d (live)", r.Window, r.Version)
	var prev monitor.Stats
	if r.Previous > 0 {
		prev = m.window.Stats(monitor.Series{Artifact: r.Artifact, Version: r.Previous, Environment: r.Environment}, from, now)
		if prev.Events == 0 {
			// The previous version served before the deploy: its last window.
			if _, last, ok := m.window.Span(monitor.Series{Artifact: r.Artifact, Version: r.Previous, Environment: r.Environment}); ok {
				prev = m.window.Stats(monitor.Series{Artifact: r.Artifact, Version: r.Previous, Environment: r.Environment}, last.Add(-r.Window), last)
			}
		}
		fmt.Fprintf(&b, " | v%d (previous)", r.Previous)
	}
	b.WriteString(" |\n|:--|--:|")
	if r.Previous > 0 {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	row := func(label, metric string, format func(float64) string) {
		cell := func(st monitor.Stats) string {
			if v, ok := st.Value(metric); ok {
				return format(v)
			}
			return "unknown"
		}
		fmt.Fprintf(&b, "| %s | %s", label, cell(cur))
		if r.Previous > 0 {
			fmt.Fprintf(&b, " | %s", cell(prev))
		}
		b.WriteString(" |\n")
	}
	pct := func(v float64) string { return fmt.Sprintf("%.1f%%", v) }
	ms := func(v float64) string { return fmt.Sprintf("%.0f ms", v) }
	row("events", monitor.MetricVolume, func(v float64) string { return strconv.Itoa(int(v)) })
	row("escalation rate", monitor.MetricEscalationRate, pct)
	row(`"I don't know" rate`, monitor.MetricDontKnowRate, pct)
	row("error rate", monitor.MetricErrorRate, pct)
	row("cost per event", monitor.MetricCostPerEvent, func(v float64) string { return fmt.Sprintf("$%.4f", v) })
	row("latency p50", monitor.MetricLatencyP50, ms)
	row("latency p95", monitor.MetricLatencyP95, ms)
	return "**Evidence** (" + report.Inline(r.Trigger) + ")\n\n" + b.String()
}
