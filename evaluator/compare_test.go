package evaluator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/registry"
)

const (
	modelA = "gpt-4o-2024-08-06"
	modelB = "gpt-4o-2024-11-20"
	mini   = "gpt-4o-mini-2024-07-18"
)

func f64(v float64) *float64 { return &v }

func prices() map[string]registry.Price {
	return map[string]registry.Price{
		modelA: {Input: f64(2.5), Output: f64(10)},
		modelB: {Input: f64(2.5), Output: f64(10)},
		mini:   {Input: f64(0.15), Output: f64(0.6)},
	}
}

// fixture builds a golden set and both sides' outcomes case by case.
type fixture struct {
	cases      []*registry.Case
	base, head []Outcome
	repeats    int
}

// outcome is one run: pass or fail with the default failure, or an error.
type run struct {
	pass    bool
	err     ErrorKind
	tokens  [2]int // input, output; default 1000, 200
	latency time.Duration
	model   string
	output  string
}

var (
	P = run{pass: true}
	F = run{}
)

func (f *fixture) add(category, id string, base, head []run) {
	f.cases = append(f.cases, &registry.Case{ID: id, Category: category, File: "golden/a/" + category + ".yaml"})
	mk := func(side string, runs []run) []Outcome {
		var outs []Outcome
		for rep, r := range runs {
			o := Outcome{CaseID: id, Category: category, Repeat: rep, Model: r.model,
				InputTokens: 1000, OutputTokens: 200, Latency: time.Second, Pass: r.pass}
			if r.tokens != [2]int{} {
				o.InputTokens, o.OutputTokens = r.tokens[0], r.tokens[1]
			}
			if r.latency != 0 {
				o.Latency = r.latency
			}
			if o.Model == "" {
				o.Model = modelA
			}
			o.Output = fmt.Sprintf("%s %s #%d pass=%v", side, id, rep, r.pass)
			if r.output != "" {
				o.Output = r.output
			}
			if !r.pass {
				o.Failed = []string{`contains "consultant"`, "max_chars 600 (got 700)"}
			}
			if r.err != "" {
				o.Pass, o.Failed, o.Error, o.ErrorKind = false, nil, "something broke", r.err
			}
			outs = append(outs, o)
		}
		return outs
	}
	f.base = append(f.base, mk("base", base)...)
	f.head = append(f.head, mk("head", head)...)
}

func (f *fixture) addN(category, prefix string, n int, base, head []run) {
	for i := range n {
		f.add(category, fmt.Sprintf("%s-%02d", prefix, i+1), base, head)
	}
}

