package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event is one production call, tied to the artifact version that served it.
type Event struct {
	ID           int64
	Time         time.Time
	Artifact     string
	Version      int
	Environment  string
	Model        string
	InputTokens  int
	OutputTokens int
	CostUSD      *float64
	LatencyMS    float64
	Status       string
	Escalated    bool
	DontKnow     *bool
	Rating       *float64
	// ReceivedAt is when the store accepted the event (set on read).
	ReceivedAt time.Time
}

// eventBatch is how many rows go in one INSERT; both databases take it well
// below their bound-parameter limits (15 columns × 500).
const eventBatch = 500

// InsertEvents stores events in one transaction: either all are durable
// when it returns nil, or none are.
func (s *Store) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	now := toNanos(time.Now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Full chunks share one prepared statement; the tail gets its own.
		var full *sql.Stmt
		defer func() {
			if full != nil {
				full.Close()
			}
		}()
		args := make([]any, 0, eventBatch*14)
		for start := 0; start < len(events); start += eventBatch {
			chunk := events[start:min(start+eventBatch, len(events))]
			args = args[:0]
			for _, e := range chunk {
				args = append(args, toNanos(e.Time), e.Artifact, e.Version, e.Environment, e.Model, e.InputTokens, e.OutputTokens,
					nullFloat(e.CostUSD), e.LatencyMS, e.Status, e.Escalated, nullBool(e.DontKnow), nullFloat(e.Rating), now)
			}
			var err error
			if len(chunk) == eventBatch {
				if full == nil {
					if full, err = tx.PrepareContext(ctx, s.q(insertEventsSQL(eventBatch))); err != nil {
						return fmt.Errorf("insert events: %w", err)
					}
				}
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, s.q(insertEventsSQL(len(chunk))), args...)
			}
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
		}
		return nil
	})
}

// insertEventsSQL is a multi-row INSERT for n events.
func insertEventsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO events (event_time, artifact, version, environment, model, input_tokens, output_tokens, cost_usd, latency_ms, status, escalated, dont_know, rating, received_at) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// EventsAfter returns up to limit events with an id above afterID, in id
// order, so a reader can follow the table incrementally.
func (s *Store) EventsAfter(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT id, event_time, artifact, version, environment, model, input_tokens, output_tokens,
cost_usd, latency_ms, status, escalated, dont_know, rating, received_at FROM events WHERE id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventCount counts stored events, for tests and status.
func (s *Store) EventCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n)
	return n, err
}

func nullFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullBool(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

// EventIDBefore returns an id such that every event received at or after t
// has a greater id, so a reader can start there instead of at the first
// event ever stored. Ids grow with receipt, so a binary search over the
// primary key finds it without an index on time.
func (s *Store) EventIDBefore(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM events`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("event ids: %w", err)
	}
	if !lo.Valid {
		return 0, nil
	}
	cut := toNanos(t)
	// Find the first id whose event was received at or after cut.
	a, b := lo.Int64, hi.Int64+1
	for a < b {
		mid := a + (b-a)/2
		var id, received int64
		err := s.r.QueryRowContext(ctx, s.q(`SELECT id, received_at FROM events WHERE id >= ? ORDER BY id LIMIT 1`), mid).Scan(&id, &received)
		if err != nil {
			return 0, fmt.Errorf("event ids: %w", err)
		}
		if received >= cut {
			b = mid
		} else {
			a = id + 1
		}
	}
	return a - 1, nil
}
