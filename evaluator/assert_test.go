package evaluator

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/promptgate/promptgate/registry"
)

// supportSchema is the example artifact's output schema.
func supportSchema() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []any{"answer", "escalate"},
		"properties": map[string]any{
			"answer":   map[string]any{"type": "string", "maxLength": 1200},
			"escalate": map[string]any{"type": "boolean"},
			"category": map[string]any{"type": "string", "enum": []any{"billing", "cards", "escalation", "security", "smalltalk"}},
		},
	}
}

func TestAssertCheck(t *testing.T) {
	ch, err := NewChecker(&registry.Artifact{Name: "support-assistant", OutputSchema: supportSchema()})
	if err != nil {
		t.Fatal(err)
	}
	const good = `{"answer": "A Consultant will continue in this chat. Ticket #48213.", "escalate": true, "category": "escalation"}`
	tests := []struct {
		name   string
		expect registry.Expect
		output string
		want   []string
	}{
		{"no criteria", registry.Expect{}, "anything", nil},
		{"contains ignores case", registry.Expect{Contains: []string{"consultant", "TICKET"}}, good, nil},
		{"contains missing", registry.Expect{Contains: []string{"consultant", "refund"}}, good, []string{`contains "refund"`}},
		{"contains non-ASCII case", registry.Expect{Contains: []string{"ÜBERWEISUNG"}}, "Ihre Überweisung ist unterwegs", nil},
		{"not_contains holds", registry.Expect{NotContains: []string{"guaranteed refund"}}, good, nil},
		{"not_contains ignores case", registry.Expect{NotContains: []string{"guaranteed refund"}}, "You get a Guaranteed Refund.", []string{`not_contains "guaranteed refund"`}},
		{"regex matches", registry.Expect{Regex: []string{`(?i)ticket #?\d+`, `"escalate"\s*:\s*true`}}, good, nil},
		{"regex fails", registry.Expect{Regex: []string{`(?i)ticket #?\d+`}}, "no reference", []string{`regex (?i)ticket #?\d+`}},
		{"regex is case-sensitive unless told", registry.Expect{Regex: []string{`ticket`}}, "Ticket", []string{`regex ticket`}},
		{"regex does not compile", registry.Expect{Regex: []string{`(`}}, "(", []string{`regex ( (does not compile)`}},
		{"json_schema holds", registry.Expect{JSONSchema: true}, good, nil},
		{"json_schema fenced", registry.Expect{JSONSchema: true}, "```json\n" + good + "\n```\n", nil},
		{"json_schema bare fence", registry.Expect{JSONSchema: true}, "  ```\n" + good + "\n```", nil},
		{"json_schema other language fence", registry.Expect{JSONSchema: true}, "```python\n" + good + "\n```",
			[]string{"json_schema: not JSON (invalid character '`' looking for beginning of value)"}},
		{"json_schema prose around JSON", registry.Expect{JSONSchema: true}, "Sure! " + good,
			[]string{"json_schema: not JSON (invalid character 'S' looking for beginning of value)"}},
		{"json_schema trailing text", registry.Expect{JSONSchema: true}, good + " Hope that helps",
			[]string{"json_schema: not JSON (invalid character after top-level value)"}},
		{"json_schema wrong type", registry.Expect{JSONSchema: true}, `{"answer": "x", "escalate": "yes"}`,
			[]string{"json_schema: /escalate: expected boolean, got string"}},
		{"json_schema missing property", registry.Expect{JSONSchema: true}, `{"answer": "x"}`,
			[]string{"json_schema: missing property 'escalate'"}},
		{"json_schema several violations", registry.Expect{JSONSchema: true}, `{"answer": 1, "escalate": true, "category": "weather"}`,
			[]string{"json_schema: /answer: expected string, got number (+1 more)"}},
		{"max_chars counts runes", registry.Expect{MaxChars: 10}, strings.Repeat("é", 10), nil},
		{"max_chars exceeded", registry.Expect{MaxChars: 600}, strings.Repeat("ü", 812), []string{"max_chars 600 (got 812)"}},
		{"every failure in order", registry.Expect{
			Contains: []string{"consultant"}, NotContains: []string{"refund"}, Regex: []string{`\d`},
			JSONSchema: true, MaxChars: 5,
		}, "a refund", []string{
			`contains "consultant"`, `not_contains "refund"`, `regex \d`,
			"json_schema: not JSON (invalid character 'a' looking for beginning of value)", "max_chars 5 (got 8)",
		}},
		{"judge is not applied here", registry.Expect{Judge: "Is polite."}, "rude", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &registry.Case{ID: "c", Expect: tt.expect}
			if got := ch.Check(c, tt.output); !slices.Equal(got, tt.want) {
				t.Errorf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAssertJSONWithoutSchema(t *testing.T) {
	ch, err := NewChecker(&registry.Artifact{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	c := &registry.Case{ID: "c", Expect: registry.Expect{JSONSchema: true}}
	if got := ch.Check(c, `{"anything": [1, 2]}`); got != nil {
		t.Errorf("JSON without an output_schema: %q, want pass", got)
	}
	if got := ch.Check(c, `not json`); len(got) != 1 || !strings.HasPrefix(got[0], "json_schema: not JSON") {
		t.Errorf("non-JSON without an output_schema: %q", got)
	}
}

func TestAssertBadSchema(t *testing.T) {
	_, err := NewChecker(&registry.Artifact{Name: "bad", OutputSchema: map[string]any{"type": "objekt"}})
	if err == nil {
		t.Fatal("NewChecker accepted a schema that does not compile")
	}
}

func TestAssertPrepare(t *testing.T) {
	ch, _ := NewChecker(&registry.Artifact{Name: "a"})
	ok := &registry.Case{ID: "ok", Expect: registry.Expect{Regex: []string{`\d+`}}}
	bad := &registry.Case{ID: "bad", Expect: registry.Expect{Regex: []string{`[`}}}
	if err := ch.Prepare([]*registry.Case{ok}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	err := ch.Prepare([]*registry.Case{ok, bad})
	if err == nil || !strings.Contains(err.Error(), "case bad") {
		t.Fatalf("Prepare = %v, want an error naming case bad", err)
	}
}

func TestAssertConcurrent(t *testing.T) {
	ch, _ := NewChecker(&registry.Artifact{Name: "a", OutputSchema: supportSchema()})
	cases := make([]*registry.Case, 20)
	for i := range cases {
		cases[i] = &registry.Case{ID: "c", Expect: registry.Expect{
			Contains: []string{"consultant"}, Regex: []string{`"escalate"\s*:\s*true`}, JSONSchema: true,
		}}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, c := range cases {
				if got := ch.Check(c, `{"answer": "a consultant", "escalate": true}`); got != nil {
					t.Errorf("Check = %q", got)
				}
			}
		})
	}
	wg.Wait()
}

func TestAssertStripJSONFence(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                 `{"a":1}`,
		"  {\"a\":1}\n":           `{"a":1}`,
		"```json\n{\"a\":1}\n```": `{"a":1}`,
		"```JSON\n{\"a\":1}```":   `{"a":1}`,
		"```\n{\"a\":1}\n```":     `{"a":1}`,
		"```{\"a\":1}```":         "```{\"a\":1}```", // no newline after the fence: not a fence
		"```go\nx\n```":           "```go\nx\n```",
		"text ```json\n{}\n```":   "text ```json\n{}\n```",
	} {
		if got := StripJSONFence(in); got != want {
			t.Errorf("StripJSONFence(%q) = %q, want %q", in, got, want)
		}
	}
}

// benchSet loads the example golden set and pairs every case with a model
// output taken from the human-rated outputs (real answers, some passing,
// some failing).
func benchSet(b *testing.B) (*Checker, []*registry.Case, []string) {
	repo := registry.Load(os.DirFS("../examples/support-assistant"))
	art := repo.Artifacts["support-assistant"]
	if art == nil {
		b.Skip("example config repo not found")
	}
	var cases []*registry.Case
	var outputs []string
	for _, gs := range repo.Golden {
		for _, c := range gs.Cases {
			cases = append(cases, c)
			for _, h := range c.Human {
				outputs = append(outputs, h.Output)
			}
		}
	}
	if len(cases) == 0 || len(outputs) == 0 {
		b.Skip("example golden set has no cases or ratings")
	}
	ch, err := NewChecker(art)
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Prepare(cases); err != nil {
		b.Fatal(err)
	}
	return ch, cases, outputs
}

// BenchmarkCheck scores the example golden set with every criterion but
// the judge; evals/s is case evaluations per second on one goroutine.
// Compare it with BenchmarkCheckBaseline from the same run.
func BenchmarkCheck(b *testing.B) {
	ch, cases, outputs := benchSet(b)
	i := 0
	for b.Loop() {
		ch.Check(cases[i%len(cases)], outputs[i%len(outputs)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

// BenchmarkCheckParallel is BenchmarkCheck on every CPU (-cpu 2 for two cores).
func BenchmarkCheckParallel(b *testing.B) {
	ch, cases, outputs := benchSet(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ch.Check(cases[i%len(cases)], outputs[i%len(outputs)])
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

// BenchmarkCheckBaseline is the floor to read BenchmarkCheck against: a
// plain strings.Contains of each case's contains needles over the same
// outputs, with nothing else.
func BenchmarkCheckBaseline(b *testing.B) {
	_, cases, outputs := benchSet(b)
	i := 0
	sink := 0
	for b.Loop() {
		c, out := cases[i%len(cases)], outputs[i%len(outputs)]
		for _, n := range c.Expect.Contains {
			if strings.Contains(out, n) {
				sink++
			}
		}
		i++
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}
