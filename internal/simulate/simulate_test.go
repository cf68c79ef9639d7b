package simulate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/registry"
)

const (
	exampleDir = "../../examples/support-assistant"
	v14File    = "../../examples/friday-deploy/support-assistant.v14.yaml"
	v14Env     = "../../examples/friday-deploy/production.v14.yaml"
	artifact   = "support-assistant"
)

// side is one artifact version with its golden set and checker.
type side struct {
	a     *registry.Artifact
	cases []*registry.Case
	ch    *evaluator.Checker
}

func loadSide(t *testing.T, fsys func(t *testing.T) string) side {
	t.Helper()
	repo := registry.Load(os.DirFS(fsys(t)))
	if len(repo.Problems) > 0 {
		t.Fatalf("example does not load:\n%s", repo.Problems.Error())
	}
	a := repo.Artifacts[artifact]
	if a == nil {
		t.Fatalf("no artifact %s", artifact)
	}
	gs := repo.GoldenFor(a)
	if gs == nil || len(gs.Cases) == 0 {
		t.Fatal("no golden set")
	}
	ch, err := evaluator.NewChecker(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Prepare(gs.Cases); err != nil {
		t.Fatal(err)
	}
	return side{a: a, cases: gs.Cases, ch: ch}
}

func v15Dir(*testing.T) string { return exampleDir }

// v14Dir is a copy of the example with the v14 artifact in place of v15.
func v14Dir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleDir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(v14File)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "artifacts", artifact+".yaml")
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Production pointed at v14 then, too.
	b, err = os.ReadFile(v14Env)
	if err != nil {
		t.Fatal(err)
	}
	dst = filepath.Join(dir, "environments", "production.yaml")
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chat(r evaluator.Request) fakeopenai.ChatRequest {
	msgs := make([]fakeopenai.Message, len(r.Messages))
	for i, m := range r.Messages {
		msgs[i] = fakeopenai.Message{Role: m.Role, Content: m.Content}
	}
	return fakeopenai.ChatRequest{Model: r.Model, Messages: msgs}
}

// stats are one side's results.
type stats struct {
	pass, n    map[string]int
	completion int
	calls      int
	failures   []string
}

func (s stats) rate(cat string) float64 {
	if cat == "" {
		var p, n int
		for c := range s.n {
			p += s.pass[c]
			n += s.n[c]
		}
		return float64(p) / float64(n)
	}
	return float64(s.pass[cat]) / float64(s.n[cat])
}

func (s stats) meanCompletion() float64 { return float64(s.completion) / float64(s.calls) }

func run(t *testing.T, m *Model, sd side) stats {
	t.Helper()
	st := stats{pass: map[string]int{}, n: map[string]int{}}
	for _, c := range sd.cases {
		req := chat(evaluator.BuildRequest(sd.a, c, 0))
		rep := m.Respond(req)
		if rep.Delay != 0 {
			t.Errorf("%s: Delay %v, want 0", c.ID, rep.Delay)
		}
		st.n[c.Category]++
		st.calls++
		st.completion += rep.CompletionTokens
		if failed := sd.ch.Check(c, rep.Content); len(failed) == 0 {
			st.pass[c.Category]++
		} else {
			st.failures = append(st.failures, c.ID+": "+strings.Join(failed, "; "))
		}
	}
	return st
}

var categories = []string{"billing", "cards", "escalation", "security", "smalltalk"}

func TestIdealAnswersPassEveryCase(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(*testing.T) string
	}{{"v14", v14Dir}, {"v15", v15Dir}} {
		t.Run(tc.name, func(t *testing.T) {
			sd := loadSide(t, tc.dir)
			m := New(sd.cases)
			if len(sd.cases) != 120 {
				t.Errorf("%d cases, want 120", len(sd.cases))
			}
			for _, c := range sd.cases {
				p := m.lookup(chat(evaluator.BuildRequest(sd.a, c, 0)).LastUser())
				if p == nil || p.c != c {
					t.Errorf("%s: the request is not recognised as this case", c.ID)
					continue
				}
				out := p.compose(opts{salt: "ideal", drop: -1})
				if failed := sd.ch.Check(c, out); len(failed) > 0 {
					t.Errorf("%s: ideal answer fails %v\n%s", c.ID, failed, out)
				}
				var o output
				if err := json.Unmarshal([]byte(out), &o); err != nil || o.Answer == "" || o.Category == "" {
					t.Errorf("%s: answer %s: %v", c.ID, out, err)
				}
			}
		})
	}
}

