package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run invokes the CLI in-process with cwd set, returning exit code and output.
func run(t *testing.T, cwd string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, cwd: cwd}
	code := c.main(context.Background(), args)
	return code, out.String(), errb.String()
}

func exampleDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../examples/support-assistant")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyDir copies a directory tree (regular files only).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidateExampleIsClean(t *testing.T) {
	code, out, errOut := run(t, t.TempDir(), "validate", "--repo", exampleDir(t))
	if code != 0 {
		t.Fatalf("validate exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "120 golden case") && !strings.Contains(errOut, "golden case(s)") {
		t.Errorf("summary missing: %s", errOut)
	}
}

// TestValidateBadInputs applies one bad edit at a time to a copy of the
// example and checks that validate names the file and line of the edit.
func TestValidateBadInputs(t *testing.T) {
	const art = "artifacts/support-assistant.yaml"
	const esc = "golden/support-assistant/escalation.yaml"
	const cfg = "promptgate.yaml"
	const env = "environments/production.yaml"
	cases := []struct {
		name, file, old, new, msg string
	}{
		{"unknown key", art, "provider: openai", "provider: openai\ntemprature: 0.3", `unknown key "temprature"`},
		{"wrong type", art, "max_tokens: 400", "max_tokens: lots", `expected an integer, got string "lots"`},
		{"missing required key", art, "model: gpt-4o-2024-11-20\n", "\n", `missing required key "model"`},
		{"name differs from file", art, "name: support-assistant", "name: support-bot", `differs from its file name`},
		{"undated model", art, "model: gpt-4o-2024-11-20", "model: gpt-4o", `undated OpenAI GPT alias`},
		{"latest model", art, "model: gpt-4o-2024-11-20", "model: chatgpt-4o-latest", `moving alias`},
		{"golden set missing", art, "golden_set: golden/support-assistant", "golden_set: golden/nowhere", "golden set golden/nowhere does not exist"},
		{"template var not provided", art, `user: "Customer question: {{question}}"`, `user: "Customer question: {{question}} ({{locale}})"`, "which no case in golden/support-assistant provides"},
		{"template var missing in one case", esc, `vars: {question: "can I talk to someone real please"}`, `vars: {q: "can I talk to someone real please"}`, `case "esc-002" does not provide var "question"`},
		{"invalid schema", art, "type: object", "type: objekt", "invalid output_schema"},
		{"duplicate case id", esc, "id: esc-002", "id: esc-001", `duplicate case id "esc-001"`},
		{"invalid regex", esc, `regex: ['"escalate"\s*:\s*true']`, `regex: ['"escalate"\s*:\s*(true']`, "invalid regex"},
		{"unknown expect key", esc, "json_schema: true\n      max_chars: 600", "json_schema: true\n      max_char: 600", `unknown key "max_char"`},
		{"price out of range", cfg, "gpt-4o-2024-08-06: {input: 2.5, output: 10}", "gpt-4o-2024-08-06: {input: -2.5, output: 10}", "must be between 0 and 10000"},
		{"threshold out of range", cfg, "max_error_rate: 0.05", "max_error_rate: 5", "max_error_rate must be between 0 and 1"},
		{"unknown gate key", cfg, "concurrency: 8", "concurency: 8", `did you mean "concurrency"`},
		{"pointer to missing version", env, "support-assistant: 15", "support-assistant: 16", "does not exist"},
		{"canary weight", env, "support-assistant: 15", "support-assistant: {version: 15, canary: {version: 14, weight: 150}}", "canary weight"},
		{"duplicate key", art, "model: gpt-4o-2024-11-20", "model: gpt-4o-2024-11-20\nmodel: gpt-4o-2024-08-06", `duplicate key "model"`},
		{"duplicate pointer", env, "support-assistant: 15", "support-assistant: 15\nsupport-assistant: 14", `duplicate key "support-assistant"`},
		{"broken yaml", art, "params: {temperature", "params: [temperature", "invalid YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, exampleDir(t), dir)
			p := filepath.Join(dir, tc.file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			idx := strings.Index(string(data), tc.old)
			if idx < 0 {
				t.Fatalf("%q not found in %s", tc.old, tc.file)
			}
			edited := string(data[:idx]) + tc.new + string(data[idx+len(tc.old):])
			if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			// The problem is on the first line of the edit or, for a removed key,
			// on the mapping it was removed from; accept the edit's line range
			// and the enclosing mapping's first line.
			editLine := strings.Count(edited[:idx], "\n") + 1
			code, out, _ := run(t, dir, "validate")
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			var hit string
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, tc.msg) {
					hit = line
					break
				}
			}
			if hit == "" {
				t.Fatalf("no problem containing %q in:\n%s", tc.msg, out)
			}
			prefix := tc.file + ":"
			if !strings.HasPrefix(hit, prefix) {
				t.Fatalf("problem %q does not name %s", hit, tc.file)
			}
			var line, col int
			if _, err := fmt.Sscanf(strings.TrimPrefix(hit, prefix), "%d:%d:", &line, &col); err != nil {
				t.Fatalf("problem %q has no line:col: %v", hit, err)
			}
			lastEditLine := editLine + strings.Count(tc.new, "\n")
			if tc.name == "missing required key" || tc.name == "template var not provided" {
				// Reported at the enclosing mapping or the templates key.
				if line < 1 {
					t.Fatalf("problem %q has no line", hit)
				}
				return
			}
			if line < editLine || line > lastEditLine {
				t.Fatalf("problem %q at line %d, want %d..%d", hit, line, editLine, lastEditLine)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, exampleDir(t), dir)
	edit := func(file, old, new string) {
		p := filepath.Join(dir, file)
		data, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
	}
	edit("artifacts/support-assistant.yaml", "model: gpt-4o-2024-11-20", "model: gpt-4o")
	edit("promptgate.yaml", "max_error_rate: 0.05", "max_error_rate: 5")
	edit("golden/support-assistant/escalation.yaml", "id: esc-002", "id: esc-001")
	code, out, _ := run(t, dir, "validate")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 3 {
		t.Fatalf("want 3 problems, got %d:\n%s", n, out)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestVersionAgainstGitHistory(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, exampleDir(t), dir)
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "v15")
	art := filepath.Join(dir, "artifacts/support-assistant.yaml")
	data, _ := os.ReadFile(art)

	// Unchanged: exit 0, keeps 15.
	if code, out, errOut := run(t, dir, "version", "--base", "main"); code != 0 {
		t.Fatalf("unchanged: exit %d\n%s%s", code, out, errOut)
	}
	// A prompt edit without a bump: exit 1, names 16, from a subdirectory.
	edited := strings.Replace(string(data), "Nova", "Nora", 1)
	os.WriteFile(art, []byte(edited), 0o644)
	code, out, _ := run(t, filepath.Join(dir, "golden"), "version", "--base", "main")
	if code != 1 || !strings.Contains(out, "version must be 16") || !strings.Contains(out, "artifacts/support-assistant.yaml:6") {
		t.Fatalf("edit without bump: exit %d\n%s", code, out)
	}
	// JSON carries name, version, expected version, digest and changed.
	code, out, _ = run(t, dir, "version", "--base", "main", "--json")
	var js struct {
		Artifacts []map[string]any `json:"artifacts"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || code != 1 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	a := js.Artifacts[0]
	if a["name"] != "support-assistant" || a["version"] != 15.0 || a["expected_version"] != 16.0 || a["changed"] != true || !strings.HasPrefix(a["digest"].(string), "sha256:") {
		t.Fatalf("json fields: %v", a)
	}
	// With the bump: exit 0.
	os.WriteFile(art, []byte(strings.Replace(edited, "version: 15", "version: 16", 1)), 0o644)
	if code, out, _ := run(t, dir, "version", "--base", "main"); code != 0 {
		t.Fatalf("with bump: exit %d\n%s", code, out)
	}
	// A bump without a change: exit 1, must stay 15.
	os.WriteFile(art, []byte(strings.Replace(string(data), "version: 15", "version: 16", 1)), 0o644)
	if code, out, _ := run(t, dir, "version", "--base", "main"); code != 1 || !strings.Contains(out, "must stay 15") {
		t.Fatalf("bump without change: exit %d\n%s", code, out)
	}
}

func TestVersionWithoutGit(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, exampleDir(t), dir)
	code, out, errOut := run(t, dir, "version")
	if code != 0 || !strings.Contains(errOut, "no base available") || !strings.Contains(out, "support-assistant") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"validate", "version"} {
		code, out, _ := run(t, t.TempDir(), cmd, "--help")
		if code != 0 || !strings.Contains(out, "usage: promptgate "+cmd) || !strings.Contains(out, "-repo") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
}

// TestValidateWarnsOnFractionRates: `above: 0.05` on a rate is almost
// surely meant as 5%; validate says so without failing.
func TestValidateWarnsOnFractionRates(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, exampleDir(t), dir)
	p := filepath.Join(dir, "promptgate.yaml")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(data), "above_previous_by: 5 ", "above_previous_by: 0.05", 1)), 0o644)
	code, out, _ := run(t, dir, "validate")
	if code != 0 || !strings.Contains(out, "promptgate.yaml:") || !strings.Contains(out, "warning: trigger \"escalation-rate\": escalation_rate is in percent") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
