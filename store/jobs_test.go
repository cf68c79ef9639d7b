package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClaimHeartbeatFinish(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		if j, err := s.Claim(ctx, "w1", time.Minute); err != nil || j != nil {
			t.Fatalf("Claim on empty queue = %v, %v; want nil, nil", j, err)
		}
		first, sup, err := s.Enqueue(ctx, "gate", "acme/config#1", []byte(`{"pr":1}`))
		if err != nil || len(sup) != 0 {
			t.Fatalf("Enqueue = %v, %v", sup, err)
		}
		if first.ID == 0 || first.State != StateQueued || first.Attempts != 0 || first.CreatedAt.IsZero() {
			t.Errorf("enqueued job = %+v", first)
		}
		second, _, err := s.Enqueue(ctx, "gate", "acme/config#2", nil)
		if err != nil {
			t.Fatal(err)
		}

		j, err := s.Claim(ctx, "w1", time.Minute)
		if err != nil || j == nil {
			t.Fatalf("Claim = %v, %v", j, err)
		}
		if j.ID != first.ID || j.State != StateRunning || j.Owner != "w1" || j.Attempts != 1 ||
			string(j.Payload) != `{"pr":1}` || time.Until(j.LeaseUntil) < 50*time.Second {
			t.Errorf("claimed = %+v, want the oldest job running for w1", j)
		}
		stored, err := s.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != StateRunning || stored.Owner != "w1" || !stored.LeaseUntil.Equal(j.LeaseUntil) {
			t.Errorf("stored = %+v, claimed = %+v", stored, j)
		}

		if err := s.Heartbeat(ctx, j.ID, "w1", 2*time.Minute); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		if after, _ := s.Job(ctx, j.ID); !after.LeaseUntil.After(j.LeaseUntil) {
			t.Errorf("Heartbeat did not extend the lease: %v -> %v", j.LeaseUntil, after.LeaseUntil)
		}
		if err := s.Heartbeat(ctx, j.ID, "intruder", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Heartbeat by another owner: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Finish(ctx, j.ID, "w1", StateQueued, ""); err == nil {
			t.Error("Finish to a non-final state accepted")
		}
		if err := s.Finish(ctx, j.ID, "w1", StateFailed, "provider down"); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if done, _ := s.Job(ctx, j.ID); done.State != StateFailed || done.Error != "provider down" {
			t.Errorf("finished job = %+v", done)
		}
		if err := s.Finish(ctx, j.ID, "w1", StateDone, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("second Finish: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Heartbeat(ctx, 987654, "w1", time.Minute); !errors.Is(err, ErrNotFound) {
			t.Errorf("Heartbeat of unknown job: err = %v, want ErrNotFound", err)
		}

		j2, err := s.Claim(ctx, "w2", time.Minute)
		if err != nil || j2 == nil || j2.ID != second.ID || len(j2.Payload) != 0 {
			t.Fatalf("second Claim = %+v, %v; want job %d", j2, err, second.ID)
		}
		if err := s.Finish(ctx, j2.ID, "w2", StateDone, ""); err != nil {
			t.Fatal(err)
		}
		if j, err := s.Claim(ctx, "w1", time.Minute); err != nil || j != nil {
			t.Errorf("Claim after all done = %+v, %v; want nil, nil", j, err)
		}
	})
}

