package evaluator

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/promptgate/promptgate/registry"
)

// fakeJudge answers judge requests from a table keyed by the graded
// output, and records the requests it saw.
type fakeJudge struct {
	mu       sync.Mutex
	replies  map[string]string // output → verdict content
	err      error
	requests []Request
}

func (f *fakeJudge) Complete(_ context.Context, req Request) (Response, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if f.err != nil {
		return Response{}, f.err
	}
	user := req.Messages[len(req.Messages)-1].Content
	for out, reply := range f.replies {
		if strings.Contains(user, "<output>\n"+out+"\n</output>") {
			return Response{Content: reply}, nil
		}
	}
	return Response{Content: "I cannot decide."}, nil
}

func TestJudgeParseVerdict(t *testing.T) {
	tests := []struct {
		in         string
		pass       bool
		reason     string
		wantErrSub string
	}{
		{`{"pass": true, "reason": "offers a consultant"}`, true, "offers a consultant", ""},
		{`{"pass": false, "reason": "promises a refund"}`, false, "promises a refund", ""},
		{"\n  {\"reason\": \"r\", \"pass\": true}  \n", true, "r", ""},
		{"```json\n{\"pass\": false, \"reason\": \"x\"}\n```", false, "x", ""},
		{`{"pass": true}`, true, "", ""},
		{`{"pass": true, "reason": "ok", "confidence": 0.9}`, true, "ok", ""}, // extra keys are ignored
		{`{"pass": "true", "reason": "x"}`, false, "", "not a boolean"},
		{`{"pass": 1}`, false, "", "not a boolean"},
		{`{"pass": null}`, false, "", "not a boolean"},
		{`{"reason": "x"}`, false, "", `no "pass"`},
		{`{"pass": true, "pass": false}`, false, "", "twice"},
		{`{"pass": true, "reason": 3}`, false, "", "not a string"},
		{`[{"pass": true}]`, false, "", "not a JSON object"},
		{`Verdict: {"pass": true}`, false, "", "not a JSON object"},
		{`{"pass": true} I am sure.`, false, "", "text after"},
		{`{"pass": true`, false, "", "not valid JSON"},
		{``, false, "", "not a JSON object"},
		{`PASS`, false, "", "not a JSON object"},
	}
	for _, tt := range tests {
		pass, reason, err := ParseVerdict(tt.in)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("ParseVerdict(%q) error = %v, want one containing %q", tt.in, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil || pass != tt.pass || reason != tt.reason {
			t.Errorf("ParseVerdict(%q) = %v, %q, %v; want %v, %q", tt.in, pass, reason, err, tt.pass, tt.reason)
		}
	}
}

func TestJudgeGradeRequest(t *testing.T) {
	f := &fakeJudge{replies: map[string]string{"the output": `{"pass": true, "reason": "fine"}`}}
	j := &Judge{Completer: f, Model: "gpt-4o-2024-08-06", Provider: "openai"}
	pass, reason, err := j.Grade(context.Background(), "Offers a consultant.", "I want a human.", "the output")
	if err != nil || !pass || reason != "fine" {
		t.Fatalf("Grade = %v, %q, %v", pass, reason, err)
	}
	req := f.requests[0]
	if req.Model != "gpt-4o-2024-08-06" || req.Provider != "openai" {
		t.Errorf("request model/provider = %s/%s", req.Model, req.Provider)
	}
	if req.Params.Temperature == nil || *req.Params.Temperature != 0 {
		t.Errorf("temperature = %v, want 0", req.Params.Temperature)
	}
	if req.Schema == nil || req.Schema["required"] == nil {
		t.Errorf("no verdict schema sent: %v", req.Schema)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || !strings.Contains(req.Messages[0].Content, "strict grader") {
		t.Errorf("messages = %+v", req.Messages)
	}
	user := req.Messages[1].Content
	for _, part := range []string{"Offers a consultant.", "I want a human.", "the output"} {
		if !strings.Contains(user, part) {
			t.Errorf("user message lacks %q:\n%s", part, user)
		}
	}
	if j.Request("r", "i", "o").Digest() != j.Request("r", "i", "o").Digest() {
		t.Error("judge requests are not deterministic, so the cache cannot serve them")
	}
}

func TestJudgeGradeErrors(t *testing.T) {
	boom := errors.New("502 bad gateway")
	for name, f := range map[string]*fakeJudge{
		"completer error": {err: boom},
		"garbage verdict": {replies: map[string]string{"o": "Looks good to me!"}},
	} {
		j := &Judge{Completer: f, Model: "m"}
		_, _, err := j.Grade(context.Background(), "rubric", "input", "o")
		var ce *CallError
		if !errors.As(err, &ce) || ce.Kind != ErrJudge {
			t.Errorf("%s: error = %v, want a *CallError of kind %s", name, err, ErrJudge)
		}
		if name == "completer error" && !errors.Is(err, boom) {
			t.Errorf("%s: error %v does not wrap the completer's", name, err)
		}
	}
}

func boolPtr(b bool) *bool { return &b }

// calibrationCases holds 12 human-rated outputs the judge grades: against
// the humans it gets 5 true passes, 1 false fail, 1 false pass, 4 true fails
// and 1 garbage verdict; plus ratings it must skip (no rubric, no pass value).
func calibrationCases() ([]*registry.Case, map[string]string) {
	rated := func(id string, outs ...registry.HumanRating) *registry.Case {
		return &registry.Case{ID: id, Vars: map[string]string{"question": "q " + id},
			Expect: registry.Expect{Judge: "Offers a consultant."}, Human: outs}
	}
	h := func(out string, pass bool) registry.HumanRating {
		return registry.HumanRating{Output: out, Pass: boolPtr(pass)}
	}
	cases := []*registry.Case{
		rated("a", h("tp1", true), h("tp2", true), h("tn0", false)),
		rated("b", h("tp3", true), h("tp4", true), h("tp5", true)),
		rated("c", h("fn-human-pass", true), h("fp1", false), h("tn1", false)),
		rated("d", h("tn2", false), h("tn3", false), h("err", true)),
		{ID: "no-rubric", Human: []registry.HumanRating{h("skipped", true)}},
		rated("no-pass", registry.HumanRating{Output: "skipped-too"}),
	}
	verdict := func(pass bool) string {
		if pass {
			return `{"pass": true, "reason": "r"}`
		}
		return `{"pass": false, "reason": "r"}`
	}
	replies := map[string]string{
		"tp1": verdict(true), "tp2": verdict(true), "tp3": verdict(true), "tp4": verdict(true), "tp5": verdict(true),
		"fn-human-pass": verdict(false),
		"fp1":           verdict(true),
		"tn0":           verdict(false), "tn1": verdict(false), "tn2": verdict(false), "tn3": verdict(false),
		"err": "no idea",
	}
	return cases, replies
}

func TestJudgeCalibrate(t *testing.T) {
	cases, replies := calibrationCases()
	f := &fakeJudge{replies: replies}
	j := &Judge{Completer: f, Model: "judge-model"}

	// The error is left out: N = 11, TP=5 FN=1 FP=1 TN=4. Accuracy 9/11;
	// humans and judge both pass 6/11, so chance agreement is
	// (6/11)² + (5/11)² = 61/121 and kappa = (99/121 - 61/121) / (60/121) = 38/60.
	cal := Calibrate(context.Background(), j, cases, 0.8)
	const eps = 1e-9
	if cal.N != 11 || math.Abs(cal.Accuracy-9.0/11) > eps || math.Abs(cal.Kappa-38.0/60) > eps {
		t.Errorf("N=%d accuracy=%v kappa=%v, want 11, 9/11, 38/60", cal.N, cal.Accuracy, cal.Kappa)
	}
	if math.Abs(cal.TPR-5.0/6) > eps || math.Abs(cal.TNR-4.0/5) > eps {
		t.Errorf("TPR=%v TNR=%v, want 5/6 and 4/5", cal.TPR, cal.TNR)
	}
	if cal.Errors != 1 || cal.Model != "judge-model" || cal.Min != 0.8 {
		t.Errorf("errors=%d model=%q min=%v", cal.Errors, cal.Model, cal.Min)
	}
	if !cal.Trusted {
		t.Errorf("accuracy %.3f ≥ 0.8 should be trusted: %s", cal.Accuracy, cal.Note)
	}
	if len(f.requests) != 12 {
		t.Errorf("judge called %d times, want 12 (ratings without a rubric or a pass value skipped)", len(f.requests))
	}

	strict := Calibrate(context.Background(), j, cases, 0.9)
	if strict.Trusted || !strings.Contains(strict.Note, "below min_agreement 0.90") || !strings.Contains(strict.Note, "kappa") {
		t.Errorf("min 0.9: trusted=%v note=%q", strict.Trusted, strict.Note)
	}
	if def := Calibrate(context.Background(), j, cases, 0); def.Min != DefaultMinAgreement {
		t.Errorf("min 0 → %v, want the default %v", def.Min, DefaultMinAgreement)
	}
}

func TestJudgeCalibrateNoRatings(t *testing.T) {
	f := &fakeJudge{}
	cases := []*registry.Case{{ID: "x", Expect: registry.Expect{Judge: "Is polite."}}}
	cal := Calibrate(context.Background(), &Judge{Completer: f, Model: "m"}, cases, 0.8)
	if !cal.Trusted || cal.N != 0 || !strings.Contains(cal.Note, "no human ratings") {
		t.Errorf("no ratings: %+v", cal)
	}
	if len(f.requests) != 0 {
		t.Errorf("judge called %d times without ratings", len(f.requests))
	}
}

func TestJudgeCalibrateAllErrors(t *testing.T) {
	cases, _ := calibrationCases()
	cal := Calibrate(context.Background(), &Judge{Completer: &fakeJudge{err: errors.New("down")}, Model: "m"}, cases, 0.8)
	if cal.Trusted || cal.N != 0 || cal.Errors != 12 {
		t.Errorf("judge that always fails: %+v", cal)
	}
}

func TestJudgeCaseInput(t *testing.T) {
	c := &registry.Case{Vars: map[string]string{"question": "Where is my card?"}, Context: "Cards ship in 5 days."}
	got := CaseInput(c)
	if !strings.HasPrefix(got, "Where is my card?") || !strings.Contains(got, "Cards ship in 5 days.") {
		t.Errorf("CaseInput = %q", got)
	}
	multi := CaseInput(&registry.Case{Vars: map[string]string{"question": "q", "lang": "de"}})
	if multi != "lang: de\nquestion: q" {
		t.Errorf("CaseInput with several vars = %q", multi)
	}
}
