package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RecordDelivery remembers a webhook delivery id (GitHub's
// X-GitHub-Delivery) and reports whether this is the first time it was seen.
// A redelivered or replayed event gets first == false and is dropped.
func (s *Store) RecordDelivery(ctx context.Context, id, event string) (first bool, err error) {
	if id == "" {
		return false, errors.New("record delivery: empty delivery id")
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO deliveries (id, event, received_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO NOTHING`), id, event, toNanos(time.Now()))
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	return n == 1, nil
}

// PruneDeliveries forgets deliveries received before cutoff (GitHub
// redelivers for days, not months) and returns how many it removed.
func (s *Store) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM deliveries WHERE received_at < ?`), toNanos(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}
