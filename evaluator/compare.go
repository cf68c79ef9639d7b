package evaluator

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/promptgate/promptgate/registry"
)

// Gate thresholds used where promptgate.yaml leaves them unset.
const (
	DefaultMaxCategoryDropPP        = 3.0
	DefaultMaxOverallDropPP         = 0.0 // any significant overall drop fails
	DefaultMaxCostIncreasePct       = 20.0
	DefaultMaxP95LatencyIncreasePct = 25.0
	DefaultMaxErrorRate             = 0.05
)

// errMissing marks an outcome the comparison expected but did not get.
const errMissing ErrorKind = "missing"

// maxErrorExamples is how many error messages a report carries.
const maxErrorExamples = 5

// CompareInput is everything Compare needs about one artifact's two runs.
type CompareInput struct {
	Name string
	// Base is nil for a new artifact: there is nothing to compare against.
	Base, Head *registry.Artifact
	// Cases is the golden set both sides ran on (the head's set).
	Cases []*registry.Case
	// BaseOutcomes and HeadOutcomes hold each case × repeat; an entry that
	// is missing (the budget ran out, a run was cut short) counts as an error.
	BaseOutcomes, HeadOutcomes []Outcome
	Repeats                    int
	Gate                       registry.Gate
	Prices                     map[string]registry.Price
	Judge                      *Calibration
	BudgetSpent                string
	GoldenChanged              bool
}

// limits are the gate thresholds with defaults applied.
type limits struct {
	categoryDropPP map[string]float64
	defaultDropPP  float64
	overallDropPP  float64
	costPct        float64
	latencyPct     float64
	errorRate      float64
}

func gateLimits(g registry.Gate) limits {
	or := func(p *float64, def float64) float64 {
		if p != nil {
			return *p
		}
		return def
	}
	l := limits{
		categoryDropPP: map[string]float64{},
		defaultDropPP:  or(g.MaxCategoryDropPP, DefaultMaxCategoryDropPP),
		overallDropPP:  or(g.MaxOverallDropPP, DefaultMaxOverallDropPP),
		costPct:        or(g.MaxCostIncreasePct, DefaultMaxCostIncreasePct),
		latencyPct:     or(g.MaxP95LatencyIncreasePct, DefaultMaxP95LatencyIncreasePct),
		errorRate:      or(g.MaxErrorRate, DefaultMaxErrorRate),
	}
	for name, cg := range g.Categories {
		if cg.MaxDropPP != nil {
			l.categoryDropPP[name] = *cg.MaxDropPP
		}
	}
	return l
}

func (l limits) dropPP(category string) float64 {
	if v, ok := l.categoryDropPP[category]; ok {
		return v
	}
	return l.defaultDropPP
}

// caseRuns is one case's outcomes on both sides, indexed by repeat. Missing
// outcomes are filled in as errors; base is nil for a new artifact.
type caseRuns struct {
	c          *registry.Case
	category   string
	base, head []*Outcome
}

// Compare pairs the baseline's and the candidate's outcomes case by case
// and repeat by repeat, and decides the gate for one artifact.
//
// Statistics. Each (case, repeat) where both sides gave a verdict is a
// pair; pass rates and deltas count those pairs. Whether a category's change
// is real is tested with StratifiedExact, cases as strata: repeats are
// separate requests sampled independently (Request.Repeat keeps them apart
// in the cache), so under no change a case's verdicts on both sides are
// exchangeable, and the test is exact given the golden set whatever each
// case's own pass rate. It asks whether the artifact got worse on these
// cases, which is the gate's question. It uses repeats as evidence without
// counting them as independent cases: a case that fails 3 of 3 repeats
// after passing 3 of 3 counts for much more than a flaky case that moved by
// one, while noise spread over many flaky cases does not add up to a
// regression. With repeats: 1 it is the exact (one-sided) McNemar test.
// The reasoning fails when repeats are copies (temperature 0 with a fixed
// seed): the report then says so, see repeatsNote. Regressions are called one-sided
// with the categories and the overall rate as one Holm-adjusted family, see
// categoryDeltas, so more categories do not mean more false alarms.
//
// Verdict. Fail when a category regressed (its drop exceeds its threshold
// and is significant), when the overall pass rate dropped beyond
// max_overall_drop_pp with significance, or when cost per case or p95
// latency rose beyond their limits. Inconclusive when either side's error
// rate exceeds max_error_rate, the run budget was spent, or a side has no
// usable samples. A failure outranks inconclusive: missing data cannot
// undo a regression measured on the data that is there. Pass otherwise.
//
// A new artifact (Base nil) has nothing to regress from: it passes unless
// its own errors or the budget make the run inconclusive, and the reasons
// give its pass rate for the reviewer to judge.
func Compare(in CompareInput) *ArtifactReport {
	lim := gateLimits(in.Gate)
	repeats := max(in.Repeats, 1)
	hasBase := in.Base != nil

	r := &ArtifactReport{
		Name:        in.Name,
		Repeats:     repeats,
		Judge:       in.Judge,
		BudgetSpent: in.BudgetSpent,
	}
	if hasBase {
		r.BaseVersion = in.Base.Version
	}
	if in.Head != nil {
		r.HeadVersion = in.Head.Version
	}
	r.Change = describeChange(in.Base, in.Head)
	r.Change.GoldenChanged = in.GoldenChanged

	runs := pairRuns(in, repeats, hasBase)
	r.Categories, r.Overall = categoryDeltas(runs, lim, hasBase)
	r.Worse, r.Better = caseDeltas(runs, repeats)
	r.Errors = countErrors(runs, repeats, hasBase)
	r.Cost = costDelta(runs, in, hasBase)
	r.Latency = latencyDelta(runs, hasBase)

	r.Verdict, r.Reasons = decide(r, runs, lim, in, hasBase)
	return r
}

