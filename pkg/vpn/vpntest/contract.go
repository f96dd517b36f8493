package vpntest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Harness is how the contract tests reach one kind of panel: its sandbox S
// and adapters of it.
type Harness[S any] struct {
	// Start starts a fresh sandbox panel, closed when the test ends.
	Start func(t *testing.T) S
	// Adapter returns an adapter of s naming accounts with prefix, listing
	// pageSize accounts a page (0: the adapter's default), closed when the
	// test ends.
	Adapter func(t *testing.T, s S, prefix string, pageSize int) vpn.Panel
	// WrongCredentials returns an adapter of s whose credentials the panel
	// refuses.
	WrongCredentials func(t *testing.T, s S) vpn.Panel
	// LinkWorks reports whether a VPN app given url would get a working
	// configuration from s: the subscription answers with the account's
	// proxies, or the Outline key is one the server accepts.
	LinkWorks func(t *testing.T, s S, url string) bool
	// Exact is true when the panel keeps expiries to the millisecond;
	// otherwise they are compared to the second.
	Exact bool
	// NoExpiry is true for a panel that keeps no expiry (Outline).
	NoExpiry bool
}

// Contract runs the tests every vpn.Panel adapter must pass against its
// sandbox: create (and adopt), read, set (enable, disable, expiry, limit),
// rotate, delete, list by pages, and the error kinds.
func Contract[S any](t *testing.T, h Harness[S]) {
	t.Run("CreateReadAdopt", func(t *testing.T) { contractCreate(t, h) })
	t.Run("SetDisableEnable", func(t *testing.T) { contractSet(t, h) })
	t.Run("Rotate", func(t *testing.T) { contractRotate(t, h) })
	t.Run("Delete", func(t *testing.T) { contractDelete(t, h) })
	t.Run("ListPages", func(t *testing.T) { contractList(t, h) })
	t.Run("WrongCredentials", func(t *testing.T) { contractCredentials(t, h) })
}

const contractPrefix = "vpnbot"

func contractCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// want is an enabled state expiring in d, with no expiry on panels without.
func (h Harness[S]) want(d time.Duration, limit int64) vpn.State {
	st := vpn.State{Enabled: true, DataLimitBytes: limit}
	if !h.NoExpiry {
		st.ExpiresAt = time.Now().Add(d).UTC()
	}
	return st
}

// checkState fails t unless a is what st says.
func (h Harness[S]) checkState(t *testing.T, what string, a vpn.Account, st vpn.State) {
	t.Helper()
	if a.Enabled != st.Enabled {
		t.Errorf("%s: enabled %v, want %v", what, a.Enabled, st.Enabled)
	}
	if a.DataLimitBytes != st.DataLimitBytes {
		t.Errorf("%s: data limit %d, want %d", what, a.DataLimitBytes, st.DataLimitBytes)
	}
	if h.NoExpiry {
		return
	}
	precision := time.Second
	if h.Exact {
		precision = time.Millisecond
	}
	if got, exp := a.ExpiresAt.Truncate(precision), st.ExpiresAt.Truncate(precision); !got.Equal(exp) {
		t.Errorf("%s: expires %s, want %s", what, a.ExpiresAt, st.ExpiresAt)
	}
}

