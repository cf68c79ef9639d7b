package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/registry"
)

var (
	testNow    = time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC)
	testPrices = map[string]registry.Price{
		"gpt-4o-2024-08-06": {Input: ptr(2.5), Output: ptr(10.0)},
	}
)

func ptr[T any](v T) *T { return &v }

const designEvent = `{"time": "2026-12-03T10:00:00Z", "artifact": "support-assistant", "version": 15,
"environment": "production", "model": "gpt-4o-2024-08-06", "input_tokens": 812,
"output_tokens": 164, "cost_usd": 0.0037, "latency_ms": 1840, "status": "ok",
"escalated": false, "dont_know": false, "rating": 5}`

func parse(t *testing.T, body string) ([]Event, []EventError) {
	t.Helper()
	ok, bad, err := ParseEvents(strings.NewReader(body), testPrices, testNow)
	if err != nil {
		t.Fatalf("ParseEvents: %v", err)
	}
	return ok, bad
}

func TestParseSingleObject(t *testing.T) {
	ok, bad := parse(t, designEvent)
	if len(bad) != 0 || len(ok) != 1 {
		t.Fatalf("got %d ok, bad %v", len(ok), bad)
	}
	e := ok[0]
	want := Event{
		Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Artifact: "support-assistant", Version: 15,
		Environment: "production", Model: "gpt-4o-2024-08-06", InputTokens: 812, OutputTokens: 164,
		CostUSD: ptr(0.0037), LatencyMS: 1840, Status: "ok", DontKnow: ptr(false), Rating: ptr(5.0),
	}
	if got, w := fmt.Sprint(deref(e)), fmt.Sprint(deref(want)); got != w {
		t.Errorf("event\n got %s\nwant %s", got, w)
	}
}

// deref prints pointer fields by value.
func deref(e Event) string {
	s := func(p any) string {
		switch p := p.(type) {
		case *float64:
			if p != nil {
				return fmt.Sprint(*p)
			}
		case *bool:
			if p != nil {
				return fmt.Sprint(*p)
			}
		}
		return "nil"
	}
	return fmt.Sprintf("%s %s v%d %s %s in=%d out=%d cost=%s lat=%v %s esc=%v dk=%s rating=%s",
		e.Time.Format(time.RFC3339Nano), e.Artifact, e.Version, e.Environment, e.Model, e.InputTokens, e.OutputTokens,
		s(e.CostUSD), e.LatencyMS, e.Status, e.Escalated, s(e.DontKnow), s(e.Rating))
}

func TestParseArray(t *testing.T) {
	body := `[
  {"time": "2026-12-03T10:00:00Z", "artifact": "a", "version": 1, "latency_ms": 10},
  {"time": "2026-12-03T10:00:01Z", "artifact": "a", "version": 0, "latency_ms": 10},
  {"time": "2026-12-03T10:00:02+01:00", "artifact": "b", "version": 2, "latency_ms": 12.5}
]`
	ok, bad := parse(t, body)
	if len(ok) != 2 {
		t.Fatalf("got %d ok events, want 2 (bad: %v)", len(ok), bad)
	}
	if len(bad) != 1 || bad[0].Index != 1 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "version must be >= 1") {
		t.Errorf("bad = %+v, want index 1 line 3 with a version reason", bad)
	}
	if got := ok[1].Time; !got.Equal(time.Date(2026, 12, 3, 9, 0, 2, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("time = %v, want 09:00:02 UTC", got)
	}
	if ok[0].Environment != "production" || ok[0].Status != "ok" {
		t.Errorf("defaults: environment %q status %q", ok[0].Environment, ok[0].Status)
	}
}

