package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/promptgate/promptgate/bot"
)

func runRollback(ctx context.Context, c *cli, args []string) int {
	fl := c.flags("rollback", "<artifact> [--env production] [--to N] [--local] [--reason TEXT]", `
Opens the revert PR that points an environment back at an earlier version of
an artifact: the same PR a firing trigger opens, with the evidence the store
has. A human merges it; nothing is rolled back until then. Without --to the
version live before the current one is restored (from deploy records, tags
or history).

With --local it makes the branch promptgate/revert-<artifact>-v<N> and the
commit in the local clone instead (no GitHub, no App credentials), to push
and open yourself. Otherwise it needs the App's settings (PROMPTGATE_APP_ID,
PROMPTGATE_PRIVATE_KEY[_FILE], PROMPTGATE_GITHUB_URL, PROMPTGATE_CONFIG_REPO).`)
	env := fl.String("env", "production", "environment whose pointer moves")
	to := fl.Int("to", 0, "version to restore (default: the one live before the current)")
	local := fl.Bool("local", false, "create a local branch and commit instead of a PR")
	repoFlag := fl.String("repo", "", "config repo directory, with --local (default: found from the current directory)")
	reason := fl.String("reason", "", "why, for the commit and the PR")
	artifact := ""
	// The artifact comes first; flags may follow it.
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		artifact, args = args[0], args[1:]
	}
	if code, done := c.parse(fl, args); done {
		return code
	}
	if artifact == "" {
		fmt.Fprintln(c.stderr, "promptgate rollback: which artifact? usage: promptgate rollback <artifact> [--env production] [--to N] [--local]")
		return 2
	}
	why := *reason
	if why == "" {
		why = "manual rollback with promptgate rollback"
	}
	if *local {
		dir, err := findRoot(c.cwd, *repoFlag)
		if err != nil {
			fmt.Fprintf(c.stderr, "promptgate rollback: %v\n", err)
			return 3
		}
		branch, from, restored, err := bot.LocalRollback(dir, artifact, *env, *to, why)
		if err != nil {
			fmt.Fprintf(c.stderr, "promptgate rollback: %v\n", err)
			return 1
		}
		fmt.Fprintf(c.stdout, "branch %s: %s in %s goes from v%d back to v%d\nPush it and open a pull request; merging it is the rollback.\n", branch, artifact, *env, from, restored)
		return 0
	}
	settings, err := bot.LoadSettings(c.getenv, "")
	if err != nil {
		fmt.Fprintf(c.stderr, "promptgate rollback: %v\n", err)
		return 3
	}
	log := bot.NewLogger(c.stderr, slog.LevelWarn, settings.Secrets())
	user := c.getenv("USER")
	if user == "" {
		user = strconv.Itoa(os.Getuid())
	}
	out, err := bot.Rollback(ctx, settings, log, bot.RevertJob{Artifact: artifact, Environment: *env, To: *to,
		Source: "promptgate rollback (" + user + ")", Status: "firing", Reason: why})
	if err != nil {
		fmt.Fprintf(c.stderr, "promptgate rollback: %v\n", err)
		return 1
	}
	switch {
	case out.PR != 0 && out.Created:
		fmt.Fprintf(c.stdout, "opened revert PR #%d: %s in %s back to v%d\n", out.PR, artifact, *env, out.Incident.RestoreTo)
	case out.PR != 0:
		fmt.Fprintf(c.stdout, "a revert PR for this incident is already open: #%d (this request was added as a comment)\n", out.PR)
	default:
		fmt.Fprintf(c.stdout, "no PR opened: %s\n", out.Note)
		return 1
	}
	return 0
}