func TestFridayDeploy(t *testing.T) {
	v14, v15 := loadSide(t, v14Dir), loadSide(t, v15Dir)
	if v14.a.Version != 14 || v15.a.Version != 15 {
		t.Fatalf("versions %d and %d", v14.a.Version, v15.a.Version)
	}
	m := New(v15.cases)
	// Both sides use the same cases; the v14 copy's are distinct pointers
	// with the same questions, so one model serves both.
	s14, s15 := run(t, m, v14), run(t, m, v15)

	t.Logf("%-11s %6s %6s", "category", "v14", "v15")
	for _, c := range append(slices.Clone(categories), "") {
		name := c
		if name == "" {
			name = "overall"
		}
		t.Logf("%-11s %5.1f%% %5.1f%%", name, 100*s14.rate(c), 100*s15.rate(c))
	}
	ratio := s15.meanCompletion() / s14.meanCompletion()
	t.Logf("mean completion tokens: v14 %.1f, v15 %.1f (x%.2f)", s14.meanCompletion(), s15.meanCompletion(), ratio)
	t.Logf("v14 failures: %q", s14.failures)
	t.Logf("v15 failures: %q", s15.failures)

	if r := s14.rate(""); r < 0.95 {
		t.Errorf("v14 pass rate %.1f%%, want >= 95%%", 100*r)
	}
	if s14.rate("") == 1 || s15.rate("billing")+s15.rate("cards")+s15.rate("security")+s15.rate("smalltalk") == 4 {
		t.Errorf("no baseline noise on one side")
	}
	if d := 100 * (s14.rate("escalation") - s15.rate("escalation")); d < 30 {
		t.Errorf("escalation drop %.1f pp, want >= 30", d)
	}
	for _, c := range categories {
		if c == "escalation" {
			continue
		}
		if d := 100 * (s15.rate(c) - s14.rate(c)); d < -8 || d > 8 {
			t.Errorf("%s: v15 - v14 = %+.1f pp, want within ±8", c, d)
		}
	}
	if ratio < 1.4 {
		t.Errorf("completion token ratio %.2f, want >= 1.4", ratio)
	}
	over := 0
	for _, f := range s15.failures {
		if strings.Contains(f, "max_chars") {
			over++
		}
	}
	if over > 6 {
		t.Errorf("%d v15 answers over max_chars, want a handful", over)
	}
}

func TestJudgeAgreesWithHumans(t *testing.T) {
	sd := loadSide(t, v15Dir)
	m := New(sd.cases)
	j := &evaluator.Judge{Model: "gpt-4o-2024-08-06"}
	agree, n := 0, 0
	for _, c := range sd.cases {
		if c.Expect.Judge == "" {
			continue
		}
		for _, h := range c.Human {
			rep := m.Respond(chat(j.Request(c.Expect.Judge, evaluator.CaseInput(c), h.Output)))
			pass, reason, err := evaluator.ParseVerdict(rep.Content)
			if err != nil {
				t.Fatalf("%s: verdict %q: %v", c.ID, rep.Content, err)
			}
			n++
			if pass == *h.Pass {
				agree++
			} else {
				t.Logf("%s: judge %v (%s), human %v", c.ID, pass, reason, *h.Pass)
			}
		}
	}
	t.Logf("judge agrees with humans on %d of %d", agree, n)
	if n != 8 {
		t.Errorf("%d human ratings, want 8", n)
	}
	if agree < 7 {
		t.Errorf("judge agrees on %d of %d, want >= 7", agree, n)
	}

	// The judge passes the ideal answers of judge cases and fails v15's
	// escalations that no longer hand off.
	for _, c := range sd.cases {
		if c.Expect.Judge == "" {
			continue
		}
		p := m.lookup(c.Vars["question"])
		ideal := p.compose(opts{salt: "ideal", drop: -1})
		rep := m.Respond(chat(j.Request(c.Expect.Judge, evaluator.CaseInput(c), ideal)))
		if pass, reason, _ := evaluator.ParseVerdict(rep.Content); !pass {
			t.Errorf("%s: judge fails the ideal answer (%s): %s", c.ID, reason, ideal)
		}
		if c.Category == "escalation" && p.handoff {
			selfHelp := p.compose(opts{salt: "ideal", drop: -1, selfHelp: true})
			rep := m.Respond(chat(j.Request(c.Expect.Judge, evaluator.CaseInput(c), selfHelp)))
			if pass, _, _ := evaluator.ParseVerdict(rep.Content); pass {
				t.Errorf("%s: judge passes an answer without a hand-off: %s", c.ID, selfHelp)
			}
		}
	}
}

