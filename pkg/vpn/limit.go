package vpn

import (
	"context"
	"fmt"
)

// Limit returns p making at most calls requests to the panel at once (at
// least one): every method but Kind and Close waits for a free slot, or fails
// with the cause of ctx's end while it waits.
//
// The activation and expiry-cleanup workers keep more periods in progress
// than they allow panel calls, so that their database work overlaps the
// calls, while the panel gets no more load than they are configured for.
func Limit(p Panel, calls int) Panel {
	return limited{Panel: p, slots: make(chan struct{}, max(calls, 1))}
}

// limited is a Panel whose panel calls hold one of its slots.
type limited struct {
	Panel
	slots chan struct{}
}

func (l limited) CreateAccount(ctx context.Context, o Owner, want State) (a Account, err error) {
	err = l.do(ctx, func() error {
		a, err = l.Panel.CreateAccount(ctx, o, want)
		return err
	})
	return a, err
}

func (l limited) Account(ctx context.Context, ref Ref) (a Account, err error) {
	err = l.do(ctx, func() error {
		a, err = l.Panel.Account(ctx, ref)
		return err
	})
	return a, err
}

func (l limited) SetAccount(ctx context.Context, ref Ref, want State) (a Account, err error) {
	err = l.do(ctx, func() error {
		a, err = l.Panel.SetAccount(ctx, ref, want)
		return err
	})
	return a, err
}

func (l limited) RotateAccount(ctx context.Context, ref Ref) (a Account, err error) {
	err = l.do(ctx, func() error {
		a, err = l.Panel.RotateAccount(ctx, ref)
		return err
	})
	return a, err
}

func (l limited) DeleteAccount(ctx context.Context, ref Ref) error {
	return l.do(ctx, func() error { return l.Panel.DeleteAccount(ctx, ref) })
}

func (l limited) Accounts(ctx context.Context, cursor string) (p Page, err error) {
	err = l.do(ctx, func() error {
		p, err = l.Panel.Accounts(ctx, cursor)
		return err
	})
	return p, err
}

// do runs call holding a slot.
func (l limited) do(ctx context.Context, call func() error) error {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for a %s call: %w", l.Kind(), context.Cause(ctx))
	}
	defer func() { <-l.slots }()
	return call()
}