func (f *fixture) input() CompareInput {
	return CompareInput{
		Name:         "support-assistant",
		Base:         &registry.Artifact{Name: "support-assistant", Version: 14, Model: modelA},
		Head:         &registry.Artifact{Name: "support-assistant", Version: 15, Model: modelA},
		Cases:        f.cases,
		BaseOutcomes: f.base,
		HeadOutcomes: f.head,
		Repeats:      max(f.repeats, 1),
		Prices:       prices(),
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func one(r run) []run { return []run{r} }

func hasReason(r *ArtifactReport, want string) bool {
	return slices.Contains(r.Reasons, want)
}

func hasReasonPrefix(r *ArtifactReport, prefix string) bool {
	return slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func TestCompareCategoryRegression(t *testing.T) {
	var f fixture
	f.addN("escalation", "esc", 8, one(P), one(F))
	f.addN("escalation", "esc-ok", 4, one(P), one(P))
	f.addN("billing", "bil", 10, one(P), one(P))
	r := Compare(f.input())

	if r.Verdict != Fail {
		t.Fatalf("verdict %s, want fail: %v", r.Verdict, r.Reasons)
	}
	// 8 discordant pairs all one way: one-sided p = 2^-8; Holm over the two
	// categories and overall multiplies the smallest by 3.
	want := `category "escalation" dropped 66.7 pp (> 3 pp), significant (p=0.012)`
	if !hasReason(r, want) {
		t.Errorf("reasons %q lack %q", r.Reasons, want)
	}
	if !hasReason(r, `overall pass rate dropped 36.4 pp (> 0 pp), significant (p=0.012)`) {
		t.Errorf("reasons %q lack the overall drop", r.Reasons)
	}
	if len(r.Categories) != 2 || r.Categories[0].Name != "billing" || r.Categories[1].Name != "escalation" {
		t.Fatalf("categories not sorted by name: %+v", r.Categories)
	}
	esc, bil := r.Categories[1], r.Categories[0]
	if esc.N != 12 || esc.Samples != 12 || esc.BasePassRate != 1 || esc.HeadPassRate != 4.0/12 ||
		!esc.Regressed || esc.Evidence != Significant || esc.ThresholdPP != 3 {
		t.Errorf("escalation: %+v", esc)
	}
	if bil.Evidence != NoChange || bil.Regressed || bil.DeltaPP != 0 {
		t.Errorf("billing: %+v", bil)
	}
	if len(r.Worse) != 8 || len(r.Better) != 0 {
		t.Fatalf("worse %d better %d", len(r.Worse), len(r.Better))
	}
	w := r.Worse[0]
	if w.CaseID != "esc-01" || w.Category != "escalation" || w.Reason != `contains "consultant"` ||
		len(w.Failed) != 2 || w.HeadOutput != "head esc-01 #0 pass=false" || w.BaseOutput != "base esc-01 #0 pass=true" ||
		w.BasePasses != 1 || w.HeadPasses != 0 || w.Repeats != 1 || w.File != "golden/a/escalation.yaml" {
		t.Errorf("worse[0] = %+v", w)
	}
	if r.BaseVersion != 14 || r.HeadVersion != 15 {
		t.Errorf("versions %d → %d", r.BaseVersion, r.HeadVersion)
	}
}

func TestCompareInsufficientEvidence(t *testing.T) {
	var f fixture
	f.addN("cards", "card-bad", 2, one(P), one(F))
	f.addN("cards", "card-ok", 5, one(P), one(P))
	r := Compare(f.input())
	c := r.Categories[0]
	if c.Evidence != Insufficient || c.Regressed {
		t.Errorf("2 of 7 cases worse: %+v, want insufficient evidence and no regression", c)
	}
	if r.Verdict != Pass {
		t.Errorf("verdict %s, want pass: %v", r.Verdict, r.Reasons)
	}
	if !hasReason(r, `category "cards" dropped 28.6 pp (> 3 pp) but too few cases changed to tell (insufficient evidence, p=0.250): not failing on it`) {
		t.Errorf("reasons %q do not explain the unproven drop", r.Reasons)
	}
	if len(r.Worse) != 2 {
		t.Errorf("worse cases are listed even without significance: %d", len(r.Worse))
	}
}

func TestCompareNotSignificant(t *testing.T) {
	var f fixture
	f.addN("billing", "worse", 5, one(P), one(F))
	f.addN("billing", "better", 3, one(F), one(P))
	f.addN("billing", "same", 20, one(P), one(P))
	r := Compare(f.input())
	c := r.Categories[0]
	// McNemar 5 vs 3: two-sided 0.727, one-sided 0.363.
	if c.Evidence != NotSignificant || c.Regressed || r.Verdict != Pass {
		t.Errorf("5 worse, 3 better: %+v, verdict %s", c, r.Verdict)
	}
	if len(r.Better) != 3 || r.Better[0].Reason != `contains "consultant"` || r.Better[0].HeadOutput != "head better-01 #0 pass=true" {
		t.Errorf("better = %+v", r.Better)
	}
}

func TestComparePassReasons(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(P))
	r := Compare(f.input())
	if r.Verdict != Pass {
		t.Fatalf("verdict %s: %v", r.Verdict, r.Reasons)
	}
	for _, want := range []string{
		"no category dropped beyond its threshold with significant evidence",
		"overall pass rate 100% → 100% (+0 pp, no change)",
		"cost per case +0% (≤ 20%)",
		"p95 latency +0% (≤ 25%)",
		"error rates base 0%, head 0% (≤ 5%)",
	} {
		if !hasReason(r, want) {
			t.Errorf("reasons %q lack %q", r.Reasons, want)
		}
	}
}

func TestCompareMissingOutcomesAreErrors(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 20, one(P), one(P))
	f.head = f.head[:17] // 3 head outcomes never arrived
	r := Compare(f.input())
	if r.Verdict != Inconclusive {
		t.Fatalf("verdict %s, want inconclusive: %v", r.Verdict, r.Reasons)
	}
	if r.Errors.Head != 3 || r.Errors.Base != 0 || r.Errors.HeadRate != 0.15 || r.Errors.ByKind[errMissing] != 3 {
		t.Errorf("errors = %+v", r.Errors)
	}
	if !hasReason(r, "head error rate 15% (3 of 20 samples) > max_error_rate 5%") {
		t.Errorf("reasons %q", r.Reasons)
	}
	if r.Overall.Samples != 17 || r.Categories[0].HeadErrors != 3 {
		t.Errorf("samples %d, head errors %d", r.Overall.Samples, r.Categories[0].HeadErrors)
	}
	if len(r.Errors.Examples) == 0 || !strings.HasPrefix(r.Errors.Examples[0], "head bil-18: missing: no result") {
		t.Errorf("examples = %q", r.Errors.Examples)
	}
}

func TestCompareErrorsByKind(t *testing.T) {
	var f fixture
	f.addN("billing", "ok", 18, one(P), one(P))
	f.add("billing", "t1", one(P), one(run{err: ErrTimeout}))
	f.add("billing", "p1", one(run{err: ErrProvider}), one(P))
	r := Compare(f.input())
	// 1 error of 20 per side is 5%: not above max_error_rate.
	if r.Verdict != Pass || r.Errors.ByKind[ErrTimeout] != 1 || r.Errors.ByKind[ErrProvider] != 1 {
		t.Errorf("verdict %s errors %+v", r.Verdict, r.Errors)
	}
	if len(r.Errors.Examples) != 2 {
		t.Errorf("examples = %q", r.Errors.Examples)
	}
}

func TestCompareFailOutranksInconclusive(t *testing.T) {
	var f fixture
	f.addN("escalation", "esc", 10, one(P), one(F))
	f.addN("escalation", "gone", 4, one(P), one(run{err: ErrTimeout}))
	r := Compare(f.input())
	if r.Verdict != Fail {
		t.Fatalf("verdict %s, want fail: %v", r.Verdict, r.Reasons)
	}
	if !hasReasonPrefix(r, "head error rate 28.6% (4 of 14 samples)") ||
		!hasReason(r, "the failure stands although data is missing: it is measured on the data that is there") {
		t.Errorf("reasons %q", r.Reasons)
	}
}

func TestCompareNoUsableSamples(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 5, one(P), one(run{err: ErrProvider}))
	r := Compare(f.input())
	if r.Verdict != Inconclusive || !hasReason(r, "no usable paired samples: base has 5 and head 0 verdicts of 5") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestCompareBudgetSpent(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(P))
	f.head = f.head[:9]
	in := f.input()
	in.BudgetSpent = "max_calls 19 reached"
	r := Compare(in)
	if r.Verdict != Inconclusive || !hasReason(r, "run budget spent: max_calls 19 reached") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
	if r.Errors.ByKind[ErrBudget] != 1 || r.BudgetSpent == "" {
		t.Errorf("errors %+v", r.Errors)
	}
}

