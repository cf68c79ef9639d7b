package drift_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/promptgate/promptgate/drift"
	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/store"
)

// The provider's behaviours behind one unchanged model name.
const (
	healthy int32 = iota
	drifted       // escalation answers stop offering a consultant
	down          // every call fails with 500
	verbose       // billing answers run past max_tokens
)

// provider is a local OpenAI-compatible server whose behaviour a test can
// switch, as a provider swapping the model behind a name would.
type provider struct {
	srv  *fakeopenai.Server
	mode atomic.Int32
}

func newProvider(t *testing.T) *provider {
	p := &provider{}
	p.srv = fakeopenai.New(fakeopenai.Options{Respond: p.respond})
	t.Cleanup(p.srv.Close)
	return p
}

// respond answers "Customer question: <category> <n>: ...".
func (p *provider) respond(req fakeopenai.ChatRequest) fakeopenai.Reply {
	q := strings.TrimPrefix(req.LastUser(), "Customer question: ")
	var cat string
	var n int
	fmt.Sscanf(q, "%s %d:", &cat, &n)
	switch mode := p.mode.Load(); {
	case mode == down:
		return fakeopenai.Reply{Status: 500}
	case cat == "billing" && mode == verbose:
		return fakeopenai.Reply{Content: "Thank you for reaching out about your refund. " + strings.Repeat("Let me explain in detail. ", 40), FinishReason: "length"}
	case cat == "escalation" && mode == drifted && n < 17:
		return fakeopenai.Reply{Content: "I understand. Let me sort this out for you myself right away."}
	case cat == "escalation":
		return fakeopenai.Reply{Content: fmt.Sprintf("I am handing you over to a consultant. Your ticket #%d is open.", 4000+n)}
	default:
		return fakeopenai.Reply{Content: fmt.Sprintf("Under our refund policy, invoice %d will be credited within 5 days.", 9000+n)}
	}
}

