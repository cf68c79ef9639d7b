package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/internal/simulate"
	"github.com/promptgate/promptgate/registry"
)

var updateRecordings = flag.Bool("update-recordings", false, "re-record the example's responses from the simulated model")

// fridayRepo lays out the Friday deploy as run.sh does: a git repo whose
// main holds v14 and whose working tree holds the v15 pull request.
func fridayRepo(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	dir := t.TempDir()
	copyDir(t, filepath.Join(root, "examples/support-assistant"), dir)
	v15, _ := os.ReadFile(filepath.Join(dir, "artifacts/support-assistant.yaml"))
	prod15, _ := os.ReadFile(filepath.Join(dir, "environments/production.yaml"))
	copyFile(t, filepath.Join(root, "examples/friday-deploy/support-assistant.v14.yaml"), filepath.Join(dir, "artifacts/support-assistant.yaml"))
	copyFile(t, filepath.Join(root, "examples/friday-deploy/production.v14.yaml"), filepath.Join(dir, "environments/production.yaml"))
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "v14")
	os.WriteFile(filepath.Join(dir, "artifacts/support-assistant.yaml"), v15, 0o644)
	os.WriteFile(filepath.Join(dir, "environments/production.yaml"), prod15, 0o644)
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRecordExample re-records examples/support-assistant/recordings from
// the simulated model when run with -update-recordings. The simulated
// latency grows with the answer's length, as a real model's does.
func TestRecordExample(t *testing.T) {
	if !*updateRecordings {
		t.Skip("run with -update-recordings to re-record the example")
	}
	dir := fridayRepo(t)
	repo := registry.Load(os.DirFS(dir))
	sim := simulate.New(repo.Golden["golden/support-assistant"].Cases)
	srv := fakeopenai.New(fakeopenai.Options{Respond: func(req fakeopenai.ChatRequest) fakeopenai.Reply {
		r := sim.Respond(req)
		tokens := r.CompletionTokens
		if tokens == 0 {
			tokens = fakeopenai.EstimateTokens(r.Content)
		}
		r.Delay = 450*time.Millisecond + time.Duration(tokens)*1500*time.Microsecond
		return r
	}})
	defer srv.Close()
	out := filepath.Join(exampleDir(t), "recordings", "support-assistant.jsonl")
	os.Remove(out)
	env := map[string]string{"OPENAI_BASE_URL": srv.BaseURL(), "OPENAI_API_KEY": "sk-simulated"}
	c := &cli{stdout: &strings.Builder{}, stderr: os.Stderr, getenv: func(k string) string { return env[k] }, cwd: dir}
	code := c.main(t.Context(), []string{"gate", "--base", "main", "--no-cache", "--record", out, "--concurrency", "16", "--format", "json"})
	if code == exitError {
		t.Fatalf("gate exit %d", code)
	}
	t.Logf("recorded %d calls into %s", srv.Calls(), out)
}

