package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/promptgate/promptgate/bot"
	"github.com/promptgate/promptgate/monitor"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/store"
)

// Exit codes of `promptgate ingest` (3 is exitError, as for the gate).
const (
	exitIngested = 0
	exitRejected = 1
)

// stdinName stands for standard input in FILE:LINE messages.
const stdinName = "stdin"

func runIngest(ctx context.Context, c *cli, args []string) int {
	fl := c.flags("ingest", "[--database-url URL] [--repo DIR] [--follow [--from-end]] [--batch N] FILE.jsonl|-", `
Reads production events (JSON lines, or one JSON array) from FILE, or from
standard input when FILE is -, validates them and stores the good ones in the
App's store: --database-url, else PROMPTGATE_DATABASE_URL, else the SQLite
file $PROMPTGATE_DATA_DIR/promptgate.db (data dir "data" by default). An event
without cost_usd gets one from the prices in promptgate.yaml of the config
repo (--repo, or found from the current directory); without one its cost
stays unknown. Each rejected event is reported as FILE:LINE: reason, and the
rest are kept. --follow keeps reading as the file grows, across truncation
and rotation, until interrupted. Exit 0 when every event was stored, 1 when
some were rejected, 3 on an error (unreadable input, store down).`)
	dbURL := fl.String("database-url", "", "store: a SQLite file, or postgres://… (overrides PROMPTGATE_DATABASE_URL)")
	repoFlag := fl.String("repo", "", "config repo directory, for prices (default: found from the current directory)")
	follow := fl.Bool("follow", false, "keep reading as FILE grows (like tail -f) until interrupted")
	fromEnd := fl.Bool("from-end", false, "with --follow: skip what FILE holds already and read only what is appended")
	batch := fl.Int("batch", 1000, "events per store transaction")
	poll := fl.Duration("poll", 500*time.Millisecond, "how often --follow looks for new data, truncation and rotation; how long a quiet standard input waits before what it sent is stored")
	pos, code, done := c.parseArgs(fl, args)
	if done {
		return code
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(c.stderr, "promptgate ingest: "+format+"\n", args...)
		return 2
	}
	switch {
	case len(pos) != 1:
		return usage("want one FILE to read (- for standard input), got %d arguments", len(pos))
	case *batch < 1:
		return usage("--batch must be at least 1")
	case *poll <= 0:
		return usage("--poll must be positive")
	case *fromEnd && !*follow:
		return usage("--from-end only makes sense with --follow")
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(c.stderr, "promptgate ingest: "+format+"\n", args...)
		return exitError
	}

	prices, err := ingestPrices(c, *repoFlag)
	if err != nil {
		return fail("%v", err)
	}
	// Open the input first: a mistyped path should not create a store.
	name, path := pos[0], pos[0]
	var file *os.File
	if name == "-" {
		name = stdinName
	} else {
		if !filepath.IsAbs(path) {
			path = filepath.Join(c.cwd, path)
		}
		if file, err = os.Open(path); err != nil {
			return fail("%v", err)
		}
		defer file.Close()
		if st, err := file.Stat(); err != nil {
			return fail("%v", err)
		} else if st.IsDir() {
			return fail("%s is a directory", name)
		}
	}
	out := bufio.NewWriter(c.stderr)
	in := &ingester{
		prices: prices, name: name, batch: *batch, poll: *poll, out: out, now: time.Now,
		allowArray: !*follow || file == nil, line: 1,
	}
	// "The end" is where the file ended when the command started.
	var start int64
	if *fromEnd && file != nil {
		if start, err = in.skipExisting(file); err != nil {
			return fail("%v", err)
		}
	}
	st, err := openStore(ctx, c, *dbURL)
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	in.w = startWriter(ctx, st)
	switch {
	case file == nil:
		err = in.stream(ctx, os.Stdin, *follow)
	case *follow:
		err = in.follow(ctx, file, path, start)
	default:
		err = in.stream(ctx, file, false)
	}
	// Wait for the batches in flight, also after an error: what was
	// parsed before it is stored.
	if werr := in.w.close(); err == nil {
		err = werr
	} else if werr != nil && !errors.Is(err, werr) {
		err = errors.Join(err, werr)
	}
	if err != nil {
		fmt.Fprintf(out, "promptgate ingest: %v\n", err)
	}
	fmt.Fprintf(out, "ingested %d events (%d rejected) into %s\n", in.w.accepted, in.rejected, st.Backend())
	out.Flush()
	switch {
	case err != nil:
		return exitError
	case in.rejected > 0:
		return exitRejected
	}
	return exitIngested
}

