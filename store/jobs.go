package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// Job states.
const (
	StateQueued     = "queued"
	StateRunning    = "running"
	StateDone       = "done"
	StateFailed     = "failed"
	StateSuperseded = "superseded"
	StateCancelled  = "cancelled"
)

// Job is one unit of durable work. A running job belongs to Owner until
// LeaseUntil; a worker that stops heartbeating loses it to the next Claim.
type Job struct {
	ID      int64
	Kind    string
	Key     string // jobs of one kind with the same non-empty key supersede each other
	Payload []byte
	State   string
	// Attempts counts claims, including the one running now.
	Attempts   int
	Owner      string
	LeaseUntil time.Time
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const jobColumns = `id, kind, job_key, payload, state, attempts, lease_owner, lease_until, last_error, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (Job, error) {
	var j Job
	var leaseUntil, created, updated int64
	if err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.State, &j.Attempts, &j.Owner,
		&leaseUntil, &j.Error, &created, &updated); err != nil {
		return Job{}, err
	}
	j.LeaseUntil, j.CreatedAt, j.UpdatedAt = fromNanos(leaseUntil), fromNanos(created), fromNanos(updated)
	return j, nil
}

// Enqueue adds a queued job. When key is not empty, every older queued or
// running job of the same kind and key is marked superseded in the same
// transaction and returned, oldest first, so the caller can cancel their work
// and mark their checks; their owners find out through ErrLeaseLost.
func (s *Store) Enqueue(ctx context.Context, kind, key string, payload []byte) (Job, []Job, error) {
	if kind == "" {
		return Job{}, nil, errors.New("enqueue: empty job kind")
	}
	if payload == nil {
		payload = []byte{}
	}
	var job Job
	var superseded []Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		st, err := s.prepareEnqueue(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		job, superseded, err = s.enqueueTx(ctx, tx, st, kind, key, payload)
		return err
	})
	if err != nil {
		return Job{}, nil, fmt.Errorf("enqueue %s %q: %w", kind, key, err)
	}
	return job, superseded, nil
}

// Claim takes the oldest job that is queued, or running with an expired
// lease (its worker crashed: this is how a restart resumes it), for owner
// until now+lease, and counts the attempt. A crashed job that has used up
// its attempts is marked failed instead. Claim returns nil, nil when there
// is nothing to do.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration) (*Job, error) {
	if owner == "" {
		return nil, errors.New("claim: empty owner")
	}
	if lease <= 0 {
		return nil, fmt.Errorf("claim: lease %v is not positive", lease)
	}
	lock := ""
	if s.d == dialectPostgres {
		// Concurrent claimers skip each other's candidates instead of
		// queueing behind them.
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var claimed *Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		claimed = nil
		now := time.Now()
		for {
			j, err := scanJob(tx.QueryRowContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs
WHERE (state = ? AND lease_until <= ?) OR (state = ? AND lease_until < ?)
ORDER BY id LIMIT 1`+lock), StateQueued, toNanos(now), StateRunning, toNanos(now)))
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("select: %w", err)
			}
			if j.State == StateRunning && j.Attempts >= s.maxAttempts {
				msg := fmt.Sprintf("abandoned: lease of %s expired on attempt %d of %d", j.Owner, j.Attempts, s.maxAttempts)
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, last_error = ?, updated_at = ? WHERE id = ?`),
					StateFailed, msg, toNanos(now), j.ID); err != nil {
					return fmt.Errorf("fail job %d: %w", j.ID, err)
				}
				continue
			}
			j.State, j.Owner, j.LeaseUntil, j.UpdatedAt = StateRunning, owner, now.Add(lease).UTC(), now.UTC()
			j.Attempts++
			j.Error = ""
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs
SET state = ?, lease_owner = ?, lease_until = ?, attempts = ?, last_error = '', updated_at = ?
WHERE id = ?`), j.State, j.Owner, toNanos(j.LeaseUntil), j.Attempts, toNanos(j.UpdatedAt), j.ID); err != nil {
				return fmt.Errorf("take job %d: %w", j.ID, err)
			}
			// Read back what was stored so the caller sees stored precision.
			j.LeaseUntil, j.UpdatedAt = fromNanos(toNanos(j.LeaseUntil)), fromNanos(toNanos(j.UpdatedAt))
			claimed = &j
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("claim for %s: %w", owner, err)
	}
	return claimed, nil
}

// Heartbeat extends owner's lease on a running job to now+lease. It returns
// ErrLeaseLost when the job is no longer running under owner.
func (s *Store) Heartbeat(ctx context.Context, id int64, owner string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("heartbeat job %d: lease %v is not positive", id, lease)
	}
	now := time.Now()
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE jobs SET lease_until = ?, updated_at = ?
WHERE id = ? AND lease_owner = ? AND state = ?`), toNanos(now.Add(lease)), toNanos(now), id, owner, StateRunning)
	if err != nil {
		return fmt.Errorf("heartbeat job %d: %w", id, err)
	}
	return s.checkOwned(ctx, res, "heartbeat", id, owner)
}

// Finish ends owner's run of a job in state (done, failed or cancelled) with
// an optional error message. It returns ErrLeaseLost when the job is no
// longer running under owner: its result must then be dropped.
func (s *Store) Finish(ctx context.Context, id int64, owner, state, errMsg string) error {
	switch state {
	case StateDone, StateFailed, StateCancelled:
	default:
		return fmt.Errorf("finish job %d: %q is not a final state", id, state)
	}
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, last_error = ?, updated_at = ?
WHERE id = ? AND lease_owner = ? AND state = ?`), state, errMsg, toNanos(time.Now()), id, owner, StateRunning)
	if err != nil {
		return fmt.Errorf("finish job %d: %w", id, err)
	}
	return s.checkOwned(ctx, res, "finish", id, owner)
}