// pairRuns lays the outcomes out per case and repeat, filling gaps with
// error outcomes so that missing data is counted, never silently dropped.
func pairRuns(in CompareInput, repeats int, hasBase bool) []*caseRuns {
	type key struct {
		id     string
		repeat int
	}
	index := func(outs []Outcome) map[key]*Outcome {
		m := make(map[key]*Outcome, len(outs))
		for i := range outs {
			k := key{outs[i].CaseID, outs[i].Repeat}
			if _, dup := m[k]; !dup {
				m[k] = &outs[i]
			}
		}
		return m
	}
	base, head := index(in.BaseOutcomes), index(in.HeadOutcomes)
	missing := func(c *registry.Case, repeat int, model string) *Outcome {
		o := &Outcome{CaseID: c.ID, Category: c.Category, Repeat: repeat, Model: model,
			Error: "no result", ErrorKind: errMissing}
		if in.BudgetSpent != "" {
			o.Error, o.ErrorKind = "not run: budget spent", ErrBudget
		}
		return o
	}
	var baseModel, headModel string
	if in.Base != nil {
		baseModel = in.Base.Model
	}
	if in.Head != nil {
		headModel = in.Head.Model
	}
	runs := make([]*caseRuns, 0, len(in.Cases))
	for _, c := range in.Cases {
		cr := &caseRuns{c: c, category: categoryOf(c), head: make([]*Outcome, repeats)}
		if hasBase {
			cr.base = make([]*Outcome, repeats)
		}
		for rep := range repeats {
			if hasBase {
				if o := base[key{c.ID, rep}]; o != nil {
					cr.base[rep] = o
				} else {
					cr.base[rep] = missing(c, rep, baseModel)
				}
			}
			if o := head[key{c.ID, rep}]; o != nil {
				cr.head[rep] = o
			} else {
				cr.head[rep] = missing(c, rep, headModel)
			}
		}
		runs = append(runs, cr)
	}
	return runs
}

func categoryOf(c *registry.Case) string {
	if c.Category != "" {
		return c.Category
	}
	return "uncategorized"
}

// tally counts one category's (or the whole set's) pairs.
type tally struct {
	cases              int
	samples            int // pairs with a verdict on both sides (head verdicts for a new artifact)
	basePass, headPass int
	baseErrs, headErrs int
	strata             []Stratum // per case, over its paired repeats
}

func (t *tally) add(cr *caseRuns, hasBase bool) {
	t.cases++
	st := Stratum{}
	for rep, h := range cr.head {
		if !h.OK() {
			t.headErrs++
		}
		if !hasBase {
			if h.OK() {
				t.samples++
				if h.Pass {
					t.headPass++
				}
			}
			continue
		}
		b := cr.base[rep]
		if !b.OK() {
			t.baseErrs++
		}
		if !b.OK() || !h.OK() {
			continue
		}
		st.N++
		if b.Pass {
			st.BasePass++
		}
		if h.Pass {
			st.HeadPass++
		}
	}
	t.samples += st.N
	t.basePass += st.BasePass
	t.headPass += st.HeadPass
	if hasBase {
		t.strata = append(t.strata, st)
	}
}

