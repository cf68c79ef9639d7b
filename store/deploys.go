package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Deploy is a merged version of an artifact: what was merged, by whose
// approval, and what the gate said.
type Deploy struct {
	Repo       string // owner/name
	Artifact   string
	Version    int
	Digest     string
	PR         int
	MergeSHA   string
	Approvers  []string
	Verdict    string // the gate's verdict on the merged head
	AcceptedBy string // who accepted a failing or inconclusive gate, if anyone
	DeployedAt time.Time
}

const deployColumns = `repo, artifact, version, digest, pr, merge_sha, approvers, verdict, accepted_by, deployed_at`

func scanDeploy(row scanner) (Deploy, error) {
	var d Deploy
	var approvers string
	var deployedAt int64
	if err := row.Scan(&d.Repo, &d.Artifact, &d.Version, &d.Digest, &d.PR, &d.MergeSHA, &approvers,
		&d.Verdict, &d.AcceptedBy, &deployedAt); err != nil {
		return Deploy{}, err
	}
	if err := json.Unmarshal([]byte(approvers), &d.Approvers); err != nil {
		return Deploy{}, fmt.Errorf("approvers of %s %s v%d: %w", d.Repo, d.Artifact, d.Version, err)
	}
	d.DeployedAt = fromNanos(deployedAt)
	return d, nil
}

// RecordDeploy stores a deploy. Recording the same repo, artifact and version
// again (a redelivered merge event) is a no-op and keeps the first record;
// recording it with a different digest is ErrConflict, since a version
// number names one content forever.
func (s *Store) RecordDeploy(ctx context.Context, d Deploy) error {
	if d.Repo == "" || d.Artifact == "" {
		return fmt.Errorf("record deploy: repo %q and artifact %q must be set", d.Repo, d.Artifact)
	}
	approvers := d.Approvers
	if approvers == nil {
		approvers = []string{}
	}
	aj, err := json.Marshal(approvers)
	if err != nil {
		return fmt.Errorf("record deploy %s %s v%d: %w", d.Repo, d.Artifact, d.Version, err)
	}
	if d.DeployedAt.IsZero() {
		d.DeployedAt = time.Now()
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO deploys (`+deployColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (repo, artifact, version) DO NOTHING`),
		d.Repo, d.Artifact, d.Version, d.Digest, d.PR, d.MergeSHA, string(aj), d.Verdict, d.AcceptedBy, toNanos(d.DeployedAt))
	if err != nil {
		return fmt.Errorf("record deploy %s %s v%d: %w", d.Repo, d.Artifact, d.Version, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	prev, err := s.DeployOf(ctx, d.Repo, d.Artifact, d.Version)
	if err != nil {
		return fmt.Errorf("record deploy: %w", err)
	}
	if prev.Digest != d.Digest {
		return fmt.Errorf("record deploy %s %s v%d: digest %s, recorded %s from PR #%d: %w",
			d.Repo, d.Artifact, d.Version, d.Digest, prev.Digest, prev.PR, ErrConflict)
	}
	return nil
}

// Deploys lists an artifact's deploys, newest first.
func (s *Store) Deploys(ctx context.Context, repo, artifact string) ([]Deploy, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+deployColumns+` FROM deploys
WHERE repo = ? AND artifact = ? ORDER BY deployed_at DESC, version DESC`), repo, artifact)
	if err != nil {
		return nil, fmt.Errorf("deploys of %s %s: %w", repo, artifact, err)
	}
	defer rows.Close()
	var out []Deploy
	for rows.Next() {
		d, err := scanDeploy(rows)
		if err != nil {
			return nil, fmt.Errorf("deploys of %s %s: %w", repo, artifact, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deploys of %s %s: %w", repo, artifact, err)
	}
	return out, nil
}

// DeployOf returns the deploy of one version, or ErrNotFound.
func (s *Store) DeployOf(ctx context.Context, repo, artifact string, version int) (Deploy, error) {
	d, err := scanDeploy(s.r.QueryRowContext(ctx, s.q(`SELECT `+deployColumns+` FROM deploys
WHERE repo = ? AND artifact = ? AND version = ?`), repo, artifact, version))
	if errors.Is(err, sql.ErrNoRows) {
		return Deploy{}, fmt.Errorf("deploy of %s %s v%d: %w", repo, artifact, version, ErrNotFound)
	}
	if err != nil {
		return Deploy{}, fmt.Errorf("deploy of %s %s v%d: %w", repo, artifact, version, err)
	}
	return d, nil
}
