package evaluator

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"sort"

	"github.com/promptgate/promptgate/registry"
)

// GateInput is the two trees of a pull request. Base may be nil when the
// repo has no history yet: every artifact is then new.
type GateInput struct {
	Base, Head       *registry.Repo
	BaseRef, HeadRef string
}

// GateOptions are the run's machinery, chosen by the caller.
type GateOptions struct {
	// Completer makes model calls: usually the cache over the budget over the provider client.
	Completer Completer
	// Budget, when set, is the Budget inside Completer; the report says when it ran out.
	Budget   *Budget
	Progress func(Progress)
	Logger   *slog.Logger
	// Concurrency overrides gate.concurrency when > 0.
	Concurrency int
}

// Rules returns the config the gate runs under: the base branch's, so a PR
// cannot loosen its own gate; the head's only when the base has none.
func Rules(in GateInput) *registry.Config {
	if in.Base != nil && in.Base.Config != nil && in.Base.Config.Node != nil {
		return in.Base.Config
	}
	return in.Head.Config
}

// RunGate evaluates every artifact whose content or golden set changed,
// baseline against candidate, and returns the report with its verdict.
func RunGate(ctx context.Context, in GateInput, opts GateOptions) (*Report, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := Rules(in)
	rep := &Report{BaseRef: in.BaseRef, HeadRef: in.HeadRef, Artifacts: []*ArtifactReport{}, Unchanged: []string{}}
	rep.Problems = in.Head.Problems
	rep.Versions = registry.CheckVersions(in.Head, in.Base)
	if in.Base != nil {
		before, _ := fs.ReadFile(in.Base.FS, registry.ConfigFile)
		after, _ := fs.ReadFile(in.Head.FS, registry.ConfigFile)
		if string(before) != string(after) && len(before) > 0 {
			rep.ConfigChanged = true
			rep.ConfigDiff, _, _ = LineDiff(string(before), string(after), 2)
		}
	}
	for _, vc := range rep.Versions {
		if vc.Deleted {
			rep.Deleted = append(rep.Deleted, vc.Name)
		}
	}
	rep.Pointers = pointerChanges(in.Base, in.Head)
	if len(rep.Problems) > 0 {
		rep.Verdict = Fail
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("%d validation problem(s): fix them before the golden set can run", len(rep.Problems)))
		return rep, nil
	}

	type work struct {
		name       string
		base, head *registry.Artifact
		cases      []*registry.Case
		golden     bool
	}
	var todo []work
	for _, name := range in.Head.ArtifactNames() {
		head := in.Head.Artifacts[name]
		gs := in.Head.GoldenFor(head)
		var base *registry.Artifact
		goldenChanged := false
		if in.Base != nil {
			base = in.Base.Artifacts[name]
		}
		if base != nil {
			bgs := in.Base.GoldenFor(base)
			goldenChanged = bgs == nil || gs == nil || bgs.Digest != gs.Digest
			if base.Digest == head.Digest && !goldenChanged {
				rep.Unchanged = append(rep.Unchanged, name)
				continue
			}
		}
		var cases []*registry.Case
		if gs != nil {
			cases = gs.Cases
		}
		todo = append(todo, work{name: name, base: base, head: head, cases: cases, golden: goldenChanged})
	}

	var judge *Judge
	var calib *Calibration
	if cfg.Judge != nil && needsJudge(todo, func(w work) []*registry.Case { return w.cases }) {
		provider := cfg.Judge.Provider
		if provider == "" {
			provider = "openai"
		}
		judge = &Judge{Completer: opts.Completer, Model: cfg.Judge.Model, Provider: provider}
		// Calibrate on the base branch's ratings where there are any, so a
		// PR cannot make the judge untrusted by adding contrary ratings.
		var rated []*registry.Case
		for _, w := range todo {
			cases := w.cases
			if w.base != nil {
				if bgs := in.Base.GoldenFor(w.base); bgs != nil && hasRatings(bgs.Cases) {
					cases = bgs.Cases
				}
			}
			rated = append(rated, cases...)
		}
		c := Calibrate(ctx, judge, rated, cfg.Judge.MinAgreement)
		calib = &c
		log.Info("judge calibrated", "model", c.Model, "n", c.N, "accuracy", c.Accuracy, "kappa", c.Kappa, "trusted", c.Trusted)
	}

	repeats := max(cfg.Gate.Repeats, 1)
	concurrency := cfg.Gate.Concurrency
	if opts.Concurrency > 0 {
		concurrency = opts.Concurrency
	}
	for _, w := range todo {
		log := log.With("artifact", w.name, "version", w.head.Version)
		sides := []Side{{Artifact: w.head, Cases: w.cases}}
		if w.base != nil {
			sides = []Side{{Artifact: w.base, Cases: w.cases}, {Artifact: w.head, Cases: w.cases}}
		}
		log.Info("running golden set", "cases", len(w.cases), "repeats", repeats, "sides", len(sides))
		ropts := RunOptions{Concurrency: concurrency, Repeats: repeats, Prices: cfg.Prices, Judge: judge, JudgeTrusted: calib != nil && calib.Trusted, Progress: opts.Progress}
		out, err := Run(ctx, opts.Completer, sides, ropts)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", w.name, err)
		}
		ci := CompareInput{Name: w.name, Head: w.head, Cases: w.cases, Repeats: repeats, Gate: cfg.Gate, Prices: cfg.Prices, Judge: calib, GoldenChanged: w.golden}
		if w.base != nil {
			ci.Base, ci.BaseOutcomes, ci.HeadOutcomes = w.base, out[0], out[1]
		} else {
			ci.HeadOutcomes = out[0]
		}
		if opts.Budget != nil {
			ci.BudgetSpent = opts.Budget.Exhausted()
		}
		ar := Compare(ci)
		ar.BaseCalls, ar.HeadCalls = freshCalls(ci.BaseOutcomes), freshCalls(ci.HeadOutcomes)
		log.Info("artifact gated", "verdict", ar.Verdict, "base_calls", ar.BaseCalls, "head_calls", ar.HeadCalls)
		rep.Artifacts = append(rep.Artifacts, ar)
	}
	sort.Strings(rep.Unchanged)
	rep.Verdict, rep.Reasons = overall(rep)
	return rep, nil
}

