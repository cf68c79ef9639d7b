package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/promptgate/promptgate/monitor"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
	"github.com/promptgate/promptgate/store"
)

// statusMetrics are the rows of the status table, in order.
var statusMetrics = []struct{ name, label string }{
	{monitor.MetricVolume, "volume"},
	{monitor.MetricEscalationRate, "escalation rate"},
	{monitor.MetricDontKnowRate, `"I don't know" rate`},
	{monitor.MetricErrorRate, "error rate"},
	{monitor.MetricCostPerEvent, "cost per event"},
	{monitor.MetricLatencyP50, "p50 latency"},
	{monitor.MetricLatencyP95, "p95 latency"},
	{monitor.MetricRatingAvg, "avg rating"},
}

// statusReport is what `promptgate status` shows; --json prints it as is.
// Metric values are in the units of monitor.Stats.Value (rates in
// percent); null means unknown.
type statusReport struct {
	Artifact    string        `json:"artifact"`
	Environment string        `json:"environment"`
	Window      string        `json:"window"`
	From        time.Time     `json:"from,omitzero"`
	To          time.Time     `json:"to,omitzero"`
	Live        *statusColumn `json:"live"`
	Previous    *statusColumn `json:"previous"`
	// Delta is live minus previous (points for rates).
	Delta   map[string]*float64 `json:"delta,omitempty"`
	Others  []statusOther       `json:"others,omitempty"`
	Notes   []string            `json:"notes,omitempty"`
	Message string              `json:"message,omitempty"`
}

// statusColumn is one version's metrics over its window.
type statusColumn struct {
	Version int `json:"version"`
	// Source says how the version was chosen: the environment file, the
	// newest event, the events or the deploy records.
	Source        string              `json:"source"`
	From          time.Time           `json:"from,omitzero"`
	To            time.Time           `json:"to,omitzero"`
	Metrics       map[string]*float64 `json:"metrics"`
	CostKnown     int                 `json:"cost_known"`
	DontKnowKnown int                 `json:"dont_know_known"`
	Ratings       int                 `json:"ratings"`
	stats         monitor.Stats
}

// statusOther is another version with events in the window, such as a
// canary.
type statusOther struct {
	Version int `json:"version"`
	Events  int `json:"events"`
}

