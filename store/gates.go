package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// GateResult is the outcome of one gate run on a PR's head for one artifact.
type GateResult struct {
	Repo       string
	PR         int
	HeadSHA    string
	Artifact   string
	Version    int
	Digest     string // the candidate's content digest
	Verdict    string
	ReportJSON []byte
	CreatedAt  time.Time
}

const gateColumns = `repo, pr, head_sha, artifact, version, digest, verdict, report_json, created_at`

// SaveGateResult stores a gate result. CreatedAt defaults to now.
func (s *Store) SaveGateResult(ctx context.Context, g GateResult) error {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = time.Now()
	}
	report := g.ReportJSON
	if report == nil {
		report = []byte{}
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO gate_results (`+gateColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		g.Repo, g.PR, g.HeadSHA, g.Artifact, g.Version, g.Digest, g.Verdict, report, toNanos(g.CreatedAt)); err != nil {
		return fmt.Errorf("save gate result %s#%d %s: %w", g.Repo, g.PR, g.Artifact, err)
	}
	return nil
}

// LatestGateResult returns the newest gate result for an artifact's content
// digest in a repo, or ErrNotFound.
func (s *Store) LatestGateResult(ctx context.Context, repo, artifact, digest string) (GateResult, error) {
	var g GateResult
	var created int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT `+gateColumns+` FROM gate_results
WHERE repo = ? AND artifact = ? AND digest = ?
ORDER BY created_at DESC, id DESC LIMIT 1`), repo, artifact, digest).Scan(
		&g.Repo, &g.PR, &g.HeadSHA, &g.Artifact, &g.Version, &g.Digest, &g.Verdict, &g.ReportJSON, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return GateResult{}, fmt.Errorf("gate result of %s %s %s: %w", repo, artifact, digest, ErrNotFound)
	}
	if err != nil {
		return GateResult{}, fmt.Errorf("gate result of %s %s %s: %w", repo, artifact, digest, err)
	}
	g.CreatedAt = fromNanos(created)
	return g, nil
}

// Acceptance records that a user accepted a PR head whose gate did not pass.
type Acceptance struct {
	Repo    string
	PR      int
	HeadSHA string
	User    string
	At      time.Time
}

// RecordAcceptance stores an acceptance of a PR head. The first acceptance
// of a head stands; later ones for the same head are no-ops.
func (s *Store) RecordAcceptance(ctx context.Context, repo string, pr int, headSHA, user string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO acceptances (repo, pr, head_sha, user_login, accepted_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo, pr, head_sha) DO NOTHING`), repo, pr, headSHA, user, toNanos(at)); err != nil {
		return fmt.Errorf("record acceptance %s#%d@%s: %w", repo, pr, headSHA, err)
	}
	return nil
}

// Acceptance returns the acceptance of a PR head, or ErrNotFound.
func (s *Store) Acceptance(ctx context.Context, repo string, pr int, headSHA string) (Acceptance, error) {
	a := Acceptance{Repo: repo, PR: pr, HeadSHA: headSHA}
	var at int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT user_login, accepted_at FROM acceptances
WHERE repo = ? AND pr = ? AND head_sha = ?`), repo, pr, headSHA).Scan(&a.User, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Acceptance{}, fmt.Errorf("acceptance of %s#%d@%s: %w", repo, pr, headSHA, ErrNotFound)
	}
	if err != nil {
		return Acceptance{}, fmt.Errorf("acceptance of %s#%d@%s: %w", repo, pr, headSHA, err)
	}
	a.At = fromNanos(at)
	return a, nil
}