func TestParseNDJSON(t *testing.T) {
	body := "\n" +
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1}` + "\r\n" +
		"\n" +
		`{"time":"2026-12-03T10:00:01Z","artifact":"a","version":2,"latency_ms":2,"environment":"staging","status":"timeout"}` + "\n" +
		"   \n" +
		`{"time":"2026-12-03T10:00:02Z","artifact":"a","version":3,"latency_ms":3}`
	ok, bad := parse(t, body)
	if len(bad) != 0 || len(ok) != 3 {
		t.Fatalf("got %d ok, bad %v", len(ok), bad)
	}
	for i, e := range ok {
		if e.Version != i+1 {
			t.Errorf("event %d has version %d", i, e.Version)
		}
	}
	if ok[1].Environment != "staging" || ok[1].Status != "timeout" {
		t.Errorf("event 1: environment %q status %q", ok[1].Environment, ok[1].Status)
	}
}

func TestParseRejects(t *testing.T) {
	const good = `{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1}`
	lines := []struct {
		json, reason string
	}{
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","latency_ms":1}`, "version is required"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"escalted":true}`, `unknown field "escalted"`},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":"15","latency_ms":1}`, "version: expected an integer, got string"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1.5,"latency_ms":1}`, "version: expected an integer, got number 1.5"},
		{`{"time":"2026-12-03T10:00:00Z","version":1,"latency_ms":1}`, "artifact is required"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"Support Assistant","version":1,"latency_ms":1}`, "lower-case letters, digits and dashes"},
		{`{"artifact":"a","version":1,"latency_ms":1}`, "time is required"},
		{`{"time":"2026-12-03 10:00:00","artifact":"a","version":1,"latency_ms":1}`, "is not RFC 3339"},
		{`{"time":"2026-12-03T10:11:00Z","artifact":"a","version":1,"latency_ms":1}`, "6m0s in the future"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"status":"failed"}`, `status "failed" must be ok, error or timeout`},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"input_tokens":-3}`, "input_tokens must be >= 0"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":-1}`, "latency_ms must be >= 0"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1}`, "latency_ms is required"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"rating":6}`, "rating must be between 1 and 5"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"cost_usd":-0.1}`, "cost_usd must be >= 0"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"escalated":"yes"}`, "escalated: expected true or false, got string"},
		{`{}`, "empty event"},
		{`null`, "empty event"},
		{`42`, "expected a JSON object, got number"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a" "version":1}`, "invalid JSON: invalid character '\"' after object key:value pair"},
		{`not json at all`, "invalid JSON: invalid character 'o' in literal null"},
		{`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1`, "invalid JSON"},
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(good + "\n" + l.json + "\n")
	}
	b.WriteString(good + "\n")
	ok, bad := parse(t, b.String())
	if len(ok) != len(lines)+1 {
		t.Errorf("got %d good events, want %d", len(ok), len(lines)+1)
	}
	if len(bad) != len(lines) {
		t.Fatalf("got %d rejects, want %d: %v", len(bad), len(lines), bad)
	}
	for i, l := range lines {
		got := bad[i]
		if got.Index != 2*i+1 || got.Line != 2*i+2 || !strings.Contains(got.Reason, l.reason) {
			t.Errorf("%s\n got index %d line %d %q\nwant index %d line %d containing %q", l.json, got.Index, got.Line, got.Reason, 2*i+1, 2*i+2, l.reason)
		}
	}
}

func TestParseAllProblemsInOneReason(t *testing.T) {
	_, bad := parse(t, `{"artifact":"a","latency_ms":-2,"status":"nope"}`)
	if len(bad) != 1 {
		t.Fatalf("bad = %v", bad)
	}
	for _, want := range []string{"version is required", "time is required", "status \"nope\"", "latency_ms must be >= 0"} {
		if !strings.Contains(bad[0].Reason, want) {
			t.Errorf("reason %q lacks %q", bad[0].Reason, want)
		}
	}
}