// test returns the one-sided p-values that the head is worse and that it
// is better, the smallest one-sided p-value the data's margins allow, and
// whether any case's pass count moved.
func (t *tally) test() (pWorse, pBetter, minP float64, changed bool) {
	for _, s := range t.strata {
		if s.BasePass != s.HeadPass {
			changed = true
			break
		}
	}
	pWorse, pBetter, minP = StratifiedExact(t.strata)
	return pWorse, pBetter, minP, changed
}

func (t *tally) delta(name string, thresholdPP float64, hasBase bool) CategoryDelta {
	d := CategoryDelta{
		Name:        name,
		N:           t.cases,
		Samples:     t.samples,
		ThresholdPP: thresholdPP,
		BaseErrors:  t.baseErrs,
		HeadErrors:  t.headErrs,
		PValue:      1,
		Evidence:    Insufficient,
	}
	if t.samples > 0 {
		d.HeadPassRate = float64(t.headPass) / float64(t.samples)
		if hasBase {
			d.BasePassRate = float64(t.basePass) / float64(t.samples)
			d.DeltaPP = 100 * (d.HeadPassRate - d.BasePassRate)
		}
	}
	return d
}

// evidence grades a change: no case moved, too few moved for the test to
// ever reach significance, or the adjusted p-value against Alpha.
func evidence(changed bool, minP, p float64) Evidence {
	switch {
	case !changed:
		return NoChange
	case minP >= Alpha:
		return Insufficient
	case p < Alpha:
		return Significant
	}
	return NotSignificant
}

// categoryDeltas tests each category and the whole set.
//
// The gate fails on drops only, so a regression is called by a one-sided
// test that the head is worse. The tests of one direction form a family
// (every category, plus overall when there is more than one category),
// Holm-adjusted so that the chance of calling any regression in a PR that
// changed nothing stays within Alpha however many categories there are.
// Improvements are a family of their own and never fail the gate.
// PValue is the adjusted one-sided p-value in the direction the pass rate
// moved (the smaller of the two when it did not move).
func categoryDeltas(runs []*caseRuns, lim limits, hasBase bool) ([]CategoryDelta, CategoryDelta) {
	byCat := map[string]*tally{}
	all := &tally{}
	for _, cr := range runs {
		t := byCat[cr.category]
		if t == nil {
			t = &tally{}
			byCat[cr.category] = t
		}
		t.add(cr, hasBase)
		all.add(cr, hasBase)
	}
	names := slices.Sorted(maps.Keys(byCat))
	cats := make([]CategoryDelta, 0, len(names))
	tallies := make([]*tally, 0, len(names)+1)
	for _, name := range names {
		cats = append(cats, byCat[name].delta(name, lim.dropPP(name), hasBase))
		tallies = append(tallies, byCat[name])
	}
	overall := all.delta("overall", lim.overallDropPP, hasBase)
	if !hasBase {
		return cats, overall
	}

	deltas := make([]*CategoryDelta, 0, len(cats)+1)
	for i := range cats {
		deltas = append(deltas, &cats[i])
	}
	if len(cats) != 1 {
		deltas = append(deltas, &overall)
		tallies = append(tallies, all)
	}
	worse := make([]float64, len(deltas))
	better := make([]float64, len(deltas))
	minPs := make([]float64, len(deltas))
	changed := make([]bool, len(deltas))
	for i := range deltas {
		worse[i], better[i], minPs[i], changed[i] = tallies[i].test()
	}
	worse, better = Holm(worse), Holm(better)
	for i, d := range deltas {
		switch {
		case d.DeltaPP < 0:
			d.PValue = worse[i]
		case d.DeltaPP > 0:
			d.PValue = better[i]
		default:
			d.PValue = min(worse[i], better[i])
		}
		d.Evidence = evidence(changed[i], minPs[i], d.PValue)
		d.Regressed = d.DeltaPP < 0 && -d.DeltaPP > d.ThresholdPP && d.Evidence == Significant
	}
	if len(cats) == 1 {
		// One category is the whole set: the same test, not a second one.
		overall.PValue, overall.Evidence = cats[0].PValue, cats[0].Evidence
		overall.Regressed = overall.DeltaPP < 0 && -overall.DeltaPP > overall.ThresholdPP && overall.Evidence == Significant
	}
	return cats, overall
}

