package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// Side is one version of an artifact and the cases to run it on.
type Side struct {
	Artifact *registry.Artifact
	Cases    []*registry.Case
}

// RunOptions configures a run. Zero values take the defaults noted.
type RunOptions struct {
	Concurrency int // default 8
	Repeats     int // default 1
	Prices      map[string]registry.Price
	// Judge grades `expect.judge` criteria; nil or JudgeTrusted false skips them.
	Judge        *Judge
	JudgeTrusted bool
	// Progress, when set, is called after each outcome (from worker goroutines, serialised).
	Progress func(Progress)
}

// Progress is a run's state for display: outcomes done of total, fresh
// model calls made, errors so far, and an estimate of the time left.
type Progress struct {
	Done, Total int
	Calls       int64
	Errors      int
	Elapsed     time.Duration
	ETA         time.Duration
}

// job is one case × repeat on one side.
type job struct {
	side   int
	index  int
	c      *registry.Case
	repeat int
}

// Run evaluates every side's cases `repeats` times on a shared pool of
// workers, so baseline and candidate calls interleave and the run takes
// about ceil(calls / concurrency) call latencies. Outcomes come back per
// side in case order, repeats adjacent.
func Run(ctx context.Context, comp Completer, sides []Side, opts RunOptions) ([][]Outcome, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Repeats <= 0 {
		opts.Repeats = 1
	}
	checkers := make([]*Checker, len(sides))
	out := make([][]Outcome, len(sides))
	var jobs []job
	for i, s := range sides {
		ch, err := NewChecker(s.Artifact)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Artifact.Path, err)
		}
		if err := ch.Prepare(s.Cases); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Artifact.Path, err)
		}
		checkers[i] = ch
		out[i] = make([]Outcome, len(s.Cases)*opts.Repeats)
		for ci, c := range s.Cases {
			for r := 0; r < opts.Repeats; r++ {
				jobs = append(jobs, job{side: i, index: ci*opts.Repeats + r, c: c, repeat: r})
			}
		}
	}
	// Interleave sides so a budget or cancellation cuts both alike.
	jobs = interleave(jobs, len(sides))

	start := time.Now()
	var (
		mu     sync.Mutex
		done   int
		errs   int
		calls  atomic.Int64
		wg     sync.WaitGroup
		queue  = make(chan job)
		report = func(o Outcome) {
			if opts.Progress == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			done++
			if !o.OK() {
				errs++
			}
			el := time.Since(start)
			var eta time.Duration
			if done > 0 {
				eta = time.Duration(float64(el) / float64(done) * float64(len(jobs)-done))
			}
			opts.Progress(Progress{Done: done, Total: len(jobs), Calls: calls.Load(), Errors: errs, Elapsed: el, ETA: eta})
		}
	)
	for w := 0; w < min(opts.Concurrency, max(1, len(jobs))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				s := sides[j.side]
				o := evaluate(ctx, comp, s.Artifact, checkers[j.side], j.c, j.repeat, opts, &calls)
				out[j.side][j.index] = o
				report(o)
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		queue <- j
	}
	close(queue)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, nil
}

func interleave(jobs []job, sides int) []job {
	if sides < 2 {
		return jobs
	}
	per := make([][]job, sides)
	for _, j := range jobs {
		per[j.side] = append(per[j.side], j)
	}
	out := make([]job, 0, len(jobs))
	for i := 0; len(out) < len(jobs); i++ {
		for s := range per {
			if i < len(per[s]) {
				out = append(out, per[s][i])
			}
		}
	}
	return out
}

// evaluate runs one case once and scores it.
func evaluate(ctx context.Context, comp Completer, a *registry.Artifact, ch *Checker, c *registry.Case, repeat int, opts RunOptions, calls *atomic.Int64) Outcome {
	req := BuildRequest(a, c, repeat)
	o := Outcome{CaseID: c.ID, Category: c.Category, Repeat: repeat, Model: req.Model}
	resp, err := comp.Complete(ctx, req)
	if !resp.Cached && (err == nil || resp.Content != "") {
		calls.Add(1)
	}
	o.Output, o.FinishReason, o.Cached = resp.Content, resp.FinishReason, resp.Cached
	o.InputTokens, o.OutputTokens, o.Latency = resp.InputTokens, resp.OutputTokens, resp.Latency
	o.CostUSD = Cost(opts.Prices, req.Model, resp.InputTokens, resp.OutputTokens)
	if err != nil {
		o.ErrorKind, o.Error = classify(err)
		return o
	}
	if a.OutputSchema != nil && !json.Valid([]byte(StripJSONFence(resp.Content))) {
		o.ErrorKind, o.Error = ErrUnparsable, "output is not JSON, but the artifact has an output_schema"
		return o
	}
	o.Failed = ch.Check(c, resp.Content)
	if rubric := c.Expect.Judge; rubric != "" {
		switch {
		case opts.Judge == nil || !opts.JudgeTrusted:
			o.JudgeSkipped = true
			if onlyJudge(c.Expect) {
				// Without the judge this case has no criterion left: that
				// is missing data, not a pass.
				o.ErrorKind, o.Error = ErrJudge, "judge not trusted and the case has no other criterion"
				return o
			}
		default:
			pass, reason, err := opts.Judge.Grade(ctx, rubric, CaseInput(c), resp.Content)
			if err != nil {
				o.ErrorKind, o.Error = classify(err)
				if o.ErrorKind != ErrJudge {
					o.ErrorKind, o.Error = ErrJudge, "judge: "+o.Error
				}
				return o
			}
			if !pass {
				o.Failed = append(o.Failed, "judge: "+reason)
			}
		}
	}
	o.Pass = len(o.Failed) == 0
	return o
}