// ingestPrices returns the prices of the config repo, or nil when there is
// no config repo. A promptgate.yaml with problems is an error: costs
// computed from it would be stored for good.
func ingestPrices(c *cli, repoFlag string) (map[string]registry.Price, error) {
	repo, dir, err := configRepo(c, repoFlag)
	if err != nil || repo == nil {
		return nil, err
	}
	if ps := problemsIn(c, repo, dir, registry.ConfigFile); len(ps) > 0 {
		return nil, fmt.Errorf("%s has problems (run promptgate validate):\n%s", relPath(c.cwd, dir, registry.ConfigFile), strings.Join(ps, "\n"))
	}
	return repo.Config.Prices, nil
}

// configRepo loads the config repo that --repo names or, without the flag,
// the one found upwards from the current directory. It returns a nil repo
// when there is none.
func configRepo(c *cli, flagDir string) (*registry.Repo, string, error) {
	dir, err := findRoot(c.cwd, flagDir)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(filepath.Join(dir, registry.ConfigFile)); err != nil {
		if flagDir != "" {
			return nil, "", fmt.Errorf("--repo %s: no %s there", flagDir, registry.ConfigFile)
		}
		return nil, "", nil
	}
	return registry.Load(os.DirFS(dir)), dir, nil
}

// problemsIn lists the repo's problems in the given files, as
// path:line:col: message with paths the user can click.
func problemsIn(c *cli, repo *registry.Repo, dir string, files ...string) []string {
	var out []string
	for _, p := range repo.Problems {
		for _, f := range files {
			if p.Path == f {
				p.Path = relPath(c.cwd, dir, p.Path)
				out = append(out, p.String())
				break
			}
		}
	}
	return out
}

// storeURL picks the store the App uses, as bot.LoadSettings does: the
// flag, else PROMPTGATE_DATABASE_URL, else database_url of the settings file
// (PROMPTGATE_CONFIG_FILE), else promptgate.db in the data dir
// (PROMPTGATE_DATA_DIR, the file's data_dir, or "data"). A relative SQLite
// path is taken from the current directory.
func storeURL(c *cli, flagURL string) (string, error) {
	u := flagURL
	if u == "" {
		u = c.getenv("PROMPTGATE_DATABASE_URL")
	}
	if u == "" {
		var file bot.Settings
		if p := c.getenv("PROMPTGATE_CONFIG_FILE"); p != "" {
			if !filepath.IsAbs(p) {
				p = filepath.Join(c.cwd, p)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return "", fmt.Errorf("config file: %w", err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("config file %s: %w", p, err)
			}
		}
		u = file.DatabaseURL
		if u == "" {
			dataDir := c.getenv("PROMPTGATE_DATA_DIR")
			if dataDir == "" {
				dataDir = file.DataDir
			}
			if dataDir == "" {
				dataDir = "data"
			}
			u = filepath.Join(dataDir, "promptgate.db")
		}
	}
	if !strings.Contains(u, "://") && !strings.HasPrefix(u, "file:") && !filepath.IsAbs(u) {
		u = filepath.Join(c.cwd, u)
	}
	return u, nil
}

// openStore opens the store named by the flag or the App's settings.
func openStore(ctx context.Context, c *cli, flagURL string) (*store.Store, error) {
	u, err := storeURL(c, flagURL)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, u)
}