func TestCompareCost(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(run{pass: true, tokens: [2]int{1000, 425}}))
	r := Compare(f.input())
	c := r.Cost
	// base: (1000×2.5 + 200×10)/1e6 = 0.0045; head: (2500 + 4250)/1e6 = 0.00675: +50%.
	if c.BasePerCase == nil || c.HeadPerCase == nil || c.DeltaPct == nil || c.BaseTotal == nil ||
		!approx(*c.BasePerCase, 0.0045) || !approx(*c.HeadPerCase, 0.00675) || !approx(*c.DeltaPct, 50) || !approx(*c.BaseTotal, 0.045) {
		t.Fatalf("cost = %+v", c)
	}
	if c.BaseInputTokens != 1000 || c.HeadOutputTokens != 425 {
		t.Errorf("tokens = %+v", c)
	}
	if r.Verdict != Fail || !hasReason(r, "cost per case rose 50% (> 20%): $0.00450 → $0.00675") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestCompareCostThresholdFromGate(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(run{pass: true, tokens: [2]int{1000, 425}}))
	in := f.input()
	in.Gate.MaxCostIncreasePct = f64(60)
	if r := Compare(in); r.Verdict != Pass {
		t.Errorf("+50%% under a 60%% limit: %s %q", r.Verdict, r.Reasons)
	}
}

