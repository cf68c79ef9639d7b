package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDriftRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, newURL(t))
		const repo, art, env, digest = "acme/config", "support-assistant", "production", "sha256:aaa"
		at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)

		if _, err := s.LastDriftRun(ctx, repo, art, env, digest); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LastDriftRun on empty store: %v, want ErrNotFound", err)
		}
		if _, err := s.LastDriftReference(ctx, repo, art, env, digest); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LastDriftReference on empty store: %v, want ErrNotFound", err)
		}
		if _, err := s.DriftIssue(ctx, repo, art, env, digest); !errors.Is(err, ErrNotFound) {
			t.Fatalf("DriftIssue on empty store: %v, want ErrNotFound", err)
		}
		if err := s.SetDriftIssue(ctx, repo, art, env, digest, 7); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetDriftIssue without a run: %v, want ErrNotFound", err)
		}

		run := func(verdict string, hours int) DriftRun {
			return DriftRun{Repo: repo, Artifact: art, Environment: env, Version: 15, Digest: digest,
				GoldenDigest: "g1", Repeats: 2, Verdict: verdict,
				PassRates: PassRates{
					Overall:    PassRate{Category: "overall", N: 40, Samples: 80, Rate: 0.95},
					Categories: []PassRate{{Category: "billing", N: 20, Samples: 40, Rate: 0.9}, {Category: "escalation", N: 20, Samples: 40, Rate: 1}},
				},
				OutcomesJSON: []byte(`[{"case_id":"b-1","pass":true}]`),
				ReportJSON:   []byte(`{"verdict":"` + verdict + `"}`),
				CreatedAt:    at.Add(time.Duration(hours) * time.Hour)}
		}
		base := run(DriftVerdictBaseline, 0)
		for _, d := range []DriftRun{base, run(DriftVerdictFail, 1), run(DriftVerdictInconclusive, 2)} {
			if err := s.SaveDriftRun(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		// Another drift key: other environment, other digest, other repo.
		for _, d := range []DriftRun{
			{Repo: repo, Artifact: art, Environment: "staging", Digest: digest, Verdict: DriftVerdictPass, CreatedAt: at.Add(5 * time.Hour)},
			{Repo: repo, Artifact: art, Environment: env, Digest: "sha256:bbb", Verdict: DriftVerdictPass, CreatedAt: at.Add(5 * time.Hour)},
			{Repo: "other/repo", Artifact: art, Environment: env, Digest: digest, Verdict: DriftVerdictPass, CreatedAt: at.Add(5 * time.Hour)},
		} {
			if err := s.SaveDriftRun(ctx, d); err != nil {
				t.Fatal(err)
			}
		}

		last, err := s.LastDriftRun(ctx, repo, art, env, digest)
		if err != nil {
			t.Fatal(err)
		}
		if last.Verdict != DriftVerdictInconclusive || !last.CreatedAt.Equal(at.Add(2*time.Hour)) {
			t.Fatalf("LastDriftRun = %s at %v, want the inconclusive run", last.Verdict, last.CreatedAt)
		}
		ref, err := s.LastDriftReference(ctx, repo, art, env, digest)
		if err != nil {
			t.Fatal(err)
		}
		base.ID = ref.ID
		if !reflect.DeepEqual(ref, base) {
			t.Fatalf("LastDriftReference round trip:\n got %+v\nwant %+v", ref, base)
		}

		// The issue lands on the newest run and is found from later runs.
		if err := s.SetDriftIssue(ctx, repo, art, env, digest, 42); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveDriftRun(ctx, run(DriftVerdictPass, 3)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DriftIssue(ctx, repo, art, env, digest); err != nil || n != 42 {
			t.Fatalf("DriftIssue = %d, %v; want 42", n, err)
		}
		if _, err := s.DriftIssue(ctx, repo, art, "staging", digest); !errors.Is(err, ErrNotFound) {
			t.Fatalf("DriftIssue of another environment: %v, want ErrNotFound", err)
		}
		last, _ = s.LastDriftRun(ctx, repo, art, env, digest)
		if last.Issue != 0 || last.Verdict != DriftVerdictPass {
			t.Fatalf("newest run = %+v, want a pass without issue", last)
		}
		if err := s.SetDriftIssue(ctx, repo, art, env, digest, 43); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.DriftIssue(ctx, repo, art, env, digest); n != 43 {
			t.Fatalf("DriftIssue after a second SetDriftIssue = %d, want 43", n)
		}
		ref, _ = s.LastDriftReference(ctx, repo, art, env, digest)
		if ref.Verdict != DriftVerdictPass || ref.Issue != 43 {
			t.Fatalf("LastDriftReference = %+v, want the newest pass with issue 43", ref)
		}
	})
}
