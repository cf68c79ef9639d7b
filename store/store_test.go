package store

import (
	"context"
	"errors"
	"github.com/promptgate/promptgate/internal/pgtest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend opens fresh, isolated databases of one kind for a test.
type backend struct {
	name string
	// newURL returns the URL of an empty database that lives as long as
	// the test; every Store opened on it shares the data.
	newURL func(t *testing.T) string
}

// backends are SQLite always and PostgreSQL when
// PROMPTGATE_TEST_DATABASE_URL names a server.
func backends() []backend {
	return []backend{
		{name: "sqlite", newURL: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "promptgate.db")
		}},
		{name: "postgres", newURL: newPostgresURL},
	}
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, newURL func(t *testing.T) string)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			fn(t, b.newURL)
		})
	}
}

// newPostgresURL is an isolated schema on the test server, or a skip.
func newPostgresURL(t *testing.T) string { return pgtest.URL(t) }

// open opens a Store on dbURL, closed at cleanup.
func open(t *testing.T, dbURL string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbURL, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestOpenMigratesOnceWhenReplicasStartTogether(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		dbURL := newURL(t)
		ctx := context.Background()
		const replicas = 4
		stores := make([]*Store, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() { stores[i], errs[i] = Open(ctx, dbURL) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: Open: %v", i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		// Opening again finds nothing to do.
		s := open(t, dbURL)
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(migrations) - 1; v != want {
			t.Errorf("SchemaVersion = %d, want %d", v, want)
		}
		var rows int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != len(migrations)-1 {
			t.Errorf("schema_version has %d rows, want %d", rows, len(migrations)-1)
		}
		if got := s.Backend(); got != t.Name()[strings.LastIndex(t.Name(), "/")+1:] {
			t.Errorf("Backend = %q", got)
		}
	})
}

func TestOpenSQLiteURLForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, url string
		file      string // the file that must exist afterwards
		wantErr   bool
	}{
		{name: "plain path", url: filepath.Join(dir, "a.db"), file: filepath.Join(dir, "a.db")},
		{name: "missing parent directory", url: filepath.Join(dir, "sub", "b.db"), file: filepath.Join(dir, "sub", "b.db")},
		{name: "sqlite URL", url: "sqlite://" + filepath.Join(dir, "c.db"), file: filepath.Join(dir, "c.db")},
		{name: "file URI", url: "file:" + filepath.Join(dir, "d.db") + "?cache=private", file: filepath.Join(dir, "d.db")},
		{name: "memory", url: ":memory:"},
		{name: "unknown scheme", url: "mysql://u:secret@host/db", wantErr: true},
		{name: "empty", url: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.url)
			if tt.wantErr {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded, want an error")
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if err := s.SetState(context.Background(), "k", "v"); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.GetState(context.Background(), "k"); err != nil || !ok || v != "v" {
				t.Fatalf("GetState = %q, %v, %v", v, ok, err)
			}
			if tt.file != "" {
				if _, err := os.Stat(tt.file); err != nil {
					t.Errorf("database file: %v", err)
				}
			}
		})
	}
}

func TestSQLiteUsesWAL(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wal.db"))
	var mode string
	if err := s.r.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestRecordDelivery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		dbURL := newURL(t)
		a, b := open(t, dbURL), open(t, dbURL)
		ctx := context.Background()
		steps := []struct {
			s         *Store
			id, event string
			first     bool
		}{
			{a, "d-1", "pull_request", true},
			{a, "d-1", "pull_request", false},
			{b, "d-1", "pull_request", false}, // the other replica saw it too
			{b, "d-2", "push", true},
		}
		for i, st := range steps {
			first, err := st.s.RecordDelivery(ctx, st.id, st.event)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if first != st.first {
				t.Errorf("step %d: RecordDelivery(%s) first = %v, want %v", i, st.id, first, st.first)
			}
		}
		if _, err := a.RecordDelivery(ctx, "", "push"); err == nil {
			t.Error("empty delivery id accepted")
		}
		n, err := a.PruneDeliveries(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Errorf("PruneDeliveries = %d, %v, want 2", n, err)
		}
		if first, _ := a.RecordDelivery(ctx, "d-1", "pull_request"); !first {
			t.Error("pruned delivery not new again")
		}
	})
}

func TestState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		if _, ok, err := s.GetState(ctx, "comment:o/r#1"); err != nil || ok {
			t.Fatalf("GetState of absent key: ok=%v err=%v", ok, err)
		}
		for _, v := range []string{"111", "222"} {
			if err := s.SetState(ctx, "comment:o/r#1", v); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.GetState(ctx, "comment:o/r#1")
			if err != nil || !ok || got != v {
				t.Fatalf("GetState = %q, %v, %v; want %q", got, ok, err, v)
			}
		}
		if err := s.DeleteState(ctx, "comment:o/r#1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.GetState(ctx, "comment:o/r#1"); ok {
			t.Error("key still present after DeleteState")
		}
	})
}