// caseDeltas lists the cases whose majority verdict flipped. A case is
// worse when it passed a majority of its base repeats and at most half of
// its head repeats (with repeats r and no errors: head passes ≤ r/2 < base
// passes), counting only repeats that gave a verdict; better is the
// reverse.
func caseDeltas(runs []*caseRuns, repeats int) (worse, better []CaseDelta) {
	for _, cr := range runs {
		if cr.base == nil {
			continue
		}
		bp, bn := passCount(cr.base)
		hp, hn := passCount(cr.head)
		if bn == 0 || hn == 0 {
			continue
		}
		baseMajority, headMajority := 2*bp > bn, 2*hp > hn
		d := CaseDelta{CaseID: cr.c.ID, Category: cr.category, BasePasses: bp, HeadPasses: hp,
			Repeats: repeats, File: cr.c.File}
		switch {
		case baseMajority && !headMajority:
			rep := firstFailing(cr.head)
			fail := cr.head[rep]
			d.Failed = fail.Failed
			d.Reason = firstOr(fail.Failed, "failed")
			d.HeadOutput = fail.Output
			d.BaseOutput = counterpart(cr.base, rep).Output
			worse = append(worse, d)
		case !baseMajority && headMajority:
			rep := firstFailing(cr.base)
			fail := cr.base[rep]
			d.Reason = firstOr(fail.Failed, "failed")
			d.BaseOutput = fail.Output
			d.HeadOutput = counterpart(cr.head, rep).Output
			better = append(better, d)
		}
	}
	byCategoryThenID := func(a, b CaseDelta) int {
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.CaseID, b.CaseID)
	}
	slices.SortFunc(worse, byCategoryThenID)
	slices.SortFunc(better, byCategoryThenID)
	return worse, better
}

func passCount(outs []*Outcome) (pass, verdicts int) {
	for _, o := range outs {
		if o.OK() {
			verdicts++
			if o.Pass {
				pass++
			}
		}
	}
	return pass, verdicts
}

// firstFailing is the first repeat with a failing verdict; the callers know one exists.
func firstFailing(outs []*Outcome) int {
	for i, o := range outs {
		if o.OK() && !o.Pass {
			return i
		}
	}
	return 0
}