func contractCreate[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	p := h.Adapter(t, s, contractPrefix, 0)
	st := h.want(30*24*time.Hour, 0)
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 42, Note: "contract test"}, st)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if a.Name != vpn.AccountName(contractPrefix, 42) || a.ID == "" || a.URL == "" {
		t.Fatalf("created %+v: want name %s, an id and a URL", a, vpn.AccountName(contractPrefix, 42))
	}
	h.checkState(t, "created", a, st)
	if !h.LinkWorks(t, s, a.URL) {
		t.Errorf("the new account's link %s does not work", a.URL)
	}

	for _, ref := range []vpn.Ref{a.Ref(), {Name: a.Name}, {ID: "0", Name: a.Name}} {
		got, err := p.Account(ctx, ref)
		if err != nil {
			t.Fatalf("Account(%+v): %v", ref, err)
		}
		if got.ID != a.ID || got.URL != a.URL || got.Name != a.Name {
			t.Errorf("Account(%+v) = %+v, want %+v", ref, got, a)
		}
	}

	again, err := p.CreateAccount(ctx, vpn.Owner{UserID: 42}, h.want(time.Hour, 1<<30))
	if err != nil {
		t.Fatalf("CreateAccount again: %v", err)
	}
	if again.ID != a.ID || again.URL != a.URL {
		t.Errorf("CreateAccount again = %+v, want the same account %+v", again, a)
	}
	h.checkState(t, "adopted (as it was)", again, st)

	page, err := p.Accounts(ctx, "")
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if len(page.Accounts) != 1 || page.Accounts[0].ID != a.ID {
		t.Errorf("Accounts = %+v, want the one account", page.Accounts)
	}

	if _, err := p.CreateAccount(ctx, vpn.Owner{UserID: 0}, st); err == nil {
		t.Error("CreateAccount for user 0 succeeded")
	}
	if _, err := p.Account(ctx, vpn.Ref{Name: vpn.AccountName(contractPrefix, 43)}); !errors.Is(err, vpn.ErrNotFound) {
		t.Errorf("Account of a user never created: %v, want ErrNotFound", err)
	}
}

func contractSet[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	p := h.Adapter(t, s, contractPrefix, 0)
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 7}, h.want(24*time.Hour, 0))
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}

	off := h.want(24*time.Hour, 0)
	off.Enabled = false
	got, err := p.SetAccount(ctx, a.Ref(), off)
	if err != nil {
		t.Fatalf("disabling: %v", err)
	}
	h.checkState(t, "disabled", got, off)
	if read, err := p.Account(ctx, a.Ref()); err != nil || read.Enabled {
		t.Errorf("after disabling, Account = %+v, %v: want it disabled", read, err)
	}
	if h.LinkWorks(t, s, a.URL) {
		t.Error("a disabled account's link still works")
	}

	on := h.want(90*24*time.Hour, 50<<30)
	got, err = p.SetAccount(ctx, a.Ref(), on)
	if err != nil {
		t.Fatalf("enabling with a new expiry and limit: %v", err)
	}
	h.checkState(t, "enabled again", got, on)
	if got.URL != a.URL || got.Name != a.Name {
		t.Errorf("enabling changed the account %+v to %+v: the user's link must stay", a, got)
	}
	if !h.LinkWorks(t, s, got.URL) {
		t.Error("the link does not work again after enabling")
	}
	read, err := p.Account(ctx, vpn.Ref{Name: a.Name})
	if err != nil {
		t.Fatalf("Account: %v", err)
	}
	h.checkState(t, "read after enabling", read, on)

	again, err := p.SetAccount(ctx, a.Ref(), on)
	if err != nil {
		t.Fatalf("setting the same state again: %v", err)
	}
	h.checkState(t, "set twice", again, on)

	unlimited := h.want(10*24*time.Hour, 0)
	got, err = p.SetAccount(ctx, vpn.Ref{Name: a.Name}, unlimited)
	if err != nil {
		t.Fatalf("removing the limit by name: %v", err)
	}
	h.checkState(t, "limit removed", got, unlimited)
}

func contractRotate[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	p := h.Adapter(t, s, contractPrefix, 0)
	st := h.want(24*time.Hour, 0)
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 9}, st)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	b, err := p.RotateAccount(ctx, a.Ref())
	if err != nil {
		t.Fatalf("RotateAccount: %v", err)
	}
	if b.URL == a.URL || b.Name != a.Name {
		t.Fatalf("rotated %+v to %+v: want the same name and a new URL", a, b)
	}
	h.checkState(t, "rotated", b, st)
	if h.LinkWorks(t, s, a.URL) {
		t.Error("the old link still works after rotation")
	}
	if !h.LinkWorks(t, s, b.URL) {
		t.Error("the new link does not work after rotation")
	}
	read, err := p.Account(ctx, b.Ref())
	if err != nil || read.URL != b.URL {
		t.Errorf("Account after rotation = %+v, %v: want URL %s", read, err, b.URL)
	}
	again, err := p.CreateAccount(ctx, vpn.Owner{UserID: 9}, st)
	if err != nil || again.URL != b.URL {
		t.Errorf("CreateAccount after rotation = %+v, %v: want the rotated account", again, err)
	}
}

