package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DriftRun is one scheduled golden-set run against the version of an
// artifact live in an environment. A drift is keyed by (repo, artifact,
// environment, digest): the same content, run again and again, should score
// the same unless the provider changed the model behind its name.
type DriftRun struct {
	ID          int64
	Repo        string
	Artifact    string
	Environment string
	Version     int
	// Digest is the artifact's content digest.
	Digest string
	// GoldenDigest identifies the golden set the run used, and Repeats how
	// often each case ran: a later run pairs its outcomes with this one's
	// only when both match.
	GoldenDigest string
	Repeats      int
	// Verdict is one of the DriftVerdict constants.
	Verdict   string
	PassRates PassRates
	// OutcomesJSON holds the run's outcomes (evaluator.Outcome), so that a
	// later run can be compared with it case by case.
	OutcomesJSON []byte
	// ReportJSON is the comparison report (evaluator.ArtifactReport).
	ReportJSON []byte
	// Issue is the GitHub issue that reports the drift, 0 when none.
	Issue     int
	CreatedAt time.Time
}

// Drift run verdicts. Baseline and pass runs are references that later
// runs are compared with; a fail is a drift; an inconclusive run had too
// many errors to tell.
const (
	DriftVerdictBaseline     = "baseline"
	DriftVerdictPass         = "pass"
	DriftVerdictFail         = "fail"
	DriftVerdictInconclusive = "inconclusive"
)

// PassRates are a run's pass rates, overall and per golden-set category.
type PassRates struct {
	Overall    PassRate   `json:"overall"`
	Categories []PassRate `json:"categories"`
}

// PassRate is the share of verdicts that passed among Samples, over N cases.
type PassRate struct {
	Category string  `json:"category"`
	N        int     `json:"n"`
	Samples  int     `json:"samples"`
	Rate     float64 `json:"rate"`
}

const driftColumns = `id, repo, artifact, environment, version, digest, golden_digest, repeats, verdict,
pass_rates_json, outcomes_json, report_json, issue_number, created_at`

// driftKey is the WHERE clause of one drift's runs.
const driftKey = `repo = ? AND artifact = ? AND environment = ? AND digest = ?`

// SaveDriftRun stores a drift run. CreatedAt defaults to now.
func (s *Store) SaveDriftRun(ctx context.Context, d DriftRun) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	rates, err := json.Marshal(d.PassRates)
	if err != nil {
		return fmt.Errorf("save drift run %s %s: %w", d.Artifact, d.Environment, err)
	}
	orEmpty := func(b []byte) []byte {
		if b == nil {
			return []byte{}
		}
		return b
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO drift_runs (repo, artifact, environment, version, digest, golden_digest,
repeats, verdict, pass_rates_json, outcomes_json, report_json, issue_number, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.Repo, d.Artifact, d.Environment, d.Version, d.Digest, d.GoldenDigest, d.Repeats, d.Verdict,
		string(rates), orEmpty(d.OutcomesJSON), orEmpty(d.ReportJSON), d.Issue, toNanos(d.CreatedAt)); err != nil {
		return fmt.Errorf("save drift run %s %s %s: %w", d.Repo, d.Artifact, d.Environment, err)
	}
	return nil
}

// LastDriftRun returns the newest run of a drift, whatever its verdict, or
// ErrNotFound.
func (s *Store) LastDriftRun(ctx context.Context, repo, artifact, env, digest string) (DriftRun, error) {
	return s.lastDriftRun(ctx, "", repo, artifact, env, digest)
}

// LastDriftReference returns the newest run of a drift that later runs are
// compared with (a baseline or a pass), or ErrNotFound. Runs that drifted
// or were inconclusive are never a reference, so a drift keeps being
// measured against the behaviour from before it.
func (s *Store) LastDriftReference(ctx context.Context, repo, artifact, env, digest string) (DriftRun, error) {
	return s.lastDriftRun(ctx, ` AND verdict IN ('`+DriftVerdictBaseline+`', '`+DriftVerdictPass+`')`, repo, artifact, env, digest)
}

func (s *Store) lastDriftRun(ctx context.Context, filter, repo, artifact, env, digest string) (DriftRun, error) {
	var d DriftRun
	var rates string
	var created int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT `+driftColumns+` FROM drift_runs
WHERE `+driftKey+filter+`
ORDER BY created_at DESC, id DESC LIMIT 1`), repo, artifact, env, digest).Scan(
		&d.ID, &d.Repo, &d.Artifact, &d.Environment, &d.Version, &d.Digest, &d.GoldenDigest, &d.Repeats, &d.Verdict,
		&rates, &d.OutcomesJSON, &d.ReportJSON, &d.Issue, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return DriftRun{}, fmt.Errorf("drift run of %s %s %s %s: %w", repo, artifact, env, digest, ErrNotFound)
	}
	if err != nil {
		return DriftRun{}, fmt.Errorf("drift run of %s %s %s %s: %w", repo, artifact, env, digest, err)
	}
	if err := json.Unmarshal([]byte(rates), &d.PassRates); err != nil {
		return DriftRun{}, fmt.Errorf("drift run %d: pass rates: %w", d.ID, err)
	}
	d.CreatedAt = fromNanos(created)
	return d, nil
}

// SetDriftIssue records the issue that reports a drift on the drift's
// newest run, or returns ErrNotFound when the drift has no run.
func (s *Store) SetDriftIssue(ctx context.Context, repo, artifact, env, digest string, issue int) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE drift_runs SET issue_number = ? WHERE id = (
SELECT id FROM drift_runs WHERE `+driftKey+` ORDER BY created_at DESC, id DESC LIMIT 1)`),
		issue, repo, artifact, env, digest)
	if err != nil {
		return fmt.Errorf("set drift issue of %s %s %s %s: %w", repo, artifact, env, digest, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set drift issue of %s %s %s %s: %w", repo, artifact, env, digest, ErrNotFound)
	}
	return nil
}

// DriftIssue returns the issue most recently recorded for a drift, or
// ErrNotFound when none was.
func (s *Store) DriftIssue(ctx context.Context, repo, artifact, env, digest string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT issue_number FROM drift_runs
WHERE `+driftKey+` AND issue_number <> 0
ORDER BY created_at DESC, id DESC LIMIT 1`), repo, artifact, env, digest).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("drift issue of %s %s %s %s: %w", repo, artifact, env, digest, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("drift issue of %s %s %s %s: %w", repo, artifact, env, digest, err)
	}
	return n, nil
}
