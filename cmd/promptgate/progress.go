package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/promptgate/promptgate/evaluator"
)

// progress prints a run's progress on stderr: one line rewritten in place
// on a terminal, a plain line every few seconds (and at the end) otherwise,
// so CI logs stay readable.
type progress struct {
	w        io.Writer
	live     bool
	every    time.Duration
	mu       sync.Mutex
	last     time.Time
	artifact string
}

func newProgress(w io.Writer) *progress {
	live := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			live = true
		}
	}
	return &progress{w: w, live: live, every: 5 * time.Second}
}

func (p *progress) update(pr evaluator.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	final := pr.Done == pr.Total
	now := time.Now()
	if !p.live && !final && now.Sub(p.last) < p.every {
		return
	}
	if p.live && !final && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	line := fmt.Sprintf("%d/%d done, %d calls, %d errors, elapsed %s, eta %s",
		pr.Done, pr.Total, pr.Calls, pr.Errors, pr.Elapsed.Round(time.Second), pr.ETA.Round(time.Second))
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}
