package store

import (
	"context"
	"fmt"
	"time"
)

// TryLock takes the named lock for owner until now+ttl, when it is free,
// expired, or already owner's; it reports whether owner holds it. Locks
// serialize work on one thing (an incident) across workers and replicas
// without holding a database transaction open.
func (s *Store) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO locks (lock_name, owner, until) VALUES (?, ?, ?)
ON CONFLICT (lock_name) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE locks.until < ? OR locks.owner = excluded.owner`), name, owner, toNanos(now.Add(ttl)), toNanos(now))
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	return n == 1, nil
}

// Unlock releases a lock owner holds.
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM locks WHERE lock_name = ? AND owner = ?`), name, owner); err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}
