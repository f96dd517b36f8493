package cryptopay_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

// listInvoices is getInvoices' answer, by invoice id.
func (e *env) listInvoices() map[int64]map[string]any {
	e.t.Helper()
	a := e.callJSON("getInvoices", map[string]any{})
	require.True(e.t, a.OK, "%+v", a)
	items := decode[struct {
		Items []map[string]any `json:"items"`
	}](e.t, a.Result).Items
	out := map[int64]map[string]any{}
	for _, inv := range items {
		out[id(inv)] = inv
	}
	return out
}

// updateIDs are the update ids of the webhook deliveries so far.
func updateIDs(t *testing.T, rc *receiver) []int64 {
	t.Helper()
	var ids []int64
	for _, d := range rc.deliveries() {
		var u struct {
			UpdateID int64 `json:"update_id"`
		}
		require.NoError(t, json.Unmarshal(d.body, &u))
		ids = append(ids, u.UpdateID)
	}
	return ids
}

// TestRestartKeepsInvoicesAndPayLinks is the sandbox stopped and started
// again on its state folder and address, as make run does: the invoices are
// as they were, a pay link handed out before opens and pays, a paid
// invoice's update can be resent byte for byte, and ids go on from where
// they were.
func TestRestartKeepsInvoicesAndPayLinks(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	dir := t.TempDir()
	first := start(t, cryptopay.Config{StateDir: dir, WebhookURL: rc.srv.URL})
	addr := strings.TrimPrefix(first.s.URL(), "http://")
	paid := first.create(map[string]any{"payload": "order:1"})
	open := first.create(map[string]any{"payload": "order:2", "expires_in": 3600})
	_, err := first.s.MarkPaid(id(paid))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)
	before := first.listInvoices()
	first.s.Close()

	second := startAt(t, cryptopay.Config{StateDir: dir, WebhookURL: rc.srv.URL}, addr)
	require.Equal(t, before, second.listInvoices(), "the invoices changed across the restart")

	link := open["bot_invoice_url"].(string)
	status, html := second.page(http.MethodGet, link, nil)
	require.Equal(t, http.StatusOK, status, "the pay link handed out before the restart")
	require.Contains(t, html, `id="pay"`)
	status, html = second.page(http.MethodPost, link, url.Values{})
	require.Equal(t, http.StatusOK, status, html)
	require.Contains(t, html, "Paid: ")
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []int64{1, 2}, updateIDs(t, rc), "the update ids went on from where they were")

	require.NoError(t, second.s.Resend(id(paid)))
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, rc.deliveries()[0].body, rc.deliveries()[2].body, "the paid update before the restart, resent")

	require.Equal(t, int64(3), id(second.create(nil)), "the invoice ids went on from where they were")
}

// TestIdsAreNeverReusedAfterAnUncleanStop is what a SIGKILL leaves: the
// state folder as it was at the last change, the process never closed. A
// sandbox started on it hands out no invoice id and no update id the
// killed one had handed out.
func TestIdsAreNeverReusedAfterAnUncleanStop(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	dir := t.TempDir()
	killed := start(t, cryptopay.Config{StateDir: dir, WebhookURL: rc.srv.URL})
	var last map[string]any
	for range 3 {
		last = killed.create(nil)
	}
	_, err := killed.s.MarkPaid(id(last))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)

	next := start(t, cryptopay.Config{StateDir: dir, WebhookURL: rc.srv.URL})
	created := next.create(nil)
	require.Equal(t, int64(4), id(created))
	_, err = next.s.MarkPaid(id(created))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []int64{1, 2}, updateIDs(t, rc))
	invoices := next.listInvoices()
	require.Len(t, invoices, 4)
	require.Equal(t, cryptopay.StatusPaid, invoices[id(last)]["status"], "the payment before the kill was lost")
}

// TestAChangeThatCannotBeSavedIsRefusedAndUndone is a state folder that
// cannot be written: createInvoice answers Crypto Pay's 500, a payment
// fails, and nothing changes, so nothing is handed out that a restart could
// hand out again. Once the folder is back, the sandbox goes on.
func TestAChangeThatCannotBeSavedIsRefusedAndUndone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/state"
	e := start(t, cryptopay.Config{StateDir: dir})
	kept := e.create(nil)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("not a folder"), 0o600))

	a := e.callJSON("createInvoice", map[string]any{"currency_type": "fiat", "fiat": "USD", "amount": "1"})
	require.False(t, a.OK)
	require.Equal(t, http.StatusInternalServerError, a.Status)
	require.Equal(t, "INTERNAL_ERROR", a.Error.Name)
	_, err := e.s.MarkPaid(id(kept))
	require.Error(t, err)
	invoices := e.s.Invoices()
	require.Len(t, invoices, 1, "the refused invoice exists")
	require.Equal(t, cryptopay.StatusActive, invoices[0].Status, "the refused payment happened")

	require.NoError(t, os.Remove(dir))
	created := e.create(nil)
	require.Greater(t, id(created), id(kept))
	_, err = e.s.MarkPaid(id(kept))
	require.NoError(t, err)
}

// TestFirstIDStartsPastTheIDsADatabaseMayHave is a sandbox started with
// FirstID, as make run starts it from the clock: a fresh state folder hands
// out ids from FirstID, and a kept one goes on past its last ids when
// FirstID is lower.
func TestFirstIDStartsPastTheIDsADatabaseMayHave(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	dir := t.TempDir()
	first := start(t, cryptopay.Config{StateDir: dir, FirstID: 5000, WebhookURL: rc.srv.URL})
	inv := first.create(nil)
	require.Equal(t, int64(5000), id(inv))
	_, err := first.s.MarkPaid(id(inv))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)
	first.s.Close()

	again := start(t, cryptopay.Config{StateDir: dir, FirstID: 10, WebhookURL: rc.srv.URL})
	inv = again.create(nil)
	require.Equal(t, int64(5001), id(inv))
	_, err = again.s.MarkPaid(id(inv))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []int64{5000, 5001}, updateIDs(t, rc))
}
