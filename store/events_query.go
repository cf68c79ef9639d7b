package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// VersionEvents summarises the stored events of one artifact version in
// one environment.
type VersionEvents struct {
	Version     int
	Events      int
	First, Last time.Time // times of the first and last event
}

// EventVersions lists the versions of artifact that have events in
// environment env, in ascending version order.
func (s *Store) EventVersions(ctx context.Context, artifact, env string) ([]VersionEvents, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT version, COUNT(*), MIN(event_time), MAX(event_time) FROM events
WHERE artifact = ? AND environment = ? GROUP BY version ORDER BY version`), artifact, env)
	if err != nil {
		return nil, fmt.Errorf("versions of %s in %s: %w", artifact, env, err)
	}
	defer rows.Close()
	var out []VersionEvents
	for rows.Next() {
		var v VersionEvents
		var first, last int64
		if err := rows.Scan(&v.Version, &v.Events, &first, &last); err != nil {
			return nil, fmt.Errorf("versions of %s in %s: %w", artifact, env, err)
		}
		v.First, v.Last = fromNanos(first), fromNanos(last)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("versions of %s in %s: %w", artifact, env, err)
	}
	return out, nil
}

// SeriesEvents returns the events of one artifact version in environment
// env with from <= time <= to, in time order (ties in arrival order). A
// zero from or to leaves that side open.
func (s *Store) SeriesEvents(ctx context.Context, artifact, env string, version int, from, to time.Time) ([]Event, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = toNanos(from)
	}
	if !to.IsZero() {
		hi = toNanos(to)
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT id, event_time, artifact, version, environment, model, input_tokens, output_tokens,
cost_usd, latency_ms, status, escalated, dont_know, rating, received_at FROM events
WHERE artifact = ? AND environment = ? AND version = ? AND event_time >= ? AND event_time <= ?
ORDER BY event_time, id`), artifact, env, version, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("events of %s v%d in %s: %w", artifact, version, env, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("events of %s v%d in %s: %w", artifact, version, env, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s v%d in %s: %w", artifact, version, env, err)
	}
	return out, nil
}

// EventSource is an artifact and environment that have events.
type EventSource struct {
	Artifact    string
	Environment string
}

// EventSources lists the artifacts and environments that have events, so
// a reader who named one without events can be told which ones have.
func (s *Store) EventSources(ctx context.Context) ([]EventSource, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT artifact, environment FROM events ORDER BY artifact, environment`)
	if err != nil {
		return nil, fmt.Errorf("event sources: %w", err)
	}
	defer rows.Close()
	var out []EventSource
	for rows.Next() {
		var es EventSource
		if err := rows.Scan(&es.Artifact, &es.Environment); err != nil {
			return nil, fmt.Errorf("event sources: %w", err)
		}
		out = append(out, es)
	}
	return out, rows.Err()
}

// DeployedVersions lists, in ascending order, the versions of artifact that
// deploy records name, in any repo.
func (s *Store) DeployedVersions(ctx context.Context, artifact string) ([]int, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT DISTINCT version FROM deploys WHERE artifact = ? ORDER BY version`), artifact)
	if err != nil {
		return nil, fmt.Errorf("deployed versions of %s: %w", artifact, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("deployed versions of %s: %w", artifact, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanEvent reads one row of the events columns in the order EventsAfter
// and SeriesEvents select them.
func scanEvent(row scanner) (Event, error) {
	var e Event
	var t, received int64
	var cost, rating sql.NullFloat64
	var dk sql.NullBool
	if err := row.Scan(&e.ID, &t, &e.Artifact, &e.Version, &e.Environment, &e.Model, &e.InputTokens, &e.OutputTokens,
		&cost, &e.LatencyMS, &e.Status, &e.Escalated, &dk, &rating, &received); err != nil {
		return Event{}, err
	}
	e.Time, e.ReceivedAt = fromNanos(t), fromNanos(received)
	if cost.Valid {
		e.CostUSD = &cost.Float64
	}
	if rating.Valid {
		e.Rating = &rating.Float64
	}
	if dk.Valid {
		e.DontKnow = &dk.Bool
	}
	return e, nil
}
