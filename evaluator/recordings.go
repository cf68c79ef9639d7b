package evaluator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Recording is one recorded response: a line of a recordings file (JSON
// lines), the reviewable form of the cache that a config repo can ship so
// the gate runs offline.
type Recording struct {
	// Key is the request digest (Request.Digest) the response answers.
	Key      string `json:"key"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Repeat   int    `json:"repeat"`
	// Prompt is an excerpt of the last user message, for reviewers only.
	Prompt   string           `json:"prompt"`
	Response RecordedResponse `json:"response"`
}

// RecordedResponse is the response part of a Recording.
type RecordedResponse struct {
	Content      string `json:"content"`
	FinishReason string `json:"finish_reason"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
	LatencyMS    int64  `json:"latency_ms"`
}

// promptExcerptLen is how many characters of the prompt a recording keeps.
const promptExcerptLen = 200

// NewRecording records resp as the answer to req.
func NewRecording(req Request, resp Response) Recording {
	return Recording{
		Key:      req.Digest(),
		Provider: req.Provider,
		Model:    req.Model,
		Repeat:   req.Repeat,
		Prompt:   promptExcerpt(req.Messages),
		Response: RecordedResponse{
			Content:      resp.Content,
			FinishReason: resp.FinishReason,
			InputTokens:  resp.InputTokens,
			OutputTokens: resp.OutputTokens,
			LatencyMS:    resp.Latency.Round(time.Millisecond).Milliseconds(),
		},
	}
}

// AsResponse is the recorded response as a replayed Response.
func (r Recording) AsResponse() Response {
	return Response{
		Content:      r.Response.Content,
		FinishReason: r.Response.FinishReason,
		InputTokens:  r.Response.InputTokens,
		OutputTokens: r.Response.OutputTokens,
		Latency:      time.Duration(r.Response.LatencyMS) * time.Millisecond,
		Cached:       true,
	}
}

// promptExcerpt is the last user message on one line, cut to about 200
// characters.
func promptExcerpt(msgs []Message) string {
	var last string
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			last = msgs[i].Content
			break
		}
	}
	last = strings.Join(strings.Fields(last), " ")
	if utf8.RuneCountInString(last) <= promptExcerptLen {
		return last
	}
	return string([]rune(last)[:promptExcerptLen]) + "…"
}

// LoadRecordings reads every *.jsonl file in dir, in name order. Blank lines
// are skipped; unknown fields and malformed keys are errors that name
// file:line. A key recorded twice must carry the same response both times.
func LoadRecordings(fsys fs.FS, dir string) ([]Recording, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	type seen struct {
		at  string
		rec Recording
	}
	first := map[string]seen{}
	var recs []Recording
	var errs []error
	for _, ent := range entries {
		if ent.IsDir() || !strings.HasSuffix(ent.Name(), ".jsonl") {
			continue
		}
		name := path.Join(dir, ent.Name())
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			at := fmt.Sprintf("%s:%d", name, i+1)
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			rec, err := parseRecording(line)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
				continue
			}
			if s, dup := first[rec.Key]; dup {
				if s.rec != rec {
					errs = append(errs, fmt.Errorf("%s: key %s is already recorded at %s with a different response", at, rec.Key[:12], s.at))
				}
				continue
			}
			first[rec.Key] = seen{at: at, rec: rec}
			recs = append(recs, rec)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
}

func parseRecording(line []byte) (Recording, error) {
	var rec Recording
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Recording{}, err
	}
	if dec.More() {
		return Recording{}, errors.New("more than one JSON value on the line")
	}
	if len(rec.Key) != 64 {
		return Recording{}, fmt.Errorf("key %q is not a request digest (64 hex digits)", rec.Key)
	}
	if _, err := hex.DecodeString(rec.Key); err != nil {
		return Recording{}, fmt.Errorf("key %q is not a request digest (64 hex digits)", rec.Key)
	}
	if rec.Model == "" {
		return Recording{}, errors.New("model is missing")
	}
	return rec, nil
}

// WriteRecordings writes recordings as JSON lines sorted by key, so a
// re-recorded file differs only where responses changed.
func WriteRecordings(w io.Writer, recs []Recording) error {
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b Recording) int { return strings.Compare(a.Key, b.Key) })
	bw := bufio.NewWriter(w)
	for _, rec := range sorted {
		line, err := recordingLine(rec)
		if err != nil {
			return err
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// recordingLine encodes one recording as a line; model output is kept
// readable (no \u003c escapes for <, > and &).
func recordingLine(rec Recording) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("encode recording %s: %w", rec.Key, err)
	}
	return buf.Bytes(), nil
}

// Import stores recordings in the cache, in one transaction. A recording
// whose finish_reason is "length" replays as truncated.
func (c *Cache) Import(ctx context.Context, recs []Recording) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cache %s: import: %w", c.path, err)
	}
	defer tx.Rollback()
	for _, rec := range recs {
		var kind ErrorKind
		if rec.Response.FinishReason == "length" {
			kind = ErrTruncated
		}
		e := CacheEntry{Key: rec.Key, Provider: rec.Provider, Model: rec.Model, Response: rec.AsResponse(), Kind: kind}
		if err := c.put(ctx, tx, e); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cache %s: import: %w", c.path, err)
	}
	return nil
}

// Recorder is a Completer that records every fresh response of the
// Completer it wraps (successful or truncated; replayed ones are skipped).
// Each is appended as a JSON line to W when W is set, and kept for
// Recordings. Safe for concurrent use.
type Recorder struct {
	next Completer
	w    io.Writer

	mu   sync.Mutex
	recs []Recording
	err  error
}

var _ Completer = (*Recorder)(nil)

// NewRecorder records the responses of next, appending them to w (nil: keep
// them in memory only).
func NewRecorder(next Completer, w io.Writer) *Recorder {
	return &Recorder{next: next, w: w}
}

// Complete implements Completer.
func (r *Recorder) Complete(ctx context.Context, req Request) (Response, error) {
	resp, err := r.next.Complete(ctx, req)
	if resp.Cached || (err != nil && callErrorKind(err) != ErrTruncated) {
		return resp, err
	}
	rec := NewRecording(req, resp)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	if r.w != nil && r.err == nil {
		line, lerr := recordingLine(rec)
		if lerr == nil {
			_, lerr = r.w.Write(line)
		}
		if lerr != nil {
			r.err = fmt.Errorf("record %s: %w", rec.Key[:12], lerr)
		}
	}
	return resp, err
}

// Recordings returns what was recorded so far, sorted by key.
func (r *Recorder) Recordings() []Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.recs)
	slices.SortStableFunc(out, func(a, b Recording) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Err is the first error writing to W; recording stops at it.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