// completer is the real go-openai client pointed at the fake, retrying
// briefly so an outage costs the test little time.
func (p *provider) completer(t *testing.T) evaluator.Completer {
	t.Helper()
	getenv := func(k string) string {
		if k == "OPENAI_BASE_URL" {
			return p.srv.BaseURL()
		}
		return ""
	}
	c, err := evaluator.NewOpenAI(nil, getenv, evaluator.OpenAIOptions{
		MaxRetries: 1, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// configRepo is a config repo with support-assistant v15 live in production
// and 40 golden cases: 20 escalation, 20 billing.
func configRepo(t *testing.T) *registry.Repo {
	t.Helper()
	esc := &strings.Builder{}
	esc.WriteString("category: escalation\ncases:\n")
	bill := &strings.Builder{}
	bill.WriteString("category: billing\ncases:\n")
	for i := range 20 {
		fmt.Fprintf(esc, "  - id: esc-%02d\n    vars: {question: \"escalation %d: I was charged twice and want a human.\"}\n"+
			"    expect:\n      contains: [consultant]\n      regex: ['(?i)ticket #?\\d+']\n", i, i)
		fmt.Fprintf(bill, "  - id: bill-%02d\n    vars: {question: \"billing %d: Where is my refund?\"}\n"+
			"    expect:\n      contains: [refund policy]\n      not_contains: [guaranteed refund]\n      regex: ['invoice \\d+']\n", i, i)
	}
	fsys := fstest.MapFS{
		"promptgate.yaml": {Data: []byte(`providers:
  openai: {base_url: "http://127.0.0.1:1/v1", api_key_env: OPENAI_API_KEY}
prices:
  gpt-4o-2024-08-06: {input: 2.5, output: 10}
gate:
  repeats: 1
  concurrency: 8
  max_category_drop_pp: 3
  max_cost_increase_pct: 20
  max_p95_latency_increase_pct: 25
  max_error_rate: 0.05
drift: {schedule: "0 6 * * *", environments: [production]}
`)},
		"artifacts/support-assistant.yaml": {Data: []byte(`name: support-assistant
version: 15
model: gpt-4o-2024-08-06
params: {temperature: 0.2, max_tokens: 200}
system_prompt: |
  You are the support assistant of Northwind Pay. Hand customers who ask for a human to a consultant.
templates:
  user: "Customer question: {{question}}"
`)},
		"golden/support-assistant/escalation.yaml": {Data: []byte(esc.String())},
		"golden/support-assistant/billing.yaml":    {Data: []byte(bill.String())},
		"environments/production.yaml":             {Data: []byte("support-assistant: 15\n")},
	}
	repo := registry.Load(fsys)
	if len(repo.Problems) > 0 {
		t.Fatalf("config repo: %v", repo.Problems)
	}
	return repo
}

// fakeIssues is an issue tracker in memory.
type fakeIssues struct {
	mu       sync.Mutex
	issues   []*issue // number i+1
	comments map[int][]string
	updates  map[int]int
}

type issue struct {
	title, body string
	labels      []string
	open        bool
}

var _ drift.Issues = (*fakeIssues)(nil)

func (f *fakeIssues) FindOpen(_ context.Context, title string) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, is := range f.issues {
		if is.open && is.title == title {
			return i + 1, true, nil
		}
	}
	return 0, false, nil
}

func (f *fakeIssues) Create(_ context.Context, title, body string, labels []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues = append(f.issues, &issue{title: title, body: body, labels: slices.Clone(labels), open: true})
	return len(f.issues), nil
}

func (f *fakeIssues) Update(_ context.Context, number int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if number < 1 || number > len(f.issues) {
		return fmt.Errorf("issue #%d: 404 Not Found", number)
	}
	f.issues[number-1].body = body
	if f.updates == nil {
		f.updates = map[int]int{}
	}
	f.updates[number]++
	return nil
}

func (f *fakeIssues) Comment(_ context.Context, number int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if number < 1 || number > len(f.issues) {
		return fmt.Errorf("issue #%d: 404 Not Found", number)
	}
	if f.comments == nil {
		f.comments = map[int][]string{}
	}
	f.comments[number] = append(f.comments[number], body)
	return nil
}

func (f *fakeIssues) snapshot() (issues []issue, comments map[int][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, is := range f.issues {
		issues = append(issues, *is)
	}
	comments = map[int][]string{}
	for n, cs := range f.comments {
		comments[n] = slices.Clone(cs)
	}
	return issues, comments
}

// harness wires a Runner to the fake provider, a SQLite store and the fake
// issue tracker, with a clock that moves a day per check.
type harness struct {
	t      *testing.T
	prov   *provider
	issues *fakeIssues
	store  *store.Store
	runner *drift.Runner
	repo   *registry.Repo
	day    int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "promptgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, prov: newProvider(t), issues: &fakeIssues{}, store: st, repo: configRepo(t)}
	h.runner = &drift.Runner{Completer: h.prov.completer(t), Store: st, Issues: h.issues, Repo: "northwind/support-config",
		Now: func() time.Time { return time.Date(2026, 12, 1+h.day, 6, 0, 0, 0, time.UTC) }}
	return h
}

// check runs the scheduled check of support-assistant in production.
func (h *harness) check() *drift.Result {
	h.t.Helper()
	h.day++
	art := h.repo.Artifacts["support-assistant"]
	res, err := h.runner.Check(context.Background(), h.repo.Config, art, h.repo.GoldenFor(art).Cases, "production")
	if err != nil {
		h.t.Fatalf("day %d: Check: %v", h.day, err)
	}
	if res.Report == nil || res.Artifact != "support-assistant" || res.Version != 15 || res.Env != "production" || res.Digest != art.Digest {
		h.t.Fatalf("day %d: result identifies %s v%d (%s) %s, report %v", h.day, res.Artifact, res.Version, res.Env, res.Digest, res.Report != nil)
	}
	return res
}

func category(t *testing.T, ar *evaluator.ArtifactReport, name string) evaluator.CategoryDelta {
	t.Helper()
	for _, c := range ar.Categories {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no category %q in %+v", name, ar.Categories)
	return evaluator.CategoryDelta{}
}

func TestSilentDriftOpensOneIssue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const title = "promptgate: silent drift in support-assistant v15 (production)"

	// Day 1: nothing to compare with yet.
	res := h.check()
	if !res.Baseline || res.Drift || res.Verdict != evaluator.Pass || res.Issue != 0 {
		t.Fatalf("first run: baseline %v drift %v verdict %s issue %d; want a recorded baseline", res.Baseline, res.Drift, res.Verdict, res.Issue)
	}
	if !strings.Contains(strings.Join(res.Report.Reasons, "\n"), "baseline recorded") {
		t.Errorf("first run reasons %q: want \"baseline recorded\"", res.Report.Reasons)
	}
	if got := h.prov.srv.Calls(); got != 40 {
		t.Errorf("first run made %d calls, want 40", got)
	}
	run, err := h.store.LastDriftRun(ctx, "northwind/support-config", "support-assistant", "production", res.Digest)
	if err != nil || run.Verdict != store.DriftVerdictBaseline || run.PassRates.Overall.Rate != 1 || len(run.PassRates.Categories) != 2 || len(run.OutcomesJSON) == 0 {
		t.Fatalf("stored first run: %+v, %v", run, err)
	}

	// Day 2: the same behaviour is no drift.
	res = h.check()
	if res.Baseline || res.Drift || res.Verdict != evaluator.Pass || res.Issue != 0 {
		t.Fatalf("same behaviour: baseline %v drift %v verdict %s issue %d; reasons %q", res.Baseline, res.Drift, res.Verdict, res.Issue, res.Report.Reasons)
	}
	if o := res.Report.Overall; o.Samples != 40 || o.BasePassRate != 1 || o.HeadPassRate != 1 {
		t.Errorf("same behaviour: overall %+v, want 40 paired samples at 100%%", o)
	}
	if issues, _ := h.issues.snapshot(); len(issues) != 0 {
		t.Fatalf("same behaviour opened %d issues", len(issues))
	}

	// Day 3: the provider swaps the model behind the same name.
	h.prov.mode.Store(drifted)
	res = h.check()
	if !res.Drift || res.Verdict != evaluator.Fail || res.Issue == 0 {
		t.Fatalf("drifted: drift %v verdict %s issue %d; reasons %q", res.Drift, res.Verdict, res.Issue, res.Report.Reasons)
	}
	if esc := category(t, res.Report, "escalation"); !esc.Regressed || esc.HeadPassRate != 0.15 {
		t.Errorf("escalation after drift: %+v, want regressed at 15%%", esc)
	}
	if bill := category(t, res.Report, "billing"); bill.Regressed {
		t.Errorf("billing regressed: %+v", bill)
	}
	issues, comments := h.issues.snapshot()
	if len(issues) != 1 {
		t.Fatalf("drift opened %d issues, want 1", len(issues))
	}
	first := issues[0]
	if first.title != title || res.Issue != 1 {
		t.Errorf("issue #%d title %q, want #1 %q", res.Issue, first.title, title)
	}
	if !slices.Equal(first.labels, []string{"promptgate", "drift"}) {
		t.Errorf("labels %q", first.labels)
	}
	for _, want := range []string{
		"version live in production with no change on our side",
		"the provider changed the model behind the same name",
		"category escalation: 100.0% → 15.0% (−85.0 pp",
		"2026-12-04 06:00 UTC",             // this run
		"2026-12-03 06:00 UTC",             // the reference: the last run within thresholds
		"escalation | 20 | 100.0% | 15.0%", // the report's category table
		"esc-00",                           // a case that got worse
	} {
		if !strings.Contains(first.body, want) {
			t.Errorf("issue body lacks %q:\n%s", want, first.body)
		}
	}
	for _, unwanted := range []string{"What happens next", "promptgate:accept-regression", "category billing:"} {
		if strings.Contains(first.body, unwanted) {
			t.Errorf("issue body has %q", unwanted)
		}
	}
	if n := utf8.RuneCountInString(first.body); n > 65536 {
		t.Errorf("issue body has %d characters, over GitHub's limit", n)
	}
	if len(comments) != 0 {
		t.Errorf("a new issue got comments: %v", comments)
	}
	if n, err := h.store.DriftIssue(ctx, "northwind/support-config", "support-assistant", "production", res.Digest); err != nil || n != 1 {
		t.Errorf("stored drift issue %d, %v; want 1", n, err)
	}

	// Day 4: still drifted. The same issue is updated, not a second one opened.
	res = h.check()
	if !res.Drift || res.Issue != 1 {
		t.Fatalf("still drifted: drift %v issue %d; reasons %q", res.Drift, res.Issue, res.Report.Reasons)
	}
	issues, comments = h.issues.snapshot()
	if len(issues) != 1 {
		t.Fatalf("a further drifted run left %d issues, want 1", len(issues))
	}
	if !strings.Contains(issues[0].body, "2026-12-05 06:00 UTC") {
		t.Errorf("issue body not updated to the new run:\n%s", issues[0].body)
	}
	// Compared with the last run within the thresholds, not with the drifted one.
	if !strings.Contains(issues[0].body, "2026-12-03 06:00 UTC") {
		t.Errorf("reference run missing from the updated body")
	}
	if len(comments[1]) != 1 || !strings.Contains(comments[1][0], "escalation 100.0% → 15.0%") {
		t.Errorf("comments on #1: %q, want one with the new numbers", comments[1])
	}

	// Day 5: the provider is down. Errors are not drift, and not "ok" either.
	h.prov.mode.Store(down)
	res = h.check()
	if res.Verdict != evaluator.Inconclusive || res.Drift || res.Baseline || res.Issue != 0 {
		t.Fatalf("provider down: verdict %s drift %v baseline %v issue %d; reasons %q", res.Verdict, res.Drift, res.Baseline, res.Issue, res.Report.Reasons)
	}
	if res.Report.Errors.Head != 40 {
		t.Errorf("provider down: %d errors, want 40", res.Report.Errors.Head)
	}
	if got, gotComments := h.issues.snapshot(); len(got) != 1 || len(gotComments[1]) != 1 {
		t.Errorf("provider down touched the issues: %d issues, %d comments", len(got), len(gotComments[1]))
	}

	// Day 6: the provider restores the model: no drift, and the issue hears of it.
	h.prov.mode.Store(healthy)
	res = h.check()
	if res.Drift || res.Verdict != evaluator.Pass || res.Baseline || res.Issue != 1 {
		t.Fatalf("restored: drift %v verdict %s baseline %v issue %d; reasons %q", res.Drift, res.Verdict, res.Baseline, res.Issue, res.Report.Reasons)
	}
	issues, comments = h.issues.snapshot()
	if len(issues) != 1 || len(comments[1]) != 2 || !strings.Contains(comments[1][1], "back within the thresholds") {
		t.Errorf("after recovery: %d issues, comments %q", len(issues), comments[1])
	}
}

// A provider that is down on the first run records no baseline: a baseline
// of errors would make every later run inconclusive.
func TestOutageOnFirstRunIsNoBaseline(t *testing.T) {
	h := newHarness(t)
	h.prov.mode.Store(down)
	res := h.check()
	if res.Verdict != evaluator.Inconclusive || res.Baseline || res.Drift {
		t.Fatalf("down: verdict %s baseline %v drift %v", res.Verdict, res.Baseline, res.Drift)
	}
	h.prov.mode.Store(healthy)
	if res = h.check(); !res.Baseline || res.Verdict != evaluator.Pass {
		t.Fatalf("first healthy run: verdict %s baseline %v, want the baseline", res.Verdict, res.Baseline)
	}
}

// A model that starts running past max_tokens has drifted: its cut-off
// answers are failures, not an outage.
func TestTruncatedAnswersAreDriftNotOutage(t *testing.T) {
	h := newHarness(t)
	h.check()
	h.prov.mode.Store(verbose)
	res := h.check()
	if !res.Drift || res.Verdict != evaluator.Fail || res.Report.Errors.Head != 0 {
		t.Fatalf("truncated answers: drift %v verdict %s errors %d; reasons %q", res.Drift, res.Verdict, res.Report.Errors.Head, res.Report.Reasons)
	}
	if bill := category(t, res.Report, "billing"); !bill.Regressed || bill.HeadPassRate != 0 {
		t.Errorf("billing: %+v", bill)
	}
	if len(res.Report.Worse) == 0 || !slices.Contains(res.Report.Worse[0].Failed, "output cut off at max_tokens") {
		t.Errorf("worse cases do not name the cut-off: %+v", res.Report.Worse)
	}
}

// When the store has lost track of the issue (a new database), the open issue
// with the drift's title is adopted rather than a second one opened.
func TestDriftAdoptsOpenIssueByTitle(t *testing.T) {
	h := newHarness(t)
	h.issues.Create(context.Background(), "promptgate: silent drift in support-assistant v15 (production)", "old", drift.Labels)
	h.check()
	h.prov.mode.Store(drifted)
	res := h.check()
	issues, comments := h.issues.snapshot()
	if !res.Drift || res.Issue != 1 || len(issues) != 1 || issues[0].body == "old" || len(comments[1]) != 1 {
		t.Fatalf("drift %v issue %d; %d issues, comments %q", res.Drift, res.Issue, len(issues), comments[1])
	}
}

// A drift found while the issue tracker fails is still recorded, and the next
// run files the issue.
func TestIssueFailureIsReturnedAndRetried(t *testing.T) {
	h := newHarness(t)
	h.check()
	h.prov.mode.Store(drifted)
	failing := &failingIssues{fakeIssues: h.issues, fail: true}
	h.runner.Issues = failing
	art := h.repo.Artifacts["support-assistant"]
	h.day++
	res, err := h.runner.Check(context.Background(), h.repo.Config, art, h.repo.GoldenFor(art).Cases, "production")
	if err == nil || res == nil || !res.Drift {
		t.Fatalf("Check with a failing tracker: %v, %+v", err, res)
	}
	failing.fail = false
	if res = h.check(); !res.Drift || res.Issue != 1 {
		t.Fatalf("retry: drift %v issue %d", res.Drift, res.Issue)
	}
	if issues, _ := h.issues.snapshot(); len(issues) != 1 {
		t.Fatalf("%d issues", len(issues))
	}
}

type failingIssues struct {
	*fakeIssues
	fail bool
}

func (f *failingIssues) Create(ctx context.Context, title, body string, labels []string) (int, error) {
	if f.fail {
		return 0, errors.New("502 Bad Gateway")
	}
	return f.fakeIssues.Create(ctx, title, body, labels)
}

// cachedCompleter replays answers, as a response cache would.
type cachedCompleter struct{ evaluator.Completer }

func (c cachedCompleter) Complete(ctx context.Context, req evaluator.Request) (evaluator.Response, error) {
	resp, err := c.Completer.Complete(ctx, req)
	resp.Cached = true
	return resp, err
}

// Answers replayed from a cache say nothing about the provider today.
func TestCachedAnswersAreInconclusive(t *testing.T) {
	h := newHarness(t)
	h.check()
	h.runner.Completer = cachedCompleter{h.runner.Completer}
	res := h.check()
	if res.Verdict != evaluator.Inconclusive || res.Drift {
		t.Fatalf("cached: verdict %s drift %v", res.Verdict, res.Drift)
	}
}

// A changed golden set cannot be paired with the old runs: the next run is a
// new baseline, not a drift.
func TestGoldenSetChangeRecordsNewBaseline(t *testing.T) {
	h := newHarness(t)
	h.check()
	h.prov.mode.Store(drifted)
	art := h.repo.Artifacts["support-assistant"]
	cases := h.repo.GoldenFor(art).Cases[:30]
	h.day++
	res, err := h.runner.Check(context.Background(), h.repo.Config, art, cases, "production")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Baseline || res.Drift || !strings.Contains(strings.Join(res.Report.Reasons, "\n"), "golden set changed") {
		t.Fatalf("changed golden set: baseline %v drift %v reasons %q", res.Baseline, res.Drift, res.Report.Reasons)
	}
}

func TestSchedule(t *testing.T) {
	from := time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		next time.Time // zero: an error
	}{
		{"0 6 * * *", time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2026, 12, 3, 10, 45, 0, 0, time.UTC)},
		{"0 6 * * MON", time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)},
		{" @hourly ", time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)},
		{"@every 6h", from.Add(6 * time.Hour)},
		{"CRON_TZ=Europe/Berlin 0 6 * * *", time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)},
		{"", time.Time{}},
		{"0 6 * *", time.Time{}},
		{"0 0 6 * * *", time.Time{}}, // six fields: seconds are not standard cron
		{"61 * * * *", time.Time{}},
		{"@fortnightly", time.Time{}},
		{"0 0 30 2 *", time.Time{}}, // February 30 never comes
		{"TZ=UTC", time.Time{}},
		{"CRON_TZ=Mars/Olympus 0 6 * * *", time.Time{}},
	} {
		s, err := drift.Schedule(tc.expr)
		if tc.next.IsZero() {
			if err == nil {
				t.Errorf("Schedule(%q): no error", tc.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Schedule(%q): %v", tc.expr, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.next) {
			t.Errorf("Schedule(%q).Next(%v) = %v, want %v", tc.expr, from, got.UTC(), tc.next)
		}
	}
}
