package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/store"
)

// runContext is run with a context the test controls.
func runContext(ctx context.Context, cwd string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, cwd: cwd}
	code := c.main(ctx, args)
	return code, out.String(), errb.String()
}

// eventsBase is a recent hour: events must not lie in the future.
var eventsBase = time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)

// eventJSON is one event line; latency_ms tells the events apart.
func eventJSON(version int, at time.Duration, latency float64, extra string) string {
	return fmt.Sprintf(`{"time": %q, "artifact": "support-assistant", "version": %d, "latency_ms": %v%s}`,
		eventsBase.Add(at).Format(time.RFC3339), version, latency, extra)
}

// storedEvents reads every event in the SQLite store at db.
func storedEvents(t *testing.T, db string) []store.Event {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.EventsAfter(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func latencies(events []store.Event) []float64 {
	out := make([]float64, len(events))
	for i, e := range events {
		out[i] = e.LatencyMS
	}
	slices.Sort(out)
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIngestKeepsGoodEventsAndReportsBadLines(t *testing.T) {
	cfg := t.TempDir()
	writeFile(t, filepath.Join(cfg, "promptgate.yaml"), "prices:\n  gpt-4o-2024-08-06: {input: 2.5, output: 10}\n")
	lines := []string{
		eventJSON(15, 0, 1, `, "model": "gpt-4o-2024-08-06", "input_tokens": 812, "output_tokens": 164`), // cost from prices
		`{"time": "2026-12-03T10:00:00Z", "artifact": "support-assistant", "latency_ms": 5}`,             // no version
		"",
		"not json at all",
		"  more junk",
		eventJSON(15, time.Minute, 2, `, "model": "unpriced-model", "input_tokens": 10, "output_tokens": 10`), // cost unknown
		eventJSON(14, 2*time.Minute, 3, `, "cost_usd": 0.5, "rating": 4, "dont_know": true, "escalated": true`),
		`[` + eventJSON(14, 3*time.Minute, 4, "") + `]`, // a line that is a batch of its own
		eventJSON(14, 4*time.Minute, 5, `, "status": "broken"`),
		eventJSON(15, 5*time.Minute, 6, "") + "\n" + `{"artifact": "support-assistant", "version": 15`, // ends inside an event
	}
	input := strings.Join(lines, "\n")
	wantErr := []string{
		"events.jsonl:2: version is required",
		"events.jsonl:4: invalid JSON",
		"(lines 4-5 skipped)",
		`events.jsonl:9: status "broken" must be ok, error or timeout`,
		"events.jsonl:11: invalid JSON: the input ends inside this event",
		"ingested 5 events (4 rejected) into sqlite",
	}
	// The batch size changes how the input is cut, never what is reported.
	for _, batch := range []string{"1", "2", "1000"} {
		t.Run("batch "+batch, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "events.jsonl"), input)
			db := filepath.Join(dir, "pg.db")
			code, _, errOut := run(t, dir, "ingest", "--database-url", db, "--repo", cfg, "--batch", batch, "events.jsonl")
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, errOut)
			}
			for _, w := range wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			events := storedEvents(t, db)
			if got := latencies(events); !slices.Equal(got, []float64{1, 2, 3, 4, 6}) {
				t.Fatalf("stored latencies %v, want 1, 2, 3, 4, 6", got)
			}
			byLatency := map[float64]store.Event{}
			for _, e := range events {
				byLatency[e.LatencyMS] = e
			}
			if c := byLatency[1].CostUSD; c == nil || *c != (812*2.5+164*10)/1e6 {
				t.Errorf("cost from prices: %v", c)
			}
			if c := byLatency[2].CostUSD; c != nil {
				t.Errorf("unpriced model: cost %v, want unknown", *c)
			}
			e := byLatency[3]
			if e.Version != 14 || e.Environment != "production" || !e.Escalated || e.DontKnow == nil || !*e.DontKnow ||
				e.Rating == nil || *e.Rating != 4 || e.CostUSD == nil || *e.CostUSD != 0.5 {
				t.Errorf("event fields: %+v", e)
			}
		})
	}
}

func TestIngestJSONArrayIntoTheDefaultStore(t *testing.T) {
	dir := t.TempDir()
	input := "[\n  " + eventJSON(15, 0, 1, "") + ",\n  " + eventJSON(15, time.Minute, 2, `, "rating": 9`) + ",\n  " +
		eventJSON(14, 2*time.Minute, 3, "") + "\n]\n"
	writeFile(t, filepath.Join(dir, "batch.json"), input)
	code, _, errOut := run(t, dir, "ingest", "batch.json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "batch.json:3: rating must be between 1 and 5, got 9 (index 1)") ||
		!strings.Contains(errOut, "ingested 2 events (1 rejected) into sqlite") {
		t.Fatalf("stderr:\n%s", errOut)
	}
	// No flag and no environment: the App's default, data/promptgate.db.
	if got := latencies(storedEvents(t, filepath.Join(dir, "data", "promptgate.db"))); !slices.Equal(got, []float64{1, 3}) {
		t.Fatalf("stored latencies %v, want 1, 3", got)
	}

	// An array broken halfway keeps what came before and says where.
	writeFile(t, filepath.Join(dir, "broken.json"), "[\n"+eventJSON(15, 3*time.Minute, 4, "")+",\n{\"time\": oops}\n]\n")
	code, _, errOut = run(t, dir, "ingest", "broken.json")
	if code != 1 || !strings.Contains(errOut, "broken.json:3: invalid JSON") || !strings.Contains(errOut, "ingested 1 events (1 rejected)") {
		t.Fatalf("broken array: exit %d\n%s", code, errOut)
	}
}

func TestIngestStdin(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "stdin")
	writeFile(t, in, eventJSON(15, 0, 1, "")+"\n"+eventJSON(15, time.Minute, 2, "")+"\n{}\n")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = saved })

	db := filepath.Join(dir, "pg.db")
	code, _, errOut := run(t, dir, "ingest", "--database-url", db, "-")
	if code != 1 || !strings.Contains(errOut, "stdin:3: empty event") || !strings.Contains(errOut, "ingested 2 events (1 rejected)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if got := latencies(storedEvents(t, db)); !slices.Equal(got, []float64{1, 2}) {
		t.Fatalf("stored latencies %v", got)
	}
}

func TestIngestErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events.jsonl"), eventJSON(15, 0, 1, "")+"\n")
	writeFile(t, filepath.Join(dir, "array.json"), "["+eventJSON(15, 0, 1, "")+"]\n")
	badCfg := t.TempDir()
	writeFile(t, filepath.Join(badCfg, "promptgate.yaml"), "prices:\n  gpt-4o-2024-08-06: {input: -1, output: 10}\n")
	db := filepath.Join(dir, "pg.db")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"ingest", "--database-url", db, "nope.jsonl"}, 3, "no such file"},
		{"store down", []string{"ingest", "--database-url", "postgres://promptgate@127.0.0.1:1/none?connect_timeout=2", "events.jsonl"}, 3, "open store"},
		{"broken prices", []string{"ingest", "--database-url", db, "--repo", badCfg, "events.jsonl"}, 3, "promptgate.yaml:2:"},
		{"follow an array", []string{"ingest", "--database-url", db, "--follow", "array.json"}, 3, "array.json:1: the file holds a JSON array"},
		{"no file", []string{"ingest", "--database-url", db}, 2, "want one FILE"},
		{"from-end without follow", []string{"ingest", "--from-end", "events.jsonl"}, 2, "--from-end only makes sense with --follow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.msg, errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("a failed ingest created the default store")
	}
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// followed starts `ingest --follow` in the background and returns a
// function that cancels it and returns its exit code and stderr.
func followed(t *testing.T, dir string, args ...string) func() (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code   int
		errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, _, errOut := runContext(ctx, dir, append([]string{"ingest", "--follow", "--poll", "5ms"}, args...)...)
		done <- result{code, errOut}
	}()
	stop := func() (int, string) {
		cancel()
		select {
		case r := <-done:
			return r.code, r.errOut
		case <-time.After(5 * time.Second):
			t.Fatal("ingest --follow did not stop when cancelled")
			return 0, ""
		}
	}
	t.Cleanup(func() { cancel() })
	return stop
}

func TestIngestFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	db := filepath.Join(dir, "pg.db")
	writeFile(t, path, eventJSON(15, 0, 1, "")+"\n"+eventJSON(15, time.Second, 2, "")+"\n")
	stop := followed(t, dir, "--database-url", db, "events.jsonl")

	want := []float64{}
	arrived := func(more ...float64) {
		t.Helper()
		want = append(want, more...)
		slices.Sort(want)
		waitFor(t, fmt.Sprintf("latencies %v", want), func() bool {
			return slices.Equal(latencies(storedEvents(t, db)), want)
		})
	}
	arrived(1, 2)

	// Appended lines arrive; a partial last line waits for its newline.
	appendFile(t, path, eventJSON(15, 2*time.Second, 3, "")+"\n"+eventJSON(15, 3*time.Second, 4, "")[:30])
	arrived(3)
	appendFile(t, path, eventJSON(15, 3*time.Second, 4, "")[30:]+"\n")
	arrived(4)

	// Truncated in place: read again from the start, line numbers too.
	writeFile(t, path, eventJSON(15, 4*time.Second, 5, "")+"\nnot an event\n")
	arrived(5)

	// Rotated: what was still written to the old file is read, then the
	// new file from its start.
	appendFile(t, path, eventJSON(15, 5*time.Second, 6, "")+"\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, eventJSON(15, 6*time.Second, 7, "")+"\n")
	arrived(6, 7)
	appendFile(t, path, eventJSON(15, 7*time.Second, 8, "")+"\n")
	arrived(8)

	code, errOut := stop()
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one line rejected)\n%s", code, errOut)
	}
	for _, w := range []string{"events.jsonl:2: invalid JSON", "truncated", "rotated", "ingested 8 events (1 rejected) into sqlite"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	// Exactly once: nothing was stored twice across polls, truncation and rotation.
	if got := latencies(storedEvents(t, db)); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

func TestIngestFollowFromEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	db := filepath.Join(dir, "pg.db")
	// Two lines and half of a third are there before the start.
	writeFile(t, path, eventJSON(15, 0, 1, "")+"\n"+eventJSON(15, time.Second, 2, "")+"\n"+eventJSON(15, 2*time.Second, 3, "")[:20])
	stop := followed(t, dir, "--database-url", db, "--from-end", "events.jsonl")
	// The store is opened once the file is positioned at its end.
	waitFor(t, "the store", func() bool { _, err := os.Stat(db); return err == nil })
	appendFile(t, path, eventJSON(15, 2*time.Second, 3, "")[20:]+"\n"+eventJSON(15, 3*time.Second, 4, "")+"\n{}\n")
	waitFor(t, "the appended event", func() bool { return len(storedEvents(t, db)) == 1 })
	code, errOut := stop()
	if got := latencies(storedEvents(t, db)); !slices.Equal(got, []float64{4}) {
		t.Fatalf("stored %v, want only the appended event", got)
	}
	if code != 1 || !strings.Contains(errOut, "events.jsonl:5: empty event") {
		t.Fatalf("exit %d; line numbers must count the skipped lines:\n%s", code, errOut)
	}
}
