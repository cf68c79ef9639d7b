package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
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

// DeliveryJob is a webhook delivery and the job it asks for.
type DeliveryJob struct {
	Delivery, Event string
	Kind, Key       string
	Payload         []byte
}

// DeliveryResult is what AcceptDeliveries did with one DeliveryJob.
type DeliveryResult struct {
	// Duplicate is set when the delivery id was seen before: no job.
	Duplicate  bool
	Job        Job
	Superseded []Job
}

// AcceptDeliveries records deliveries and enqueues their jobs, all in one
// transaction: a delivery is never recorded without its job, and a batch
// of concurrent webhooks costs one commit instead of one each.
func (s *Store) AcceptDeliveries(ctx context.Context, items []DeliveryJob) ([]DeliveryResult, error) {
	out := make([]DeliveryResult, len(items))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := toNanos(time.Now())
		st, err := s.prepareEnqueue(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		record, err := tx.PrepareContext(ctx, s.q(`INSERT INTO deliveries (id, event, received_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO NOTHING`))
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer record.Close()
		// Take job-key locks in one global order, so two replicas with the
		// same keys in different orders cannot deadlock on PostgreSQL.
		order := make([]int, len(items))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool {
			x, y := items[order[a]], items[order[b]]
			if x.Kind != y.Kind {
				return x.Kind < y.Kind
			}
			return x.Key < y.Key
		})
		for _, i := range order {
			it := items[i]
			if it.Delivery == "" {
				return errors.New("empty delivery id")
			}
			res, err := record.ExecContext(ctx, it.Delivery, it.Event, now)
			if err != nil {
				return fmt.Errorf("record delivery %s: %w", it.Delivery, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				out[i] = DeliveryResult{Duplicate: true}
				continue
			}
			payload := it.Payload
			if payload == nil {
				payload = []byte{}
			}
			job, superseded, err := s.enqueueTx(ctx, tx, st, it.Kind, it.Key, payload)
			if err != nil {
				return fmt.Errorf("enqueue for delivery %s: %w", it.Delivery, err)
			}
			out[i] = DeliveryResult{Job: job, Superseded: superseded}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accept deliveries: %w", err)
	}
	return out, nil
}