// checkOwned turns an update that matched no row into ErrNotFound or
// ErrLeaseLost, naming who has the job now.
func (s *Store) checkOwned(ctx context.Context, res sql.Result, op string, id int64, owner string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s job %d: %w", op, id, err)
	}
	if n > 0 {
		return nil
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s job %d as %s: %w (state %s, owner %s)", op, id, owner, ErrLeaseLost, j.State, j.Owner)
}

// Job returns one job, or ErrNotFound.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %d: %w", id, err)
	}
	return j, nil
}

// Jobs lists the jobs of a kind and key in every state, oldest first.
func (s *Store) Jobs(ctx context.Context, kind, key string) ([]Job, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs WHERE kind = ? AND job_key = ? ORDER BY id`), kind, key)
	if err != nil {
		return nil, fmt.Errorf("jobs %s %q: %w", kind, key, err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("jobs %s %q: %w", kind, key, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs %s %q: %w", kind, key, err)
	}
	return out, nil
}

// jobKeyLock is the advisory lock key for enqueues of one kind and key.
func jobKeyLock(kind, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("job\x00" + kind + "\x00" + key))
	return int64(h.Sum64())
}

// enqueueStmts are Enqueue's statements prepared once per transaction, so
// a batch of enqueues does not parse the same SQL for every job.
type enqueueStmts struct {
	supersede, insert *sql.Stmt
}

func (s *Store) prepareEnqueue(ctx context.Context, tx *sql.Tx) (*enqueueStmts, error) {
	sup, err := tx.PrepareContext(ctx, s.q(`UPDATE jobs SET state = ?, updated_at = ?
WHERE kind = ? AND job_key = ? AND state IN (?, ?)
RETURNING `+jobColumns))
	if err != nil {
		return nil, fmt.Errorf("prepare supersede: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, s.q(`INSERT INTO jobs (kind, job_key, payload, state, attempts, lease_owner, lease_until, last_error, created_at, updated_at)
VALUES (?, ?, ?, ?, 0, '', 0, '', ?, ?)
RETURNING `+jobColumns))
	if err != nil {
		sup.Close()
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return &enqueueStmts{supersede: sup, insert: ins}, nil
}

func (st *enqueueStmts) close() {
	st.supersede.Close()
	st.insert.Close()
}

// enqueueTx is Enqueue inside a caller's transaction.
func (s *Store) enqueueTx(ctx context.Context, tx *sql.Tx, st *enqueueStmts, kind, key string, payload []byte) (Job, []Job, error) {
	var job Job
	var superseded []Job
	now := toNanos(time.Now())
	if key != "" {
		if s.d == dialectPostgres {
			// Two enqueues of one key must not both miss each other's
			// uncommitted job: serialize them per kind and key.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, jobKeyLock(kind, key)); err != nil {
				return Job{}, nil, fmt.Errorf("lock job key: %w", err)
			}
		}
		rows, err := st.supersede.QueryContext(ctx, StateSuperseded, now, kind, key, StateQueued, StateRunning)
		if err != nil {
			return Job{}, nil, fmt.Errorf("supersede: %w", err)
		}
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return Job{}, nil, fmt.Errorf("supersede: %w", err)
			}
			superseded = append(superseded, j)
		}
		if err := rows.Close(); err != nil {
			return Job{}, nil, fmt.Errorf("supersede: %w", err)
		}
		if err := rows.Err(); err != nil {
			return Job{}, nil, fmt.Errorf("supersede: %w", err)
		}
		slices.SortFunc(superseded, func(a, b Job) int { return cmp.Compare(a.ID, b.ID) })
	}
	row := st.insert.QueryRowContext(ctx, kind, key, payload, StateQueued, now, now)
	var err error
	job, err = scanJob(row)
	if err != nil {
		return Job{}, nil, fmt.Errorf("insert: %w", err)
	}
	return job, superseded, nil
}

// Retry puts a job owner is running back in the queue, to be claimed no
// sooner than after delay, keeping its attempt count and the error. It
// returns ErrLeaseLost when the job is no longer owner's.
func (s *Store) Retry(ctx context.Context, id int64, owner string, delay time.Duration, errMsg string) error {
	now := time.Now()
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, lease_owner = '', lease_until = ?, last_error = ?, updated_at = ?
WHERE id = ? AND lease_owner = ? AND state = ?`), StateQueued, toNanos(now.Add(delay)), errMsg, toNanos(now), id, owner, StateRunning)
	if err != nil {
		return fmt.Errorf("retry job %d: %w", id, err)
	}
	return s.checkOwned(ctx, res, "retry", id, owner)
}
