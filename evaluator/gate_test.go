package evaluator_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/registry"
)

// gateRepo builds a config repo with one artifact and n cases over five
// categories. model and prompt vary between base and head.
func gateRepo(t testing.TB, n, version int, model, prompt, extraConfig string) *registry.Repo {
	t.Helper()
	cats := []string{"billing", "cards", "escalation", "security", "smalltalk"}
	files := map[string]*strings.Builder{}
	for i := 0; i < n; i++ {
		cat := cats[i%len(cats)]
		b := files[cat]
		if b == nil {
			b = &strings.Builder{}
			fmt.Fprintf(b, "category: %s\ncases:\n", cat)
			files[cat] = b
		}
		fmt.Fprintf(b, "  - id: %s-%03d\n    vars: {question: \"question %d about %s\"}\n    expect:\n      contains: [\"answer\"]\n      not_contains: [\"forbidden\"]\n      regex: ['(?i)case \\d+']\n      json_schema: true\n      max_chars: 400\n", cat, i, i, cat)
	}
	fsys := fstest.MapFS{
		"promptgate.yaml": {Data: []byte(`providers:
  openai: {base_url: "http://127.0.0.1:1/v1"}
prices:
  gpt-4o-2024-08-06: {input: 2.5, output: 10}
  gpt-4o-2024-11-20: {input: 2.5, output: 10}
gate:
  repeats: 1
  concurrency: 16
  max_category_drop_pp: 3
  max_error_rate: 0.05
` + extraConfig)},
		"artifacts/sa.yaml": {Data: []byte(fmt.Sprintf(`name: sa
version: %d
model: %s
params: {temperature: 0, max_tokens: 200}
system_prompt: %q
templates: {user: "Q: {{question}}"}
output_schema: {type: object, required: [answer], properties: {answer: {type: string}}}
`, version, model, prompt))},
	}
	for cat, b := range files {
		fsys["golden/sa/"+cat+".yaml"] = &fstest.MapFile{Data: []byte(b.String())}
	}
	r := registry.Load(fsys)
	if len(r.Problems) > 0 {
		t.Fatalf("test repo: %v", r.Problems)
	}
	return r
}

// responder answers every case correctly, except that the "broken" prompt
// fails the escalation cases whose number is below breakBelow.
func responder(breakBelow int) func(fakeopenai.ChatRequest) fakeopenai.Reply {
	return func(req fakeopenai.ChatRequest) fakeopenai.Reply {
		q := req.LastUser()
		var num int
		var cat string
		fmt.Sscanf(strings.TrimPrefix(q, "Q: question "), "%d about %s", &num, &cat)
		sys := req.Messages[0].Content
		if strings.Contains(sys, "broken") && cat == "escalation" && num < breakBelow {
			return fakeopenai.Reply{Content: `{"answer": "no idea"}`}
		}
		return fakeopenai.Reply{Content: fmt.Sprintf(`{"answer": "the answer for case %d"}`, num)}
	}
}

type gateEnv struct {
	srv   *fakeopenai.Server
	comp  evaluator.Completer
	cache *evaluator.Cache
}

