// Command promptgate validates LLM version artifacts, computes their
// versions, gates pull requests on golden-set results and runs the GitHub App.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, env *cli, args []string) int
}

// cli carries the process's streams and environment so commands stay testable.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	cwd            string
}

var commands = map[string]command{
	"validate": {"check config, artifacts, golden sets and environments", runValidate},
	"version":  {"show each artifact's version and digest, and the version it must have", runVersion},
	"serve":    {"run the GitHub App (webhooks, health, metrics)", runServe},
	"rollback": {"open the revert PR that points an environment back at an earlier version", runRollback},
	"gate":     {"run the pull-request gate locally: golden set on baseline and candidate, report", runGate},
	"ingest":   {"store production events from a JSON lines file or stdin (--follow to tail it)", runIngest},
	"status":   {"compare the live version's production metrics with the previous version's", runStatus},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cwd, _ := os.Getwd()
	env := &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, cwd: cwd}
	os.Exit(env.main(ctx, os.Args[1:]))
}

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(c.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "promptgate: unknown command %q\n\n", args[0])
		c.usage(c.stderr)
		return 2
	}
	return cmd.run(ctx, c, args[1:])
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: promptgate <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'promptgate <command> --help' for a command's flags.")
}

// flags returns a FlagSet that prints its usage to stdout on --help.
func (c *cli) flags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: promptgate %s %s\n\n%s\n\nflags:\n", name, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; done reports that the command should exit with code.
func (c *cli) parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(c.stdout)
		fs.Usage()
		return 0, true
	}
	if err != nil {
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "promptgate %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}
