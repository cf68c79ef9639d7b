package evaluator

import (
	"context"
	"fmt"
	"sync"

	"github.com/promptgate/promptgate/registry"
)

// Budget wraps the completer that reaches the provider and refuses calls
// once the run's call count or spend reaches its limit. It sits below the
// cache, so replayed responses cost nothing and are never refused.
type Budget struct {
	Inner    Completer
	MaxCalls int     // 0: unlimited
	MaxUSD   float64 // 0: unlimited
	Prices   map[string]registry.Price

	mu    sync.Mutex
	calls int
	spent float64
	// unpriced counts calls whose cost is unknown, so a USD budget is not
	// silently ignored for models without a price.
	unpriced int
}

var _ Completer = (*Budget)(nil)

// Complete implements Completer.
func (b *Budget) Complete(ctx context.Context, req Request) (Response, error) {
	b.mu.Lock()
	if why := b.exhaustedLocked(); why != "" {
		b.mu.Unlock()
		return Response{}, &CallError{Kind: ErrBudget, Err: fmt.Errorf("run budget spent: %s", why)}
	}
	b.calls++
	b.mu.Unlock()
	resp, err := b.Inner.Complete(ctx, req)
	if resp.InputTokens > 0 || resp.OutputTokens > 0 {
		b.mu.Lock()
		if c := Cost(b.Prices, req.Model, resp.InputTokens, resp.OutputTokens); c != nil {
			b.spent += *c
		} else {
			b.unpriced++
		}
		b.mu.Unlock()
	}
	return resp, err
}

// Exhausted says why the budget is spent, or "" while it is not.
func (b *Budget) Exhausted() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exhaustedLocked()
}

func (b *Budget) exhaustedLocked() string {
	switch {
	case b.MaxCalls > 0 && b.calls >= b.MaxCalls:
		return fmt.Sprintf("max_calls %d reached", b.MaxCalls)
	case b.MaxUSD > 0 && b.spent >= b.MaxUSD:
		return fmt.Sprintf("max_usd %.2f reached ($%.4f spent)", b.MaxUSD, b.spent)
	case b.MaxUSD > 0 && b.unpriced > 0:
		// A USD cap cannot hold over calls whose cost is unknown.
		return fmt.Sprintf("max_usd %.2f cannot be enforced: %d call(s) to a model without a price", b.MaxUSD, b.unpriced)
	}
	return ""
}

// Usage returns the calls made and USD spent so far.
func (b *Budget) Usage() (calls int, usd float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.spent
}
