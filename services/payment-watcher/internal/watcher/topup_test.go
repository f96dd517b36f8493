package watcher_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

// topUpOrder makes the user's Crypto Pay top-up of cents as the
// bot-handler does: its invoice at the sandbox names the order in its
// payload. It returns the order and the sandbox's id of its invoice.
func (e *env) topUpOrder(t *testing.T, userID, cents int64) (shop.Invoice, int64) {
	t.Helper()
	var remoteID int64
	inv, err := e.shop.CryptoPayTopUp(context.Background(), userID, cents,
		func(ctx context.Context, inv shop.Invoice, expiresIn time.Duration) (string, string, error) {
			remote, err := e.cp.CreateInvoice(ctx, cryptopay.CreateInvoice{
				AmountUSD: inv.PriceUSD, Payload: shop.StarsPayload(inv.ID), ExpiresIn: expiresIn,
			})
			if err != nil {
				return "", "", err
			}
			remoteID = remote.InvoiceID
			return strconv.FormatInt(remote.InvoiceID, 10), remote.BotInvoiceURL, nil
		})
	require.NoError(t, err)
	require.NotZero(t, remoteID, "a new order made its invoice")
	return inv, remoteID
}

// messagesTo decodes the OUTBOX's messages to chat, oldest first.
func (e *env) messagesTo(t *testing.T, chat int64) []*vpnbotv1.SendMessage {
	t.Helper()
	var out []*vpnbotv1.SendMessage
	for _, m := range e.subjectMsgs(t, outbox.Stream, "outbox.>") {
		sm, err := outbox.Decode(m.Data)
		require.NoError(t, err)
		if sm.GetChatId() == chat {
			out = append(out, sm)
		}
	}
	return out
}

// A Crypto Pay top-up reported by its webhook, redelivered, and by the
// polls of two replicas adds its amount to the balance once, in one ledger
// row, and is told as a top-up with the balance after it, once; it buys no
// period, so nobody is woken to activate one. Three top-ups in a row, each
// told with the balance it left.
func TestACryptoPayTopUpIsAppliedOnceAndToldAsATopUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	for range 2 {
		e.startReplica(t, replicaOpts{poll: true, interval: 50 * time.Millisecond})
	}
	const user = 4242
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'ru')`, user)
	require.NoError(t, err)

	balance := int64(0)
	for i, cents := range []int64{1250, 500, 1250} {
		inv, remoteID := e.topUpOrder(t, user, cents)
		require.Equal(t, shop.PurposeTopUp, inv.Purpose)
		_, err := e.sandbox.MarkPaid(remoteID)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _ = e.sandbox.Resend(remoteID) })
		}
		wg.Wait()
		e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
		balance += cents

		var msgs []*vpnbotv1.SendMessage
		require.Eventually(t, func() bool {
			msgs = e.messagesTo(t, user)
			return len(msgs) == i+1
		}, 10*time.Second, 20*time.Millisecond, "top-up %d is told", i)
		require.Eventually(t, func() bool { return e.sandbox.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
		// Every report has been handled: nothing more is applied or told.
		time.Sleep(200 * time.Millisecond)

		got, err := e.shop.Balance(ctx, user, shop.CurrencyUSD)
		require.NoError(t, err)
		require.Equal(t, balance, got, "top-up %d: added once", i)
		var rows, sum int64
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*), COALESCE(sum(amount), 0) FROM ledger
			WHERE user_id = $1 AND kind = 'topup' AND invoice_id = $2`, user, inv.ID).Scan(&rows, &sum))
		require.Equal(t, [2]int64{1, cents}, [2]int64{rows, sum}, "top-up %d: one ledger row of its amount", i)

		msgs = e.messagesTo(t, user)
		require.Len(t, msgs, i+1, "top-up %d: told once", i)
		told := msgs[i]
		require.Equal(t, "payment:"+itoa(inv.ID), told.GetDedupId())
		want := "Баланс пополнен на $" + shop.FormatCents(cents) + "; теперь на балансе $" + shop.FormatCents(balance) + "."
		require.Equal(t, want, told.GetText(), "top-up %d: in the user's language, with the balance it left", i)
		require.Equal(t, "!bal", told.GetRows()[0].GetButtons()[0].GetCallbackData(), "the Balance button")

		announced, err := e.shop.UnannouncedPayments(ctx, shop.ProviderCryptoPay, 10)
		require.NoError(t, err)
		require.Empty(t, announced, "top-up %d is marked announced", i)
	}

	var subs int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM subscriptions WHERE user_id = $1`, user).Scan(&subs))
	require.Zero(t, subs, "a top-up buys no period")
	for _, m := range e.subjectMsgs(t, events.Stream, events.SubjectActivationRequested) {
		a := &vpnbotv1.ActivationRequested{}
		require.NoError(t, proto.Unmarshal(m.Data, a))
		require.NotEqual(t, int64(user), a.GetUserId(), "a top-up wakes no activation")
	}
	require.Len(t, e.logs.Events(t, watcher.EventPaymentApplied), 3, "each top-up applied once")
}
