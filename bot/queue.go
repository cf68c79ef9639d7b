package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/promptgate/promptgate/store"
)

// errSuperseded cancels a job's context when a newer job took its place.
var errSuperseded = errors.New("superseded by a newer run")

// retried are the job kinds tried again after a failure. Gate jobs are
// not: their check shows the failure and "/promptgate run" retries.
var retried = map[string]bool{KindMerge: true, KindRevert: true}

// retryable marks a job error worth another attempt whatever the job's kind.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// errShutdown cancels a job's context when the process stops; the job keeps
// its state and resumes after the restart.
var errShutdown = errors.New("shutting down")

// jobFunc does one job. ctx is detached from any HTTP request, carries the
// job's lease, and is cancelled with cause errSuperseded when the job is
// superseded or its lease is lost.
type jobFunc func(ctx context.Context, job *store.Job) error

// queue runs jobs from the store on a bounded pool of workers. Jobs are
// durable: a job claimed by a worker that dies is claimed again once its
// lease expires, so a restart resumes it.
type queue struct {
	store   *store.Store
	owner   string
	workers int
	lease   time.Duration
	poll    time.Duration
	// retryDelay is the first wait before a failed job runs again.
	retryDelay time.Duration
	handlers   map[string]jobFunc
	log        *slog.Logger
	metrics    *metrics
	notify     chan struct{}
}

func (q *queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// run works until ctx is done, then waits for running jobs to stop.
func (q *queue) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < q.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.worker(ctx)
		}()
	}
	wg.Wait()
}

func (q *queue) worker(ctx context.Context) {
	t := time.NewTicker(q.poll)
	defer t.Stop()
	for ctx.Err() == nil {
		job, err := q.store.Claim(ctx, q.owner, q.lease)
		if err != nil {
			if ctx.Err() == nil {
				q.log.Error("claim job", "error", err)
			}
		}
		if job != nil {
			q.do(ctx, job)
			continue
		}
		select {
		case <-ctx.Done():
		case <-q.notify:
		case <-t.C:
		}
	}
}

// do runs one job with a heartbeat that keeps its lease and notices when it
// was superseded; a panic fails the job instead of the process.
func (q *queue) do(parent context.Context, job *store.Job) {
	log := q.log.With("job", job.ID, "kind", job.Kind, "key", job.Key, "attempt", job.Attempts)
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	defer cancel(nil)
	stopBeat := make(chan struct{})
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		t := time.NewTicker(q.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stopBeat:
				return
			case <-parent.Done():
				// Shutting down: stop without finishing; the lease expires
				// and another worker (or this one after restart) resumes it.
				cancel(errShutdown)
				return
			case <-t.C:
				if err := q.store.Heartbeat(context.WithoutCancel(parent), job.ID, q.owner, q.lease); err != nil {
					if errors.Is(err, store.ErrLeaseLost) {
						cancel(errSuperseded)
						return
					}
					log.Warn("heartbeat", "error", err)
				}
			}
		}
	}()
	start := time.Now()
	err := q.safeRun(ctx, job)
	close(stopBeat)
	<-beatDone
	state, msg := "done", ""
	switch {
	case parent.Err() != nil && ctx.Err() != nil:
		log.Info("job interrupted by shutdown; it resumes after restart")
		return
	case errors.Is(context.Cause(ctx), errSuperseded) || errors.Is(err, errSuperseded):
		state, msg = "superseded", errSuperseded.Error()
	case err != nil:
		state, msg = "failed", err.Error()
	}
	q.metrics.jobs.WithLabelValues(job.Kind, state).Inc()
	q.metrics.jobSeconds.WithLabelValues(job.Kind).Observe(time.Since(start).Seconds())
	if state == "superseded" {
		log.Info("job superseded")
		return // the store already marked it
	}
	var again retryable
	if state == "failed" && (retried[job.Kind] || errors.As(err, &again)) && job.Attempts < store.DefaultMaxAttempts {
		// Tagging a merge and opening a revert PR must happen: a failure
		// (GitHub down past the client's retries) is tried again later.
		delay := q.retryDelay << (job.Attempts - 1)
		if err := q.store.Retry(context.WithoutCancel(parent), job.ID, q.owner, delay, msg); err == nil {
			log.Warn("job failed; retrying", "error", msg, "in", delay.String())
			return
		}
	}
	if err := q.store.Finish(context.WithoutCancel(parent), job.ID, q.owner, state, msg); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		log.Error("finish job", "error", err)
	}
	if state == "failed" {
		log.Error("job failed", "error", msg, "seconds", time.Since(start).Seconds())
	} else {
		log.Info("job done", "seconds", time.Since(start).Seconds())
	}
}

func (q *queue) safeRun(ctx context.Context, job *store.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("job panicked", "job", job.ID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	h, ok := q.handlers[job.Kind]
	if !ok {
		return fmt.Errorf("no handler for job kind %q", job.Kind)
	}
	return h(ctx, job)
}
