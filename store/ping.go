package store

import "context"

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	return s.r.PingContext(ctx)
}