func TestJudgeVerdicts(t *testing.T) {
	m := New(nil)
	j := &evaluator.Judge{Model: "gpt-4o-2024-08-06"}
	for _, tc := range []struct {
		rubric, output string
		pass           bool
	}{
		{"Explains the fee.", `{"answer": "It is in the price list.", "escalate": false}`, true},
		{"Explains the fee.", `not json`, false},
		{"Explains the fee.", "```json\n{\"answer\": \"fine\", \"escalate\": false}\n```", true},
		{"Explains the fee.", `{"answer": "You get a guaranteed refund.", "escalate": false}`, false},
		{"Offers a human consultant.", `{"answer": "A consultant will continue here.", "escalate": true}`, true},
		{"Offers a human consultant.", `{"answer": "A consultant will continue here.", "escalate": false}`, false},
		{"Offers a hand-off.", `{"answer": "Let me help you first.", "escalate": true}`, false},
		{"Stays calm.", `{"answer": "Please calm down.", "escalate": false}`, false},
		{"Declines to disclose other customers' data.", `{"answer": "Here they are.", "escalate": false}`, false},
	} {
		rep := m.Respond(chat(j.Request(tc.rubric, "question", tc.output)))
		pass, _, err := evaluator.ParseVerdict(rep.Content)
		if err != nil || pass != tc.pass {
			t.Errorf("rubric %q, output %q: got %v (%v), want %v", tc.rubric, tc.output, pass, err, tc.pass)
		}
	}
}

