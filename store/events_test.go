package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestEventsRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		s, err := Open(ctx, newURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cost, rating, dk := 0.0037, 5.0, true
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		var events []Event
		for i := 0; i < 1203; i++ { // more than two INSERT batches
			e := Event{Time: at.Add(time.Duration(i) * time.Second), Artifact: "sa", Version: 15, Environment: "production",
				Model: "gpt-4o-2024-08-06", InputTokens: 812, OutputTokens: 164, LatencyMS: 1840, Status: "ok", Escalated: i%10 == 0}
			if i == 0 {
				e.CostUSD, e.Rating, e.DontKnow = &cost, &rating, &dk
			}
			events = append(events, e)
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		got, err := s.EventsAfter(ctx, 0, 5000)
		if err != nil || len(got) != 1203 {
			t.Fatalf("read %d events: %v", len(got), err)
		}
		first := got[0]
		if !first.Time.Equal(at) || first.CostUSD == nil || *first.CostUSD != cost || first.Rating == nil || first.DontKnow == nil || !*first.DontKnow || !first.Escalated {
			t.Fatalf("first event %+v", first)
		}
		if got[1].CostUSD != nil || got[1].DontKnow != nil {
			t.Fatalf("nulls lost: %+v", got[1])
		}
		rest, _ := s.EventsAfter(ctx, got[1200].ID, 10)
		if len(rest) != 2 {
			t.Fatalf("after id: %d", len(rest))
		}
	})
}

func TestIncidentOpenedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		url := newURL(t)
		a, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var mu sync.Mutex
		created := 0
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(s *Store) {
				defer wg.Done()
				_, c, err := s.OpenIncident(ctx, Incident{Repo: "acme/config", Artifact: "sa", Environment: "production", Version: 15, Source: "escalation-rate", Reason: "x"})
				if err != nil {
					t.Error(err)
				}
				if c {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}([]*Store{a, b}[i%2])
		}
		wg.Wait()
		inc, err := a.IncidentOf(ctx, "acme/config", "sa", "production", 15)
		if err != nil || created != 1 || inc.Alerts != 20 || inc.Status != IncidentOpen {
			t.Fatalf("created %d, incident %+v, %v", created, inc, err)
		}
		if err := a.UpdateIncident(ctx, inc.ID, IncidentOpen, 7, 14, "revert PR opened"); err != nil {
			t.Fatal(err)
		}
		inc, _ = b.IncidentOf(ctx, "acme/config", "sa", "production", 15)
		if inc.PR != 7 || inc.RestoreTo != 14 {
			t.Fatalf("update lost: %+v", inc)
		}
	})
}

func TestEventIDBefore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, newURL(t))
		if id, err := s.EventIDBefore(ctx, time.Now()); err != nil || id != 0 {
			t.Fatalf("empty: %d %v", id, err)
		}
		ev := Event{Time: time.Now(), Artifact: "sa", Version: 1, Environment: "production", Status: "ok"}
		for i := 0; i < 3; i++ {
			if err := s.InsertEvents(ctx, []Event{ev, ev}); err != nil {
				t.Fatal(err)
			}
		}
		mid := time.Now()
		time.Sleep(5 * time.Millisecond)
		for i := 0; i < 2; i++ {
			if err := s.InsertEvents(ctx, []Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
		id, err := s.EventIDBefore(ctx, mid)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := s.EventsAfter(ctx, id, 100)
		if len(after) != 2 {
			t.Fatalf("%d events after id %d, want the 2 received after the cut", len(after), id)
		}
	})
}