func TestParseCost(t *testing.T) {
	body := strings.Join([]string{
		// computed: (1000*2.5 + 200*10) / 1e6
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"model":"gpt-4o-2024-08-06","input_tokens":1000,"output_tokens":200}`,
		// given: kept as sent
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"model":"gpt-4o-2024-08-06","input_tokens":1000,"output_tokens":200,"cost_usd":0.01}`,
		// no price for the model: unknown, not 0
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"model":"some-model","input_tokens":1000,"output_tokens":200}`,
		// priced model but no token counts: unknown, not 0
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"model":"gpt-4o-2024-08-06"}`,
		// explicit zero cost is known
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"cost_usd":0}`,
		// null cost is absent, so it is computed
		`{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1,"model":"gpt-4o-2024-08-06","input_tokens":0,"output_tokens":100,"cost_usd":null}`,
	}, "\n")
	ok, bad := parse(t, body)
	if len(bad) != 0 || len(ok) != 6 {
		t.Fatalf("got %d ok, bad %v", len(ok), bad)
	}
	want := []*float64{ptr(0.0045), ptr(0.01), nil, nil, ptr(0.0), ptr(0.001)}
	for i, w := range want {
		got := ok[i].CostUSD
		switch {
		case w == nil && got != nil:
			t.Errorf("event %d: cost %v, want unknown (nil)", i, *got)
		case w != nil && (got == nil || fmt.Sprintf("%.10f", *got) != fmt.Sprintf("%.10f", *w)):
			t.Errorf("event %d: cost %v, want %v", i, got, *w)
		}
	}
}

func TestParseNDJSONResyncsAfterBrokenLines(t *testing.T) {
	body := `{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1}
garbage
more garbage
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":2,"latency_ms":1}
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":3,"latency_ms":1
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":4,"latency_ms":1}`
	ok, bad := parse(t, body)
	if len(ok) != 3 || ok[0].Version != 1 || ok[1].Version != 2 || ok[2].Version != 4 {
		t.Errorf("ok = %v", ok)
	}
	if len(bad) != 2 {
		t.Fatalf("bad = %v", bad)
	}
	if b := bad[0]; b.Index != 1 || b.Line != 2 || !strings.Contains(b.Reason, "(lines 2-3 skipped)") {
		t.Errorf("bad[0] = %+v", b)
	}
	if b := bad[1]; b.Index != 3 || b.Line != 5 || !strings.HasPrefix(b.Reason, "invalid JSON") {
		t.Errorf("bad[1] = %+v", b)
	}
}

func TestParseMultiLineObjects(t *testing.T) {
	body := `{
  "time": "2026-12-03T10:00:00Z",
  "artifact": "a",
  "version": 1,
  "latency_ms": 1
}
{
  "time": "2026-12-03T10:00:00Z",
  "artifact": "a",
  "latency_ms": 1
}`
	ok, bad := parse(t, body)
	if len(ok) != 1 || len(bad) != 1 || bad[0].Line != 7 || bad[0].Index != 1 {
		t.Errorf("ok %d, bad %+v; want the second object rejected at line 7", len(ok), bad)
	}
}

func TestParseArraySyntaxErrorStops(t *testing.T) {
	body := `[
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1},
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":2,"latency_ms":1}
{"time":"2026-12-03T10:00:00Z","artifact":"a","version":3,"latency_ms":1}
]`
	ok, _, err := ParseEvents(strings.NewReader(body), nil, testNow)
	if err == nil || !strings.HasPrefix(err.Error(), "line 4: invalid JSON") {
		t.Errorf("err = %v, want a syntax error at line 4", err)
	}
	if len(ok) != 2 {
		t.Errorf("kept %d events before the error, want 2", len(ok))
	}
	_, _, err = ParseEvents(strings.NewReader(`[{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1}] {}`), nil, testNow)
	if err == nil || !strings.Contains(err.Error(), "after the JSON array") {
		t.Errorf("trailing data: err = %v", err)
	}
	_, _, err = ParseEvents(strings.NewReader(`[{"time":"2026-12-03T10:00:00Z"`), nil, testNow)
	if err == nil || !strings.Contains(err.Error(), "ends inside") {
		t.Errorf("truncated array: err = %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, body := range []string{"", "  \n\n", "[]"} {
		ok, bad, err := ParseEvents(strings.NewReader(body), nil, testNow)
		if len(ok) != 0 || len(bad) != 0 || err != nil {
			t.Errorf("%q: %v %v %v", body, ok, bad, err)
		}
	}
}

type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("connection reset")
	good := `{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":1}` + "\n"
	ok, _, err := ParseEvents(&failingReader{data: good + `{"time":`, err: boom}, nil, testNow)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the read error", err)
	}
	if len(ok) != 1 {
		t.Errorf("kept %d events, want 1", len(ok))
	}
}