func TestRespondDeterministicAndTokens(t *testing.T) {
	sd := loadSide(t, v15Dir)
	m := New(sd.cases)
	req := chat(evaluator.BuildRequest(sd.a, sd.cases[0], 0))
	want := m.Respond(req)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := m.Respond(req); !reflect.DeepEqual(got, want) {
				t.Errorf("replies differ: %+v vs %+v", got, want)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, msg := range req.Messages {
		total += len(msg.Content)
	}
	if want.PromptTokens != (total+3)/4 || want.CompletionTokens != (len(want.Content)+3)/4 {
		t.Errorf("tokens %d/%d for %d prompt bytes and %d content bytes", want.PromptTokens, want.CompletionTokens, total, len(want.Content))
	}

	// An unknown question gets a generic, valid answer.
	req.Messages[len(req.Messages)-1].Content = "Customer question: what is the meaning of life?"
	rep := m.Respond(req)
	if failed := sd.ch.Check(&registry.Case{ID: "x", Expect: registry.Expect{JSONSchema: true}}, rep.Content); len(failed) > 0 {
		t.Errorf("generic answer %s fails %v", rep.Content, failed)
	}
}

func TestRoutedSmalltalkBehavesTheSame(t *testing.T) {
	sd := loadSide(t, v14Dir)
	m := New(sd.cases)
	for _, c := range sd.cases {
		if c.Category != "smalltalk" {
			continue
		}
		r := evaluator.BuildRequest(sd.a, c, 0)
		if r.Model != "gpt-4o-mini-2024-07-18" {
			t.Fatalf("%s routed to %s", c.ID, r.Model)
		}
		req := chat(r)
		if p := m.lookup(req.LastUser()); p == nil || p.c != c {
			t.Errorf("%s: not recognised", c.ID)
		}
		if v := detect(req); v.label != "v14" || v.tryFirst || v.thorough {
			t.Errorf("%s: detected %+v, want v14", c.ID, v)
		}
		out := m.Respond(req).Content
		var o output
		if err := json.Unmarshal([]byte(out), &o); err != nil || o.Category != "smalltalk" {
			t.Errorf("%s: %s", c.ID, out)
		}
	}
}

func TestSample(t *testing.T) {
	for _, pat := range []string{
		`"escalate"\s*:\s*true`, `(?i)freez`, `\b3 ?%`, `5\s*(-|to|–)\s*7`, `4[.,]99`,
		`(?i)(don.t know|do not know|not sure)`, `(?i)single.use`, `(?i)ticket #?48213`,
		`(?i)Settings\s*>\s*Security`, `a{2,4}b+`, `(?i)phishing@northwindpay\.com|northwindpay\.com`,
		`\d{3}-\w+`, `^start$`, `[^"]+x`,
	} {
		s, ok := sample(pat)
		if !ok || !regexp.MustCompile(pat).MatchString(s) {
			t.Errorf("sample(%q) = %q, %v: does not match", pat, s, ok)
		}
	}
	for pat, want := range map[string]string{
		`(?i)freez`:                          "freez",
		`(?i)(don.t know|do not know)`:       "do not know",
		`(?i)Settings\s*>\s*Security`:        "Settings > Security",
		`(?i)(QR|Cards\s*>\s*Activate)`:      "QR",
		`1[.,]5 ?%`:                          "1,5%",
		`(?i)(7|seven) days`:                 "7 days",
		`(?i)lost or stolen|replace`:         "lost or stolen",
		`\b(nicht|keine?n?)\b`:               "nicht",
		`(?i)(assistant|\bAI\b|automated)`:   "assistant",
		`"category"\s*:\s*"smalltalk"`:       `"category" : "smalltalk"`,
		`x{3}`:                               "xxx",
		`(?i)(log(ged)? ?in|sign in)`:        "login",
		`(?i)(abhebung|geldautomat|bargeld)`: "abhebung",
	} {
		if got, _ := sample(pat); got != want {
			t.Errorf("sample(%q) = %q, want %q", pat, got, want)
		}
	}
}

// TestOverHTTP serves the simulator from the fake OpenAI server, as the
// example's recorder does, and checks a case answer and a judge verdict.
func TestOverHTTP(t *testing.T) {
	sd := loadSide(t, v14Dir)
	m := New(sd.cases)
	srv := fakeopenai.New(fakeopenai.Options{Respond: m.Respond})
	defer srv.Close()

	post := func(r evaluator.Request) (content string, usage map[string]int) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"model": r.Model, "messages": r.Messages})
		resp, err := http.Post(srv.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage map[string]int `json:"usage"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) != 1 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		return out.Choices[0].Message.Content, out.Usage
	}

	var c *registry.Case
	for _, x := range sd.cases {
		if x.ID == "esc-001" {
			c = x
		}
	}
	if c == nil {
		t.Fatal("no esc-001")
	}
	out, usage := post(evaluator.BuildRequest(sd.a, c, 0))
	if failed := sd.ch.Check(c, out); len(failed) > 0 {
		t.Errorf("esc-001 on v14 fails %v: %s", failed, out)
	}
	if usage["completion_tokens"] != (len(out)+3)/4 || usage["prompt_tokens"] == 0 {
		t.Errorf("usage %v for %d content bytes", usage, len(out))
	}
	j := &evaluator.Judge{Model: "gpt-4o-2024-08-06"}
	v, _ := post(j.Request(c.Expect.Judge, evaluator.CaseInput(c), out))
	if pass, reason, err := evaluator.ParseVerdict(v); err != nil || !pass {
		t.Errorf("judge on the v14 answer: %v %q %v", pass, reason, err)
	}
}
