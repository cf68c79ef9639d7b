package evaluator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/fakeopenai"
)

func cacheTestOpen(t *testing.T) (*Cache, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache", "responses.db")
	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func TestCacheReadThrough(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Latency: 20 * time.Millisecond}, OpenAIOptions{})
	cache, path := cacheTestOpen(t)
	cc := &Cached{Next: client, Cache: cache}
	ctx := context.Background()
	req := oaRequest("Where is my card?")

	first, err := cc.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || srv.Calls() != 1 {
		t.Fatalf("first call: cached %v, server calls %d", first.Cached, srv.Calls())
	}
	second, err := cc.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("second call reached the server (%d calls)", srv.Calls())
	}
	if !second.Cached || second.Attempts != 0 || second.Content != first.Content || second.Latency != first.Latency ||
		second.InputTokens != first.InputTokens || second.OutputTokens != first.OutputTokens || second.FinishReason != "stop" {
		t.Fatalf("replayed %+v, fetched %+v", second, first)
	}
	if s := cc.Stats(); s != (CacheStats{Hits: 1, Misses: 1, Calls: 1}) {
		t.Fatalf("stats %+v", s)
	}

	// Another repeat is another sample.
	other := req
	other.Repeat = 1
	if r, err := cc.Complete(ctx, other); err != nil || r.Cached || srv.Calls() != 2 {
		t.Fatalf("repeat 1: cached %v, err %v, calls %d", r.Cached, err, srv.Calls())
	}

	// The file keeps it for the next run.
	cache.Close()
	reopened, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	e, ok, err := reopened.Get(ctx, req.Digest())
	if err != nil || !ok || e.Response.Content != first.Content || e.Model != req.Model || e.Provider != "openai" || e.Kind != "" ||
		time.Since(e.Created) > time.Minute {
		t.Fatalf("reopened: %+v %v %v", e, ok, err)
	}
	if n, err := reopened.Len(ctx); err != nil || n != 2 {
		t.Fatalf("len %d %v", n, err)
	}
}

func TestCacheTruncatedReplaysTheError(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Respond: func(fakeopenai.ChatRequest) fakeopenai.Reply {
		return fakeopenai.Reply{Content: "cut", FinishReason: "length", CompletionTokens: 50}
	}}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	cc := &Cached{Next: client, Cache: cache}
	req := oaRequest("long")

	first, err := cc.Complete(context.Background(), req)
	oaKind(t, err, ErrTruncated)
	second, err := cc.Complete(context.Background(), req)
	oaKind(t, err, ErrTruncated)
	if srv.Calls() != 1 || !second.Cached || second.Content != first.Content || second.FinishReason != "length" || second.OutputTokens != 50 {
		t.Fatalf("calls %d, replayed %+v", srv.Calls(), second)
	}
}

func TestCacheNeverStoresErrors(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if r.Attempt == 1 {
			return fakeopenai.Reply{Status: 400}
		}
		return fakeopenai.Reply{NoChoices: r.Attempt == 2, Content: "ok"}
	}}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	cc := &Cached{Next: client, Cache: cache}
	req := oaRequest("q")
	ctx := context.Background()

	_, err := cc.Complete(ctx, req)
	oaKind(t, err, ErrProvider)
	_, err = cc.Complete(ctx, req)
	oaKind(t, err, ErrNoChoices)
	resp, err := cc.Complete(ctx, req)
	if err != nil || resp.Content != "ok" || resp.Cached {
		t.Fatalf("third: %+v %v", resp, err)
	}
	if srv.Calls() != 3 {
		t.Fatalf("calls %d: errors must not be replayed", srv.Calls())
	}
	if s := cc.Stats(); s.Hits != 0 || s.Misses != 3 || s.Calls != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCacheOfflineMiss(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	cc := &Cached{Next: client, Cache: cache, Mode: CacheOffline}
	req := oaRequest("never recorded")

	resp, err := cc.Complete(context.Background(), req)
	ce := oaKind(t, err, ErrCacheMiss)
	if !strings.Contains(ce.Error(), req.Model) || !strings.Contains(ce.Error(), req.Digest()[:12]) {
		t.Fatalf("miss error %q names neither model nor digest", ce)
	}
	if srv.Calls() != 0 || resp.Content != "" {
		t.Fatalf("offline reached the server: %d calls", srv.Calls())
	}
	if s := cc.Stats(); s != (CacheStats{Misses: 1}) {
		t.Fatalf("stats %+v", s)
	}

	// A stored response replays offline.
	if err := cache.Put(context.Background(), req, Response{Content: "stored", FinishReason: "stop", Latency: 1500 * time.Millisecond}, ""); err != nil {
		t.Fatal(err)
	}
	resp, err = cc.Complete(context.Background(), req)
	if err != nil || resp.Content != "stored" || !resp.Cached || resp.Latency != 1500*time.Millisecond || srv.Calls() != 0 {
		t.Fatalf("replay: %+v %v", resp, err)
	}
}