func runStatus(ctx context.Context, c *cli, args []string) int {
	fl := c.flags("status", "<artifact> [--env production] [--window 1h] [--database-url URL] [--repo DIR] [--json]", `
Compares the live version of an artifact with the previous one over the last
--window of event time, ending at the newest stored event (not the clock, so
recorded data shows too): volume, escalation, "I don't know" and error rates,
cost per event, p50/p95 latency and average rating. The live version is the
environment's pointer in the config repo (--repo, or found from the current
directory), else the version of the newest event; the previous one is the
next lower version with events, else with a deploy record. Exit 0; 1 when
there are no events for the artifact; 2 on a usage error; 3 on an error.`)
	envName := fl.String("env", monitor.DefaultEnvironment, "environment")
	window := fl.Duration("window", time.Hour, "span of event time to compare over")
	dbURL := fl.String("database-url", "", "store: a SQLite file, or postgres://… (overrides PROMPTGATE_DATABASE_URL)")
	repoFlag := fl.String("repo", "", "config repo directory (default: found from the current directory)")
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	pos, code, done := c.parseArgs(fl, args)
	if done {
		return code
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintf(c.stderr, "promptgate status: want one artifact name, got %d arguments\n", len(pos))
		return 2
	case *window <= 0:
		fmt.Fprintln(c.stderr, "promptgate status: --window must be positive")
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(c.stderr, "promptgate status: "+format+"\n", args...)
		return exitError
	}
	r := &statusReport{Artifact: pos[0], Environment: *envName, Window: formatDuration(*window)}

	// The pointer, when the config repo has one. Problems in the
	// environment file are shown, not hidden; status only reads, so it
	// goes on with what could be read.
	repo, dir, err := configRepo(c, *repoFlag)
	if err != nil {
		return fail("%v", err)
	}
	var live int
	var liveSource string
	if repo != nil {
		envFile := path.Join(registry.EnvironmentsDir, *envName+".yaml")
		e := repo.Environments[*envName]
		if e != nil {
			envFile = e.Path
		}
		for _, p := range problemsIn(c, repo, dir, envFile) {
			fmt.Fprintf(c.stderr, "warning: %s\n", p)
		}
		if e != nil {
			if entry, ok := e.Entries[r.Artifact]; ok && entry.Version > 0 {
				live, liveSource = entry.Version, relPath(c.cwd, dir, e.Path)
				if cn := entry.Canary; cn != nil && cn.Version > 0 {
					r.Notes = append(r.Notes, fmt.Sprintf("canary: v%d gets %v%% of the traffic", cn.Version, cn.Weight))
				}
			} else {
				r.Notes = append(r.Notes, fmt.Sprintf("%s has no pointer for %s: live is the version of the newest event", relPath(c.cwd, dir, e.Path), r.Artifact))
			}
		}
	}

	// Reading must not leave an empty database behind where none was.
	dbFile, err := storeURL(c, *dbURL)
	if err != nil {
		return fail("%v", err)
	}
	if p := sqliteFile(dbFile); p != "" {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			r.Message = fmt.Sprintf("no events for %s in %s: there is no store at %s yet (promptgate ingest FILE.jsonl creates it)", r.Artifact, r.Environment, p)
			return r.print(c, *asJSON)
		}
	}
	st, err := store.Open(ctx, dbFile)
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	versions, err := st.EventVersions(ctx, r.Artifact, r.Environment)
	if err != nil {
		return fail("%v", err)
	}
	if len(versions) == 0 {
		r.Message = fmt.Sprintf("no events for %s in %s in the %s store", r.Artifact, r.Environment, st.Backend())
		if srcs, err := st.EventSources(ctx); err == nil && len(srcs) > 0 {
			names := make([]string, len(srcs))
			for i, s := range srcs {
				names[i] = s.Artifact + " (" + s.Environment + ")"
			}
			r.Message += "; events exist for " + strings.Join(names, ", ")
		} else if err == nil {
			r.Message += "; it holds no events yet (promptgate ingest FILE.jsonl stores some)"
		}
		return r.print(c, *asJSON)
	}

	// The window ends at the newest event of the artifact here.
	newest := versions[0]
	for _, v := range versions[1:] {
		if !v.Last.Before(newest.Last) {
			newest = v
		}
	}
	r.To = newest.Last
	r.From = r.To.Add(-*window)
	if live == 0 {
		live, liveSource = newest.Version, "newest event"
	}
	prev, prevSource := 0, ""
	for _, v := range versions {
		if v.Version < live {
			prev, prevSource = v.Version, "events"
		}
	}
	if prev == 0 {
		deployed, err := st.DeployedVersions(ctx, r.Artifact)
		if err != nil {
			return fail("%v", err)
		}
		for _, v := range deployed {
			if v < live {
				prev, prevSource = v, "deploy records"
			}
		}
	}

	w := monitor.NewWindow()
	load := func(version int, from, to time.Time) (int, error) {
		events, err := st.SeriesEvents(ctx, r.Artifact, r.Environment, version, from, to)
		if err != nil {
			return 0, err
		}
		// Converted a slice at a time: a long window holds many events.
		batch := make([]monitor.Event, 0, min(len(events), 4096))
		for start := 0; start < len(events); start += cap(batch) {
			batch = batch[:0]
			for i := start; i < min(start+cap(batch), len(events)); i++ {
				batch = append(batch, monitorEvent(&events[i]))
			}
			w.Add(batch...)
		}
		return len(events), nil
	}
	if _, err := load(live, r.From, r.To); err != nil {
		return fail("%v", err)
	}
	r.Live = newStatusColumn(w, r, live, liveSource, r.From, r.To)
	if prev > 0 {
		from, to := r.From, r.To
		n, err := load(prev, from, to)
		if err != nil {
			return fail("%v", err)
		}
		// A replaced version may have no events in the window: compare
		// with its last window instead, as the triggers do.
		if n == 0 {
			for _, v := range versions {
				if v.Version == prev {
					to = v.Last
					from = to.Add(-*window)
					if _, err := load(prev, from, to); err != nil {
						return fail("%v", err)
					}
					r.Notes = append(r.Notes, fmt.Sprintf("v%d has no events in this window: its column is its last %s of events, %s to %s",
						prev, r.Window, formatTime(from), formatTime(to)))
				}
			}
		}
		r.Previous = newStatusColumn(w, r, prev, prevSource, from, to)
		if r.Previous.stats.Events == 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("v%d (from the %s) has no events in %s", prev, prevSource, r.Environment))
		}
		r.Delta = map[string]*float64{}
		for _, m := range statusMetrics {
			a, b := r.Live.Metrics[m.name], r.Previous.Metrics[m.name]
			if a != nil && b != nil {
				d := *a - *b
				r.Delta[m.name] = &d
			} else {
				r.Delta[m.name] = nil
			}
		}
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("no version of %s below v%d has events or a deploy record: nothing to compare with", r.Artifact, live))
	}
	for _, v := range versions {
		if v.Version == live || v.Version == prev || v.Last.Before(r.From) {
			continue
		}
		n, err := st.SeriesEvents(ctx, r.Artifact, r.Environment, v.Version, r.From, r.To)
		if err != nil {
			return fail("%v", err)
		}
		if len(n) > 0 {
			r.Others = append(r.Others, statusOther{Version: v.Version, Events: len(n)})
		}
	}
	return r.print(c, *asJSON)
}

