package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing/fstest"
	"time"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
)

// Exit codes of `promptgate gate`.
const (
	exitPass         = 0
	exitFail         = 1
	exitInconclusive = 2
	exitError        = 3
)

func runGate(ctx context.Context, c *cli, args []string) int {
	fl := c.flags("gate", "[--repo DIR] --base REF [--head REF] [--format markdown|json] [--out FILE]", `
Runs the whole pull-request gate locally: validates the head, checks version
numbers, runs the golden set of every changed artifact on the baseline (REF)
and the candidate (--head, or the working tree), and prints the report the
bot posts. Exit 0 pass, 1 fail, 2 inconclusive, 3 error.`)
	repoFlag := fl.String("repo", "", "config repo directory (default: found from the current directory)")
	base := fl.String("base", "", "git ref of the baseline (required)")
	head := fl.String("head", "", "git ref of the candidate (default: the working tree)")
	format := fl.String("format", "markdown", "report format: markdown or json")
	outFile := fl.String("out", "", "write the report to FILE instead of stdout")
	offline := fl.Bool("offline", false, "replay recorded and cached responses only; fail clearly on a miss")
	noCache := fl.Bool("no-cache", false, "neither read nor write the response cache")
	cachePath := fl.String("cache", "", "response cache file (default: $PROMPTGATE_DATA_DIR/cache.db or the user cache dir)")
	record := fl.String("record", "", "merge fresh responses into FILE as JSON lines (reviewable recordings a repo can ship)")
	concurrency := fl.Int("concurrency", 0, "model calls in flight (default: gate.concurrency)")
	maxCalls := fl.Int("max-calls", 0, "stop after this many model calls, inconclusive (default: gate.max_calls)")
	maxUSD := fl.Float64("max-usd", 0, "stop after spending this much, inconclusive (default: gate.max_usd)")
	verbose := fl.Bool("v", false, "log retries and cache activity to stderr")
	if code, done := c.parse(fl, args); done {
		if code != 0 {
			return exitError // 2 means inconclusive for gate: a usage error is an error
		}
		return code
	}
	if *concurrency < 0 || *maxCalls < 0 || *maxUSD < 0 {
		fmt.Fprintln(c.stderr, "promptgate gate: --concurrency, --max-calls and --max-usd must not be negative")
		return exitError
	}
	if *base == "" {
		fmt.Fprintln(c.stderr, "promptgate gate: --base REF is required")
		return exitError
	}
	if *format != "markdown" && *format != "json" {
		fmt.Fprintf(c.stderr, "promptgate gate: --format must be markdown or json, not %q\n", *format)
		return exitError
	}
	if *offline && *noCache {
		fmt.Fprintln(c.stderr, "promptgate gate: --offline replays from the cache; it cannot be combined with --no-cache")
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(c.stderr, "promptgate gate: "+format+"\n", args...)
		return exitError
	}
	dir, err := findRoot(c.cwd, *repoFlag)
	if err != nil {
		return fail("%v", err)
	}
	g, err := registry.OpenGit(dir)
	if err != nil {
		return fail("%v", err)
	}
	if g == nil {
		return fail("%s is not inside a git repository: the gate needs --base REF from its history", dir)
	}
	baseFS, baseCommit, err := g.FSAt(*base)
	if err != nil {
		return fail("base: %v", err)
	}
	headFS := fs.FS(os.DirFS(dir))
	headRef := "working tree"
	if *head != "" {
		fsys, commit, err := g.FSAt(*head)
		if err != nil {
			return fail("head: %v", err)
		}
		headFS = fsys
		headRef = fmt.Sprintf("%s (%s)", *head, commit.Hash.String()[:12])
	}
	headRepo := registry.Load(headFS)
	headRepo.Problems = append(headRepo.Problems, registry.CheckPointers(headRepo, g)...)
	headRepo.Problems.Sort()
	in := evaluator.GateInput{
		Base:    registry.Load(baseFS),
		Head:    headRepo,
		BaseRef: fmt.Sprintf("%s (%s)", *base, baseCommit.Hash.String()[:12]),
		HeadRef: headRef,
	}
	rules := evaluator.Rules(in)

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))

	provider, err := evaluator.NewOpenAI(rules.Providers, c.getenv, evaluator.OpenAIOptions{Timeout: rules.Gate.Timeout.D(), Logger: logger})
	if err != nil {
		return fail("%v", err)
	}
	budget := &evaluator.Budget{Inner: provider, MaxCalls: rules.Gate.MaxCalls, MaxUSD: rules.Gate.MaxUSD, Prices: rules.Prices}
	if *maxCalls > 0 {
		budget.MaxCalls = *maxCalls
	}
	if *maxUSD > 0 {
		budget.MaxUSD = *maxUSD
	}
	var next evaluator.Completer = budget
	var recorder *evaluator.Recorder
	if *record != "" {
		recorder = evaluator.NewRecorder(next, nil)
		next = recorder
	}
	mode := evaluator.CacheNormal
	switch {
	case *offline:
		mode = evaluator.CacheOffline
	case *noCache:
		mode = evaluator.CacheBypass
	}
	var cache *evaluator.Cache
	if mode != evaluator.CacheBypass {
		path := *cachePath
		if path == "" {
			path, err = defaultCachePath(c.getenv)
			if err != nil {
				return fail("%v", err)
			}
		}
		if cache, err = evaluator.OpenCache(path); err != nil {
			return fail("%v", err)
		}
		defer cache.Close()
		if n, err := importRecordings(ctx, cache, in.Head, rules); err != nil {
			return fail("%v", err)
		} else if n > 0 {
			logger.Info("recordings imported", "responses", n)
		}
	}
	comp := &evaluator.Cached{Next: next, Cache: cache, Mode: mode, Logger: logger}

	prog := newProgress(c.stderr)
	start := time.Now()
	rep, err := evaluator.RunGate(ctx, in, evaluator.GateOptions{
		Completer: comp, Budget: budget, Progress: prog.update, Logger: logger, Concurrency: *concurrency,
	})
	if err != nil {
		return fail("%v", err)
	}
	if recorder != nil {
		if err := saveRecordings(c.cwdOr(*record), recorder.Recordings()); err != nil {
			return fail("%v", err)
		}
	}
	st := comp.Stats()
	fmt.Fprintf(c.stderr, "gate: %s in %s; %d model calls, %d served from cache\n", rep.Verdict, time.Since(start).Round(time.Millisecond), st.Calls, st.Hits)

	var out []byte
	if *format == "json" {
		if out, err = report.JSON(rep); err != nil {
			return fail("render: %v", err)
		}
	} else {
		out = []byte(report.Markdown(rep, report.Options{}))
	}
	if *outFile != "" {
		if err := writeAtomic(c.cwdOr(*outFile), out); err != nil {
			return fail("%v", err)
		}
	} else if _, err := c.stdout.Write(out); err != nil {
		return fail("%v", err)
	}
	if *offline && st.Misses > 0 {
		fmt.Fprintf(c.stderr, "promptgate gate: %d request(s) have no recorded response (offline): run without --offline to call the provider, or record them with --record FILE\n", st.Misses)
		return exitError
	}
	switch rep.Verdict {
	case evaluator.Pass:
		return exitPass
	case evaluator.Fail:
		return exitFail
	default:
		return exitInconclusive
	}
}