// parseArgs parses flags that may stand before and after the positional
// arguments, and returns those. done reports that the command should exit
// with code.
func (c *cli) parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return nil, 0, true
		}
		if err != nil {
			return nil, 2, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

type inputMode int

const (
	modeUnknown inputMode = iota // nothing but white space read yet
	modeLines                    // JSON lines (or objects one after another)
	modeArray                    // one JSON array, parsed when the input ends
)

// insertTimeout bounds one store transaction.
const insertTimeout = time.Minute

// readBlock is how much one read takes from the input.
const readBlock = 256 << 10

// ingester turns an input's bytes into stored events. Lines are gathered
// into chunks of at most batch events; each chunk is parsed with
// monitor.ParseEvents and stored in one transaction. A chunk ends only
// before a line that starts an object, where ParseEvents would resume
// after a broken event too, so an event never straddles two chunks.
type ingester struct {
	w          *writer
	prices     map[string]registry.Price
	name       string // the input, as FILE in FILE:LINE
	batch      int
	poll       time.Duration
	out        *bufio.Writer // rejections and notes
	now        func() time.Time
	allowArray bool // false when following a file: an array never ends

	mode      inputMode
	partial   []byte // the last line, until its newline arrives
	chunk     []byte // complete lines not yet parsed
	chunkLine int    // line number of the chunk's first line
	chunkObjs int    // lines in chunk that start an event
	line      int    // number of the next line
	index     int    // events parsed so far: the 0-based index of the next
	skipLine  bool   // drop input up to the next newline (--from-end mid-line)
	rejected  int
}

// stream ingests r to its end. Reads happen in a goroutine so that an
// interrupt is noticed while standard input waits for data, and lines that
// arrive slowly (a pipe from a live process) are stored after a quiet
// spell of poll instead of waiting for a full batch.
func (in *ingester) stream(ctx context.Context, r io.Reader, follow bool) error {
	type block struct {
		data []byte
		err  error
	}
	blocks := make(chan block)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			buf := make([]byte, readBlock)
			n, err := r.Read(buf)
			select {
			case blocks <- block{buf[:n], err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	idle := time.NewTimer(in.poll)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := in.stop(); err != nil {
				return err
			}
			if follow {
				return nil
			}
			return fmt.Errorf("interrupted after line %d of %s", in.line-1, in.name)
		case <-idle.C:
			if err := in.flush(); err != nil {
				return err
			}
			idle.Reset(in.poll)
		case b := <-blocks:
			if err := in.feed(b.data); err != nil {
				return err
			}
			if b.err == io.EOF {
				return in.finish()
			}
			if b.err != nil {
				return fmt.Errorf("read %s: %w", in.name, b.err)
			}
			idle.Reset(in.poll)
		}
	}
}

// follow ingests the file at path from byte offset pos, where f stands,
// and keeps reading what is appended, polling every in.poll, until ctx is
// cancelled. pos counts the bytes read so far, so nothing is read, or
// stored, twice. When the file at path is replaced (rotation), the rest of
// the old file is read and the new one is read from its start; when it
// shrinks (truncation), it is read again from its start.
func (in *ingester) follow(ctx context.Context, f *os.File, path string, pos int64) error {
	defer func() { f.Close() }() // f changes on rotation; closing the first one twice is harmless
	buf := make([]byte, readBlock)
	for {
		if ctx.Err() != nil {
			return in.stop()
		}
		n, err := f.Read(buf)
		if n > 0 {
			pos += int64(n)
			if err := in.feed(buf[:n]); err != nil {
				return err
			}
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		// At the end of what has been written so far.
		if err := in.flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return in.stop()
		case <-time.After(in.poll):
		}
		now, err := os.Stat(path)
		if err != nil {
			continue // moved away and not recreated yet: the old file may still grow
		}
		cur, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", in.name, err)
		}
		switch {
		case !os.SameFile(now, cur):
			next, err := os.Open(path)
			if err != nil {
				continue // replaced again meanwhile: next poll
			}
			if err := in.drain(f, buf); err != nil {
				next.Close()
				return err
			}
			f.Close()
			f, pos = next, 0
			in.restart()
			fmt.Fprintf(in.out, "%s: replaced (rotated); reading the new file from its start\n", in.name)
		case now.Size() < pos:
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("rewind %s: %w", in.name, err)
			}
			pos = 0
			in.restart()
			fmt.Fprintf(in.out, "%s: truncated; reading it again from its start\n", in.name)
		}
	}
}