// counterpart is the other side's outcome to show next to a flipped repeat:
// the same repeat when it passed, else the first passing repeat.
func counterpart(outs []*Outcome, rep int) *Outcome {
	if o := outs[rep]; o.OK() && o.Pass {
		return o
	}
	for _, o := range outs {
		if o.OK() && o.Pass {
			return o
		}
	}
	return outs[rep]
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func countErrors(runs []*caseRuns, repeats int, hasBase bool) ErrorCounts {
	ec := ErrorCounts{}
	seen := map[string]bool{}
	note := func(side string, o *Outcome) {
		ec.ByKind[o.ErrorKind]++
		if len(ec.Examples) >= maxErrorExamples {
			return
		}
		msg := o.Error
		if o.ErrorKind != "" && !strings.HasPrefix(msg, string(o.ErrorKind)) {
			msg = string(o.ErrorKind) + ": " + msg
		}
		if seen[msg] {
			return
		}
		seen[msg] = true
		where := side + " " + o.CaseID
		if repeats > 1 {
			where += fmt.Sprintf(" #%d", o.Repeat+1)
		}
		ec.Examples = append(ec.Examples, where+": "+clipRunes(msg, 200))
	}
	ec.ByKind = map[ErrorKind]int{}
	for _, cr := range runs {
		for rep := range cr.head {
			if hasBase && !cr.base[rep].OK() {
				ec.Base++
				note("base", cr.base[rep])
			}
			if !cr.head[rep].OK() {
				ec.Head++
				note("head", cr.head[rep])
			}
		}
	}
	if expected := len(runs) * repeats; expected > 0 {
		if hasBase {
			ec.BaseRate = float64(ec.Base) / float64(expected)
		}
		ec.HeadRate = float64(ec.Head) / float64(expected)
	}
	if len(ec.ByKind) == 0 {
		ec.ByKind = nil
	}
	return ec
}

// sideCost sums one side's tokens and cost.
type sideCost struct {
	verdicts      int
	inTok, outTok float64
	verdictUSD    float64
	totalUSD      float64
	unknown       map[string]bool
}

func (s *sideCost) add(o *Outcome, model string, prices map[string]registry.Price) {
	if !o.OK() && o.InputTokens == 0 && o.OutputTokens == 0 {
		return // nothing was spent
	}
	if o.Model != "" {
		model = o.Model
	}
	usd := 0.0
	if c := Cost(prices, model, o.InputTokens, o.OutputTokens); c != nil {
		usd = *c
	} else {
		s.unknown[model] = true
	}
	s.totalUSD += usd
	if o.OK() {
		s.verdicts++
		s.inTok += float64(o.InputTokens)
		s.outTok += float64(o.OutputTokens)
		s.verdictUSD += usd
	}
}

// costDelta reports tokens and USD per case as means over the outcomes
// that gave a verdict (each is one run of one case), and totals over every
// outcome that spent tokens. A side that used any unpriced model has an
// unknown (nil) cost, never a partial sum.
func costDelta(runs []*caseRuns, in CompareInput, hasBase bool) CostDelta {
	base := sideCost{unknown: map[string]bool{}}
	head := sideCost{unknown: map[string]bool{}}
	var baseModel, headModel string
	if in.Base != nil {
		baseModel = in.Base.Model
	}
	if in.Head != nil {
		headModel = in.Head.Model
	}
	for _, cr := range runs {
		for rep := range cr.head {
			if hasBase {
				base.add(cr.base[rep], baseModel, in.Prices)
			}
			head.add(cr.head[rep], headModel, in.Prices)
		}
	}
	var cd CostDelta
	perCase := func(s sideCost) (inTok, outTok float64, usd, total *float64) {
		if s.verdicts > 0 {
			inTok, outTok = s.inTok/float64(s.verdicts), s.outTok/float64(s.verdicts)
		}
		if len(s.unknown) > 0 {
			return inTok, outTok, nil, nil
		}
		t := s.totalUSD
		if s.verdicts == 0 {
			return inTok, outTok, nil, &t
		}
		u := s.verdictUSD / float64(s.verdicts)
		return inTok, outTok, &u, &t
	}
	if hasBase {
		cd.BaseInputTokens, cd.BaseOutputTokens, cd.BasePerCase, cd.BaseTotal = perCase(base)
	}
	cd.HeadInputTokens, cd.HeadOutputTokens, cd.HeadPerCase, cd.HeadTotal = perCase(head)
	if cd.BasePerCase != nil && cd.HeadPerCase != nil {
		cd.DeltaPct = pctChange(*cd.BasePerCase, *cd.HeadPerCase)
	}
	unknown := maps.Clone(head.unknown)
	maps.Copy(unknown, base.unknown)
	if len(unknown) > 0 {
		cd.UnknownModels = slices.Sorted(maps.Keys(unknown))
	}
	return cd
}

// pctChange is the relative change from before to after in percent; nil
// when before is zero and after is not (no meaningful ratio).
func pctChange(before, after float64) *float64 {
	var v float64
	switch {
	case before == 0 && after == 0:
		v = 0
	case before == 0:
		return nil
	default:
		v = 100 * (after - before) / before
	}
	return &v
}

func latencyDelta(runs []*caseRuns, hasBase bool) LatencyDelta {
	var base, head []float64
	for _, cr := range runs {
		for rep, h := range cr.head {
			if h.OK() {
				head = append(head, float64(h.Latency)/1e6)
			}
			if hasBase && cr.base[rep].OK() {
				base = append(base, float64(cr.base[rep].Latency)/1e6)
			}
		}
	}
	slices.Sort(base)
	slices.Sort(head)
	ld := LatencyDelta{
		BaseP50ms: percentileSorted(base, 50),
		BaseP95ms: percentileSorted(base, 95),
		HeadP50ms: percentileSorted(head, 50),
		HeadP95ms: percentileSorted(head, 95),
	}
	if len(base) > 0 && len(head) > 0 && ld.BaseP95ms > 0 {
		ld.DeltaP95Pct = pctChange(ld.BaseP95ms, ld.HeadP95ms)
	}
	return ld
}

// tooSmallToCall reports whether a category of n cases run `repeats` times
// could not reach significance even if every case went from passing to
// failing on every repeat.
func tooSmallToCall(n, repeats int) bool {
	if n == 0 {
		return false
	}
	strata := make([]Stratum, n)
	for i := range strata {
		strata[i] = Stratum{N: max(repeats, 1), BasePass: max(repeats, 1)}
	}
	_, _, minP := StratifiedExact(strata)
	return minP >= Alpha
}

// minLatencyRiseMS is the smallest p95 rise that can fail the gate.
const minLatencyRiseMS = 50

// decide collects every reason for the verdict, failures first.
func decide(r *ArtifactReport, runs []*caseRuns, lim limits, in CompareInput, hasBase bool) (Verdict, []string) {
	var fails, inconclusive, notes []string

	expected := len(runs) * r.Repeats
	if hasBase && r.Errors.BaseRate > lim.errorRate {
		inconclusive = append(inconclusive, fmt.Sprintf("base error rate %s (%d of %d samples) > max_error_rate %s",
			pct(r.Errors.BaseRate), r.Errors.Base, expected, pct(lim.errorRate)))
	}
	if r.Errors.HeadRate > lim.errorRate {
		inconclusive = append(inconclusive, fmt.Sprintf("head error rate %s (%d of %d samples) > max_error_rate %s",
			pct(r.Errors.HeadRate), r.Errors.Head, expected, pct(lim.errorRate)))
	}
	if in.BudgetSpent != "" {
		inconclusive = append(inconclusive, "run budget spent: "+in.BudgetSpent)
	}
	if expected == 0 {
		inconclusive = append(inconclusive, "the golden set has no cases")
	} else if r.Overall.Samples == 0 {
		if hasBase {
			inconclusive = append(inconclusive, fmt.Sprintf("no usable paired samples: base has %d and head %d verdicts of %d",
				expected-r.Errors.Base, expected-r.Errors.Head, expected))
		} else {
			inconclusive = append(inconclusive, fmt.Sprintf("no usable samples: head has 0 verdicts of %d", expected))
		}
	}

	if hasBase {
		for _, c := range r.Categories {
			drop := -c.DeltaPP
			switch {
			case c.Regressed:
				fails = append(fails, fmt.Sprintf("category %q dropped %s pp (> %s pp), significant (%s)",
					c.Name, num(drop), num(c.ThresholdPP), pValue(c.PValue)))
			case drop > c.ThresholdPP && c.Evidence == Insufficient && tooSmallToCall(c.N, r.Repeats):
				// Even every case flipping could not be called: a green
				// check here would be a pass on missing evidence.
				inconclusive = append(inconclusive, fmt.Sprintf("category %q dropped %s pp (> %s pp), but with %d case(s) × %d repeat(s) no drop in it can ever be significant: add cases or repeats",
					c.Name, num(drop), num(c.ThresholdPP), c.N, r.Repeats))
			case drop > c.ThresholdPP && c.Samples > 0:
				notes = append(notes, fmt.Sprintf("category %q dropped %s pp (> %s pp) but %s: not failing on it",
					c.Name, num(drop), num(c.ThresholdPP), weakEvidence(c.Evidence, c.PValue)))
			}
		}
		o := r.Overall
		if o.Regressed {
			fails = append(fails, fmt.Sprintf("overall pass rate dropped %s pp (> %s pp), significant (%s)",
				num(-o.DeltaPP), num(o.ThresholdPP), pValue(o.PValue)))
		}
	}

	// Cost and latency compare whole sides; with samples missing the sides
	// cover different cases, so a rise there is not evidence of anything.
	cost, lat := r.Cost, r.Latency
	costRose := cost.DeltaPct != nil && *cost.DeltaPct > lim.costPct
	// A rise of a few milliseconds is noise whatever its percentage.
	latencyRose := lat.DeltaP95Pct != nil && *lat.DeltaP95Pct > lim.latencyPct && lat.HeadP95ms-lat.BaseP95ms >= minLatencyRiseMS
	switch {
	case len(inconclusive) > 0 && (costRose || latencyRose):
		notes = append(notes, "cost and latency not compared: samples are missing, so the sides cover different cases")
	default:
		if costRose {
			fails = append(fails, fmt.Sprintf("cost per case rose %s%% (> %s%%): %s → %s",
				num(*cost.DeltaPct), num(lim.costPct), usd(*cost.BasePerCase), usd(*cost.HeadPerCase)))
		}
		if latencyRose {
			fails = append(fails, fmt.Sprintf("p95 latency rose %s%% (> %s%%): %.0f ms → %.0f ms",
				num(*lat.DeltaP95Pct), num(lim.latencyPct), lat.BaseP95ms, lat.HeadP95ms))
		}
	}
	if !costRose && len(cost.UnknownModels) > 0 {
		msg := fmt.Sprintf("cost unknown: no price in promptgate.yaml for %s; cost not compared", strings.Join(cost.UnknownModels, ", "))
		// Missing data only when the change hides a cost that was known:
		// a model nobody prices on either side cannot move the cost.
		if len(in.Prices) > 0 && hasBase && cost.BasePerCase != nil {
			// The repo gates on cost: a model without a price would slip past
			// max_cost_increase_pct, so that is missing data.
			inconclusive = append(inconclusive, msg)
		} else {
			notes = append(notes, msg)
		}
	}

	if j := in.Judge; j != nil && !j.Trusted && j.N == 0 && j.Errors > 0 {
		inconclusive = append(inconclusive, fmt.Sprintf("the judge could not be calibrated: %d error(s) on its human-rated outputs", j.Errors))
	}
	if j := in.Judge; j != nil {
		switch {
		case !j.Trusted && j.N > 0:
			notes = append(notes, fmt.Sprintf("judge untrusted (accuracy %.2f < %.2f): judge criteria not applied", j.Accuracy, j.Min))
		case !j.Trusted:
			notes = append(notes, "judge untrusted (no verdict on its human-rated outputs): judge criteria not applied")
		case j.N == 0:
			notes = append(notes, "judge uncalibrated (no human ratings): judge verdicts used unverified")
		}
	}
	if n := repeatsNote(runs); n != "" {
		notes = append(notes, n)
	}
	if !hasBase {
		notes = append(notes, fmt.Sprintf("new artifact: no baseline to compare against; the candidate passes %s of %d samples",
			pct(r.Overall.HeadPassRate), r.Overall.Samples))
	}

	switch {
	case len(fails) > 0:
		if len(inconclusive) > 0 {
			notes = append(notes, "the failure stands although data is missing: it is measured on the data that is there")
		}
		return Fail, concat(fails, inconclusive, notes)
	case len(inconclusive) > 0:
		return Inconclusive, concat(inconclusive, notes)
	}
	return Pass, concat(passReasons(r, lim, hasBase), notes)
}

// passReasons says which limits held.
func passReasons(r *ArtifactReport, lim limits, hasBase bool) []string {
	var out []string
	if hasBase {
		out = append(out, "no category dropped beyond its threshold with significant evidence")
		o := r.Overall
		out = append(out, fmt.Sprintf("overall pass rate %s → %s (%s pp, %s)",
			pct(o.BasePassRate), pct(o.HeadPassRate), signed(o.DeltaPP), evidenceWords(o.Evidence)))
	}
	if d := r.Cost.DeltaPct; d != nil {
		out = append(out, fmt.Sprintf("cost per case %s%% (≤ %s%%)", signed(*d), num(lim.costPct)))
	}
	if d := r.Latency.DeltaP95Pct; d != nil {
		out = append(out, fmt.Sprintf("p95 latency %s%% (≤ %s%%)", signed(*d), num(lim.latencyPct)))
	}
	if hasBase {
		out = append(out, fmt.Sprintf("error rates base %s, head %s (≤ %s)",
			pct(r.Errors.BaseRate), pct(r.Errors.HeadRate), pct(lim.errorRate)))
	} else {
		out = append(out, fmt.Sprintf("head error rate %s (≤ %s)", pct(r.Errors.HeadRate), pct(lim.errorRate)))
	}
	return out
}

// repeatsNote warns when repeats look like copies of one another: the test
// counts every repeat as an independent sample, which identical outputs
// are not, so significance would be overstated.
func repeatsNote(runs []*caseRuns) string {
	var multi, identical int
	same := func(outs []*Outcome) (bool, bool) {
		var first *Outcome
		n := 0
		for _, o := range outs {
			if !o.OK() {
				continue
			}
			n++
			if first == nil {
				first = o
			} else if o.Output != first.Output {
				return true, false
			}
		}
		return n >= 2, n >= 2
	}
	for _, cr := range runs {
		if cr.base == nil || len(cr.head) < 2 {
			return ""
		}
		bm, bs := same(cr.base)
		hm, hs := same(cr.head)
		if !bm || !hm {
			continue
		}
		multi++
		if bs && hs {
			identical++
		}
	}
	if multi == 0 || 2*identical <= multi {
		return ""
	}
	return fmt.Sprintf("repeats gave identical outputs in %d of %d cases: they are not independent samples, so the test overstates the evidence; consider repeats: 1 for this artifact",
		identical, multi)
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// weakEvidence says why a drop beyond the threshold does not fail the gate.
func weakEvidence(e Evidence, p float64) string {
	if e == Insufficient {
		return "too few cases changed to tell (insufficient evidence, " + pValue(p) + ")"
	}
	return "the change is not significant (" + pValue(p) + ")"
}

func evidenceWords(e Evidence) string {
	if e == "" {
		return "untested"
	}
	return string(e)
}

// num prints a number with one decimal, or none when that decimal is 0.
func num(x float64) string {
	s := strings.TrimSuffix(fmt.Sprintf("%.1f", x), ".0")
	if s == "-0" {
		return "0"
	}
	return s
}

func signed(x float64) string {
	if x >= 0 {
		return "+" + num(x)
	}
	return num(x)
}

func pct(rate float64) string { return num(100*rate) + "%" }

func pValue(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}

func usd(x float64) string {
	switch {
	case x == 0:
		return "$0"
	case x < 0.01:
		return fmt.Sprintf("$%.5f", x)
	}
	return fmt.Sprintf("$%.4f", x)
}

// describeChange says what differs between the two artifacts.
func describeChange(base, head *registry.Artifact) Change {
	var ch Change
	if head == nil {
		return ch
	}
	ch.ModelAfter = head.Model
	if base == nil {
		return ch
	}
	ch.ModelBefore = base.Model
	ch.Params = paramChanges(base.Params, head.Params)
	ch.PromptDiff, ch.PromptAdded, ch.PromptRemoved = LineDiff(base.SystemPrompt, head.SystemPrompt, DefaultDiffContext)

	if base.Provider != head.Provider {
		ch.Other = append(ch.Other, fmt.Sprintf("provider: %s → %s", orNone(base.Provider), orNone(head.Provider)))
	}
	if kb, hk := kbString(base.KnowledgeBase), kbString(head.KnowledgeBase); kb != hk {
		ch.Other = append(ch.Other, fmt.Sprintf("knowledge_base: %s → %s", kb, hk))
	}
	for _, k := range slices.Sorted(maps.Keys(unionKeys(base.Templates, head.Templates))) {
		b, inB := base.Templates[k]
		h, inH := head.Templates[k]
		switch {
		case !inB:
			ch.Other = append(ch.Other, fmt.Sprintf("templates.%s added", k))
		case !inH:
			ch.Other = append(ch.Other, fmt.Sprintf("templates.%s removed", k))
		case b != h:
			ch.Other = append(ch.Other, fmt.Sprintf("templates.%s: %q → %q", k, clipRunes(b, 80), clipRunes(h, 80)))
		}
	}
	if canonicalJSON(base.OutputSchema) != canonicalJSON(head.OutputSchema) {
		switch {
		case len(base.OutputSchema) == 0:
			ch.Other = append(ch.Other, "output_schema added")
		case len(head.OutputSchema) == 0:
			ch.Other = append(ch.Other, "output_schema removed")
		default:
			ch.Other = append(ch.Other, "output_schema changed")
		}
	}
	ch.Other = append(ch.Other, routingChanges(base.Routing, head.Routing)...)
	if base.GoldenSet != head.GoldenSet {
		ch.Other = append(ch.Other, fmt.Sprintf("golden_set: %s → %s", orNone(base.GoldenSet), orNone(head.GoldenSet)))
	}
	return ch
}

// paramChanges compares each sampling parameter by its marshalled value,
// in the order the fields are declared, so a new field is covered without
// touching this code.
func paramChanges(base, head registry.Params) []string {
	var out []string
	t := reflect.TypeFor[registry.Params]()
	bv, hv := reflect.ValueOf(base), reflect.ValueOf(head)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		b, h := paramValue(bv.Field(i)), paramValue(hv.Field(i))
		if b != h {
			out = append(out, fmt.Sprintf("%s: %s → %s", name, b, h))
		}
	}
	return out
}

func paramValue(v reflect.Value) string {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice) && v.IsNil() {
		return "unset"
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return string(b)
}

func kbString(kb *registry.KnowledgeBase) string {
	if kb == nil {
		return "none"
	}
	return kb.Index + "@" + kb.Version
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func unionKeys(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// canonicalJSON is a stable text form of a YAML-decoded value (map keys
// sorted by encoding/json).
func canonicalJSON(v any) string {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// routingChanges lists the routes only one side has, each described in full.
func routingChanges(base, head []registry.Route) []string {
	bs, hs := routeStrings(base), routeStrings(head)
	var out []string
	for _, s := range bs {
		if !slices.Contains(hs, s) {
			out = append(out, "routing: removed "+s)
		}
	}
	for _, s := range hs {
		if !slices.Contains(bs, s) {
			out = append(out, "routing: added "+s)
		}
	}
	if len(out) == 0 && !slices.Equal(bs, hs) {
		out = append(out, "routing: routes reordered (the first match wins)")
	}
	return out
}

func routeStrings(routes []registry.Route) []string {
	out := make([]string, 0, len(routes))
	for _, r := range routes {
		var conds []string
		for _, k := range slices.Sorted(maps.Keys(r.When)) {
			conds = append(conds, k+"="+r.When[k])
		}
		s := "when " + strings.Join(conds, ", ") + " → " + r.Model
		if r.Provider != "" {
			s += " (provider " + r.Provider + ")"
		}
		if r.Params != nil {
			if b, err := json.Marshal(r.Params); err == nil && string(b) != "{}" {
				s += " params " + string(b)
			}
		}
		out = append(out, s)
	}
	return out
}