// newStatusColumn computes one version's metrics with monitor.Window, the same
// computation the triggers use.
func newStatusColumn(w *monitor.Window, r *statusReport, version int, source string, from, to time.Time) *statusColumn {
	s := w.Stats(monitor.Series{Artifact: r.Artifact, Version: version, Environment: r.Environment}, from, to)
	col := &statusColumn{Version: version, Source: source, From: from, To: to, Metrics: map[string]*float64{},
		CostKnown: s.CostKnown, DontKnowKnown: s.DontKnowKnown, Ratings: s.Ratings, stats: s}
	for _, m := range statusMetrics {
		if v, ok := s.Value(m.name); ok {
			col.Metrics[m.name] = &v
		} else {
			col.Metrics[m.name] = nil
		}
	}
	return col
}

func monitorEvent(e *store.Event) monitor.Event {
	return monitor.Event{
		Time: e.Time, Artifact: e.Artifact, Version: e.Version, Environment: e.Environment, Model: e.Model,
		InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, CostUSD: e.CostUSD, LatencyMS: e.LatencyMS,
		Status: e.Status, Escalated: e.Escalated, DontKnow: e.DontKnow, Rating: e.Rating,
	}
}

func (r *statusReport) print(c *cli, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(c.stderr, "promptgate status: %v\n", err)
			return exitError
		}
		if r.Live == nil {
			return 1
		}
		return 0
	}
	if r.Live == nil {
		// Nothing to show is not success for a script asking about it.
		fmt.Fprintln(c.stderr, r.Message)
		return 1
	}
	r.table(c.stdout)
	return 0
}

