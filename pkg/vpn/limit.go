package vpn

import (
	"context"
	"fmt"
	"time"
)

// Limit returns p making at most calls requests to the panel at once (at
// least one): Create, Extend, Revoke, Status and List each wait for a free
// slot, or fail with the cause of ctx's end while they wait; Name makes no
// request.
//
// The activation and expiry-cleanup workers keep more periods in progress
// than they allow panel calls, so that their database work overlaps the
// calls, while the panel gets no more load than they are configured for.
func Limit(p Provisioner, calls int) Provisioner {
	return limited{Provisioner: p, slots: make(chan struct{}, max(calls, 1))}
}

// limited is a Provisioner whose panel calls hold one of its slots.
type limited struct {
	Provisioner
	slots chan struct{}
}

func (l limited) Create(ctx context.Context, p Period) (a Access, err error) {
	err = l.do(ctx, func() error {
		a, err = l.Provisioner.Create(ctx, p)
		return err
	})
	return a, err
}

func (l limited) Extend(ctx context.Context, accessID string, expiresAt time.Time) error {
	return l.do(ctx, func() error { return l.Provisioner.Extend(ctx, accessID, expiresAt) })
}

func (l limited) Revoke(ctx context.Context, accessID string) error {
	return l.do(ctx, func() error { return l.Provisioner.Revoke(ctx, accessID) })
}

func (l limited) Status(ctx context.Context, accessID string) (s Status, err error) {
	err = l.do(ctx, func() error {
		s, err = l.Provisioner.Status(ctx, accessID)
		return err
	})
	return s, err
}

func (l limited) List(ctx context.Context) (as []Access, err error) {
	err = l.do(ctx, func() error {
		as, err = l.Provisioner.List(ctx)
		return err
	})
	return as, err
}

// do runs call holding a slot.
func (l limited) do(ctx context.Context, call func() error) error {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for a %s call: %w", l.Name(), context.Cause(ctx))
	}
	defer func() { <-l.slots }()
	return call()
}
