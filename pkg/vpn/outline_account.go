package vpn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// outlineMaxID bounds the account names, which are key ids: shadowbox
// takes any string, and 64 characters keep them readable in the Outline
// Manager and in URL paths.
const outlineMaxID = 64

// outlineCreate is the body of PUT /access-keys/{id}. Without a password the
// server makes a random one, so a key made again has a new secret.
type outlineCreate struct {
	Name  string            `json:"name"`
	Limit *outlineDataLimit `json:"limit,omitempty"`
}

// outlineLimit is the data limit that makes a key what want says: 0 bytes
// for a disabled key (shadowbox blocks a key at its limit, at once for 0),
// none for an enabled one without a limit.
func outlineLimit(want State) *outlineDataLimit {
	switch {
	case !want.Enabled:
		return &outlineDataLimit{Bytes: 0}
	case want.DataLimitBytes > 0:
		return &outlineDataLimit{Bytes: want.DataLimitBytes}
	default:
		return nil
	}
}

func sameLimit(a, b *outlineDataLimit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Bytes == b.Bytes
}

// Kind is KindOutline.
func (o *Outline) Kind() string { return KindOutline }

// AccountName is the name CreateAccount gives the user's account.
func (o *Outline) AccountName(userID int64) string { return AccountName(o.prefix, userID) }

// refID is the key id ref addresses: the account's name, which is its key
// id, or the id when the name is missing.
func refID(ref Ref) string {
	if ref.Name != "" {
		return ref.Name
	}
	return ref.ID
}

// CreateAccount makes the key named after the owner in state want (a data
// limit of 0 when disabled); a key of that id that exists is returned as it
// is. ExpiresAt is ignored: Outline keys do not expire. The owner's note is
// not kept: the key's name is the account name.
func (o *Outline) CreateAccount(ctx context.Context, owner Owner, want State) (Account, error) {
	if err := checkOwner(owner); err != nil {
		return Account{}, fmt.Errorf("creating outline account: %w", err)
	}
	name := AccountName(o.prefix, owner.UserID)
	path := keyPath(name)
	op := http.MethodPut + " " + path
	a, err := o.api.do(ctx, http.MethodPut, path, outlineCreate{Name: name, Limit: outlineLimit(want)})
	if err != nil {
		return Account{}, fmt.Errorf("creating outline account %s: %w", name, err)
	}
	var k outlineKey
	switch a.status {
	case http.StatusCreated, http.StatusOK:
		if err := o.api.decode(op, a, &k); err != nil {
			return Account{}, fmt.Errorf("creating outline account %s: %w", name, err)
		}
	case http.StatusConflict:
		// An earlier call (a lost answer, another replica) made it.
		if k, err = o.get(ctx, name); err != nil {
			return Account{}, fmt.Errorf("reading existing outline account %s: %w", name, err)
		}
	default:
		return Account{}, fmt.Errorf("creating outline account %s: %w", name, o.statusError(op, a))
	}
	acc, err := o.account(ctx, k)
	if err != nil {
		return Account{}, fmt.Errorf("creating outline account %s: %w", name, err)
	}
	return acc, nil
}

// Account reads the key ref names.
func (o *Outline) Account(ctx context.Context, ref Ref) (Account, error) {
	id := refID(ref)
	k, err := o.get(ctx, id)
	if err != nil {
		return Account{}, fmt.Errorf("reading outline account %s: %w", id, err)
	}
	acc, err := o.account(ctx, k)
	if err != nil {
		return Account{}, fmt.Errorf("reading outline account %s: %w", id, err)
	}
	return acc, nil
}

// SetAccount gives the key the data limit want calls for: 0 to disable it,
// want's limit or none to enable it. The key, and so its URL, stay.
func (o *Outline) SetAccount(ctx context.Context, ref Ref, want State) (Account, error) {
	id := refID(ref)
	k, err := o.get(ctx, id)
	if err != nil {
		return Account{}, fmt.Errorf("setting outline account %s: %w", id, err)
	}
	if limit := outlineLimit(want); !sameLimit(k.DataLimit, limit) {
		if err := o.setLimit(ctx, id, limit); err != nil {
			return Account{}, fmt.Errorf("setting outline account %s: %w", id, err)
		}
		k.DataLimit = limit
	}
	acc, err := o.account(ctx, k)
	if err != nil {
		return Account{}, fmt.Errorf("setting outline account %s: %w", id, err)
	}
	return acc, nil
}

// setLimit puts the key's data limit, or removes it when limit is nil.
func (o *Outline) setLimit(ctx context.Context, id string, limit *outlineDataLimit) error {
	path := keyPath(id) + "/data-limit"
	method, body := http.MethodDelete, any(nil)
	if limit != nil {
		method, body = http.MethodPut, map[string]*outlineDataLimit{"limit": limit}
	}
	a, err := o.api.do(ctx, method, path, body)
	switch {
	case err != nil:
		return err
	case a.status == http.StatusNoContent || a.status == http.StatusOK:
		return nil
	case o.keyMissing(a):
		return fmt.Errorf("outline key %s: %w", id, ErrNotFound)
	default:
		return o.statusError(method+" "+path, a)
	}
}