// drain reads what was written to a rotated-away file after the last read,
// taking an unterminated last line as complete: nobody appends to it now.
func (in *ingester) drain(f *os.File, buf []byte) error {
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := in.feed(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF || n == 0 && err == nil {
			return in.finish()
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
	}
}

// restart begins a new file content at line 1.
func (in *ingester) restart() {
	in.line = 1
	in.partial = in.partial[:0]
	in.skipLine = false
}

// skipExisting positions f at its end for --from-end, counting the lines
// before it so that reported line numbers stay true. When the file ends
// inside a line, the rest of that line is skipped too.
func (in *ingester) skipExisting(f *os.File) (int64, error) {
	r := bufio.NewReaderSize(f, readBlock)
	var size int64
	var last byte
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 {
			size += int64(len(b))
			last = b[len(b)-1]
			if last == '\n' {
				in.line++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("read %s: %w", in.name, err)
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return 0, fmt.Errorf("seek %s: %w", in.name, err)
	}
	in.skipLine = size > 0 && last != '\n'
	in.mode = modeLines
	return size, nil
}

// feed takes the next bytes of the input.
func (in *ingester) feed(data []byte) error {
	if in.skipLine {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil
		}
		data, in.skipLine = data[i+1:], false
		in.line++
	}
	for len(data) > 0 {
		if in.mode == modeArray {
			in.chunk = append(in.chunk, data...)
			return nil
		}
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			in.partial = append(in.partial, data...)
			return nil
		}
		line := data[:nl+1]
		data = data[nl+1:]
		if len(in.partial) > 0 {
			in.partial = append(in.partial, line...)
			line = in.partial
		}
		err := in.addLine(line)
		in.partial = in.partial[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// addLine adds one complete line to the chunk, parsing and storing the
// chunk first when the line starts an event that would not fit.
func (in *ingester) addLine(line []byte) error {
	first := firstNonSpace(line)
	if in.mode == modeUnknown && first != 0 {
		switch {
		case first != '[':
			in.mode = modeLines
		case in.allowArray:
			in.mode = modeArray
		default:
			return fmt.Errorf("%s:%d: the file holds a JSON array; --follow reads JSON lines (drop --follow to ingest it once)", in.name, in.line)
		}
	}
	// A line that is a JSON array is a batch of its own: ParseEvents reads
	// a chunk starting with '[' as one array.
	array := first == '[' && in.mode == modeLines
	if in.mode == modeLines && (first == '{' && in.chunkObjs >= in.batch || array) {
		if err := in.parse(); err != nil {
			return err
		}
	}
	if len(in.chunk) == 0 {
		in.chunkLine = in.line
	}
	in.chunk = append(in.chunk, line...)
	in.line++
	if first == '{' {
		in.chunkObjs++
	}
	if array {
		return in.parse()
	}
	return nil
}

// flush stores the lines read so far, unless the input is an array, which
// can only be parsed whole.
func (in *ingester) flush() error {
	if in.mode == modeArray {
		return nil
	}
	return in.parse()
}

// finish ends an input that will not grow: an unterminated last line
// counts as complete.
func (in *ingester) finish() error {
	if len(in.partial) > 0 && !in.skipLine {
		line := in.partial
		in.partial = nil
		if err := in.addLine(line); err != nil {
			return err
		}
	}
	in.partial = in.partial[:0]
	return in.parse()
}

// stop ends a followed input on interrupt: what was read is stored, and an
// unterminated last line, possibly still being written, is left alone.
func (in *ingester) stop() error {
	err := in.flush()
	if len(bytes.TrimSpace(in.partial)) > 0 && in.mode != modeArray {
		fmt.Fprintf(in.out, "%s:%d: not ingested: the last line has no newline yet\n", in.name, in.line)
	}
	return err
}

// linesSkipped is the part of ParseEvents' reasons that names lines; they
// count from the chunk's start and are rewritten to count from the input's.
var linesSkipped = regexp.MustCompile(`\(lines (\d+)-(\d+) skipped\)`)

// parse parses the chunk, reports its rejected events and stores the rest.
func (in *ingester) parse() error {
	if len(in.chunk) == 0 {
		return nil
	}
	defer in.out.Flush()
	first := in.chunkLine
	abs := func(rel int) int { return first + rel - 1 }
	ok, bad, perr := monitor.ParseEvents(bytes.NewReader(in.chunk), in.prices, in.now())
	for _, b := range bad {
		reason := linesSkipped.ReplaceAllStringFunc(b.Reason, func(m string) string {
			g := linesSkipped.FindStringSubmatch(m)
			from, _ := strconv.Atoi(g[1])
			to, _ := strconv.Atoi(g[2])
			return fmt.Sprintf("(lines %d-%d skipped)", abs(from), abs(to))
		})
		fmt.Fprintf(in.out, "%s:%d: %s (index %d)\n", in.name, abs(b.Line), reason, in.index+b.Index)
	}
	in.rejected += len(bad)
	if perr != nil {
		// Broken syntax inside an array: the rest of it cannot be read.
		msg := perr.Error()
		var rel int
		if n, _ := fmt.Sscanf(msg, "line %d:", &rel); n == 1 {
			msg = fmt.Sprintf("%s:%d:%s", in.name, abs(rel), strings.TrimPrefix(msg, fmt.Sprintf("line %d:", rel)))
		} else {
			msg = fmt.Sprintf("%s:%d: %s", in.name, first, msg)
		}
		fmt.Fprintf(in.out, "%s (the rest of the array is not read)\n", msg)
		in.rejected++
	}
	in.index += len(ok) + len(bad)
	last := first + bytes.Count(in.chunk, []byte{'\n'})
	if bytes.HasSuffix(in.chunk, []byte{'\n'}) {
		last--
	}
	in.chunk, in.chunkObjs = in.chunk[:0], 0
	return in.insert(ok, first, last)
}

// insert hands events to the writer in batches of at most batch events.
func (in *ingester) insert(events []monitor.Event, first, last int) error {
	for start := 0; start < len(events); start += in.batch {
		part := events[start:min(start+in.batch, len(events))]
		rows := make([]store.Event, len(part))
		for i := range part {
			rows[i] = storeEvent(&part[i])
		}
		if err := in.w.send(writeBatch{rows: rows, what: fmt.Sprintf("%s lines %d-%d", in.name, first, last)}); err != nil {
			return err
		}
	}
	return nil
}

// writer stores batches, in order, in a goroutine of its own, so that the
// next chunk is parsed while the last one is written: each takes about
// half the time.
type writer struct {
	st      *store.Store
	batches chan writeBatch
	failed  chan struct{} // closed at the first error
	done    chan struct{} // closed when the goroutine has ended
	// err and accepted belong to the goroutine until failed or done is
	// closed.
	err      error
	accepted int
}

type writeBatch struct {
	rows []store.Event
	what string // where the rows come from, for an error
}

func startWriter(ctx context.Context, st *store.Store) *writer {
	w := &writer{st: st, batches: make(chan writeBatch, 1), failed: make(chan struct{}), done: make(chan struct{})}
	// Inserts are detached from ctx so that an interrupt never loses
	// events already read: the batches in flight are finished, not rolled
	// back.
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(w.done)
		for b := range w.batches {
			if w.err != nil {
				continue
			}
			ictx, cancel := context.WithTimeout(ctx, insertTimeout)
			err := w.st.InsertEvents(ictx, b.rows)
			cancel()
			if err != nil {
				w.err = fmt.Errorf("store the events of %s: %w", b.what, err)
				close(w.failed)
				continue
			}
			w.accepted += len(b.rows)
		}
	}()
	return w
}

// send queues a batch; it fails once a batch could not be stored.
func (w *writer) send(b writeBatch) error {
	select {
	case <-w.failed:
		return w.err
	default:
	}
	select {
	case w.batches <- b:
		return nil
	case <-w.failed:
		return w.err
	}
}

// close waits for the queued batches and returns the first error.
func (w *writer) close() error {
	close(w.batches)
	<-w.done
	return w.err
}

func storeEvent(e *monitor.Event) store.Event {
	return store.Event{
		Time: e.Time, Artifact: e.Artifact, Version: e.Version, Environment: e.Environment, Model: e.Model,
		InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, CostUSD: e.CostUSD, LatencyMS: e.LatencyMS,
		Status: e.Status, Escalated: e.Escalated, DontKnow: e.DontKnow, Rating: e.Rating,
	}
}

// firstNonSpace returns the first byte of line that is not JSON white
// space, or 0 for a blank line.
func firstNonSpace(line []byte) byte {
	for _, b := range line {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b
	}
	return 0
}
