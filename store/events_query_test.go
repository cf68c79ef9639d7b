package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestEventQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, newURL(t))
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		cost := 0.002
		ev := func(min int, artifact, env string, version int) Event {
			return Event{Time: at.Add(time.Duration(min) * time.Minute), Artifact: artifact, Version: version, Environment: env,
				Model: "m", LatencyMS: float64(min), Status: "ok", CostUSD: &cost}
		}
		// Inserted out of time order: reads must come back sorted.
		events := []Event{
			ev(30, "sa", "production", 15), ev(10, "sa", "production", 15), ev(20, "sa", "production", 15),
			ev(0, "sa", "production", 14), ev(5, "sa", "production", 14),
			ev(40, "sa", "staging", 16),
			ev(1, "other", "production", 3),
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}

		vs, err := s.EventVersions(ctx, "sa", "production")
		if err != nil {
			t.Fatal(err)
		}
		want := []VersionEvents{
			{Version: 14, Events: 2, First: at, Last: at.Add(5 * time.Minute)},
			{Version: 15, Events: 3, First: at.Add(10 * time.Minute), Last: at.Add(30 * time.Minute)},
		}
		if !reflect.DeepEqual(vs, want) {
			t.Fatalf("EventVersions = %+v, want %+v", vs, want)
		}
		if vs, err := s.EventVersions(ctx, "nope", "production"); err != nil || len(vs) != 0 {
			t.Fatalf("EventVersions(nope) = %v, %v", vs, err)
		}

		got, err := s.SeriesEvents(ctx, "sa", "production", 15, at.Add(10*time.Minute), at.Add(20*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[0].Time.Equal(at.Add(10*time.Minute)) || !got[1].Time.Equal(at.Add(20*time.Minute)) {
			t.Fatalf("SeriesEvents bounds are inclusive and sorted: %+v", got)
		}
		if got[0].CostUSD == nil || *got[0].CostUSD != cost || got[0].DontKnow != nil || got[0].Rating != nil || got[0].ID == 0 {
			t.Fatalf("SeriesEvents fields: %+v", got[0])
		}
		all, err := s.SeriesEvents(ctx, "sa", "production", 15, time.Time{}, time.Time{})
		if err != nil || len(all) != 3 {
			t.Fatalf("open range: %d events, %v", len(all), err)
		}

		srcs, err := s.EventSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantSrcs := []EventSource{{"other", "production"}, {"sa", "production"}, {"sa", "staging"}}
		if !reflect.DeepEqual(srcs, wantSrcs) {
			t.Fatalf("EventSources = %+v, want %+v", srcs, wantSrcs)
		}

		for _, d := range []Deploy{
			{Repo: "o/a", Artifact: "sa", Version: 14, Digest: "d14"},
			{Repo: "o/b", Artifact: "sa", Version: 12, Digest: "d12"},
			{Repo: "o/b", Artifact: "sa", Version: 14, Digest: "d14"},
			{Repo: "o/a", Artifact: "other", Version: 9, Digest: "d9"},
		} {
			if err := s.RecordDeploy(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		dv, err := s.DeployedVersions(ctx, "sa")
		if err != nil || !reflect.DeepEqual(dv, []int{12, 14}) {
			t.Fatalf("DeployedVersions = %v, %v", dv, err)
		}
	})
}