// importRecordings loads the config repo's recorded responses (JSON lines
// under `recordings:`, default recordings/) into the cache, so a repo that
// ships them runs offline.
func importRecordings(ctx context.Context, cache *evaluator.Cache, head *registry.Repo, rules *registry.Config) (int, error) {
	dir := head.Config.Recordings
	if dir == "" {
		dir = rules.Recordings
	}
	if dir == "" {
		dir = "recordings"
	}
	recs, err := evaluator.LoadRecordings(head.FS, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(recs), cache.Import(ctx, recs)
}

// saveRecordings merges fresh recordings into the JSON-lines file at path
// (a fresh response replaces a recorded one with the same key) and writes
// it sorted, so a re-recorded file differs only where responses changed.
func saveRecordings(path string, fresh []evaluator.Recording) error {
	byKey := map[string]evaluator.Recording{}
	if data, err := os.ReadFile(path); err == nil {
		old, err := evaluator.LoadRecordings(fstest.MapFS{filepath.Base(path): {Data: data}}, ".")
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range old {
			byKey[r.Key] = r
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, r := range fresh {
		byKey[r.Key] = r
	}
	all := make([]evaluator.Recording, 0, len(byKey))
	for _, r := range byKey {
		all = append(all, r)
	}
	var buf bytes.Buffer
	if err := evaluator.WriteRecordings(&buf, all); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// defaultCachePath is $PROMPTGATE_DATA_DIR/cache.db, else the user cache dir.
func defaultCachePath(getenv func(string) string) (string, error) {
	dir := getenv("PROMPTGATE_DATA_DIR")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: set PROMPTGATE_DATA_DIR or --cache: %w", err)
		}
		dir = filepath.Join(base, "promptgate")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	return filepath.Join(dir, "cache.db"), nil
}

// cwdOr resolves a relative path against the command's working directory.
func (c *cli) cwdOr(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.cwd, p)
}

// writeAtomic writes through a temporary file and a rename, so a reader
// never sees half a report.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".promptgate-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
