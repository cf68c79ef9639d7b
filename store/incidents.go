package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Incident is a production problem with one artifact version in one
// environment. It gets at most one revert PR; later alerts for it are
// comments on that PR.
type Incident struct {
	ID          int64
	Repo        string
	Artifact    string
	Environment string
	Version     int
	// Status is open (PR pending or being opened), no_pr (nothing to revert
	// to, or the pointer already moved), or closed.
	Status    string
	Source    string // the trigger or alert that opened it
	Reason    string
	PR        int
	RestoreTo int
	Alerts    int
	OpenedAt  time.Time
	UpdatedAt time.Time
}

// Incident states.
const (
	IncidentOpen   = "open"
	IncidentNoPR   = "no_pr"
	IncidentClosed = "closed"
)

// OpenIncident returns the open incident of (repo, artifact, environment,
// version), creating it when there is none or the last one is closed;
// created says which. Each call
// counts one alert. Concurrent callers (replicas, repeated alerts) get the
// same incident, and exactly one of them sees created.
func (s *Store) OpenIncident(ctx context.Context, inc Incident) (Incident, bool, error) {
	now := toNanos(time.Now())
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO incidents (repo, artifact, environment, version, status, source, reason, alerts, opened_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (repo, artifact, environment, version) DO NOTHING`),
			inc.Repo, inc.Artifact, inc.Environment, inc.Version, IncidentOpen, inc.Source, inc.Reason, now, now)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		if created {
			return nil
		}
		// A closed episode (its PR merged or closed, or nothing to revert)
		// makes way for a new one; an open one counts the alert.
		res, err = tx.ExecContext(ctx, s.q(`UPDATE incidents SET status = ?, source = ?, reason = ?, pr = 0, restore_to = 0, alerts = 1, opened_at = ?, updated_at = ?
WHERE repo = ? AND artifact = ? AND environment = ? AND version = ? AND status IN (?, ?)`),
			IncidentOpen, inc.Source, inc.Reason, now, now, inc.Repo, inc.Artifact, inc.Environment, inc.Version, IncidentClosed, IncidentNoPR)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			created = true
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE incidents SET alerts = alerts + 1, updated_at = ?
WHERE repo = ? AND artifact = ? AND environment = ? AND version = ?`), now, inc.Repo, inc.Artifact, inc.Environment, inc.Version)
		return err
	})
	if err != nil {
		return Incident{}, false, fmt.Errorf("open incident %s %s@%d: %w", inc.Repo, inc.Artifact, inc.Version, err)
	}
	got, err := s.IncidentOf(ctx, inc.Repo, inc.Artifact, inc.Environment, inc.Version)
	return got, created, err
}

// UpdateIncident sets an incident's status, PR and restore target.
func (s *Store) UpdateIncident(ctx context.Context, id int64, status string, pr, restoreTo int, reason string) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE incidents SET status = ?, pr = ?, restore_to = ?, reason = ?, updated_at = ? WHERE id = ?`),
		status, pr, restoreTo, reason, toNanos(time.Now()), id)
	if err != nil {
		return fmt.Errorf("update incident %d: %w", id, err)
	}
	return nil
}

// IncidentOf returns one incident or ErrNotFound.
func (s *Store) IncidentOf(ctx context.Context, repo, artifact, env string, version int) (Incident, error) {
	row := s.r.QueryRowContext(ctx, s.q(`SELECT id, repo, artifact, environment, version, status, source, reason, pr, restore_to, alerts, opened_at, updated_at
FROM incidents WHERE repo = ? AND artifact = ? AND environment = ? AND version = ?`), repo, artifact, env, version)
	var inc Incident
	var opened, updated int64
	err := row.Scan(&inc.ID, &inc.Repo, &inc.Artifact, &inc.Environment, &inc.Version, &inc.Status, &inc.Source, &inc.Reason,
		&inc.PR, &inc.RestoreTo, &inc.Alerts, &opened, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("incident %s %s@%d: %w", repo, artifact, version, ErrNotFound)
	}
	if err != nil {
		return Incident{}, fmt.Errorf("incident %s %s@%d: %w", repo, artifact, version, err)
	}
	inc.OpenedAt, inc.UpdatedAt = fromNanos(opened), fromNanos(updated)
	return inc, nil
}
