package monitor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// refEvent decodes an event the reflection way; the oracle for wireEvent.
type refEvent struct {
	Time         string   `json:"time"`
	Artifact     string   `json:"artifact"`
	Version      *int     `json:"version"`
	Environment  string   `json:"environment"`
	Model        string   `json:"model"`
	InputTokens  *int     `json:"input_tokens"`
	OutputTokens *int     `json:"output_tokens"`
	CostUSD      *float64 `json:"cost_usd"`
	LatencyMS    *float64 `json:"latency_ms"`
	Status       string   `json:"status"`
	Escalated    bool     `json:"escalated"`
	DontKnow     *bool    `json:"dont_know"`
	Rating       *float64 `json:"rating"`
}

var exactNames = map[string]bool{
	"time": true, "artifact": true, "version": true, "environment": true, "model": true,
	"input_tokens": true, "output_tokens": true, "cost_usd": true, "latency_ms": true,
	"status": true, "escalated": true, "dont_know": true, "rating": true,
}

// plainKeys reports whether data is an object whose member names are all
// distinct and spelled exactly as the format has them: where encoding/json
// and wireEvent are meant to agree.
func plainKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := tok.(string)
		if !exactNames[k] || seen[k] {
			return false
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return true
}

func sameAsRef(w *wireEvent, r *refEvent) bool {
	eqInt := func(f fields, v int, p *int) bool {
		return (w.seen&f != 0) == (p != nil) && (p == nil || *p == v)
	}
	eqFloat := func(f fields, v float64, p *float64) bool {
		return (w.seen&f != 0) == (p != nil) && (p == nil || *p == v)
	}
	return w.Time == r.Time && w.Artifact == r.Artifact && w.Environment == r.Environment &&
		w.Model == r.Model && w.Status == r.Status && w.Escalated == r.Escalated &&
		eqInt(fVersion, w.Version, r.Version) && eqInt(fInputTokens, w.InputTokens, r.InputTokens) &&
		eqInt(fOutputTokens, w.OutputTokens, r.OutputTokens) && eqFloat(fCostUSD, w.CostUSD, r.CostUSD) &&
		eqFloat(fLatencyMS, w.LatencyMS, r.LatencyMS) && eqFloat(fRating, w.Rating, r.Rating) &&
		(w.seen&fDontKnow != 0) == (r.DontKnow != nil) && (r.DontKnow == nil || *r.DontKnow == w.DontKnow)
}

func FuzzWireEvent(f *testing.F) {
	for _, s := range []string{
		designEvent,
		`{}`, `null`, `[]`, `42`, `"x"`,
		`{"version": 1.5}`, `{"version": "15"}`, `{"version": -0}`, `{"version": 1e2}`,
		`{"escalated": "yes"}`, `{"model": "gpt\u00e9", "status": "o\"k"}`,
		`{"artifact": {"nested": [1, {"a": "}"}]}, "time": "t"}`,
		`{"Version": 1}`, `{"version": 1, "version": null}`, `{"rating": 1e400}`,
		`{"model": "\ud800"}`, "{\"model\": \"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var w wireEvent
		err := w.UnmarshalJSON(data)
		var r refEvent
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		refErr := dec.Decode(&r)
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			return
		}
		plain := plainKeys(data)
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("%s: accepted, encoding/json says %v", data, refErr)
		case err != nil && refErr == nil && plain:
			t.Fatalf("%s: rejected (%v), encoding/json accepts it", data, err)
		case err == nil && plain && !sameAsRef(&w, &r):
			t.Fatalf("%s: decoded %+v, encoding/json %+v", data, w, r)
		}
	})
}

func TestWireStrictNames(t *testing.T) {
	var w wireEvent
	err := w.UnmarshalJSON([]byte(`{"Version": 3}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "Version"`) {
		t.Errorf("err = %v, want Version unknown (names are case-sensitive)", err)
	}
	w.reset()
	if err := w.UnmarshalJSON([]byte(`{"version": 3, "version": null}`)); err != nil || w.seen&fVersion != 0 {
		t.Errorf("a later null does not clear the field: %v %+v", err, w)
	}
	w.reset()
	if err := w.UnmarshalJSON([]byte(`{"model": "caf\u00e9", "status": "a\"b"}`)); err != nil || w.Model != "café" || w.Status != `a"b` {
		t.Errorf("escapes: %v %q %q", err, w.Model, w.Status)
	}
}