func contractDelete[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	p := h.Adapter(t, s, contractPrefix, 0)
	st := h.want(24*time.Hour, 0)
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 5}, st)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if err := p.DeleteAccount(ctx, a.Ref()); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if err := p.DeleteAccount(ctx, a.Ref()); err != nil {
		t.Errorf("deleting a deleted account: %v, want nil", err)
	}
	if _, err := p.Account(ctx, a.Ref()); !errors.Is(err, vpn.ErrNotFound) {
		t.Errorf("Account after delete: %v, want ErrNotFound", err)
	}
	if _, err := p.SetAccount(ctx, a.Ref(), st); !errors.Is(err, vpn.ErrNotFound) {
		t.Errorf("SetAccount after delete: %v, want ErrNotFound", err)
	}
	if _, err := p.RotateAccount(ctx, a.Ref()); !errors.Is(err, vpn.ErrNotFound) {
		t.Errorf("RotateAccount after delete: %v, want ErrNotFound", err)
	}
	if h.LinkWorks(t, s, a.URL) {
		t.Error("a deleted account's link still works")
	}
	b, err := p.CreateAccount(ctx, vpn.Owner{UserID: 5}, st)
	if err != nil {
		t.Fatalf("creating again after delete: %v", err)
	}
	if !h.LinkWorks(t, s, b.URL) {
		t.Error("the re-created account's link does not work")
	}
}

func contractList[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	const pageSize = 3
	p := h.Adapter(t, s, contractPrefix, pageSize)
	other := h.Adapter(t, s, "other", 0)
	st := h.want(24*time.Hour, 0)
	var want []string
	for u := int64(1); u <= 2*pageSize+1; u++ {
		a, err := p.CreateAccount(ctx, vpn.Owner{UserID: u}, st)
		if err != nil {
			t.Fatalf("CreateAccount %d: %v", u, err)
		}
		want = append(want, a.Name)
		if _, err := other.CreateAccount(ctx, vpn.Owner{UserID: u}, st); err != nil {
			t.Fatalf("CreateAccount %d with another prefix: %v", u, err)
		}
	}
	var got []string
	cursor, pages := "", 0
	for {
		page, err := p.Accounts(ctx, cursor)
		if err != nil {
			t.Fatalf("Accounts(%q): %v", cursor, err)
		}
		pages++
		for _, a := range page.Accounts {
			got = append(got, a.Name)
			if a.ID == "" || a.URL == "" || !a.Enabled {
				t.Errorf("listed %+v: want an id, a URL and enabled", a)
			}
		}
		if page.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("more than 10 pages for %d accounts", len(want))
		}
		cursor = page.Next
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v (and none of the other prefix)", got, want)
	}
	if pages < 2 {
		t.Errorf("%d accounts at %d a page came in %d page(s): the adapter does not page", len(want), pageSize, pages)
	}
}

func contractCredentials[S any](t *testing.T, h Harness[S]) {
	ctx := contractCtx(t)
	s := h.Start(t)
	p := h.WrongCredentials(t, s)
	if _, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, h.want(time.Hour, 0)); !errors.Is(err, vpn.ErrUnauthorized) {
		t.Errorf("CreateAccount with wrong credentials: %v, want ErrUnauthorized", err)
	}
	if _, err := p.Accounts(ctx, ""); !errors.Is(err, vpn.ErrUnauthorized) {
		t.Errorf("Accounts with wrong credentials: %v, want ErrUnauthorized", err)
	}
}
