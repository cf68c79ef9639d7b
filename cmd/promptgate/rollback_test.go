package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRollbackLocal makes the revert branch and commit in a local clone:
// production moves from v15 back to v14, found through the v14 tag.
func TestRollbackLocal(t *testing.T) {
	dir := fridayRepo(t)
	git(t, dir, "tag", "support-assistant/v14")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "v15")
	git(t, dir, "tag", "support-assistant/v15")
	code, out, errOut := run(t, dir, "rollback", "support-assistant", "--local", "--reason", "escalations doubled")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "promptgate/revert-support-assistant-v15") || !strings.Contains(out, "v15 back to v14") {
		t.Fatalf("output: %s", out)
	}
	if got := git(t, dir, "rev-parse", "--abbrev-ref", "HEAD"); got != "promptgate/revert-support-assistant-v15" {
		t.Fatalf("on branch %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "environments/production.yaml"))
	if !strings.Contains(string(data), "support-assistant: 14") || !strings.Contains(string(data), "# Which version") {
		t.Fatalf("pointer file:\n%s", data)
	}
	if msg := git(t, dir, "log", "-1", "--format=%B"); !strings.Contains(msg, "Roll back support-assistant to v14") || !strings.Contains(msg, "escalations doubled") {
		t.Fatalf("commit message: %s", msg)
	}
	// The restored version is valid: it resolves through its tag.
	if code, out, _ := run(t, dir, "validate"); code != 0 {
		t.Fatalf("validate after rollback: %s", out)
	}
	// Nothing older to go to from v14 without history: a clear error.
	code, _, errOut = run(t, dir, "rollback", "support-assistant", "--local", "--to", "9")
	if code == 0 || !strings.Contains(errOut, "v9") {
		t.Fatalf("--to 9: exit %d %s", code, errOut)
	}
}
