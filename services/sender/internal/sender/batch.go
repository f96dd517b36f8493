package sender

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// batcher runs one statement for many concurrent callers: each request
// waits for a worker, which takes with it every request queued meanwhile
// (up to maxBatch) and answers them all from one round trip. A lone request
// goes at once, so at a low rate nothing waits for company; at a thousand
// sends a second the round trips, and the sent-log's commits, are a few
// dozen a second instead of one a message.
type batcher[Req, Resp any] struct {
	// runFunc answers reqs, one response each, in their order.
	runFunc func(ctx context.Context, reqs []Req) ([]Resp, error)
	reqs    chan batchCall[Req, Resp]
	timeout time.Duration
}

type batchCall[Req, Resp any] struct {
	req  Req
	done chan batchResult[Resp] // buffered: a worker never waits on a caller
}

type batchResult[Resp any] struct {
	resp Resp
	err  error
}

// Batches are at most this large, and this many run at once: one batch's
// round trip does not hold up the next.
const (
	maxBatch     = 200
	batchWorkers = 2
)

func newBatcher[Req, Resp any](timeout time.Duration, runFunc func(ctx context.Context, reqs []Req) ([]Resp, error)) *batcher[Req, Resp] {
	return &batcher[Req, Resp]{runFunc: runFunc, reqs: make(chan batchCall[Req, Resp]), timeout: timeout}
}

// run serves requests until ctx is done; the caller must not make requests
// after that.
func (b *batcher[Req, Resp]) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range batchWorkers {
		wg.Go(func() {
			for {
				var first batchCall[Req, Resp]
				select {
				case <-ctx.Done():
					return
				case first = <-b.reqs:
				}
				calls := []batchCall[Req, Resp]{first}
			gather:
				for len(calls) < maxBatch {
					select {
					case c := <-b.reqs:
						calls = append(calls, c)
					default:
						break gather
					}
				}
				b.runBatch(calls)
			}
		})
	}
	wg.Wait()
}

func (b *batcher[Req, Resp]) runBatch(calls []batchCall[Req, Resp]) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	reqs := make([]Req, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	resps, err := b.runFunc(ctx, reqs)
	if err == nil && len(resps) != len(reqs) {
		err = fmt.Errorf("a batch of %d requests got %d answers", len(reqs), len(resps))
	}
	for i, c := range calls {
		var r batchResult[Resp]
		if r.err = err; err == nil {
			r.resp = resps[i]
		}
		c.done <- r
	}
}

// do sends req in the next batch and returns its response.
func (b *batcher[Req, Resp]) do(ctx context.Context, req Req) (Resp, error) {
	c := batchCall[Req, Resp]{req: req, done: make(chan batchResult[Resp], 1)}
	var zero Resp
	select {
	case b.reqs <- c:
	case <-ctx.Done():
		return zero, fmt.Errorf("waiting for a batch: %w", ctx.Err())
	}
	select {
	case r := <-c.done:
		return r.resp, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("waiting for a batch: %w", ctx.Err())
	}
}
