package evaluator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Cache stores model responses by request digest in an embedded SQLite file,
// so an unchanged request is never paid for twice. It is safe for concurrent
// use, also by several processes sharing the file.
type Cache struct {
	db   *sql.DB
	path string
}

const cacheSchema = `
CREATE TABLE IF NOT EXISTS responses (
	key        TEXT PRIMARY KEY,
	provider   TEXT NOT NULL,
	model      TEXT NOT NULL,
	response   TEXT NOT NULL,
	error_kind TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL
)`

// OpenCache opens (creating when needed) the cache at path.
func OpenCache(path string) (*Cache, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open cache %s: %w", path, err)
		}
	}
	// WAL lets readers run beside the one writer; busy_timeout makes
	// concurrent writers queue instead of failing with SQLITE_BUSY.
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", path, err)
	}
	if _, err := db.Exec(cacheSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open cache %s: %w", path, err)
	}
	return &Cache{db: db, path: path}, nil
}

// Close closes the database.
func (c *Cache) Close() error { return c.db.Close() }

// CacheEntry is one stored response.
type CacheEntry struct {
	Key      string
	Provider string
	Model    string
	Response Response
	// Kind is the error the response came with (ErrTruncated), or "".
	Kind    ErrorKind
	Created time.Time
}

// Get looks a request digest up.
func (c *Cache) Get(ctx context.Context, key string) (CacheEntry, bool, error) {
	var e CacheEntry
	var resp, kind, created string
	err := c.db.QueryRowContext(ctx,
		`SELECT key, provider, model, response, error_kind, created_at FROM responses WHERE key = ?`, key,
	).Scan(&e.Key, &e.Provider, &e.Model, &resp, &kind, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return CacheEntry{}, false, nil
	}
	if err != nil {
		return CacheEntry{}, false, fmt.Errorf("cache %s: read %s: %w", c.path, key, err)
	}
	if err := json.Unmarshal([]byte(resp), &e.Response); err != nil {
		return CacheEntry{}, false, fmt.Errorf("cache %s: decode %s: %w", c.path, key, err)
	}
	e.Kind = ErrorKind(kind)
	e.Created, _ = time.Parse(time.RFC3339Nano, created)
	return e, true, nil
}

// Put stores a response under the request's digest, replacing any earlier
// one. kind is the error the response came with: "" or ErrTruncated.
func (c *Cache) Put(ctx context.Context, req Request, resp Response, kind ErrorKind) error {
	return c.put(ctx, c.db, CacheEntry{
		Key: req.Digest(), Provider: req.Provider, Model: req.Model, Response: resp, Kind: kind,
	})
}

// execer is what put needs from a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (c *Cache) put(ctx context.Context, db execer, e CacheEntry) error {
	e.Response.Cached, e.Response.Attempts = false, 0
	b, err := json.Marshal(e.Response)
	if err != nil {
		return fmt.Errorf("cache %s: encode %s: %w", c.path, e.Key, err)
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	_, err = db.ExecContext(ctx,
		`INSERT OR REPLACE INTO responses (key, provider, model, response, error_kind, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Key, e.Provider, e.Model, string(b), string(e.Kind), e.Created.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("cache %s: write %s: %w", c.path, e.Key, err)
	}
	return nil
}

// Len is the number of stored responses.
func (c *Cache) Len(ctx context.Context) (int, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM responses`).Scan(&n); err != nil {
		return 0, fmt.Errorf("cache %s: count: %w", c.path, err)
	}
	return n, nil
}

// CacheMode says how Cached uses its cache.
type CacheMode int

// Cache modes.
const (
	// CacheNormal reads through the cache and stores fresh responses.
	CacheNormal CacheMode = iota
	// CacheOffline only replays: a request not in the cache fails with
	// ErrCacheMiss and nothing is sent.
	CacheOffline
	// CacheBypass neither reads nor writes the cache (`--no-cache`).
	CacheBypass
)

// String names the mode.
func (m CacheMode) String() string {
	switch m {
	case CacheNormal:
		return "normal"
	case CacheOffline:
		return "offline"
	case CacheBypass:
		return "no-cache"
	}
	return fmt.Sprintf("CacheMode(%d)", int(m))
}

// CacheStats counts what a Cached did.
type CacheStats struct {
	// Hits were answered without a call: from the cache, or shared with an
	// identical request in flight.
	Hits int64
	// Misses found nothing stored (in offline mode: failed).
	Misses int64
	// Calls went to the wrapped Completer.
	Calls int64
}