func TestCompareUnknownPrice(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(run{pass: true, model: "my-finetune-2026-01-01", tokens: [2]int{9000, 9000}}))
	r := Compare(f.input())
	c := r.Cost
	if c.HeadPerCase != nil || c.HeadTotal != nil || c.DeltaPct != nil || c.BasePerCase == nil {
		t.Errorf("an unpriced model must make the head cost unknown, not 0: %+v", c)
	}
	if !slices.Equal(c.UnknownModels, []string{"my-finetune-2026-01-01"}) {
		t.Errorf("unknown models = %v", c.UnknownModels)
	}
	// The repo prices its models, so an unpriced one is missing data.
	if r.Verdict != Inconclusive || !hasReason(r, "cost unknown: no price in promptgate.yaml for my-finetune-2026-01-01; cost not compared") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
	// A repo with no prices at all does not gate on cost: a note, a pass.
	in := f.input()
	in.Prices = nil
	if r := Compare(in); r.Verdict != Pass || !hasReasonPrefix(r, "cost unknown") {
		t.Errorf("without prices: verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestCompareRoutedModelsPricedPerOutcome(t *testing.T) {
	var f fixture
	f.addN("smalltalk", "st", 4, one(P), one(run{pass: true, model: mini}))
	f.addN("billing", "bil", 4, one(P), one(P))
	r := Compare(f.input())
	// head: half at 0.0045, half at (150 + 120)/1e6 = 0.00027.
	want := (0.0045 + 0.00027) / 2
	if c := r.Cost.HeadPerCase; c == nil || !approx(*c, want) {
		t.Errorf("head per case = %v, want %v", c, want)
	}
}

func TestCompareLatency(t *testing.T) {
	var f fixture
	for i := range 20 {
		ms := time.Duration(1000+100*i) * time.Millisecond
		f.add("billing", fmt.Sprintf("b%02d", i), one(run{pass: true, latency: ms}), one(run{pass: true, latency: 2 * ms}))
	}
	r := Compare(f.input())
	l := r.Latency
	// base: 1000..2900 ms; p50 = 1950, p95 = 1000 + 0.95·19·100 = 2805.
	if l.BaseP50ms != 1950 || l.BaseP95ms != 2805 || l.HeadP95ms != 5610 || l.DeltaP95Pct == nil || *l.DeltaP95Pct != 100 {
		t.Fatalf("latency = %+v", l)
	}
	if r.Verdict != Fail || !hasReason(r, "p95 latency rose 100% (> 25%): 2805 ms → 5610 ms") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestCompareRepeats(t *testing.T) {
	f := fixture{repeats: 3}
	f.add("escalation", "a-3to1", []run{P, P, P}, []run{P, F, F})
	f.add("escalation", "b-2to1", []run{F, P, P}, []run{F, F, P})
	f.add("escalation", "c-2to2", []run{P, P, F}, []run{P, F, P})
	f.add("escalation", "d-1to0", []run{P, F, F}, []run{F, F, F})
	f.add("escalation", "e-0to3", []run{F, F, F}, []run{P, P, P})
	r := Compare(f.input())
	var ids []string
	for _, w := range r.Worse {
		ids = append(ids, w.CaseID)
	}
	if !slices.Equal(ids, []string{"a-3to1", "b-2to1"}) {
		t.Fatalf("worse = %v, want a-3to1 and b-2to1", ids)
	}
	a := r.Worse[0]
	if a.HeadOutput != "head a-3to1 #1 pass=false" || a.BaseOutput != "base a-3to1 #1 pass=true" || a.BasePasses != 3 || a.HeadPasses != 1 || a.Repeats != 3 {
		t.Errorf("worse a = %+v", a)
	}
	b := r.Worse[1]
	// The first failing head repeat is #0, where base failed too: show a passing base repeat.
	if b.HeadOutput != "head b-2to1 #0 pass=false" || b.BaseOutput != "base b-2to1 #1 pass=true" {
		t.Errorf("worse b = %+v", b)
	}
	if len(r.Better) != 1 || r.Better[0].CaseID != "e-0to3" {
		t.Errorf("better = %+v", r.Better)
	}
	if r.Categories[0].Samples != 15 {
		t.Errorf("samples = %d, want 15 pairs", r.Categories[0].Samples)
	}
}

func TestCompareRepeatsIdenticalOutputsNote(t *testing.T) {
	f := fixture{repeats: 3}
	same := func(out string, pass bool) []run {
		r := run{pass: pass, output: out}
		return []run{r, r, r}
	}
	for i := range 6 {
		f.add("billing", fmt.Sprintf("c%d", i), same("base answer", true), same("head answer", true))
	}
	r := Compare(f.input())
	if !hasReasonPrefix(r, "repeats gave identical outputs in 6 of 6 cases") {
		t.Errorf("reasons %q lack the identical-repeats note", r.Reasons)
	}
}

func TestCompareCategoryThresholdOverride(t *testing.T) {
	var f fixture
	f.addN("escalation", "esc", 8, one(P), one(F))
	f.addN("escalation", "ok", 12, one(P), one(P))
	in := f.input()
	in.Gate.Categories = map[string]registry.CategoryGate{"escalation": {MaxDropPP: f64(50)}}
	in.Gate.MaxOverallDropPP = f64(50)
	r := Compare(in)
	if c := r.Categories[0]; c.ThresholdPP != 50 || c.Regressed || c.Evidence != Significant {
		t.Errorf("escalation under a 50 pp limit: %+v", c)
	}
	if r.Verdict != Pass {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestCompareJudgeReasons(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 5, one(P), one(P))
	in := f.input()
	in.Judge = &Calibration{Model: modelA, N: 13, Accuracy: 0.62, Min: 0.8}
	if r := Compare(in); !hasReason(r, "judge untrusted (accuracy 0.62 < 0.80): judge criteria not applied") || r.Judge != in.Judge {
		t.Errorf("reasons %q", r.Reasons)
	}
	in.Judge = &Calibration{Model: modelA, Trusted: true, Min: 0.8}
	if r := Compare(in); !hasReason(r, "judge uncalibrated (no human ratings): judge verdicts used unverified") {
		t.Errorf("reasons %q", r.Reasons)
	}
}

func TestCompareNewArtifact(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 3, nil, one(P))
	f.add("billing", "bad", nil, one(F))
	in := f.input()
	in.Base = nil
	in.BaseOutcomes = nil
	r := Compare(in)
	if r.Verdict != Pass || r.BaseVersion != 0 || r.Change.ModelBefore != "" || r.Change.ModelAfter != modelA {
		t.Errorf("new artifact: %s %+v", r.Verdict, r)
	}
	if !hasReason(r, "new artifact: no baseline to compare against; the candidate passes 75% of 4 samples") {
		t.Errorf("reasons %q", r.Reasons)
	}
	if r.Cost.BasePerCase != nil || r.Errors.Base != 0 || len(r.Worse) != 0 {
		t.Errorf("a new artifact has no base side: %+v %+v", r.Cost, r.Errors)
	}
}

func TestCompareChange(t *testing.T) {
	base := &registry.Artifact{
		Name: "support-assistant", Version: 14, Provider: "openai", Model: modelA,
		Params:        registry.Params{Temperature: f64(0.2), Seed: new(int)},
		SystemPrompt:  "You are Nova.\nBe brief.\nNever promise refunds.\n",
		Templates:     map[string]string{"user": "Q: {{question}}", "old": "x"},
		OutputSchema:  map[string]any{"type": "object"},
		KnowledgeBase: &registry.KnowledgeBase{Index: "faq", Version: "2026-11-20"},
		Routing:       []registry.Route{{When: map[string]string{"category": "smalltalk"}, Model: mini}},
	}
	head := *base
	head.Version = 15
	head.Model = modelB
	head.Params = registry.Params{Temperature: f64(0.7), TopP: f64(1)}
	head.SystemPrompt = "You are Nova.\nBe thorough: explain everything.\nNever promise refunds.\n"
	head.Templates = map[string]string{"user": "Customer question: {{question}}"}
	head.OutputSchema = map[string]any{"type": "object", "required": []any{"answer"}}
	head.KnowledgeBase = &registry.KnowledgeBase{Index: "faq", Version: "2026-11-28"}
	head.Routing = nil

	var f fixture
	f.add("billing", "b1", one(P), one(P))
	in := f.input()
	in.Base, in.Head, in.GoldenChanged = base, &head, true
	ch := Compare(in).Change

	if ch.ModelBefore != modelA || ch.ModelAfter != modelB || !ch.GoldenChanged {
		t.Errorf("models %s → %s", ch.ModelBefore, ch.ModelAfter)
	}
	wantParams := []string{"temperature: 0.2 → 0.7", "top_p: unset → 1", "seed: 0 → unset"}
	if !slices.Equal(ch.Params, wantParams) {
		t.Errorf("params = %q, want %q", ch.Params, wantParams)
	}
	if ch.PromptAdded != 1 || ch.PromptRemoved != 1 || len(ch.PromptDiff) != 5 {
		t.Errorf("prompt diff +%d -%d: %v", ch.PromptAdded, ch.PromptRemoved, ch.PromptDiff)
	}
	wantOther := []string{
		"knowledge_base: faq@2026-11-20 → faq@2026-11-28",
		"templates.old removed",
		`templates.user: "Q: {{question}}" → "Customer question: {{question}}"`,
		"output_schema changed",
		"routing: removed when category=smalltalk → " + mini,
	}
	if !slices.Equal(ch.Other, wantOther) {
		t.Errorf("other = %q\nwant %q", ch.Other, wantOther)
	}
}

// TestCompareCostNotJudgedOnPartialData: with the budget spent, a cost rise
// measured on different subsets of cases is noted, not a failure.
func TestCompareCostNotJudgedOnPartialData(t *testing.T) {
	var f fixture
	f.addN("billing", "bil", 10, one(P), one(run{pass: true, tokens: [2]int{1000, 425}}))
	f.head = f.head[:5]
	in := f.input()
	in.BudgetSpent = "max_usd 0.01 reached"
	r := Compare(in)
	if r.Verdict != Inconclusive || !hasReasonPrefix(r, "cost and latency not compared") {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

// TestCompareTooSmallToCall: four cases that all break cannot be called
// significant, and that must not come out green.
func TestCompareTooSmallToCall(t *testing.T) {
	var f fixture
	f.addN("escalation", "esc", 4, one(P), one(F))
	r := Compare(f.input())
	if r.Verdict != Inconclusive || !hasReasonPrefix(r, `category "escalation" dropped 100 pp (> 3 pp), but with 4 case(s)`) {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
	if !tooSmallToCall(4, 1) || tooSmallToCall(5, 1) || tooSmallToCall(2, 3) {
		t.Errorf("tooSmallToCall: 4×1 %v, 5×1 %v, 2×3 %v", tooSmallToCall(4, 1), tooSmallToCall(5, 1), tooSmallToCall(2, 3))
	}
}
