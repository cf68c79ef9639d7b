package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// statusEvents writes n events of a version, one a minute from start:
// the first esc of them escalated, latency base + i*step.
func statusEvents(b *strings.Builder, version int, start time.Duration, n, esc int, base, step float64) {
	for i := range n {
		fmt.Fprintln(b, eventJSON(version, start+time.Duration(i)*time.Minute, base+float64(i)*step, fmt.Sprintf(`, "escalated": %v`, i < esc)))
	}
}

// ingestFor stores events through the CLI and returns the database.
func ingestFor(t *testing.T, dir, events string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "events.jsonl"), events)
	db := filepath.Join(dir, "pg.db")
	if code, _, errOut := run(t, dir, "ingest", "--database-url", db, "events.jsonl"); code != 0 {
		t.Fatalf("ingest: exit %d\n%s", code, errOut)
	}
	return db
}

// row returns the table row of a metric, split into its cells.
func row(t *testing.T, table, label string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, label+"  ") {
			return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(strings.TrimPrefix(line, label)), -1)
		}
	}
	t.Fatalf("no row %q in:\n%s", label, table)
	return nil
}

func TestStatusComparesLiveWithPrevious(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	// v14: 20 events, 2 escalated (10%), latencies 600..980 ms.
	statusEvents(&b, 14, 0, 20, 2, 600, 20)
	// v15: 20 events, 5 escalated (25%), latencies 1000..1760 ms.
	statusEvents(&b, 15, 20*time.Minute, 20, 5, 1000, 40)
	db := ingestFor(t, dir, b.String())

	code, out, errOut := run(t, dir, "status", "support-assistant", "--database-url", db)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// p95 of n sorted values sits at rank (n-1)*0.95 = 18.05: for v15
	// 1000 + 18.05*40 = 1722 ms, for v14 600 + 18.05*20 = 961 ms.
	want := map[string][]string{
		"metric":          {"v15 (live)", "v14", "delta"},
		"volume":          {"20", "20", "0"},
		"escalation rate": {"25.0%", "10.0%", "+15.0 pts"},
		"p95 latency":     {"1,722 ms", "961 ms", "+761 ms (+79%)"},
		"p50 latency":     {"1,380 ms", "790 ms", "+590 ms (+75%)"},
		// No event carries a cost and no prices are known: unknown, never $0.
		"cost per event":      {"unknown", "unknown", "unknown"},
		`"I don't know" rate`: {"unknown", "unknown", "unknown"},
		"error rate":          {"0.0%", "0.0%", "0.0 pts"},
	}
	for label, cells := range want {
		if got := row(t, out, label); strings.Join(got, "|") != strings.Join(cells, "|") {
			t.Errorf("row %q = %q, want %q", label, got, cells)
		}
	}
	if !strings.Contains(out, "live v15 (newest event), previous v14 (events)") {
		t.Errorf("header:\n%s", out)
	}

	// A window that only reaches v15: v14 is shown over its own last window.
	code, out, _ = run(t, dir, "status", "--window", "10m", "--database-url", db, "support-assistant")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if got := row(t, out, "volume"); got[0] != "11" || got[1] != "11" {
		t.Errorf("10m window volume: %q\n%s", got, out)
	}
	if !strings.Contains(out, "v14 has no events in this window") {
		t.Errorf("no note on v14's window:\n%s", out)
	}
}

func TestStatusJSONFollowsTheEnvironmentPointer(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	statusEvents(&b, 13, 0, 4, 0, 100, 1)
	statusEvents(&b, 14, 10*time.Minute, 4, 1, 100, 1)
	// v15 was rolled back: it has the newest events, but the pointer says 14.
	statusEvents(&b, 15, 20*time.Minute, 4, 4, 100, 1)
	fmt.Fprintln(&b, eventJSON(14, 30*time.Minute, 100, `, "cost_usd": 0.004`))
	db := ingestFor(t, dir, b.String())
	cfg := t.TempDir()
	writeFile(t, filepath.Join(cfg, "promptgate.yaml"), "prices: {}\n")
	if err := os.MkdirAll(filepath.Join(cfg, "environments"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cfg, "environments", "production.yaml"), "support-assistant: 14\n")

	code, out, errOut := run(t, dir, "status", "support-assistant", "--repo", cfg, "--database-url", db, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var r struct {
		Live, Previous struct {
			Version   int
			Source    string
			Metrics   map[string]*float64
			CostKnown int `json:"cost_known"`
		}
		Delta  map[string]*float64
		Others []struct{ Version, Events int }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Live.Version != 14 || !strings.HasSuffix(r.Live.Source, "environments/production.yaml") || r.Previous.Version != 13 {
		t.Fatalf("live %d (%s), previous %d", r.Live.Version, r.Live.Source, r.Previous.Version)
	}
	if v := r.Live.Metrics["escalation_rate"]; v == nil || *v != 20 { // 1 of 5
		t.Errorf("live escalation_rate %v", v)
	}
	if v := r.Live.Metrics["cost_per_event"]; v == nil || *v != 0.004 || r.Live.CostKnown != 1 {
		t.Errorf("live cost %v from %d known", v, r.Live.CostKnown)
	}
	if v := r.Previous.Metrics["cost_per_event"]; v != nil {
		t.Errorf("previous cost %v, want null (unknown)", *v)
	}
	if v := r.Delta["escalation_rate"]; v == nil || *v != 20 {
		t.Errorf("delta escalation_rate %v", v)
	}
	if d, ok := r.Delta["cost_per_event"]; !ok || d != nil {
		t.Errorf("delta cost_per_event %v, want null", d)
	}
	if len(r.Others) != 1 || r.Others[0].Version != 15 || r.Others[0].Events != 4 {
		t.Errorf("others %+v, want v15 with 4 events", r.Others)
	}
}

func TestStatusWithoutEvents(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pg.db")
	// No store yet: say so, and do not create one.
	code, _, errOut := run(t, dir, "status", "support-assistant", "--database-url", db)
	if code != 1 || !strings.Contains(errOut, "no events for support-assistant in production: there is no store") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("status created a store")
	}
	ingestFor(t, dir, eventJSON(15, 0, 1, "")+"\n")
	code, _, errOut = run(t, dir, "status", "support-asistant", "--database-url", db)
	if code != 1 || !strings.Contains(errOut, `no events for support-asistant in production`) ||
		!strings.Contains(errOut, "events exist for support-assistant (production)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if code, _, _ := run(t, dir, "status", "--database-url", db); code != 2 {
		t.Fatalf("no artifact: exit %d, want 2", code)
	}
}