func TestDeploys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
		d14 := Deploy{Repo: "acme/config", Artifact: "support-assistant", Version: 14, Digest: "sha256:aa",
			PR: 41, MergeSHA: "c0ffee", Approvers: []string{"alice", "bob"}, Verdict: "pass", DeployedAt: t0}
		d15 := Deploy{Repo: "acme/config", Artifact: "support-assistant", Version: 15, Digest: "sha256:bb",
			PR: 42, MergeSHA: "beef", Verdict: "fail", AcceptedBy: "carol", DeployedAt: t0.Add(time.Hour)}
		other := Deploy{Repo: "acme/config", Artifact: "billing-helper", Version: 3, Digest: "sha256:cc", DeployedAt: t0}
		for _, d := range []Deploy{d14, d15, other, d14} { // d14 twice: a redelivered merge
			if err := s.RecordDeploy(ctx, d); err != nil {
				t.Fatalf("RecordDeploy v%d: %v", d.Version, err)
			}
		}
		conflicting := d15
		conflicting.Digest = "sha256:zz"
		if err := s.RecordDeploy(ctx, conflicting); !errors.Is(err, ErrConflict) {
			t.Errorf("RecordDeploy with another digest: err = %v, want ErrConflict", err)
		}

		got, err := s.Deploys(ctx, "acme/config", "support-assistant")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Version != 15 || got[1].Version != 14 {
			t.Fatalf("Deploys = %+v, want v15 then v14", got)
		}
		want14 := d14
		want14.DeployedAt = t0.UTC()
		if !deployEqual(got[1], want14) {
			t.Errorf("v14 = %+v\nwant %+v", got[1], want14)
		}
		if got[0].Approvers == nil || len(got[0].Approvers) != 0 || got[0].AcceptedBy != "carol" {
			t.Errorf("v15 approvers/acceptedBy = %#v/%q", got[0].Approvers, got[0].AcceptedBy)
		}
		d, err := s.DeployOf(ctx, "acme/config", "support-assistant", 15)
		if err != nil || d.MergeSHA != "beef" {
			t.Errorf("DeployOf v15 = %+v, %v", d, err)
		}
		if _, err := s.DeployOf(ctx, "acme/config", "support-assistant", 99); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeployOf v99: err = %v, want ErrNotFound", err)
		}
	})
}

func deployEqual(a, b Deploy) bool {
	return a.Repo == b.Repo && a.Artifact == b.Artifact && a.Version == b.Version && a.Digest == b.Digest &&
		a.PR == b.PR && a.MergeSHA == b.MergeSHA && strings.Join(a.Approvers, ",") == strings.Join(b.Approvers, ",") &&
		a.Verdict == b.Verdict && a.AcceptedBy == b.AcceptedBy && a.DeployedAt.Equal(b.DeployedAt) &&
		a.DeployedAt.Location() == time.UTC
}

func TestGateResults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		results := []GateResult{
			{Repo: "acme/config", PR: 42, HeadSHA: "h1", Artifact: "support-assistant", Version: 15, Digest: "d1",
				Verdict: "fail", ReportJSON: []byte(`{"n":1}`), CreatedAt: t0},
			{Repo: "acme/config", PR: 42, HeadSHA: "h2", Artifact: "support-assistant", Version: 15, Digest: "d1",
				Verdict: "pass", ReportJSON: []byte(`{"n":2}`), CreatedAt: t0.Add(time.Minute)},
			{Repo: "acme/config", PR: 43, HeadSHA: "h3", Artifact: "support-assistant", Version: 15, Digest: "d2",
				Verdict: "inconclusive", CreatedAt: t0.Add(2 * time.Minute)},
		}
		for _, g := range results {
			if err := s.SaveGateResult(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		g, err := s.LatestGateResult(ctx, "acme/config", "support-assistant", "d1")
		if err != nil {
			t.Fatal(err)
		}
		if g.HeadSHA != "h2" || g.Verdict != "pass" || string(g.ReportJSON) != `{"n":2}` ||
			!g.CreatedAt.Equal(t0.Add(time.Minute)) || g.PR != 42 || g.Version != 15 {
			t.Errorf("LatestGateResult = %+v", g)
		}
		if _, err := s.LatestGateResult(ctx, "acme/config", "support-assistant", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LatestGateResult of unknown digest: err = %v, want ErrNotFound", err)
		}
	})
}

func TestAcceptances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		at := time.Date(2026, 12, 3, 8, 0, 0, 5, time.UTC)
		if _, err := s.Acceptance(ctx, "acme/config", 42, "h1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Acceptance before any: err = %v, want ErrNotFound", err)
		}
		if err := s.RecordAcceptance(ctx, "acme/config", 42, "h1", "alice", at); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordAcceptance(ctx, "acme/config", 42, "h1", "mallory", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		a, err := s.Acceptance(ctx, "acme/config", 42, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if a.User != "alice" || !a.At.Equal(at) || a.PR != 42 || a.HeadSHA != "h1" {
			t.Errorf("Acceptance = %+v, want alice at %v", a, at)
		}
		// A new head needs a new acceptance.
		if _, err := s.Acceptance(ctx, "acme/config", 42, "h2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Acceptance of new head: err = %v, want ErrNotFound", err)
		}
	})
}
