// Package drift catches silent provider drift. On a schedule the golden set
// runs against the version of an artifact live in an environment, with no
// change on our side, and the run is compared case by case with an earlier
// run of the same content. A drop means the provider changed the model
// behind the same name: the Runner then opens one issue with the report, and
// updates that issue while the drift lasts.
package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/store"
)

// Runner checks artifacts for drift. Its fields are set by the caller; the
// Runner keeps no state of its own beyond the Store.
type Runner struct {
	// Completer makes the model calls. It must reach the provider: a
	// response cache in front of it would replay past answers and hide the
	// very change a drift check looks for. A run whose every answer came
	// from a cache is inconclusive.
	Completer evaluator.Completer
	// Store keeps the runs: each run is compared with the last reference
	// run (a baseline or a pass) of the same content.
	Store *store.Store
	// Issues files the drift issue; nil records and logs drift only.
	Issues Issues
	// Repo is the config repository ("owner/name"), part of every drift's key.
	Repo   string
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is the outcome of one drift check.
type Result struct {
	Artifact string
	Version  int
	Env      string
	Digest   string
	// Verdict is Fail when the run drifted, Inconclusive when errors (or
	// answers replayed from a cache) leave too little to tell, and Pass
	// otherwise, including when this run became the baseline.
	Verdict evaluator.Verdict
	Drift   bool
	// Baseline is set when there was nothing to compare with: this run is
	// now the reference for later ones.
	Baseline bool
	// Issue is the issue created, updated or commented on; 0 when none.
	Issue  int
	Report *evaluator.ArtifactReport
}

// Check runs the golden set (cases, gate.repeats times each) on art as it
// is live in env, compares the outcomes case by case with the last
// reference run of the same content, records the run, and files or updates
// the drift issue when the run drifted. The reference is the newest
// baseline or passing run, so a drift is measured against the behaviour
// from before it for as long as it lasts. Without a reference (the first
// run of this content, or the golden set or repeats changed) the run
// becomes the baseline.
//
// Drift is a drop the PR gate would fail on: a category, or the overall
// pass rate, dropped beyond its threshold with significant evidence. Cost
// and latency changes are reported but are not drift: the production
// monitor's triggers watch them on real traffic, where a scheduled probe's
// latency is mostly noise. Too many errors make the check inconclusive,
// never a drift and never a pass: an outage is not evidence about the model.
// Answers cut off at max_tokens or not in JSON are the model's doing and
// count as failures, see asVerdicts.
//
// LLM-judge criteria are not applied: the judge is a model too, and its own
// drift could not be told apart from the artifact's.
//
// When the run was recorded but the issue could not be filed, Check returns
// the Result together with the error.
func (r *Runner) Check(ctx context.Context, cfg *registry.Config, art *registry.Artifact, cases []*registry.Case, env string) (*Result, error) {
	switch {
	case cfg == nil || art == nil:
		return nil, errors.New("drift check: config and artifact are required")
	case r.Completer == nil || r.Store == nil:
		return nil, errors.New("drift check: the runner needs a Completer and a Store")
	}
	now := r.now()
	log := r.logger().With("repo", r.Repo, "artifact", art.Name, "version", art.Version,
		"environment", env, "digest", registry.ShortDigest(art.Digest))
	repeats := max(cfg.Gate.Repeats, 1)

	log.Info("drift check: running the golden set", "cases", len(cases), "repeats", repeats)
	outs, err := evaluator.Run(ctx, r.Completer, []evaluator.Side{{Artifact: art, Cases: cases}},
		evaluator.RunOptions{Concurrency: cfg.Gate.Concurrency, Repeats: repeats, Prices: cfg.Prices})
	if err != nil {
		return nil, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
	}
	head := outs[0]
	golden := goldenDigest(cases)

	prev, hasPrev, err := found(r.Store.LastDriftRun(ctx, r.Repo, art.Name, env, art.Digest))
	if err != nil {
		return nil, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
	}
	ref, hasRef, err := found(r.Store.LastDriftReference(ctx, r.Repo, art.Name, env, art.Digest))
	if err != nil {
		return nil, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
	}
	var base []evaluator.Outcome
	var rebase string
	switch {
	case !hasRef:
	case ref.GoldenDigest != golden:
		hasRef, rebase = false, "the golden set changed since the last reference run"
	case ref.Repeats != repeats:
		hasRef, rebase = false, fmt.Sprintf("gate.repeats changed since the last reference run (%d → %d)", ref.Repeats, repeats)
	default:
		if err := json.Unmarshal(ref.OutcomesJSON, &base); err != nil {
			return nil, fmt.Errorf("drift check %s v%d (%s): outcomes of run %d: %w", art.Name, art.Version, env, ref.ID, err)
		}
	}

	in := evaluator.CompareInput{Name: art.Name, Head: art, Cases: cases, HeadOutcomes: asVerdicts(head),
		Repeats: repeats, Gate: cfg.Gate, Prices: cfg.Prices}
	if hasRef {
		// Nothing changed on our side: both sides are the same artifact.
		in.Base, in.BaseOutcomes = art, asVerdicts(base)
	}
	ar := evaluator.Compare(in)
	ar.HeadCalls = freshCalls(head)
	if hasRef {
		ar.BaseCalls = freshCalls(base)
	}
	res := &Result{Artifact: art.Name, Version: art.Version, Env: env, Digest: art.Digest, Report: ar}
	res.Verdict, res.Drift = decide(ar, cfg.Gate, hasRef, len(head))
	res.Baseline = !hasRef && res.Verdict == evaluator.Pass
	if res.Baseline {
		ar.Reasons = []string{fmt.Sprintf("baseline recorded: the live version passes %s of %d samples; later runs of this version are compared with it",
			percent(ar.Overall.HeadPassRate), ar.Overall.Samples)}
		if rebase != "" {
			ar.Reasons = append(ar.Reasons, rebase)
		}
	}

	run, err := newRun(r.Repo, art, env, golden, repeats, res, head, now)
	if err != nil {
		return nil, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
	}
	if err := r.Store.SaveDriftRun(ctx, run); err != nil {
		return nil, err
	}
	log.Info("drift check done", "verdict", res.Verdict, "drift", res.Drift, "baseline", res.Baseline,
		"pass_rate", ar.Overall.HeadPassRate, "reference_pass_rate", ar.Overall.BasePassRate,
		"errors", ar.Errors.Head, "calls", ar.HeadCalls)

	switch {
	case res.Drift:
		res.Issue, err = r.reportDrift(ctx, log, art, env, ar, ref.CreatedAt, now)
		if err != nil {
			return res, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
		}
	case res.Verdict == evaluator.Pass && !res.Baseline && hasPrev &&
		(prev.Verdict == store.DriftVerdictFail || prev.Verdict == store.DriftVerdictInconclusive):
		// After a drift (or an outage that hid whether it lasted), a run
		// within the thresholds is news for the issue, if there is one.
		res.Issue, err = r.reportRecovery(ctx, log, art, env, ar, now)
		if err != nil {
			return res, fmt.Errorf("drift check %s v%d (%s): %w", art.Name, art.Version, env, err)
		}
	}
	return res, nil
}

// decide turns the comparison into the drift verdict and makes the report's
// verdict agree with it.
func decide(ar *evaluator.ArtifactReport, g registry.Gate, hasRef bool, outcomes int) (evaluator.Verdict, bool) {
	maxErr := evaluator.DefaultMaxErrorRate
	if g.MaxErrorRate != nil {
		maxErr = *g.MaxErrorRate
	}
	var why string
	switch {
	case ar.Errors.HeadRate > maxErr:
		why = fmt.Sprintf("%d of %d samples are errors (%s > max_error_rate %s): an outage is not evidence about the model",
			ar.Errors.Head, outcomes, percent(ar.Errors.HeadRate), percent(maxErr))
	case hasRef && ar.Errors.BaseRate > maxErr:
		why = fmt.Sprintf("the reference run has %s errors (> max_error_rate %s)", percent(ar.Errors.BaseRate), percent(maxErr))
	case ar.Overall.Samples == 0:
		why = "no usable samples"
	case ar.HeadCalls == 0:
		why = "every answer was replayed from a response cache: the provider was not asked"
	}
	if why != "" || ar.Verdict == evaluator.Inconclusive {
		if why != "" {
			ar.Reasons = append([]string{"inconclusive, not drift: " + why}, ar.Reasons...)
		}
		ar.Verdict = evaluator.Inconclusive
		return evaluator.Inconclusive, false
	}
	if !hasRef {
		ar.Verdict = evaluator.Pass
		return evaluator.Pass, false
	}
	if len(regressed(ar)) > 0 {
		ar.Verdict = evaluator.Fail
		return evaluator.Fail, true
	}
	if ar.Verdict == evaluator.Fail {
		ar.Reasons = append(ar.Reasons, "no drift: pass rates held; cost and latency changes are reported, not counted as drift")
	}
	ar.Verdict = evaluator.Pass
	return evaluator.Pass, false
}

// asVerdicts turns the errors that are the model's own doing into failed
// verdicts. The gate counts a cut-off or non-JSON answer as missing data;
// for drift it is evidence: a model that starts rambling past max_tokens or
// stops returning JSON is exactly what a swapped model looks like. Provider
// errors, timeouts and rate limits stay errors.
func asVerdicts(outs []evaluator.Outcome) []evaluator.Outcome {
	out := slices.Clone(outs)
	for i := range out {
		o := &out[i]
		var why string
		switch o.ErrorKind {
		case evaluator.ErrTruncated:
			why = "output cut off at max_tokens"
		case evaluator.ErrUnparsable:
			why = "output is not JSON, but the artifact has an output_schema"
		default:
			continue
		}
		o.Error, o.ErrorKind, o.Pass = "", "", false
		o.Failed = append(slices.Clone(o.Failed), why)
	}
	return out
}

// regressed lists the categories (and "overall") that dropped beyond their
// thresholds with significant evidence.
func regressed(ar *evaluator.ArtifactReport) []evaluator.CategoryDelta {
	var out []evaluator.CategoryDelta
	for _, c := range ar.Categories {
		if c.Regressed {
			out = append(out, c)
		}
	}
	if ar.Overall.Regressed {
		out = append(out, ar.Overall)
	}
	return out
}

// newRun is the stored form of a checked run.
func newRun(repo string, art *registry.Artifact, env, golden string, repeats int, res *Result, outs []evaluator.Outcome, now time.Time) (store.DriftRun, error) {
	ar := res.Report
	verdict := store.DriftVerdictPass
	switch {
	case res.Baseline:
		verdict = store.DriftVerdictBaseline
	case res.Verdict == evaluator.Fail:
		verdict = store.DriftVerdictFail
	case res.Verdict == evaluator.Inconclusive:
		verdict = store.DriftVerdictInconclusive
	}
	rates := store.PassRates{Overall: passRate(ar.Overall)}
	for _, c := range ar.Categories {
		rates.Categories = append(rates.Categories, passRate(c))
	}
	outcomes, err := json.Marshal(outs)
	if err != nil {
		return store.DriftRun{}, fmt.Errorf("encode outcomes: %w", err)
	}
	report, err := json.Marshal(ar)
	if err != nil {
		return store.DriftRun{}, fmt.Errorf("encode report: %w", err)
	}
	return store.DriftRun{Repo: repo, Artifact: art.Name, Environment: env, Version: art.Version, Digest: art.Digest,
		GoldenDigest: golden, Repeats: repeats, Verdict: verdict, PassRates: rates,
		OutcomesJSON: outcomes, ReportJSON: report, CreatedAt: now}, nil
}

func passRate(c evaluator.CategoryDelta) store.PassRate {
	return store.PassRate{Category: c.Name, N: c.N, Samples: c.Samples, Rate: c.HeadPassRate}
}

// goldenDigest identifies the cases as they were run: a later run pairs with
// an earlier one only when the criteria are the same. Order does not count.
func goldenDigest(cases []*registry.Case) string {
	type caseKey struct {
		ID       string            `json:"id"`
		Category string            `json:"category"`
		Vars     map[string]string `json:"vars"`
		Context  string            `json:"context"`
		Expect   registry.Expect   `json:"expect"`
	}
	keys := make([]caseKey, 0, len(cases))
	for _, c := range cases {
		keys = append(keys, caseKey{c.ID, c.Category, c.Vars, c.Context, c.Expect})
	}
	slices.SortFunc(keys, func(a, b caseKey) int { return strings.Compare(a.ID, b.ID) })
	b, _ := json.Marshal(keys) // strings and maps of strings always marshal
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// freshCalls counts the outcomes that came from a model call made in the run.
func freshCalls(outs []evaluator.Outcome) int {
	n := 0
	for _, o := range outs {
		if !o.Cached && o.ErrorKind != evaluator.ErrCacheMiss && o.ErrorKind != evaluator.ErrBudget && (o.OK() || o.Output != "") {
			n++
		}
	}
	return n
}

// found splits a store lookup into the record, whether it exists, and a
// real error.
func found[T any](v T, err error) (T, bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}