func classify(err error) (ErrorKind, string) {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind, ce.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout, err.Error()
	}
	if errors.Is(err, context.Canceled) {
		return ErrProvider, "cancelled"
	}
	return ErrProvider, err.Error()
}

// Cost is the USD cost of a call, or nil when the model has no price.
func Cost(prices map[string]registry.Price, model string, in, out int) *float64 {
	p, ok := prices[model]
	if !ok || p.Input == nil || p.Output == nil {
		return nil
	}
	c := (float64(in)**p.Input + float64(out)**p.Output) / 1e6
	return &c
}

// Route returns the route that applies to a case, or nil. A route matches
// when every `when` condition holds: `category` against the case's
// category, any other key against the case variable of that name.
func Route(a *registry.Artifact, c *registry.Case) *registry.Route {
	for i := range a.Routing {
		r := &a.Routing[i]
		ok := len(r.When) > 0
		for k, v := range r.When {
			got, has := c.Vars[k]
			if k == "category" {
				got, has = c.Category, true
			}
			if !has || got != v {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// BuildRequest is the chat completion a case makes: the system prompt, the
// case's fixed context (in the template where it asks for {{context}},
// else as its own message), and the user template filled from the vars,
// with the route's model and params where a routing rule matches.
func BuildRequest(a *registry.Artifact, c *registry.Case, repeat int) Request {
	req := Request{Provider: a.ProviderName(), Model: a.Model, Params: a.Params, Schema: a.OutputSchema, Repeat: repeat}
	req.Params.Node = nil
	if r := Route(a, c); r != nil {
		req.Model = r.Model
		if r.Provider != "" {
			req.Provider = r.Provider
		}
		if r.Params != nil {
			req.Params = mergeParams(req.Params, *r.Params)
		}
	}
	vars := make(map[string]string, len(c.Vars)+1)
	for k, v := range c.Vars {
		vars[k] = v
	}
	vars[registry.ContextVar] = c.Context
	system := registry.Fill(a.SystemPrompt, vars)
	if t := a.Templates["system"]; t != "" {
		if system != "" {
			system += "\n\n"
		}
		system += registry.Fill(t, vars)
	}
	if system != "" {
		req.Messages = append(req.Messages, Message{Role: "system", Content: system})
	}
	user := a.Templates["user"]
	usesContext := false
	for _, v := range registry.TemplateVars(user + a.SystemPrompt + a.Templates["system"]) {
		if v == registry.ContextVar {
			usesContext = true
		}
	}
	if c.Context != "" && !usesContext {
		req.Messages = append(req.Messages, Message{Role: "system", Content: "Context:\n" + c.Context})
	}
	req.Messages = append(req.Messages, Message{Role: "user", Content: registry.Fill(user, vars)})
	return req
}

func mergeParams(base, over registry.Params) registry.Params {
	if over.Temperature != nil {
		base.Temperature = over.Temperature
	}
	if over.TopP != nil {
		base.TopP = over.TopP
	}
	if over.MaxTokens != nil {
		base.MaxTokens = over.MaxTokens
	}
	if over.Seed != nil {
		base.Seed = over.Seed
	}
	if over.Stop != nil {
		base.Stop = over.Stop
	}
	if over.PresencePenalty != nil {
		base.PresencePenalty = over.PresencePenalty
	}
	if over.FrequencyPenalty != nil {
		base.FrequencyPenalty = over.FrequencyPenalty
	}
	base.Node = nil
	return base
}

// onlyJudge reports whether the judge is a case's only criterion.
func onlyJudge(e registry.Expect) bool {
	return len(e.Contains) == 0 && len(e.NotContains) == 0 && len(e.Regex) == 0 && !e.JSONSchema && e.MaxChars == 0
}
