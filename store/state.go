package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetState stores a small piece of bot state under key, replacing any
// previous value (e.g. the id of a PR's sticky comment).
func (s *Store) SetState(ctx context.Context, key, value string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO bot_state (state_key, state_value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (state_key) DO UPDATE SET state_value = excluded.state_value, updated_at = excluded.updated_at`),
		key, value, toNanos(time.Now())); err != nil {
		return fmt.Errorf("set state %s: %w", key, err)
	}
	return nil
}

// GetState returns the value stored under key; ok is false when there is none.
func (s *Store) GetState(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.r.QueryRowContext(ctx, s.q(`SELECT state_value FROM bot_state WHERE state_key = ?`), key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get state %s: %w", key, err)
	}
	return value, true, nil
}

// DeleteState removes key; removing an absent key is not an error.
func (s *Store) DeleteState(ctx context.Context, key string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM bot_state WHERE state_key = ?`), key); err != nil {
		return fmt.Errorf("delete state %s: %w", key, err)
	}
	return nil
}