func needsJudge[W any](todo []W, cases func(W) []*registry.Case) bool {
	for _, w := range todo {
		for _, c := range cases(w) {
			if c.Expect.Judge != "" {
				return true
			}
		}
	}
	return false
}

func freshCalls(outs []Outcome) int {
	n := 0
	for _, o := range outs {
		if !o.Cached && o.ErrorKind != ErrCacheMiss && o.ErrorKind != ErrBudget && (o.OK() || o.Output != "") {
			n++
		}
	}
	return n
}

// overall combines the artifacts' verdicts and the version checks: any
// failure fails the PR; otherwise any inconclusive artifact makes it
// inconclusive; it passes only when every gated artifact passed.
func overall(rep *Report) (Verdict, []string) {
	v := Pass
	var reasons []string
	for _, vc := range rep.Versions {
		if !vc.OK {
			v = Fail
			reasons = append(reasons, fmt.Sprintf("%s: %s", vc.Path, vc.Message))
		}
	}
	for _, a := range rep.Artifacts {
		for _, r := range a.Reasons {
			if a.Verdict != Pass {
				reasons = append(reasons, a.Name+": "+r)
			}
		}
		switch {
		case a.Verdict == Fail:
			v = Fail
		case a.Verdict == Inconclusive && v == Pass:
			v = Inconclusive
		}
	}
	if len(rep.Artifacts) == 0 && v == Pass {
		if len(rep.Pointers) > 0 {
			reasons = append(reasons, fmt.Sprintf("only environment pointers move (%d): the versions they name are unchanged here; review the move itself", len(rep.Pointers)))
		} else {
			reasons = append(reasons, "no artifact or golden set changed: nothing to evaluate")
		}
	}
	if v == Pass && len(rep.Artifacts) > 0 {
		reasons = append(reasons, "every changed artifact is within its thresholds")
	}
	return v, reasons
}

func hasRatings(cases []*registry.Case) bool {
	for _, c := range cases {
		if len(c.Human) > 0 {
			return true
		}
	}
	return false
}

// pointerChanges compares the environments of base and head.
func pointerChanges(base, head *registry.Repo) []PointerChange {
	if base == nil {
		base = &registry.Repo{}
	}
	var out []PointerChange
	envs := map[string]bool{}
	for name := range base.Environments {
		envs[name] = true
	}
	for name := range head.Environments {
		envs[name] = true
	}
	for _, env := range slices.Sorted(maps.Keys(envs)) {
		var b, h map[string]registry.EnvEntry
		if e := base.Environments[env]; e != nil {
			b = e.Entries
		}
		if e := head.Environments[env]; e != nil {
			h = e.Entries
		}
		names := map[string]bool{}
		for n := range b {
			names[n] = true
		}
		for n := range h {
			names[n] = true
		}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			pc := PointerChange{Environment: env, Artifact: n, From: b[n].Version, To: h[n].Version}
			if c := b[n].Canary; c != nil {
				pc.CanaryFrom = c.Version
			}
			if c := h[n].Canary; c != nil {
				pc.CanaryTo, pc.CanaryWeight = c.Version, c.Weight
			}
			if pc.From != pc.To || pc.CanaryFrom != pc.CanaryTo || (b[n].Canary != nil && h[n].Canary != nil && b[n].Canary.Weight != h[n].Canary.Weight) {
				out = append(out, pc)
			}
		}
	}
	return out
}