// Cached is a Completer that answers from a Cache where it can. Successful
// responses are stored, and so are truncated ones, with the fact that they
// were truncated so a replay returns the same ErrTruncated; other errors are
// never stored. Replayed responses have Cached set and keep the latency that
// was recorded. Identical requests in flight at once make one call. Safe for
// concurrent use.
type Cached struct {
	Next  Completer
	Cache *Cache // nil behaves as an empty cache that stores nothing
	Mode  CacheMode
	// Logger receives cache read and write failures; nil discards them.
	Logger *slog.Logger

	group               singleflight.Group
	hits, misses, fresh atomic.Int64
}

var _ Completer = (*Cached)(nil)

// Stats returns the counters so far.
func (c *Cached) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Calls: c.fresh.Load()}
}

type cachedResult struct {
	resp Response
	err  error
	hit  bool
}

// Complete implements Completer.
func (c *Cached) Complete(ctx context.Context, req Request) (Response, error) {
	if c.Mode == CacheBypass {
		c.fresh.Add(1)
		return c.Next.Complete(ctx, req)
	}
	key := req.Digest()
	r, found, readErr := c.lookup(ctx, key)
	if found {
		c.hits.Add(1)
		return r.resp, r.err
	}
	if c.Mode == CacheOffline {
		c.misses.Add(1)
		if readErr != nil {
			return Response{}, &CallError{Kind: ErrCacheMiss, Err: readErr}
		}
		return Response{}, &CallError{Kind: ErrCacheMiss, Err: fmt.Errorf(
			"%s: no recorded response for request %s (offline)", req.Model, key[:12])}
	}

	leader := false
	v, _, _ := c.group.Do(key, func() (any, error) {
		leader = true
		// An identical request may have finished between the lookup above
		// and this call.
		if r, found, _ := c.lookup(ctx, key); found {
			return r, nil
		}
		c.fresh.Add(1)
		resp, err := c.Next.Complete(ctx, req)
		c.store(ctx, req, resp, err)
		return cachedResult{resp: resp, err: err}, nil
	})
	r = v.(cachedResult)
	usable := r.err == nil || callErrorKind(r.err) == ErrTruncated
	if !leader && usable {
		// Shared with the caller that made the call: not paid for twice.
		r.resp.Cached, r.resp.Attempts, r.hit = true, 0, true
	}
	if r.hit && usable {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return r.resp, r.err
}

// lookup replays a stored response; the result's err is the error the
// response was stored with. A cache that cannot be read is logged and
// reported as a miss with readErr set.
func (c *Cached) lookup(ctx context.Context, key string) (r cachedResult, found bool, readErr error) {
	if c.Cache == nil {
		return cachedResult{}, false, nil
	}
	e, found, err := c.Cache.Get(ctx, key)
	if err != nil {
		c.logger().Warn("response cache read failed", "key", key[:12], "error", err)
		return cachedResult{}, false, err
	}
	if !found {
		return cachedResult{}, false, nil
	}
	r = cachedResult{resp: e.Response, hit: true}
	r.resp.Cached, r.resp.Attempts = true, 0
	if e.Kind != "" {
		r.err = &CallError{Kind: e.Kind, Err: fmt.Errorf("%s: %s (replayed from cache)", e.Model, replayReason(e))}
	}
	return r, true, nil
}

func replayReason(e CacheEntry) string {
	if e.Kind == ErrTruncated {
		return fmt.Sprintf("output cut off at max_tokens after %d tokens", e.Response.OutputTokens)
	}
	return string(e.Kind)
}

// store keeps a fresh response when it is worth replaying.
func (c *Cached) store(ctx context.Context, req Request, resp Response, err error) {
	if c.Cache == nil || resp.Cached {
		return
	}
	kind := callErrorKind(err)
	if err != nil && kind != ErrTruncated {
		return
	}
	// The response is paid for: keep it even when the run is being cancelled.
	if err := c.Cache.Put(context.WithoutCancel(ctx), req, resp, kind); err != nil {
		c.logger().Warn("response cache write failed", "key", req.Digest()[:12], "error", err)
	}
}

func (c *Cached) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// callErrorKind is the ErrorKind of a CallError in err's chain, or "".
func callErrorKind(err error) ErrorKind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return ""
}
