package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migrations are applied in order, each once; schema_version records the
// ones applied. Append new ones, never edit an applied one. %ID% and %BLOB%
// stand for the dialect's auto-increment key and byte-string types.
var migrations = []string{
	1: `
CREATE TABLE deliveries (
	id          TEXT PRIMARY KEY,
	event       TEXT NOT NULL,
	received_at BIGINT NOT NULL
);
CREATE INDEX deliveries_received_at ON deliveries (received_at);

CREATE TABLE jobs (
	id          %ID%,
	kind        TEXT NOT NULL,
	job_key     TEXT NOT NULL DEFAULT '',
	payload     %BLOB% NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX jobs_state_id ON jobs (state, id);
CREATE INDEX jobs_kind_key ON jobs (kind, job_key, state);

CREATE TABLE deploys (
	repo        TEXT NOT NULL,
	artifact    TEXT NOT NULL,
	version     BIGINT NOT NULL,
	digest      TEXT NOT NULL,
	pr          BIGINT NOT NULL,
	merge_sha   TEXT NOT NULL,
	approvers   TEXT NOT NULL,
	verdict     TEXT NOT NULL,
	accepted_by TEXT NOT NULL,
	deployed_at BIGINT NOT NULL,
	PRIMARY KEY (repo, artifact, version)
);

CREATE TABLE gate_results (
	id          %ID%,
	repo        TEXT NOT NULL,
	pr          BIGINT NOT NULL,
	head_sha    TEXT NOT NULL,
	artifact    TEXT NOT NULL,
	version     BIGINT NOT NULL,
	digest      TEXT NOT NULL,
	verdict     TEXT NOT NULL,
	report_json %BLOB% NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX gate_results_lookup ON gate_results (repo, artifact, digest, created_at);

CREATE TABLE acceptances (
	repo        TEXT NOT NULL,
	pr          BIGINT NOT NULL,
	head_sha    TEXT NOT NULL,
	user_login  TEXT NOT NULL,
	accepted_at BIGINT NOT NULL,
	PRIMARY KEY (repo, pr, head_sha)
);

CREATE TABLE bot_state (
	state_key   TEXT PRIMARY KEY,
	state_value TEXT NOT NULL,
	updated_at  BIGINT NOT NULL
);
`,
	2: `
-- Events have no secondary index: ingest is append-only and the monitor
-- reads them in id order, while an index costs each insert a B-tree write.
CREATE TABLE events (
	id            %ID%,
	event_time    BIGINT NOT NULL,
	artifact      TEXT NOT NULL,
	version       BIGINT NOT NULL,
	environment   TEXT NOT NULL,
	model         TEXT NOT NULL,
	input_tokens  BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	cost_usd      DOUBLE PRECISION,
	latency_ms    DOUBLE PRECISION NOT NULL,
	status        TEXT NOT NULL,
	escalated     BOOLEAN NOT NULL,
	dont_know     BOOLEAN,
	rating        DOUBLE PRECISION,
	received_at   BIGINT NOT NULL
);

CREATE TABLE incidents (
	id           %ID%,
	repo         TEXT NOT NULL,
	artifact     TEXT NOT NULL,
	environment  TEXT NOT NULL,
	version      BIGINT NOT NULL,
	status       TEXT NOT NULL,
	source       TEXT NOT NULL,
	reason       TEXT NOT NULL,
	pr           BIGINT NOT NULL DEFAULT 0,
	restore_to   BIGINT NOT NULL DEFAULT 0,
	alerts       BIGINT NOT NULL DEFAULT 0,
	opened_at    BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX incidents_key ON incidents (repo, artifact, environment, version);
`,
	3: `
CREATE TABLE drift_runs (
	id              %ID%,
	repo            TEXT NOT NULL,
	artifact        TEXT NOT NULL,
	environment     TEXT NOT NULL,
	version         BIGINT NOT NULL,
	digest          TEXT NOT NULL,
	golden_digest   TEXT NOT NULL,
	repeats         INTEGER NOT NULL,
	verdict         TEXT NOT NULL,
	pass_rates_json TEXT NOT NULL,
	outcomes_json   %BLOB% NOT NULL,
	report_json     %BLOB% NOT NULL,
	issue_number    BIGINT NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL
);
CREATE INDEX drift_runs_key ON drift_runs (repo, artifact, environment, digest, created_at);
`,
	4: `
CREATE TABLE locks (
	lock_name  TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	until      BIGINT NOT NULL
);
`,
}

// migrateLockKey is the PostgreSQL advisory lock that serializes migrations
// of replicas starting at once ("promptga" in ASCII).
const migrateLockKey int64 = 0x70726f6d70746761

// migrate applies the pending migrations in one transaction. On PostgreSQL
// a transaction-scoped advisory lock makes a second replica wait and then
// find nothing left to do; on SQLite the immediate transaction does the same.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d == dialectPostgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
				return fmt.Errorf("lock for migrations: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		// A newer schema than this binary knows is left alone: migrations
		// only add, so an older replica in a rolling upgrade keeps working.
		for v := current + 1; v < len(migrations); v++ {
			for _, stmt := range s.statements(migrations[v]) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", v, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`),
				v, toNanos(time.Now())); err != nil {
				return fmt.Errorf("record migration %d: %w", v, err)
			}
		}
		return nil
	})
}

// statements splits a migration into statements with the dialect's types.
func (s *Store) statements(migration string) []string {
	r := strings.NewReplacer("%ID%", "INTEGER PRIMARY KEY AUTOINCREMENT", "%BLOB%", "BLOB")
	if s.d == dialectPostgres {
		r = strings.NewReplacer("%ID%", "BIGSERIAL PRIMARY KEY", "%BLOB%", "BYTEA")
	}
	var out []string
	for _, stmt := range strings.Split(r.Replace(migration), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// SchemaVersion is the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
