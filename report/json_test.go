package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/promptgate/promptgate/evaluator"
)

func TestJSONCarriesTheContract(t *testing.T) {
	b, err := JSON(failReport())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Verdict   string `json:"verdict"`
		Artifacts []struct {
			Name        string `json:"name"`
			BaseVersion int    `json:"base_version"`
			HeadVersion int    `json:"head_version"`
			Verdict     string `json:"verdict"`
			Categories  []struct {
				Name         string  `json:"name"`
				N            int     `json:"n"`
				BasePassRate float64 `json:"base_pass_rate"`
				HeadPassRate float64 `json:"head_pass_rate"`
				DeltaPP      float64 `json:"delta_pp"`
			} `json:"categories"`
			Worse []struct {
				CaseID   string `json:"case_id"`
				Category string `json:"category"`
				Reason   string `json:"reason"`
			} `json:"worse"`
			Cost    map[string]any `json:"cost"`
			Latency map[string]any `json:"latency"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	a := got.Artifacts[0]
	if a.Name != "support-assistant" || a.BaseVersion != 14 || a.HeadVersion != 15 || a.Verdict != "fail" {
		t.Errorf("artifact header = %+v", a)
	}
	esc := a.Categories[2]
	if esc.Name != "escalation" || esc.N != 24 || esc.BasePassRate != 21.0/24 || esc.HeadPassRate != 17.0/24 {
		t.Errorf("escalation = %+v", esc)
	}
	if len(a.Worse) != 5 || a.Worse[0].CaseID != "esc-001" || a.Worse[0].Reason != `contains "consultant"` {
		t.Errorf("worse = %+v", a.Worse)
	}
	for _, k := range []string{"base_usd_per_case", "head_usd_per_case", "base_input_tokens_per_case", "head_output_tokens_per_case"} {
		if _, ok := a.Cost[k]; !ok {
			t.Errorf("cost lacks %s", k)
		}
	}
	for _, k := range []string{"base_p50_ms", "base_p95_ms", "head_p50_ms", "head_p95_ms"} {
		if _, ok := a.Latency[k]; !ok {
			t.Errorf("latency lacks %s", k)
		}
	}
	// An unknown price is null, never 0.
	if v, ok := got.Artifacts[1].Cost["head_usd_per_case"]; !ok || v != nil {
		t.Errorf("billing-helper head_usd_per_case = %v, want null", v)
	}
}

func TestJSONListsAreNeverNull(t *testing.T) {
	r := &evaluator.Report{
		Verdict:   evaluator.Pass,
		Artifacts: []*evaluator.ArtifactReport{{Name: "support-assistant", HeadVersion: 1}},
	}
	b, err := JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, k := range []string{`"reasons": []`, `"artifacts": [`, `"unchanged": []`, `"categories": []`, `"worse": []`, `"better": []`} {
		if !strings.Contains(s, k) {
			t.Errorf("missing %s in\n%s", k, s)
		}
	}
	if strings.Contains(s, "[]string") || strings.Contains(s, `": null`) && !onlyNullPointers(s) {
		t.Errorf("a list encodes as null:\n%s", s)
	}
	if r.Reasons != nil || r.Artifacts[0].Worse != nil {
		t.Error("JSON modified the report it was given")
	}
}

// onlyNullPointers reports whether every null in s belongs to a field that is
// a pointer in the evaluator's types (an unknown cost or delta).
func onlyNullPointers(s string) bool {
	pointers := []string{"base_usd_per_case", "head_usd_per_case", "base_usd_total", "head_usd_total", "delta_pct", "delta_p95_pct", "changed"}
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasSuffix(strings.TrimSuffix(line, ","), ": null") {
			continue
		}
		ok := false
		for _, p := range pointers {
			if strings.Contains(line, `"`+p+`"`) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func TestJSONStable(t *testing.T) {
	a, err := JSON(inconclusiveReport())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := JSON(inconclusiveReport())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two encodings of the same report differ")
		}
	}
	if !bytes.HasPrefix(a, []byte("{\n  \"verdict\": \"inconclusive\"")) || !bytes.HasSuffix(a, []byte("}\n")) {
		t.Errorf("not indented JSON:\n%.80s", a)
	}
	i, j := bytes.Index(a, []byte(`"provider_error": 26`)), bytes.Index(a, []byte(`"timeout": 70`))
	if i < 0 || j < 0 || i > j {
		t.Errorf("error kinds missing or not sorted:\n%s", a)
	}
}