func TestEnqueueSupersedesOlderJobsOfTheSameKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t))
		ctx := context.Background()
		const kind, key = "gate", "acme/config#7"
		j1, _, err := s.Enqueue(ctx, kind, key, []byte("head-1"))
		if err != nil {
			t.Fatal(err)
		}
		j2, _, err := s.Enqueue(ctx, kind, key, []byte("head-2"))
		if err != nil {
			t.Fatal(err)
		}
		// Unrelated jobs: another key, another kind, no key.
		otherKey, _, _ := s.Enqueue(ctx, kind, "acme/config#8", nil)
		otherKind, _, _ := s.Enqueue(ctx, "drift", key, nil)
		noKey, _, _ := s.Enqueue(ctx, kind, "", nil)

		// j1 was superseded by j2 at once; take j2 so it is running.
		running, err := s.Claim(ctx, "w1", time.Minute)
		if err != nil || running == nil || running.ID != j2.ID {
			t.Fatalf("Claim = %+v, %v; want job %d (job %d is superseded)", running, err, j2.ID, j1.ID)
		}
		j3, sup, err := s.Enqueue(ctx, kind, key, []byte("head-3"))
		if err != nil {
			t.Fatal(err)
		}
		if len(sup) != 1 || sup[0].ID != j2.ID || sup[0].State != StateSuperseded || sup[0].Owner != "w1" {
			t.Fatalf("superseded = %+v, want the running job %d", sup, j2.ID)
		}
		// The worker running j2 finds out at its next heartbeat and cannot
		// report a result.
		if err := s.Heartbeat(ctx, j2.ID, "w1", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Heartbeat of superseded job: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Finish(ctx, j2.ID, "w1", StateDone, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Finish of superseded job: err = %v, want ErrLeaseLost", err)
		}

		jobs, err := s.Jobs(ctx, kind, key)
		if err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, j := range jobs {
			states = append(states, fmt.Sprintf("%d:%s", j.ID, j.State))
		}
		want := []string{
			fmt.Sprintf("%d:%s", j1.ID, StateSuperseded),
			fmt.Sprintf("%d:%s", j2.ID, StateSuperseded),
			fmt.Sprintf("%d:%s", j3.ID, StateQueued),
		}
		if fmt.Sprint(states) != fmt.Sprint(want) {
			t.Errorf("Jobs = %v, want %v", states, want)
		}
		for _, id := range []int64{otherKey.ID, otherKind.ID, noKey.ID} {
			if j, _ := s.Job(ctx, id); j.State != StateQueued {
				t.Errorf("unrelated job %d is %s, want queued", id, j.State)
			}
		}
		// A job that already finished is history, not superseded.
		done, err := s.Claim(ctx, "w1", time.Minute) // otherKey, the oldest queued
		if err != nil || done == nil {
			t.Fatal(done, err)
		}
		if err := s.Finish(ctx, done.ID, "w1", StateDone, ""); err != nil {
			t.Fatal(err)
		}
		if _, sup, _ := s.Enqueue(ctx, kind, done.Key, nil); len(sup) != 0 {
			t.Errorf("finished job superseded: %+v", sup)
		}
	})
}

func TestConcurrentEnqueueOfOneKeyLeavesOneLiveJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		dbURL := newURL(t)
		replicas := []*Store{open(t, dbURL), open(t, dbURL)}
		ctx := context.Background()
		var wg sync.WaitGroup
		var supersededCount atomic.Int64
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Go(func() {
				_, sup, err := replicas[i%2].Enqueue(ctx, "gate", "acme/config#9", nil)
				if err != nil {
					errs <- err
				}
				supersededCount.Add(int64(len(sup)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		jobs, err := replicas[0].Jobs(ctx, "gate", "acme/config#9")
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, j := range jobs {
			if j.State == StateQueued {
				live++
			}
		}
		if len(jobs) != 40 || live != 1 || supersededCount.Load() != 39 {
			t.Errorf("%d jobs, %d queued, %d reported superseded; want 40, 1, 39", len(jobs), live, supersededCount.Load())
		}
		if last := jobs[len(jobs)-1]; last.State != StateQueued {
			t.Errorf("the newest job is %s, want queued", last.State)
		}
	})
}

func TestExpiredLeaseIsReclaimed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		dbURL := newURL(t)
		crashed, survivor := open(t, dbURL), open(t, dbURL)
		ctx := context.Background()
		job, _, err := crashed.Enqueue(ctx, "gate", "acme/config#3", []byte("p"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := crashed.Claim(ctx, "replica-a", 50*time.Millisecond)
		if err != nil || j == nil {
			t.Fatalf("Claim = %v, %v", j, err)
		}
		// While the lease holds nobody else gets the job.
		if other, err := survivor.Claim(ctx, "replica-b", time.Minute); err != nil || other != nil {
			t.Fatalf("Claim during the lease = %+v, %v; want nil", other, err)
		}
		time.Sleep(120 * time.Millisecond) // replica-a stopped heartbeating
		resumed, err := survivor.Claim(ctx, "replica-b", time.Minute)
		if err != nil || resumed == nil {
			t.Fatalf("Claim after expiry = %v, %v", resumed, err)
		}
		if resumed.ID != job.ID || resumed.Owner != "replica-b" || resumed.Attempts != 2 || string(resumed.Payload) != "p" {
			t.Errorf("resumed = %+v", resumed)
		}
		if err := crashed.Heartbeat(ctx, job.ID, "replica-a", time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("old owner's Heartbeat: err = %v, want ErrLeaseLost", err)
		}
		if err := crashed.Finish(ctx, job.ID, "replica-a", StateDone, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("old owner's Finish: err = %v, want ErrLeaseLost", err)
		}
		if err := survivor.Finish(ctx, job.ID, "replica-b", StateDone, ""); err != nil {
			t.Errorf("new owner's Finish: %v", err)
		}
	})
}

func TestCrashedJobFailsAfterMaxAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		s := open(t, newURL(t), WithMaxAttempts(2))
		ctx := context.Background()
		poison, _, _ := s.Enqueue(ctx, "gate", "acme/config#4", nil)
		healthy, _, _ := s.Enqueue(ctx, "gate", "acme/config#5", nil)
		for attempt := 1; attempt <= 2; attempt++ {
			j, err := s.Claim(ctx, fmt.Sprintf("w%d", attempt), 20*time.Millisecond)
			if err != nil || j == nil || j.ID != poison.ID || j.Attempts != attempt {
				t.Fatalf("attempt %d: Claim = %+v, %v", attempt, j, err)
			}
			time.Sleep(50 * time.Millisecond) // the worker crashes with the job
		}
		// The poison job is used up; the next claim marks it failed and
		// moves on to the healthy one.
		j, err := s.Claim(ctx, "w3", time.Minute)
		if err != nil || j == nil || j.ID != healthy.ID {
			t.Fatalf("Claim = %+v, %v; want job %d", j, err, healthy.ID)
		}
		failed, err := s.Job(ctx, poison.ID)
		if err != nil {
			t.Fatal(err)
		}
		if failed.State != StateFailed || failed.Attempts != 2 || failed.Error == "" {
			t.Errorf("poison job = %+v, want failed after 2 attempts with a reason", failed)
		}
	})
}

// Two replicas with eight workers each drain 200 jobs: every job is claimed
// once and finished once.
func TestConcurrentReplicasClaimEachJobOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		dbURL := newURL(t)
		replicas := []*Store{open(t, dbURL), open(t, dbURL)}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		const total = 200
		for i := range total {
			if _, _, err := replicas[i%2].Enqueue(ctx, "gate", "", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}

		var (
			mu        sync.Mutex
			claimedBy = map[int64]string{}
			finished  atomic.Int64
			wg        sync.WaitGroup
		)
		errs := make(chan error, 16)
		for r, s := range replicas {
			for w := range 8 {
				owner := fmt.Sprintf("replica-%d/worker-%d", r, w)
				wg.Go(func() {
					for finished.Load() < total {
						if ctx.Err() != nil {
							errs <- fmt.Errorf("%s: %w", owner, ctx.Err())
							return
						}
						j, err := s.Claim(ctx, owner, time.Minute)
						if err != nil {
							errs <- fmt.Errorf("%s: %w", owner, err)
							return
						}
						if j == nil {
							time.Sleep(2 * time.Millisecond)
							continue
						}
						mu.Lock()
						prev, dup := claimedBy[j.ID]
						claimedBy[j.ID] = owner
						mu.Unlock()
						if dup {
							errs <- fmt.Errorf("job %d claimed by %s and %s", j.ID, prev, owner)
							return
						}
						if err := s.Finish(ctx, j.ID, owner, StateDone, ""); err != nil {
							errs <- fmt.Errorf("%s: %w", owner, err)
							return
						}
						finished.Add(1)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(claimedBy) != total || finished.Load() != total {
			t.Fatalf("%d jobs claimed, %d finished; want %d", len(claimedBy), finished.Load(), total)
		}
		jobs, err := replicas[0].Jobs(ctx, "gate", "")
		if err != nil {
			t.Fatal(err)
		}
		perReplica := map[string]int{}
		for _, j := range jobs {
			if j.State != StateDone || j.Attempts != 1 || j.Owner != claimedBy[j.ID] {
				t.Errorf("job %d = %s, %d attempts, owner %s (claimed by %s)", j.ID, j.State, j.Attempts, j.Owner, claimedBy[j.ID])
			}
			perReplica[j.Owner[:len("replica-0")]]++
		}
		t.Logf("jobs per replica: %v", perReplica)
	})
}

func TestRetryWaitsThenClaimsAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, newURL(t))
		if _, _, err := s.Enqueue(ctx, "merge", "", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		j, err := s.Claim(ctx, "w1", time.Minute)
		if err != nil || j == nil {
			t.Fatalf("claim: %v %v", j, err)
		}
		if err := s.Retry(ctx, j.ID, "w1", 80*time.Millisecond, "GitHub 502"); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.Claim(ctx, "w2", time.Minute); again != nil {
			t.Fatal("claimed before the retry delay")
		}
		time.Sleep(120 * time.Millisecond)
		again, err := s.Claim(ctx, "w2", time.Minute)
		if err != nil || again == nil || again.ID != j.ID || again.Attempts != 2 {
			t.Fatalf("after the delay: %+v %v", again, err)
		}
		if err := s.Retry(ctx, j.ID, "w1", 0, "x"); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("retry by a former owner: %v", err)
		}
	})
}