// TestFridayDeployOffline runs the README's first command and checks the
// story the recorded responses tell: the gate fails because escalation
// regresses and cost per case rises, with no model call made.
func TestFridayDeployOffline(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "promptgate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command("bash", "../../examples/friday-deploy/run.sh", "--format", "json")
	cmd.Env = append(os.Environ(), "PROMPTGATE="+bin, "OPENAI_API_KEY=", "OPENAI_BASE_URL=http://127.0.0.1:9/v1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	exit := 0
	if ee, ok := err.(*exec.ExitError); ok {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if exit != exitFail {
		t.Fatalf("exit %d, want %d (fail)\n%s\n%s", exit, exitFail, out, stderr.String())
	}
	var rep struct {
		Verdict  string `json:"verdict"`
		Pointers []struct {
			Artifact string `json:"artifact"`
			From     int    `json:"from"`
			To       int    `json:"to"`
		} `json:"pointers"`
		Artifacts []struct {
			Name        string `json:"name"`
			BaseVersion int    `json:"base_version"`
			HeadVersion int    `json:"head_version"`
			Categories  []struct {
				Name      string  `json:"name"`
				DeltaPP   float64 `json:"delta_pp"`
				Regressed bool    `json:"regressed"`
			} `json:"categories"`
			Worse []struct {
				CaseID   string `json:"case_id"`
				Category string `json:"category"`
				Reason   string `json:"reason"`
			} `json:"worse"`
			Cost struct {
				Base     *float64 `json:"base_usd_per_case"`
				Head     *float64 `json:"head_usd_per_case"`
				DeltaPct *float64 `json:"delta_pct"`
			} `json:"cost"`
			Errors struct {
				Base int `json:"base"`
				Head int `json:"head"`
			} `json:"errors"`
			BaseCalls int `json:"base_calls"`
			HeadCalls int `json:"head_calls"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Verdict != "fail" || len(rep.Artifacts) != 1 {
		t.Fatalf("verdict %q, %d artifacts", rep.Verdict, len(rep.Artifacts))
	}
	if len(rep.Pointers) != 1 || rep.Pointers[0].From != 14 || rep.Pointers[0].To != 15 {
		t.Errorf("the PR's deploy of v15 to production is not reported: %+v", rep.Pointers)
	}
	a := rep.Artifacts[0]
	if a.BaseVersion != 14 || a.HeadVersion != 15 {
		t.Errorf("versions %d → %d", a.BaseVersion, a.HeadVersion)
	}
	if a.Errors.Base != 0 || a.Errors.Head != 0 {
		t.Errorf("recordings incomplete: %d/%d errors (re-record with -update-recordings)\n%s", a.Errors.Base, a.Errors.Head, stderr.String())
	}
	if a.BaseCalls != 0 || a.HeadCalls != 0 {
		t.Errorf("offline run made %d/%d calls", a.BaseCalls, a.HeadCalls)
	}
	regressed := map[string]bool{}
	for _, c := range a.Categories {
		if c.Regressed {
			regressed[c.Name] = true
		}
	}
	if !regressed["escalation"] || len(regressed) != 1 {
		t.Errorf("regressed categories %v, want escalation only", regressed)
	}
	if a.Cost.Base == nil || a.Cost.Head == nil || a.Cost.DeltaPct == nil || *a.Cost.DeltaPct < 5 {
		t.Errorf("cost per case %v → %v, want a visible rise", a.Cost.Base, a.Cost.Head)
	}
	worseEsc := 0
	for _, w := range a.Worse {
		if w.Category == "escalation" {
			worseEsc++
		}
	}
	if worseEsc < 5 {
		t.Errorf("only %d escalation cases got worse", worseEsc)
	}
}

// TestGateHeadRefAndOut gates two commits (--head) and writes the JSON
// report atomically to --out; bad flags are errors (exit 3).
func TestGateHeadRefAndOut(t *testing.T) {
	dir := fridayRepo(t)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "v15")
	// The working tree changes after the commit: --head must ignore it.
	os.WriteFile(filepath.Join(dir, "artifacts/support-assistant.yaml"), []byte("broken: ["), 0o644)
	out := filepath.Join(t.TempDir(), "report.json")
	code, stdout, errOut := run(t, dir, "gate", "--base", "main~1", "--head", "main", "--offline", "--cache", filepath.Join(t.TempDir(), "c.db"), "--format", "json", "--out", out)
	if code != exitFail {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if stdout != "" {
		t.Errorf("report went to stdout too")
	}
	data, err := os.ReadFile(out)
	var rep struct {
		Verdict string `json:"verdict"`
	}
	if err != nil || json.Unmarshal(data, &rep) != nil || rep.Verdict != "fail" {
		t.Fatalf("report file: %v %s", err, data)
	}
	for _, args := range [][]string{{"gate"}, {"gate", "--base", "main", "--format", "xml"}, {"gate", "--base", "nope"}, {"gate", "--base", "main", "--offline", "--no-cache"}} {
		if code, _, _ := run(t, dir, args...); code != exitError {
			t.Errorf("%v: exit %d, want %d", args, code, exitError)
		}
	}
}

// TestGateOfflineMissIsAnError: --offline with responses that were never
// recorded stops with exit 3 and one line saying what to do.
func TestGateOfflineMissIsAnError(t *testing.T) {
	dir := fridayRepo(t)
	art := filepath.Join(dir, "artifacts/support-assistant.yaml")
	data, _ := os.ReadFile(art)
	os.WriteFile(art, []byte(strings.Replace(string(data), "You are Nova", "You are Nova, the new one,", 1)), 0o644)
	code, _, errOut := run(t, dir, "gate", "--base", "main", "--offline", "--cache", filepath.Join(t.TempDir(), "c.db"))
	if code != exitError || !strings.Contains(errOut, "no recorded response (offline)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}
