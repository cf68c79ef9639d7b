// Package store holds the App's durable state: webhook deliveries seen, the
// job queue with leases, deploys, gate results, acceptances and small bot
// state. One implementation over database/sql serves both backends: an
// embedded SQLite file (the default, nothing to start) and PostgreSQL (when
// several replicas share the state).
//
// Times are stored as UTC Unix nanoseconds in BIGINT columns: the one
// representation both backends compare and sort the same way. The zero
// time.Time is stored as 0 and read back as the zero time.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	// Registers the "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	// Registers the "sqlite" database/sql driver.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on. Returned errors wrap them with context; use
// errors.Is.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the job is no longer running under this owner (its
	// lease expired and another worker took it, or it was superseded or
	// cancelled). The worker must stop and must not report a result.
	ErrLeaseLost = errors.New("job lease lost")
	// ErrConflict: a record with the same identity but different content
	// already exists.
	ErrConflict = errors.New("conflicting record")
)

// DefaultMaxAttempts is how many times a job may be claimed before a crashed
// (lease-expired) run marks it failed instead of handing it out again.
const DefaultMaxAttempts = 5

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// Store is the durable state. It is safe for concurrent use, and several
// Stores (in one process or in several replicas) may share one database.
type Store struct {
	d dialect
	// w takes every write. On SQLite it has a single connection and
	// begins transactions with BEGIN IMMEDIATE, so a transaction never
	// has to upgrade a read lock (which SQLite answers with SQLITE_BUSY
	// without waiting). On PostgreSQL w and r are the same pool.
	w *sql.DB
	// r serves single-statement reads; in WAL mode they never wait for
	// the writer.
	r           *sql.DB
	maxAttempts int
}

// Option adjusts a Store at Open.
type Option func(*Store)

// WithMaxAttempts sets how many claims a job gets before a crashed run marks
// it failed (default DefaultMaxAttempts). Values below 1 are ignored.
func WithMaxAttempts(n int) Option {
	return func(s *Store) {
		if n >= 1 {
			s.maxAttempts = n
		}
	}
}

// Open connects to the database named by rawURL and brings its schema up to
// date. rawURL is a PostgreSQL URL (postgres:// or postgresql://), a SQLite
// URL (sqlite:///path/to/file.db or a file: URI), or a plain SQLite file
// path. The parent directory of a SQLite file is created if missing.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	s := &Store{maxAttempts: DefaultMaxAttempts}
	for _, o := range opts {
		o(s)
	}
	var err error
	switch {
	case rawURL == "":
		return nil, errors.New("open store: empty database URL")
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s.d = dialectPostgres
		s.w, err = sql.Open("pgx", rawURL)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", redact(err, rawURL))
		}
		// Every call holds at most one connection at a time; the cap keeps
		// a busy replica from using up the server's max_connections.
		s.w.SetMaxOpenConns(16)
		s.w.SetConnMaxIdleTime(5 * time.Minute)
		s.r = s.w
	default:
		s.d = dialectSQLite
		if err := s.openSQLite(rawURL); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := s.ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store (%s): %w", s.d, redact(err, rawURL))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store (%s): %w", s.d, err)
	}
	return s, nil
}

// openSQLite opens the writer and reader pools for a SQLite database.
func (s *Store) openSQLite(rawURL string) error {
	name, query, err := sqliteName(rawURL)
	if err != nil {
		return err
	}
	memory := strings.Contains(name, ":memory:") || query.Get("mode") == "memory"
	if !memory && !strings.HasPrefix(name, "file:") {
		if dir := filepath.Dir(name); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create directory for %s: %w", name, err)
			}
		}
	}
	dsn := func(extra url.Values) string {
		q := url.Values{}
		for k, v := range query {
			q[k] = append([]string(nil), v...)
		}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "foreign_keys(1)")
		for k, v := range extra {
			q[k] = append(q[k], v...)
		}
		return name + "?" + q.Encode()
	}
	s.w, err = sql.Open("sqlite", dsn(url.Values{
		"_txlock": {"immediate"},
		// A larger page cache keeps a big batch of events from spilling
		// to the WAL before it commits.
		"_pragma": {"journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-65536)"},
	}))
	if err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	if memory {
		// Every connection to :memory: is a database of its own.
		s.r = s.w
		return nil
	}
	s.r, err = sql.Open("sqlite", dsn(url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		s.w.Close()
		return err
	}
	s.r.SetMaxOpenConns(8)
	s.r.SetMaxIdleConns(8)
	return nil
}

// ping checks the connection. A new SQLite file's first connections switch
// it to WAL, which needs an exclusive lock; SQLite refuses a competitor at
// once (SQLITE_BUSY, no busy_timeout wait) to avoid a deadlock, so replicas
// opening a new file together retry for a while.
func (s *Store) ping(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := s.w.PingContext(ctx)
		if err == nil || s.d != dialectSQLite || !isSQLiteBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// isSQLiteBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// sqliteName turns a SQLite URL or path into the driver's file name and the
// query parameters to keep.
func sqliteName(rawURL string) (string, url.Values, error) {
	var name, rawQuery string
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		rest := strings.TrimPrefix(rawURL, "sqlite://")
		name, rawQuery, _ = strings.Cut(rest, "?")
		if name == "" {
			return "", nil, fmt.Errorf("sqlite URL %q names no file", rawURL)
		}
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
	case strings.HasPrefix(rawURL, "file:"):
		name, rawQuery, _ = strings.Cut(rawURL, "?")
	case strings.Contains(rawURL, "://"):
		return "", nil, fmt.Errorf("unsupported database URL scheme in %q (want postgres://, postgresql://, sqlite:// or file:)", redactURL(rawURL))
	default:
		name, rawQuery, _ = strings.Cut(rawURL, "?")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("parse query of %q: %w", rawURL, err)
	}
	return name, q, nil
}

// Close releases the database connections.
func (s *Store) Close() error {
	var err error
	if s.r != nil && s.r != s.w {
		err = s.r.Close()
	}
	if s.w != nil {
		err = errors.Join(s.w.Close(), err)
	}
	return err
}

// Backend names the database in use: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.String() }

// q rewrites the ? placeholders of a query for the dialect. Queries in this
// package never contain a literal question mark.
func (s *Store) q(query string) string {
	if s.d != dialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tx runs fn in a write transaction and commits it when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// toNanos is the stored form of t.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UTC().UnixNano()
}

// fromNanos reads a stored time back.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// redact keeps a password in the database URL out of an error message.
func redact(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
