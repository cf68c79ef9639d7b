package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/promptgate/promptgate/registry"
)

// Event is one production call, logged with the artifact version it ran with.
type Event struct {
	Time         time.Time `json:"time"`
	Artifact     string    `json:"artifact"`
	Version      int       `json:"version"`
	Environment  string    `json:"environment"`
	Model        string    `json:"model,omitempty"`
	InputTokens  int       `json:"input_tokens,omitempty"`
	OutputTokens int       `json:"output_tokens,omitempty"`
	// CostUSD is nil when the event carried no cost and none could be
	// computed from prices: unknown, never 0.
	CostUSD   *float64 `json:"cost_usd,omitempty"`
	LatencyMS float64  `json:"latency_ms"`
	Status    string   `json:"status"`
	Escalated bool     `json:"escalated"`
	// DontKnow is nil when the app does not report "I don't know" answers.
	DontKnow *bool `json:"dont_know,omitempty"`
	// Rating is the user's rating, 1..5, when there is one.
	Rating *float64 `json:"rating,omitempty"`
}

// Event statuses.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusTimeout = "timeout"
)

// DefaultEnvironment is the environment of an event that names none.
const DefaultEnvironment = "production"

// MaxClockSkew is how far in the future an event's time may lie.
const MaxClockSkew = 5 * time.Minute

// EventError says why one event of a batch was rejected.
type EventError struct {
	Index  int    `json:"index"` // 0-based position in the batch
	Line   int    `json:"line"`  // 1-based line where the event starts
	Reason string `json:"reason"`
}

func (e EventError) Error() string {
	return fmt.Sprintf("event %d (line %d): %s", e.Index, e.Line, e.Reason)
}

// ParseEvents reads a batch of events: one JSON object, a JSON array of
// objects, or NDJSON (one object per line; blank lines are skipped). Each
// event is validated on its own: a bad one lands in bad with its position
// and reason, and the rest of the batch is kept. cost_usd is computed from
// prices (USD per million tokens) when the event has none, the model has a
// price and both token counts are present; otherwise it stays unknown.
//
// A line that is not valid JSON costs only itself in NDJSON: reading resumes
// at the next line that starts an object. err is set only when the body
// cannot be read on, either a read error or broken syntax inside a JSON
// array; ok and bad then hold what came before.
func ParseEvents(r io.Reader, prices map[string]registry.Price, now time.Time) (ok []Event, bad []EventError, err error) {
	p := &parser{prices: prices, now: now, src: &tracker{r: r, line: 1}}
	err = p.run()
	return p.ok, p.bad, err
}

type parser struct {
	prices map[string]registry.Price
	now    time.Time
	src    *tracker
	dec    *json.Decoder
	origin int64 // absolute offset where dec started reading
	index  int
	ok     []Event
	bad    []EventError
	w      wireEvent
	floats []float64 // backing for events' *float64, allocated in blocks
	bools  []bool
}

func (p *parser) restart(at int64) {
	p.src.pos = at
	p.origin = at
	p.dec = json.NewDecoder(p.src)
}

// offset is the absolute input offset the decoder has consumed up to.
func (p *parser) offset() int64 { return p.origin + p.dec.InputOffset() }

func (p *parser) run() error {
	first, err := p.src.peekNonSpace()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("read events: %w", err)
	}
	p.restart(0)
	if first == '[' {
		return p.array()
	}
	return p.stream()
}

// stream reads whitespace-separated values: a single object or NDJSON.
func (p *parser) stream() error {
	for {
		start := p.offset()
		p.w.reset()
		err := p.dec.Decode(&p.w)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if p.src.readFailed(err) {
				return fmt.Errorf("read events: %w", err)
			}
			var se *json.SyntaxError
			switch {
			case errors.As(err, &se):
				p.resync(start, se)
				continue
			case errors.Is(err, io.ErrUnexpectedEOF):
				p.reject(start, "invalid JSON: the input ends inside this event")
				return nil
			}
			p.reject(start, decodeReason(err))
		} else {
			p.accept(start)
		}
		p.src.discard(p.offset())
	}
}

// array reads one JSON array of events.
func (p *parser) array() error {
	if _, err := p.dec.Token(); err != nil { // the '['
		return p.fatal(0, err)
	}
	for p.dec.More() {
		start := p.offset()
		p.w.reset()
		if err := p.dec.Decode(&p.w); err != nil {
			var se *json.SyntaxError
			if p.src.readFailed(err) || errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
				return p.fatal(start, err)
			}
			p.reject(start, decodeReason(err))
		} else {
			p.accept(start)
		}
		p.src.discard(p.offset())
	}
	end := p.offset()
	if _, err := p.dec.Token(); err != nil { // the ']'
		return p.fatal(end, err)
	}
	end = p.offset()
	if _, err := p.dec.Token(); err != io.EOF {
		return fmt.Errorf("line %d: unexpected data after the JSON array", p.src.lineOf(p.src.valueStart(end)))
	}
	return nil
}

func (p *parser) fatal(at int64, err error) error {
	if p.src.readFailed(err) {
		return fmt.Errorf("read events: %w", err)
	}
	line := p.src.lineOf(p.src.valueStart(at))
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("line %d: invalid JSON: the input ends inside the array", line)
	}
	return fmt.Errorf("line %d: invalid JSON: %s", line, strings.TrimPrefix(err.Error(), "json: "))
}