func newGateEnv(t testing.TB, opts fakeopenai.Options, timeout time.Duration, cachePath string) *gateEnv {
	t.Helper()
	srv := fakeopenai.New(opts)
	t.Cleanup(srv.Close)
	env := map[string]string{"OPENAI_BASE_URL": srv.BaseURL()}
	oa, err := evaluator.NewOpenAI(nil, func(k string) string { return env[k] }, evaluator.OpenAIOptions{
		Timeout: timeout, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxRetries: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	ge := &gateEnv{srv: srv}
	if cachePath != "" {
		ge.cache, err = evaluator.OpenCache(cachePath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ge.cache.Close() })
		ge.comp = &evaluator.Cached{Next: oa, Cache: ge.cache}
	} else {
		ge.comp = oa
	}
	return ge
}

func runGate(t testing.TB, base, head *registry.Repo, comp evaluator.Completer) *evaluator.Report {
	t.Helper()
	rep, err := evaluator.RunGate(context.Background(), evaluator.GateInput{Base: base, Head: head}, evaluator.GateOptions{Completer: comp})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type catNums struct {
	n          int
	base, head float64
	delta      float64
}

func categories(rep *evaluator.Report) map[string]catNums {
	out := map[string]catNums{}
	for _, a := range rep.Artifacts {
		for _, c := range a.Categories {
			out[c.Name] = catNums{c.N, c.BasePassRate, c.HeadPassRate, c.DeltaPP}
		}
	}
	return out
}

// TestGateFaultsGiveTheSameResult injects 20% 429 with Retry-After, 10% 500
// and 5% hangs past the per-call timeout; retries must make the run reach
// the same verdict and the same numbers as a clean run.
func TestGateFaultsGiveTheSameResult(t *testing.T) {
	base := gateRepo(t, 50, 1, "gpt-4o-2024-08-06", "good prompt", "")
	head := gateRepo(t, 50, 2, "gpt-4o-2024-11-20", "broken prompt", "")
	clean := newGateEnv(t, fakeopenai.Options{Respond: responder(50)}, 2*time.Second, "")
	want := runGate(t, base, head, clean.comp)
	faulty := newGateEnv(t, fakeopenai.Options{Respond: responder(50), Seed: 7, RateLimited: 0.2, RetryAfter: "1", ServerError: 0.1, Hang: 0.05}, 300*time.Millisecond, "")
	got := runGate(t, base, head, faulty.comp)
	if want.Verdict != evaluator.Fail {
		t.Fatalf("clean run verdict %s, want fail: %v", want.Verdict, want.Reasons)
	}
	if got.Verdict != want.Verdict {
		t.Fatalf("faulty run verdict %s, clean %s: %v", got.Verdict, want.Verdict, got.Reasons)
	}
	if g, w := categories(got), categories(want); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("per-category numbers differ:\nfaulty %v\nclean  %v", g, w)
	}
	faults := faulty.srv.Faults()
	if faults["rate_limited"] == 0 || faults["server_error"] == 0 || faults["hang"] == 0 {
		t.Fatalf("faults not injected: %v", faults)
	}
	if e := got.Artifacts[0].Errors; e.Base+e.Head != 0 {
		t.Fatalf("retries left %d errors", e.Base+e.Head)
	}
}

// TestGateProviderDown: nothing answers, so the result is inconclusive with
// every error counted, never a pass.
func TestGateProviderDown(t *testing.T) {
	base := gateRepo(t, 10, 1, "gpt-4o-2024-08-06", "good prompt", "")
	head := gateRepo(t, 10, 2, "gpt-4o-2024-11-20", "good prompt v2", "")
	env := map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
	oa, err := evaluator.NewOpenAI(nil, func(k string) string { return env[k] }, evaluator.OpenAIOptions{Timeout: 200 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	rep := runGate(t, base, head, oa)
	if rep.Verdict != evaluator.Inconclusive {
		t.Fatalf("verdict %s, want inconclusive: %v", rep.Verdict, rep.Reasons)
	}
	e := rep.Artifacts[0].Errors
	if e.Base != 10 || e.Head != 10 || e.ByKind[evaluator.ErrProvider] != 20 {
		t.Fatalf("errors %+v", e)
	}
}

// TestGateMalformedResponses counts no choices, non-JSON output against a
// schema and truncated outputs as errors per case, shown by kind.
func TestGateMalformedResponses(t *testing.T) {
	base := gateRepo(t, 20, 1, "gpt-4o-2024-08-06", "good prompt", "")
	head := gateRepo(t, 20, 2, "gpt-4o-2024-11-20", "good prompt v2", "")
	good := responder(0)
	srv := newGateEnv(t, fakeopenai.Options{Respond: func(req fakeopenai.ChatRequest) fakeopenai.Reply {
		if req.Model != "gpt-4o-2024-11-20" {
			return good(req)
		}
		switch q := req.LastUser(); {
		case strings.Contains(q, "question 1 "):
			return fakeopenai.Reply{NoChoices: true}
		case strings.Contains(q, "question 2 "):
			return fakeopenai.Reply{Content: "Sure! The answer is 42."}
		case strings.Contains(q, "question 3 "):
			return fakeopenai.Reply{Content: `{"answer": "the answer for ca`, FinishReason: "length"}
		}
		return good(req)
	}}, time.Second, "")
	rep := runGate(t, base, head, srv.comp)
	e := rep.Artifacts[0].Errors
	if e.Head != 3 || e.ByKind[evaluator.ErrNoChoices] != 1 || e.ByKind[evaluator.ErrUnparsable] != 1 || e.ByKind[evaluator.ErrTruncated] != 1 {
		t.Fatalf("errors %+v", e)
	}
	if rep.Verdict != evaluator.Inconclusive {
		t.Fatalf("verdict %s with 15%% errors, want inconclusive", rep.Verdict)
	}
}

// TestGateRerunMakesNoBaselineCalls: with the cache, a second run with the
// same baseline and a new candidate calls the provider for the candidate only.
func TestGateRerunMakesNoBaselineCalls(t *testing.T) {
	path := t.TempDir() + "/cache.db"
	base := gateRepo(t, 30, 1, "gpt-4o-2024-08-06", "good prompt", "")
	env := newGateEnv(t, fakeopenai.Options{Respond: responder(0)}, time.Second, path)
	runGate(t, base, gateRepo(t, 30, 2, "gpt-4o-2024-11-20", "candidate one", ""), env.comp)
	if got := env.srv.CallsFor("gpt-4o-2024-08-06"); got != 30 {
		t.Fatalf("first run made %d baseline calls, want 30", got)
	}
	rep := runGate(t, base, gateRepo(t, 30, 2, "gpt-4o-2024-11-20", "candidate two", ""), env.comp)
	if got := env.srv.CallsFor("gpt-4o-2024-08-06"); got != 30 {
		t.Fatalf("re-run made %d more baseline calls, want 0", got-30)
	}
	if got := env.srv.CallsFor("gpt-4o-2024-11-20"); got != 60 {
		t.Fatalf("candidate calls %d, want 60", got)
	}
	if a := rep.Artifacts[0]; a.BaseCalls != 0 || a.HeadCalls != 30 {
		t.Fatalf("report says %d baseline and %d candidate calls", a.BaseCalls, a.HeadCalls)
	}
}

// BenchmarkGateLatencyFloor: 150 cases on both sides at concurrency 16
// against a server adding 200 ms per call. The floor is ceil(300/16) × 200 ms;
// the ratio to it is the figure to watch (target ≤ 1.15).
func BenchmarkGateLatencyFloor(b *testing.B) {
	base := gateRepo(b, 150, 1, "gpt-4o-2024-08-06", "good prompt", "")
	head := gateRepo(b, 150, 2, "gpt-4o-2024-11-20", "good prompt v2", "")
	env := newGateEnv(b, fakeopenai.Options{Respond: responder(0), Latency: 200 * time.Millisecond}, 5*time.Second, "")
	floor := time.Duration((300+15)/16) * 200 * time.Millisecond
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep := runGate(b, base, head, env.comp)
		total += time.Since(start)
		if rep.Artifacts[0].Errors.Base+rep.Artifacts[0].Errors.Head > 0 {
			b.Fatal("errors in benchmark run")
		}
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(floor), "x_floor")
	b.ReportMetric(float64(floor.Milliseconds()), "floor_ms")
}

// instant is an in-process Completer with zero latency, for measuring the
// evaluator's own cost.
type instant struct{ calls atomic.Int64 }

func (c *instant) Complete(_ context.Context, req evaluator.Request) (evaluator.Response, error) {
	c.calls.Add(1)
	return evaluator.Response{Content: `{"answer": "the answer for case 7"}`, FinishReason: "stop", InputTokens: 100, OutputTokens: 20}, nil
}

// BenchmarkRunZeroLatency measures case evaluations per second with every
// assertion kind but judge, against a baseline that only makes the calls.
func BenchmarkRunZeroLatency(b *testing.B) {
	repo := gateRepo(b, 2000, 1, "gpt-4o-2024-08-06", "good prompt", "")
	a := repo.Artifacts["sa"]
	cases := repo.GoldenFor(a).Cases
	b.Run("baseline_calls_only", func(b *testing.B) {
		c := &instant{}
		start := time.Now()
		for i := 0; i < b.N; i++ {
			var wg sync.WaitGroup
			for w := 0; w < runtime.GOMAXPROCS(0); w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for j := w; j < len(cases); j += runtime.GOMAXPROCS(0) {
						c.Complete(context.Background(), evaluator.BuildRequest(a, cases[j], 0))
					}
				}(w)
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.N*len(cases))/time.Since(start).Seconds(), "evals/s")
	})
	b.Run("run_with_assertions", func(b *testing.B) {
		c := &instant{}
		start := time.Now()
		for i := 0; i < b.N; i++ {
			out, err := evaluator.Run(context.Background(), c, []evaluator.Side{{Artifact: a, Cases: cases}}, evaluator.RunOptions{Concurrency: 8})
			if err != nil || !out[0][0].Pass {
				b.Fatalf("run: %v %+v", err, out[0][0])
			}
		}
		b.ReportMetric(float64(b.N*len(cases))/time.Since(start).Seconds(), "evals/s")
	})
}

// BenchmarkGateMemory10k reports the peak heap of a gate over a
// 10,000-case golden set on both sides (target < 200 MiB).
func BenchmarkGateMemory10k(b *testing.B) {
	base := gateRepo(b, 10000, 1, "gpt-4o-2024-08-06", "good prompt", "")
	head := gateRepo(b, 10000, 2, "gpt-4o-2024-11-20", "good prompt v2", "")
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		runGate(b, base, head, &instant{})
		close(stop)
		<-done
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak_heap_MiB")
		b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap_before_MiB")
	}
}