func TestCacheBypass(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	req := oaRequest("q")
	if err := cache.Put(context.Background(), req, Response{Content: "stale"}, ""); err != nil {
		t.Fatal(err)
	}
	cc := &Cached{Next: client, Cache: cache, Mode: CacheBypass}
	for range 2 {
		resp, err := cc.Complete(context.Background(), req)
		if err != nil || resp.Cached || resp.Content == "stale" {
			t.Fatalf("bypass: %+v %v", resp, err)
		}
	}
	if srv.Calls() != 2 {
		t.Fatalf("calls %d", srv.Calls())
	}
	e, _, _ := cache.Get(context.Background(), req.Digest())
	if e.Response.Content != "stale" {
		t.Fatalf("bypass wrote the cache: %q", e.Response.Content)
	}
	if s := cc.Stats(); s != (CacheStats{Calls: 2}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestCacheConcurrentCallers(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Latency: 30 * time.Millisecond}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	cc := &Cached{Next: client, Cache: cache}
	const distinct, callers = 25, 4
	var wg sync.WaitGroup
	for i := range distinct * callers {
		wg.Go(func() {
			req := oaRequest(fmt.Sprint("question ", i%distinct))
			resp, err := cc.Complete(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprint("echo: question ", i%distinct); resp.Content != want {
				t.Errorf("got %q, want %q", resp.Content, want)
			}
		})
	}
	wg.Wait()
	// Identical requests in flight together share one call.
	if srv.Calls() != distinct {
		t.Fatalf("server calls %d, want %d", srv.Calls(), distinct)
	}
	s := cc.Stats()
	if s.Calls != distinct || s.Hits+s.Misses != distinct*callers {
		t.Fatalf("stats %+v", s)
	}
	if n, err := cache.Len(context.Background()); err != nil || n != distinct {
		t.Fatalf("stored %d %v", n, err)
	}
}

// cacheTestCompleter is a scripted Completer.
type cacheTestCompleter func(Request) (Response, error)

func (f cacheTestCompleter) Complete(_ context.Context, r Request) (Response, error) { return f(r) }

func TestCacheNilCacheAndOtherCompleters(t *testing.T) {
	calls := 0
	next := cacheTestCompleter(func(r Request) (Response, error) {
		calls++
		return Response{Content: "x"}, nil
	})
	cc := &Cached{Next: next}
	for range 2 {
		if _, err := cc.Complete(context.Background(), oaRequest("q")); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("calls %d: without a cache every call goes through", calls)
	}
	off := &Cached{Next: next, Mode: CacheOffline}
	_, err := off.Complete(context.Background(), oaRequest("q"))
	oaKind(t, err, ErrCacheMiss)

	// Another error with a CallError of its own is passed on, not stored.
	cache, _ := cacheTestOpen(t)
	failing := &Cached{Next: cacheTestCompleter(func(Request) (Response, error) {
		return Response{}, &CallError{Kind: ErrTimeout, Err: errors.New("slow")}
	}), Cache: cache}
	_, err = failing.Complete(context.Background(), oaRequest("q"))
	oaKind(t, err, ErrTimeout)
	if n, _ := cache.Len(context.Background()); n != 0 {
		t.Fatalf("stored %d errors", n)
	}
}