// resync rejects the unparsable value that starts after offset from and
// restarts decoding at the next line that begins with '{'.
func (p *parser) resync(from int64, se *json.SyntaxError) {
	start := p.src.valueStart(from)
	line := p.src.lineOf(start)
	next := p.src.nextObjectLine(start)
	reason := "invalid JSON: " + strings.TrimPrefix(se.Error(), "json: ")
	if last := p.src.lineOf(next - 1); next > start && last > line {
		reason += fmt.Sprintf(" (lines %d-%d skipped)", line, last)
	}
	p.bad = append(p.bad, EventError{Index: p.index, Line: line, Reason: reason})
	p.index++
	p.src.discard(next)
	p.restart(next)
}

func (p *parser) reject(from int64, reason string) {
	p.bad = append(p.bad, EventError{Index: p.index, Line: p.src.lineOf(p.src.valueStart(from)), Reason: reason})
	p.index++
}

func (p *parser) accept(from int64) {
	w := &p.w
	e, problems := w.event(p.now)
	if problems != "" {
		p.reject(from, problems)
		return
	}
	if w.seen&fCostUSD != 0 {
		e.CostUSD = p.float(w.CostUSD)
	} else if w.seen&(fInputTokens|fOutputTokens) == fInputTokens|fOutputTokens {
		if pr, ok := p.prices[w.Model]; ok && pr.Input != nil && pr.Output != nil {
			e.CostUSD = p.float((float64(e.InputTokens)**pr.Input + float64(e.OutputTokens)**pr.Output) / 1e6)
		}
	}
	if w.seen&fRating != 0 {
		e.Rating = p.float(w.Rating)
	}
	if w.seen&fDontKnow != 0 {
		e.DontKnow = p.bool(w.DontKnow)
	}
	p.ok = append(p.ok, e)
	p.index++
}

// float and bool return pointers into blocks, one allocation per 512 values
// instead of one each.
func (p *parser) float(v float64) *float64 {
	if len(p.floats) == cap(p.floats) {
		p.floats = make([]float64, 0, 512)
	}
	p.floats = append(p.floats, v)
	return &p.floats[len(p.floats)-1]
}

func (p *parser) bool(v bool) *bool {
	if len(p.bools) == cap(p.bools) {
		p.bools = make([]bool, 0, 512)
	}
	p.bools = append(p.bools, v)
	return &p.bools[len(p.bools)-1]
}

// event validates w and converts it, all but the pointer fields, which
// accept sets. problems is "" when w is valid.
func (w *wireEvent) event(now time.Time) (e Event, problems string) {
	if w.seen == 0 {
		return Event{}, "empty event: expected an object with at least artifact, version, time and latency_ms"
	}
	var why []string
	bad := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }

	switch {
	case w.Artifact == "":
		bad("artifact is required")
	case !isName(w.Artifact):
		bad("artifact %q must be lower-case letters, digits and dashes", w.Artifact)
	}
	switch {
	case w.seen&fVersion == 0:
		bad("version is required: an event must name the artifact version that served it")
	case w.Version < 1:
		bad("version must be >= 1, got %d", w.Version)
	}
	if w.Time == "" {
		bad("time is required (RFC 3339, such as 2026-12-03T10:00:00Z)")
	} else {
		t, err := time.Parse(time.RFC3339, w.Time)
		switch {
		case err != nil:
			bad("time %q is not RFC 3339 (such as 2026-12-03T10:00:00Z)", w.Time)
		case !now.IsZero() && t.Sub(now) > MaxClockSkew:
			bad("time %s is %s in the future (at most %s allowed)", w.Time, t.Sub(now).Round(time.Second), MaxClockSkew)
		default:
			e.Time = t.UTC()
		}
	}
	e.Environment = w.Environment
	if e.Environment == "" {
		e.Environment = DefaultEnvironment
	} else if !isEnvName(e.Environment) {
		bad("environment %q must be letters, digits, '.', '_' or '-'", e.Environment)
	}
	switch w.Status {
	case "":
		e.Status = StatusOK
	case StatusOK, StatusError, StatusTimeout:
		e.Status = w.Status
	default:
		bad("status %q must be ok, error or timeout", w.Status)
	}
	if w.InputTokens < 0 {
		bad("input_tokens must be >= 0, got %d", w.InputTokens)
	}
	if w.OutputTokens < 0 {
		bad("output_tokens must be >= 0, got %d", w.OutputTokens)
	}
	// A missing latency would read as 0 ms and drag p50/p95 down unseen.
	switch {
	case w.seen&fLatencyMS == 0:
		bad("latency_ms is required")
	case w.LatencyMS < 0:
		bad("latency_ms must be >= 0, got %v", w.LatencyMS)
	}
	if w.seen&fRating != 0 && (w.Rating < 1 || w.Rating > 5) {
		bad("rating must be between 1 and 5, got %v", w.Rating)
	}
	if w.seen&fCostUSD != 0 && w.CostUSD < 0 {
		bad("cost_usd must be >= 0, got %v", w.CostUSD)
	}
	if why != nil {
		return Event{}, strings.Join(why, "; ")
	}
	e.Artifact = w.Artifact
	e.Version = w.Version
	e.Model = w.Model
	e.InputTokens = w.InputTokens
	e.OutputTokens = w.OutputTokens
	e.LatencyMS = w.LatencyMS
	e.Escalated = w.Escalated
	return e, ""
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

func isEnvName(s string) bool {
	if len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// decodeReason turns a per-value decoding error into a reason for the sender.
func decodeReason(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
