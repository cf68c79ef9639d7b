package store

import (
	"context"
	"testing"
	"time"
)

func TestLocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		url := newURL(t)
		a, b := open(t, url), open(t, url)
		if ok, err := a.TryLock(ctx, "incident:x", "a", time.Minute); !ok || err != nil {
			t.Fatalf("a: %v %v", ok, err)
		}
		if ok, _ := b.TryLock(ctx, "incident:x", "b", time.Minute); ok {
			t.Fatal("b took a held lock")
		}
		if ok, _ := a.TryLock(ctx, "incident:x", "a", time.Minute); !ok {
			t.Fatal("a could not renew its own lock")
		}
		if err := a.Unlock(ctx, "incident:x", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.TryLock(ctx, "incident:x", "b", 30*time.Millisecond); !ok {
			t.Fatal("b could not take a released lock")
		}
		time.Sleep(50 * time.Millisecond)
		if ok, _ := a.TryLock(ctx, "incident:x", "a", time.Minute); !ok {
			t.Fatal("a could not take an expired lock")
		}
	})
}
