package bot

import (
	"context"
	"sync"

	"github.com/promptgate/promptgate/store"
)

// acceptor commits concurrent webhook deliveries in groups: while one
// transaction commits, the deliveries that arrive queue up and go in the
// next one. Under a burst that turns one commit per delivery into one per
// batch; alone, a delivery waits for no one.
type acceptor struct {
	store *store.Store
	in    chan acceptReq
	once  sync.Once
}

type acceptReq struct {
	item  store.DeliveryJob
	reply chan acceptReply
}

type acceptReply struct {
	res store.DeliveryResult
	err error
}

// maxAcceptBatch bounds one transaction.
const maxAcceptBatch = 128

func newAcceptor(st *store.Store) *acceptor {
	return &acceptor{store: st, in: make(chan acceptReq, 1024)}
}

// accept records one delivery and enqueues its job; it returns once the
// transaction holding it has committed.
func (a *acceptor) accept(ctx context.Context, item store.DeliveryJob) (store.DeliveryResult, error) {
	a.once.Do(func() { go a.loop() })
	req := acceptReq{item: item, reply: make(chan acceptReply, 1)}
	select {
	case a.in <- req:
	case <-ctx.Done():
		return store.DeliveryResult{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return store.DeliveryResult{}, ctx.Err()
	}
}

func (a *acceptor) loop() {
	for first := range a.in {
		batch := []acceptReq{first}
	drain:
		for len(batch) < maxAcceptBatch {
			select {
			case r := <-a.in:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		items := make([]store.DeliveryJob, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		// The requests' contexts end with their HTTP requests; the commit
		// must not be cut short by one client hanging up.
		results, err := a.store.AcceptDeliveries(context.Background(), items)
		for i, r := range batch {
			if err != nil {
				r.reply <- acceptReply{err: err}
				continue
			}
			r.reply <- acceptReply{res: results[i]}
		}
	}
}