// RotateAccount deletes the key and makes it again under the same id, name
// and data limit: the server gives it a new password, so the old ss:// URL
// stops working. A crash between the two leaves no key, which
// RotateAccount then reports as ErrNotFound and CreateAccount makes again.
func (o *Outline) RotateAccount(ctx context.Context, ref Ref) (Account, error) {
	id := refID(ref)
	k, err := o.get(ctx, id)
	if err != nil {
		return Account{}, fmt.Errorf("rotating outline account %s: %w", id, err)
	}
	if err := o.deleteKey(ctx, id); err != nil {
		return Account{}, fmt.Errorf("rotating outline account %s: %w", id, err)
	}
	path := keyPath(id)
	op := http.MethodPut + " " + path
	a, err := o.api.do(ctx, http.MethodPut, path, outlineCreate{Name: cmp.Or(k.Name, id), Limit: k.DataLimit})
	if err != nil {
		return Account{}, fmt.Errorf("rotating outline account %s: making it again: %w", id, err)
	}
	var made outlineKey
	switch a.status {
	case http.StatusCreated, http.StatusOK:
		if err := o.api.decode(op, a, &made); err != nil {
			return Account{}, fmt.Errorf("rotating outline account %s: %w", id, err)
		}
	case http.StatusConflict:
		// Another replica made it again first: it is new all the same.
		if made, err = o.get(ctx, id); err != nil {
			return Account{}, fmt.Errorf("rotating outline account %s: %w", id, err)
		}
	default:
		return Account{}, fmt.Errorf("rotating outline account %s: making it again: %w", id, o.statusError(op, a))
	}
	acc, err := o.account(ctx, made)
	if err != nil {
		return Account{}, fmt.Errorf("rotating outline account %s: %w", id, err)
	}
	return acc, nil
}

// DeleteAccount deletes the key; a key already gone is fine.
func (o *Outline) DeleteAccount(ctx context.Context, ref Ref) error {
	id := refID(ref)
	err := o.deleteKey(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("deleting outline account %s: %w", id, err)
	}
	return nil
}

// deleteKey deletes the key id; a missing one is ErrNotFound.
func (o *Outline) deleteKey(ctx context.Context, id string) error {
	path := keyPath(id)
	a, err := o.api.do(ctx, http.MethodDelete, path, nil)
	switch {
	case err != nil:
		return err
	case a.status == http.StatusNoContent || a.status == http.StatusOK:
		return nil
	case o.keyMissing(a):
		return fmt.Errorf("outline key %s: %w", id, ErrNotFound)
	default:
		return o.statusError(http.MethodDelete+" "+path, a)
	}
}

// Accounts lists the keys whose id is an account name of this bot's
// prefix, in the order of their ids, after the id cursor: all of them, or
// PageSize a page when it is set.
func (o *Outline) Accounts(ctx context.Context, cursor string) (Page, error) {
	keys, err := o.listKeys(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("listing outline accounts: %w", err)
	}
	keys = slices.DeleteFunc(keys, func(k outlineKey) bool {
		_, ours := AccountUser(o.prefix, k.ID)
		return !ours || k.ID <= cursor
	})
	slices.SortFunc(keys, func(a, b outlineKey) int { return cmp.Compare(a.ID, b.ID) })
	var page Page
	if o.pageSize > 0 && len(keys) > o.pageSize {
		keys = keys[:o.pageSize]
		page.Next = keys[len(keys)-1].ID
	}
	used, err := o.usage(ctx, keys...)
	if err != nil {
		return Page{}, fmt.Errorf("listing outline accounts: %w", err)
	}
	for _, k := range keys {
		page.Accounts = append(page.Accounts, k.account(used))
	}
	return page, nil
}

// account is k as an Account, with the traffic that tells whether its
// limit blocks it.
func (o *Outline) account(ctx context.Context, k outlineKey) (Account, error) {
	used, err := o.usage(ctx, k)
	if err != nil {
		return Account{}, err
	}
	return k.account(used), nil
}

// usage is the traffic of each key, read only when one of keys has a
// positive limit it may have reached: the API does not say whether a key
// is blocked, only its limit and, apart, its traffic.
func (o *Outline) usage(ctx context.Context, keys ...outlineKey) (map[string]int64, error) {
	if !slices.ContainsFunc(keys, func(k outlineKey) bool { return k.DataLimit != nil && k.DataLimit.Bytes > 0 }) {
		return nil, nil
	}
	const path = "/metrics/transfer"
	op := http.MethodGet + " " + path
	a, err := o.api.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the keys' traffic: %w", err)
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("reading the keys' traffic: %w", o.statusError(op, a))
	}
	var m struct {
		BytesTransferredByUserID map[string]int64 `json:"bytesTransferredByUserId"`
	}
	if err := o.api.decode(op, a, &m); err != nil {
		return nil, fmt.Errorf("reading the keys' traffic: %w", err)
	}
	return m.BytesTransferredByUserID, nil
}

// account is k as an Account: disabled when its limit is 0 or its traffic
// reached it, as the server then blocks it.
func (k outlineKey) account(used map[string]int64) Account {
	acc := Account{Name: k.ID, ID: k.ID, URL: k.AccessURL, Enabled: true}
	if k.DataLimit != nil {
		acc.DataLimitBytes = k.DataLimit.Bytes
		acc.Enabled = used[k.ID] < k.DataLimit.Bytes
	}
	return acc
}