// TestParseLinesInLongBatch crosses the parser's buffer compaction many
// times and checks that line numbers stay exact.
func TestParseLinesInLongBatch(t *testing.T) {
	var b strings.Builder
	const n = 20000
	for i := range n {
		switch {
		case i%997 == 0:
			fmt.Fprintf(&b, `{"time":"2026-12-03T10:00:00Z","artifact":"a","latency_ms":%d}`+"\n", i)
		case i%1999 == 0:
			b.WriteString("{broken\n")
		case i%3 == 0:
			b.WriteString("\n") // a blank line, not an event
			fallthrough
		default:
			fmt.Fprintf(&b, `{"time":"2026-12-03T10:00:00Z","artifact":"a","version":1,"latency_ms":%d}`+"\n", i)
		}
	}
	ok, bad := parse(t, b.String())
	lines := strings.Split(b.String(), "\n")
	if len(ok)+len(bad) != n {
		t.Fatalf("%d ok + %d bad, want %d", len(ok), len(bad), n)
	}
	for _, e := range bad {
		l := lines[e.Line-1]
		if !strings.Contains(l, "broken") && !strings.Contains(l, `"latency_ms":`+fmt.Sprint(e.Index)+"}") {
			t.Fatalf("%+v points at line %q", e, l)
		}
	}
}

func TestEventErrorError(t *testing.T) {
	e := EventError{Index: 3, Line: 4, Reason: "version is required"}
	if got := e.Error(); got != "event 3 (line 4): version is required" {
		t.Errorf("Error() = %q", got)
	}
	var _ error = e
	var _ io.Reader = (*tracker)(nil)
}

func TestEventJSONRoundTrip(t *testing.T) {
	ok, _ := parse(t, designEvent+"\n"+
		`{"time":"2026-12-03T10:00:00.123Z","artifact":"a","version":2,"latency_ms":1.5,"status":"error","escalated":true}`)
	var b strings.Builder
	for _, e := range ok {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	again, bad := parse(t, b.String())
	if len(bad) != 0 || len(again) != len(ok) {
		t.Fatalf("re-parsing %s: %v", b.String(), bad)
	}
	for i := range ok {
		if deref(ok[i]) != deref(again[i]) {
			t.Errorf("round trip\n got %s\nwant %s", deref(again[i]), deref(ok[i]))
		}
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add([]byte(designEvent))
	f.Add([]byte("[" + designEvent + "," + designEvent + "]"))
	f.Add([]byte(designEvent + "\nxx\n{\n" + designEvent))
	f.Add([]byte(`[{"version": 1}, 2, "x", {"escalted": true}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ok, bad, err := ParseEvents(bytes.NewReader(data), testPrices, testNow)
		lines := bytes.Count(data, []byte("\n")) + 1
		last := -1
		for _, e := range bad {
			if e.Line < 1 || e.Line > lines || e.Index <= last || e.Reason == "" {
				t.Fatalf("%q: bad entry %+v (of %d lines)", data, e, lines)
			}
			last = e.Index
		}
		if err == nil && len(bad) > 0 && bad[len(bad)-1].Index >= len(ok)+len(bad) {
			t.Fatalf("%q: indexes beyond the batch: %v", data, bad)
		}
	})
}