// table writes the report for people.
func (r *statusReport) table(w io.Writer) {
	fmt.Fprintf(w, "%s in %s: last %s of events, %s to %s\n", r.Artifact, r.Environment, r.Window, formatTime(r.From), formatTime(r.To))
	fmt.Fprintf(w, "live v%d (%s)", r.Live.Version, r.Live.Source)
	if r.Previous != nil {
		fmt.Fprintf(w, ", previous v%d (%s)", r.Previous.Version, r.Previous.Source)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	prevHead := "previous"
	if r.Previous != nil {
		prevHead = fmt.Sprintf("v%d", r.Previous.Version)
	}
	fmt.Fprintf(tw, "metric\tv%d (live)\t%s\tdelta\n", r.Live.Version, prevHead)
	for _, m := range statusMetrics {
		prev, delta := "n/a", "n/a"
		if r.Previous != nil {
			prev = r.Previous.cell(m.name)
			delta = r.deltaCell(m.name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.label, r.Live.cell(m.name), prev, delta)
	}
	tw.Flush()
	if len(r.Others) > 0 {
		parts := make([]string, len(r.Others))
		for i, o := range r.Others {
			parts[i] = fmt.Sprintf("v%d (%s)", o.Version, plural(o.Events, "event"))
		}
		r.Notes = append(r.Notes, "also in this window: "+strings.Join(parts, ", "))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}

// cell formats one metric of a column: "unknown" when its events cannot
// tell (never 0 for an unknown cost), "n/a" when it has no events.
func (col *statusColumn) cell(metric string) string {
	s := col.stats
	if metric == monitor.MetricVolume {
		return report.Thousands(int(s.Events))
	}
	if s.Events == 0 {
		return "n/a"
	}
	v := col.Metrics[metric]
	if v == nil {
		return "unknown"
	}
	out := formatStatusValue(metric, *v)
	switch {
	case metric == monitor.MetricCostPerEvent && s.CostKnown < s.Events:
		out += fmt.Sprintf(" (%s of %s known)", report.Thousands(int(s.CostKnown)), report.Thousands(int(s.Events)))
	case metric == monitor.MetricDontKnowRate && s.DontKnowKnown < s.Events:
		out += fmt.Sprintf(" (of %s reporting)", report.Thousands(int(s.DontKnowKnown)))
	case metric == monitor.MetricRatingAvg:
		out += fmt.Sprintf(" (%s rated)", report.Thousands(int(s.Ratings)))
	}
	return out
}

// deltaCell formats live minus previous, with the relative change for cost
// and latency.
func (r *statusReport) deltaCell(metric string) string {
	if r.Live.stats.Events == 0 && metric != monitor.MetricVolume || r.Previous.stats.Events == 0 && metric != monitor.MetricVolume {
		return "n/a"
	}
	d := r.Delta[metric]
	if d == nil {
		return "unknown"
	}
	sign := func(x float64) string {
		if x > 0 {
			return "+"
		}
		if x < 0 {
			return "-"
		}
		return ""
	}
	a := math.Abs(*d)
	var out string
	switch metric {
	case monitor.MetricVolume:
		out = sign(*d) + report.Thousands(int(a))
	case monitor.MetricEscalationRate, monitor.MetricDontKnowRate, monitor.MetricErrorRate:
		if a < 0.05 {
			return "0.0 pts"
		}
		out = sign(*d) + strconv.FormatFloat(a, 'f', 1, 64) + " pts"
	case monitor.MetricRatingAvg:
		out = sign(*d) + strconv.FormatFloat(a, 'f', 2, 64)
	default:
		out = sign(*d) + formatStatusValue(metric, a)
	}
	if metric == monitor.MetricCostPerEvent || metric == monitor.MetricLatencyP50 || metric == monitor.MetricLatencyP95 {
		if p := r.Previous.Metrics[metric]; p != nil && *p != 0 {
			out += fmt.Sprintf(" (%s%.0f%%)", sign(*d), 100*a / *p)
		}
	}
	return out
}

// formatStatusValue writes a value in its metric's unit.
func formatStatusValue(metric string, v float64) string {
	switch metric {
	case monitor.MetricEscalationRate, monitor.MetricDontKnowRate, monitor.MetricErrorRate:
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case monitor.MetricCostPerEvent:
		return usd(v)
	case monitor.MetricLatencyP50, monitor.MetricLatencyP95:
		return report.Thousands(int(math.Round(v))) + " ms"
	case monitor.MetricVolume:
		return report.Thousands(int(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// usd writes dollars with cents, or with four significant digits below a
// dollar (a cost per event is often a fraction of a cent).
func usd(v float64) string {
	a := math.Abs(v)
	if a >= 1 || a == 0 {
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	digits := min(int(-math.Floor(math.Log10(a)))+3, 12)
	s := strconv.FormatFloat(v, 'f', digits, 64)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return "$" + s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return report.Thousands(int(n)) + " " + word + "s"
}

// sqliteFile returns the file of a SQLite store URL in plain path or
// sqlite:// form, or "" for any other URL.
func sqliteFile(u string) string {
	switch {
	case strings.HasPrefix(u, "sqlite://"):
		p, _, _ := strings.Cut(strings.TrimPrefix(u, "sqlite://"), "?")
		return p
	case strings.Contains(u, "://"), strings.HasPrefix(u, "file:"), strings.Contains(u, ":memory:"):
		return ""
	}
	p, _, _ := strings.Cut(u, "?")
	return p
}

// formatDuration writes 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
