package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	alice = 7 // a trial, then three payments, one of each way
	bob   = 8 // a trial that lapsed and was revoked
)

// The two panels, as localstack names them in VPN_PANELS.
const (
	panelA = "outline"
	panelB = "outline-2"
)

// keyOf is the user's key on panel, named as the bot names accounts.
func keyOf(panel string, user int64) PanelKey {
	name := vpn.AccountName(vpn.DefaultNamePrefix, user)
	return PanelKey{KeyID: KeyID{Panel: panel, ID: name}, Name: name}
}

// keyMessage is a key message (notify.KeyReady) handing over link, as the
// sandbox shows it.
func keyMessage(id int64, link string, sent time.Time) sandboxtg.Message {
	return sandboxtg.Message{ID: id, Photo: []byte("qr " + link), Date: sent,
		Plain: "Your VPN key is ready.\n\n" + keyIntro + link + "\n\nInstall the Outline app."}
}

// healthy is a small run in which every invariant held and everything a
// soak must exercise happened: each check passes on it.
func healthy() *Records {
	// The trial's 15 minutes, then 20 more for each invoice paid before
	// the period's end.
	paid := func(inv int64) time.Time { return at(15*time.Minute + time.Duration(inv)*20*time.Minute) }
	// confirm is the receipt of the nth payment, invoice inv.
	confirm := func(inv, nth int64, sent time.Duration) sandboxtg.Message {
		ui := botui.TextsIn(botui.English)
		return sandboxtg.Message{ID: 10 + inv, Plain: fmt.Sprintf(ui.PaymentReceived, ui.Date(paid(nth))), Date: at(sent)}
	}
	applied := []Applied{
		{Fault: Fault{Kind: KindKill, Target: localstack.ServiceID{Name: localstack.BotHandler, Label: "bot-handler-0"}}, Began: at(60 * time.Second), Ended: at(65 * time.Second)},
		{Fault: Fault{Kind: KindKill, Target: localstack.ServiceID{Name: localstack.Sender, Replica: 1, Label: "sender-1"}}, Began: at(70 * time.Second), Ended: at(74 * time.Second)},
		{Fault: Fault{Kind: KindNATS}, Began: at(80 * time.Second), Ended: at(90 * time.Second)},
		{Fault: Fault{Kind: KindPostgres, For: 20 * time.Second}, Began: at(100 * time.Second), Ended: at(120 * time.Second)},
		{Fault: Fault{Kind: KindPanel, Panel: panelB}, Began: at(130 * time.Second), Ended: at(190 * time.Second)},
		{Fault: Fault{Kind: KindTelegram, For: 30 * time.Second}, Began: at(200 * time.Second), Ended: at(230 * time.Second)},
	}
	return &Records{
		Start: t0, DriveEnd: at(10 * time.Minute), Drained: at(11 * time.Minute),
		Timing: Timing{
			Trial: 15 * time.Minute, Grace: time.Minute, WorkerInterval: 10 * time.Second,
			CallbackMaxAge: time.Minute, Partitions: 64, SenderInFlight: 32,
		},
		Applied: applied,
		Ledger: LedgerFacts{Rows: map[string]int{
			shop.LedgerTrial: 2, shop.LedgerPayment: 4, shop.LedgerTopUp: 1, shop.LedgerPurchase: 1, shop.LedgerReferral: 1,
			shop.LedgerPromo: 1, shop.LedgerRenewal: 1,
		}},
		Updates: []Update{
			{SentUpdate: SentUpdate{ID: 1, Chat: alice, Kind: UpdateMessage, What: "/start", At: at(time.Second)}, Answers: []time.Time{at(2 * time.Second)}},
			{SentUpdate: SentUpdate{ID: 2, Chat: abuserID, Kind: UpdateMessage, What: "let me in (0)", At: at(310 * time.Second)}, Answers: []time.Time{at(311 * time.Second)}},
			{SentUpdate: SentUpdate{ID: 3, Chat: abuserID, Kind: UpdateMessage, What: "let me in (1)", At: at(320 * time.Second)}},
		},
		Payments: []PaidRecord{
			{Payment: Payment{User: alice, Provider: shop.ProviderCryptoPay, How: PayWebhook, External: "501", At: at(10 * time.Second)}, Invoice: 1},
			{Payment: Payment{User: alice, Provider: shop.ProviderCryptoPay, How: PayPoll, External: "502", At: at(20 * time.Second)}, Invoice: 2},
			{Payment: Payment{User: alice, Provider: shop.ProviderStars, How: PayStars, External: "stxA", At: at(30 * time.Second)}, Invoice: 3},
			{Payment: Payment{User: alice, Provider: shop.ProviderStars, How: PayMiniApp, External: "stxM", At: at(35 * time.Second)}, Invoice: 5},
		},
		Periods: []Period{
			{ID: 10, User: alice, Kind: shop.KindPaid, Status: "active", Starts: t0, Expires: paid(4), Grants: []Grant{
				{At: t0, For: 15 * time.Minute, Kind: shop.LedgerTrial, Key: "trial:7"},
				{At: at(11 * time.Second), For: 20 * time.Minute, Invoice: 1, Kind: shop.LedgerPayment, Key: "payment:1"},
				{At: at(25 * time.Second), For: 20 * time.Minute, Invoice: 2, Kind: shop.LedgerPayment, Key: "payment:2"},
				{At: at(31 * time.Second), For: 20 * time.Minute, Invoice: 3, Kind: shop.LedgerPayment, Key: "payment:3"},
				{At: at(36 * time.Second), For: 20 * time.Minute, Invoice: 5, Kind: shop.LedgerPayment, Key: "payment:5"},
			}},
			{ID: 11, User: bob, Kind: shop.KindTrial, Status: "revoked", Starts: at(-14 * time.Minute), Expires: at(time.Minute),
				Revoked: at(2*time.Minute + 5*time.Second), Grants: []Grant{{At: at(-14 * time.Minute), For: 15 * time.Minute, Kind: shop.LedgerTrial, Key: "trial:8"}}},
		},
		Accesses: []Access{
			{Period: 10, User: alice, URL: "ss://alice", Key: keyOf(panelA, alice).KeyID, Created: at(3 * time.Second)},
			{Period: 11, User: bob, URL: "ss://bob", Key: keyOf(panelB, bob).KeyID, Created: at(-14 * time.Minute), Revoked: at(2*time.Minute + 5*time.Second)},
		},
		Chats: map[int64][]sandboxtg.Message{
			alice: {
				{ID: 2, ReplyTo: 1, Plain: "Welcome", Date: at(2 * time.Second)},
				keyMessage(3, "ss://alice", at(5*time.Second)),
				confirm(1, 1, 12*time.Second), confirm(2, 2, 27*time.Second), confirm(3, 3, 32*time.Second), confirm(5, 4, 37*time.Second),
				{ID: 20, Plain: "Soak notice #1", Date: at(40 * time.Second)},
			},
			bob:      {keyMessage(1, "ss://bob", at(-13*time.Minute)), {ID: 2, Plain: adminMessage, Date: at(441 * time.Second)}},
			abuserID: {{ID: 1, Plain: "Your access to this bot is suspended. If you think this is a mistake, write to @support.", Date: at(311 * time.Second)}},
		},
		SentLog: []Sent{
			{DedupID: "key:10:aa", Chat: alice, MessageID: 3, At: at(5 * time.Second)},
			{DedupID: "payment:1", Chat: alice, MessageID: 11, At: at(12 * time.Second)},
			{DedupID: "payment:2", Chat: alice, MessageID: 12, At: at(27 * time.Second)},
			{DedupID: "broadcast:1:7", Chat: alice, MessageID: 20, At: at(40 * time.Second)},
			{DedupID: "key:11:bb", Chat: bob, MessageID: 1, At: at(-13 * time.Minute)},
			{DedupID: "tg:1:110:message:8:0", Chat: bob, MessageID: 2, At: at(441 * time.Second)},
		},
		Broadcasts: []Broadcast{{ID: 1, Recipients: []int64{alice}}},
		ProviderInvoices: []ProviderInvoice{
			{ID: 501, Created: at(8 * time.Second)}, {ID: 502, Created: at(18 * time.Second)}, {ID: 503, Created: at(300 * time.Second)},
		},
		Orders: []Order{
			{ID: 1, User: alice, Plan: "demo", External: 501}, {ID: 2, User: alice, Plan: "demo", External: 502},
			{ID: 4, User: alice, Plan: "demo", External: 503, OnOffer: true},
		},
		Admin:     healthyAdmin(),
		Panels:    []string{panelA, panelB},
		PanelKeys: []PanelKey{keyOf(panelA, alice)},
		Panel: PanelView{Overdue: map[int64]Overdue{}, RevokedKept: map[int64]time.Time{}, Unbacked: map[KeyID]time.Time{},
			Doubled: map[int64]Doubled{}},
	}
}

// healthyAdmin is the admin's card actions of the healthy run: the abuser
// banned and unbanned, alice's period extended, a new key for bob, her
// Stars payment refunded, and balance and a message for bob, each pressed
// twice and done once.
func healthyAdmin() AdminFacts {
	return AdminFacts{
		Presses: []AdminPress{
			{Action: shop.ActionBan, Target: abuserID, At: at(300 * time.Second), Done: true},
			{Action: shop.ActionUnban, Target: abuserID, At: at(400 * time.Second), Done: true},
			{Action: shop.ActionExtend, Target: alice, At: at(410 * time.Second), Done: true},
			{Action: shop.ActionReissue, Target: bob, At: at(420 * time.Second), Done: true},
			{Action: shop.ActionRefund, Target: alice, Invoice: 3, At: at(430 * time.Second), Done: true},
			{Action: shop.ActionGrantBalance, Target: bob, Answer: grantAnswer, At: at(435 * time.Second), Done: true},
			{Action: shop.ActionMessage, Target: bob, Answer: adminMessage, At: at(440 * time.Second), Done: true},
		},
		Ban: BanWindow{From: at(300 * time.Second), To: at(401 * time.Second)},
		Audit: []AuditRow{
			{OpKey: "tg:1:50:ban:900002:0", Action: shop.ActionBan, Target: abuserID},
			{OpKey: "tg:1:60:unban:900002:0", Action: shop.ActionUnban, Target: abuserID},
			{OpKey: "tg:1:70:extend:7:7", Action: shop.ActionExtend, Target: alice, Grants: 1},
			{OpKey: "tg:1:80:reissue:8:0", Action: shop.ActionReissue, Target: bob},
			{OpKey: "tg:1:90:refund:7:3", Action: shop.ActionRefund, Target: alice, Invoice: 3},
			{OpKey: "tg:1:100:grant_balance:8:150", Action: shop.ActionGrantBalance, Target: bob, Grants: 1},
			{OpKey: "tg:1:110:message:8:0", Action: shop.ActionMessage, Target: bob},
		},
		Refunds:   map[int64]int{3: 1},
		StarsBack: map[int64]bool{3: true},
		Suspended: 1,
	}
}

// requireBroken judges r and requires a violation of check that names what.
func requireBroken(t *testing.T, r *Records, check, what string) {
	t.Helper()
	v := judge(r)
	for _, x := range v.Violations {
		if x.Check == check {
			require.Contains(t, x.What, what)
			for _, row := range v.Rows {
				if row.Check == check {
					require.False(t, row.OK, "the row of a broken check says so")
				}
			}
			return
		}
	}
	t.Fatalf("no violation of %q; the violations: %+v", check, v.Violations)
}

func TestHealthyRecordsPassEveryCheck(t *testing.T) {
	v := judge(healthy())
	require.Empty(t, v.Violations)
	for _, row := range v.Rows {
		require.True(t, row.OK, "%s: %s", row.Check, row.Result)
	}
}

// TestEveryCheckFailsOnABrokenRecord breaks the healthy run one way at a
// time, as a fault in the system would: each check must catch it and name
// the update, invoice, period, key or message.
func TestEveryCheckFailsOnABrokenRecord(t *testing.T) {
	for _, c := range []struct {
		name, check, what string
		breakFunc         func(r *Records)
	}{
		{"an update answered twice, no fault between", checkUpdates, "update 1 ", func(r *Records) {
			r.Updates[0].Answers = append(r.Updates[0].Answers, at(3*time.Second))
		}},
		{"an update answered three times across one kill", checkUpdates, "answered 3 times", func(r *Records) {
			r.Updates[0].Answers = []time.Time{at(59 * time.Second), at(90 * time.Second), at(95 * time.Second)}
		}},
		{"an update never answered", checkUpdates, "update 1 (message \"/start\"", func(r *Records) { r.Updates[0].Answers = nil }},
		{"an update dead-lettered", checkUpdates, "went to the DLQ", func(r *Records) { r.Updates[0].DeadLetter = "timeout" }},
		{"an admin action pressed twice recorded twice", checkAdmin, "extend of user 7 pressed twice", func(r *Records) {
			r.Admin.Audit = append(r.Admin.Audit, AuditRow{OpKey: "tg:1:99:extend:7:7", Action: shop.ActionExtend, Target: alice, Grants: 1})
		}},
		{"an extension recorded without its grant", checkAdmin, "wrote 0 ledger grants", func(r *Records) { r.Admin.Audit[2].Grants = 0 }},
		{"an extension granted twice", checkAdmin, "wrote 2 ledger grants", func(r *Records) { r.Admin.Audit[2].Grants = 2 }},
		{"a balance granted twice", checkAdmin, "grant_balance of user 8 pressed twice at 7:15 wrote 2 ledger grants", func(r *Records) {
			r.Admin.Audit[5].Grants = 2
		}},
		{"an admin's message sent twice", checkAdmin, "the user got the message 2 times", func(r *Records) {
			r.Chats[bob] = append(r.Chats[bob], sandboxtg.Message{ID: 3, Plain: adminMessage, Date: at(442 * time.Second)})
		}},
		{"an admin's message never delivered", checkAdmin, "the user got the message 0 times", func(r *Records) {
			r.Chats[bob] = r.Chats[bob][:1]
		}},
		{"a refund reversed twice", checkAdmin, "invoice 3 has 2 reversals", func(r *Records) { r.Admin.Refunds[3] = 2 }},
		{"a refund whose Stars never went back", checkAdmin, "Stars given back: false", func(r *Records) { r.Admin.StarsBack[3] = false }},
		{"a banned user's key working at the end", checkAdmin, "user 900002", func(r *Records) {
			r.Admin.BannedLive = []string{"user 900002 (live access: false, working on a panel: true)"}
		}},
		{"a ban no activation applied", checkAdmin, "no activation suspended", func(r *Records) { r.Admin.Suspended = 0 }},
		{"a banned user answered twice", checkAdmin, "2 answers", func(r *Records) {
			r.Updates[2].Answers = []time.Time{at(321 * time.Second)}
		}},
		{"a banned user told twice", checkAdmin, "2 ban notices", func(r *Records) {
			r.Chats[abuserID] = append(r.Chats[abuserID], sandboxtg.Message{ID: 2, Plain: "Ваш доступ к боту приостановлен.", Date: at(322 * time.Second)})
		}},
		{"an admin action never done", checkCoverage, "no admin reissue", func(r *Records) { r.Admin.Presses = r.Admin.Presses[:3] }},
		{"a second link beyond the admin's new key", checkOneLink, "user 8 was given 3 links", func(r *Records) {
			r.Chats[bob] = append(r.Chats[bob], keyMessage(2, "ss://bob2", at(430*time.Second)), keyMessage(3, "ss://bob3", at(440*time.Second)))
		}},
		{"a press skipped as stale with nothing to hold it up", checkUpdates, "no fault to hold it up", func(r *Records) {
			r.Updates[0].Answers, r.Updates[0].Stale = nil, true
			r.Updates[0].At = at(5 * time.Minute)
		}},
		{"a period extended twice by one payment", checkApplied, "period 10 of user 7", func(r *Records) {
			r.Periods[0].Expires = r.Periods[0].Expires.Add(20 * time.Minute)
		}},
		{"a payment never applied", checkApplied, "stxA", func(r *Records) { r.Payments[2].Invoice = 0 }},
		{"an invoice paid by no one", checkApplied, "invoice 9", func(r *Records) {
			r.Payments = append(r.Payments, PaidRecord{Payment: Payment{Provider: shop.ProviderStars, How: "unknown"}, Invoice: 9})
		}},
		{"a payment never confirmed", checkConfirmed, "invoice 2", func(r *Records) {
			r.Chats[alice] = append(r.Chats[alice][:3], r.Chats[alice][4:]...)
		}},
		{"a Stars payment confirmed twice, no fault between", checkConfirmed, "invoice 3", func(r *Records) {
			again := r.Chats[alice][4]
			again.ID, again.Date = 30, at(33*time.Second)
			r.Chats[alice] = append(r.Chats[alice], again)
		}},
		{"a key delivered twice, no fault between", checkKeys, "period 10", func(r *Records) {
			again := r.Chats[alice][1]
			again.ID, again.Date = 31, at(6*time.Second)
			r.Chats[alice] = append(r.Chats[alice], again)
		}},
		{"a key never delivered", checkKeys, "period 11", func(r *Records) { r.Chats[bob] = nil }},
		{"a live period without a key", checkKeys, "period 12 of user 7", func(r *Records) {
			r.Periods = append(r.Periods, Period{ID: 12, User: alice, Kind: shop.KindTrial, Starts: at(time.Minute), Expires: at(time.Hour),
				Grants: []Grant{{At: at(time.Minute), For: 59 * time.Minute}}})
		}},
		{"a period revoked long past its expiry + grace", checkExpired, "period 11 of user 7", func(r *Records) {
			r.Periods[1].User = alice
			r.Periods[1].Revoked = at(5 * time.Minute)
		}},
		{"a key seen on the panel long past due", checkExpired, "period 10's key", func(r *Records) {
			r.Panel.Overdue[10] = Overdue{Period: 10, Due: at(5 * time.Minute), Seen: at(6 * time.Minute)}
		}},
		{"a period revoked before its key was blocked", checkExpired, "period 11 was revoked while", func(r *Records) {
			r.Panel.RevokedKept[11] = at(2 * time.Minute)
		}},
		{"a revoked period's key left working on the panel", checkOrphans, "outline-2/vpnbot_u8", func(r *Records) {
			r.PanelKeys = append(r.PanelKeys, keyOf(panelB, bob))
		}},
		{"a live period's key not working on the panel", checkOrphans, "period 10 of user 7 is live", func(r *Records) { r.PanelKeys = nil }},
		{"a key on the panel nobody backs, for long", checkOrphans, "outline/vpnbot_u99", func(r *Records) {
			r.PanelKeys = append(r.PanelKeys, keyOf(panelA, 99))
			r.Panel.Unbacked[keyOf(panelA, 99).KeyID] = t0
		}},
		{"a user seen with a working account on each panel, no fault before", checkOneLink, "user 7 had 2 working accounts at once (outline-2/vpnbot_u7, outline/vpnbot_u7), seen at 5:00", func(r *Records) {
			r.Panel.Doubled[alice] = Doubled{Seen: at(5 * time.Minute), Keys: []KeyID{keyOf(panelA, alice).KeyID, keyOf(panelB, alice).KeyID}}
		}},
		{"a user left with a working account on each panel at the end", checkOneLink, "user 7 had 2 working accounts at once", func(r *Records) {
			r.PanelKeys = append(r.PanelKeys, keyOf(panelB, alice))
		}},
		{"a user given a second link", checkOneLink, "user 7 was given 2 links in 2 key messages, at 0:05, 0:50: ss://alice, ss://alice-2", func(r *Records) {
			r.Chats[alice] = append(r.Chats[alice], keyMessage(50, "ss://alice-2", at(50*time.Second)))
		}},
		{"a broadcast sent twice, no fault between", checkSentOnce, "broadcast:1:7", func(r *Records) {
			r.Chats[alice] = append(r.Chats[alice], sandboxtg.Message{ID: 40, Plain: "Soak notice #1", Date: at(50 * time.Second)})
		}},
		{"a recorded command not in the chat", checkSentOnce, "message 77", func(r *Records) { r.SentLog[3].MessageID = 77 }},
		{"a broadcast that missed a recipient", checkBroadcasts, "user 8", func(r *Records) {
			r.Broadcasts[0].Recipients = append(r.Broadcasts[0].Recipients, bob)
		}},
		{"an invoice at Crypto Pay that is no order's, no fault near", checkOffers, "Crypto Pay invoice 504", func(r *Records) {
			r.ProviderInvoices = append(r.ProviderInvoices, ProviderInvoice{ID: 504, Created: at(300 * time.Second)})
		}},
		{"two orders of one plan on offer to one user", checkOffers, "2 orders on offer", func(r *Records) {
			r.Orders = append(r.Orders, Order{ID: 5, User: alice, Plan: "demo", OnOffer: true})
		}},
		{"a 429 of the flood limits", checkLimits, "sendMessage to chat 7", func(r *Records) {
			r.Floods = []sandboxtg.Flood{{At: at(time.Minute), Method: "sendMessage", ChatID: alice}}
		}},
		{"a dead letter", checkDLQ, "OUTBOX", func(r *Records) {
			r.DLQ = []bus.DLQEntry{{Stream: "OUTBOX", Subject: "outbox.transactional.3", MsgID: "key:10:aa", Reason: "max_deliver", Time: at(time.Minute)}}
		}},
		{"a service that exited on its own", checkRestarts, "activation-1 exited", func(r *Records) {
			r.Restarts = []Restart{{Exit: localstack.Exit{ServiceID: localstack.ServiceID{Name: localstack.Activation, Replica: 1, Label: "activation-1"},
				At: at(time.Minute), Err: errors.New("exit status 2")}}}
		}},
		{"a killed service that did not come back", checkRestarts, "kill sender-1", func(r *Records) {
			r.Applied[1].Err = errors.New("not started again within 2m0s")
		}},
		{"a balance that is not the sum of its rows", checkLedger, "user 7 XTR: balance 250, rows 0", func(r *Records) {
			r.Ledger.Mismatched = []string{"user 7 XTR: balance 250, rows 0"}
		}},
		{"a negative balance", checkLedger, "user 8: -1 USD", func(r *Records) { r.Ledger.Negative = []string{"user 8: -1 USD"} }},
		{"a paid invoice without its row", checkLedger, "invoice 3 is paid", func(r *Records) { r.Ledger.Unrecorded = []int64{3} }},
		{"a referral reward given twice", checkLedger, "referral:5:inviter", func(r *Records) {
			r.Ledger.Referrals = []string{"invoice 5: 2 rows referral:5:inviter"}
		}},
		{"a promo code over its limit", checkLedger, "used 11 times, over its limit of 10", func(r *Records) {
			r.Ledger.Promos = []string{"promo code SOAK used 11 times, over its limit of 10"}
		}},
		{"a period renewed twice in a cycle", checkLedger, "2 renewals came within", func(r *Records) { r.Ledger.RepeatedRenewals = 2 }},
		{"a row of an unpaid invoice", checkLedger, "payment of invoice 4", func(r *Records) { r.Ledger.Unpaid = []int64{4} }},
		{"work left in flight", checkDrained, "3 messages in OUTBOX", func(r *Records) { r.DrainLeft = []string{"3 messages in OUTBOX"} }},
		{"no Stars payment in the run", checkCoverage, "no Stars payments", func(r *Records) {
			r.Payments[2].How = PayWebhook
		}},
		{"no purchase from the balance in the run", checkCoverage, "no purchases from the balance", func(r *Records) {
			delete(r.Ledger.Rows, shop.LedgerPurchase)
		}},
		{"a panel that took no user", checkCoverage, "no accounts on outline-2", func(r *Records) {
			r.Accesses[1].Key.Panel = panelA
		}},
		{"a fault that never played", checkCoverage, "no panel-failing faults", func(r *Records) {
			r.Applied[4].Kind = KindKill
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := healthy()
			c.breakFunc(r)
			requireBroken(t, r, c.check, c.what)
		})
	}
}

// TestRepeatsInFlightAtAFaultAreAllowedAndCounted: what a kill, a cut or
// 429s may repeat is no violation, but is charged to the fault.
func TestRepeatsInFlightAtAFaultAreAllowedAndCounted(t *testing.T) {
	r := healthy()
	// The update answered just before bot-handler-0 was killed, and again
	// when it was redelivered.
	r.Updates[0].Answers = []time.Time{at(59 * time.Second), at(90 * time.Second)}
	// The broadcast sent just before sender-1 was killed, and again.
	r.Chats[alice] = append(r.Chats[alice], sandboxtg.Message{ID: 40, Plain: "Soak notice #1", Date: at(75 * time.Second)})
	r.Chats[alice][5].Date = at(69 * time.Second)
	r.SentLog[3].At = at(69 * time.Second)
	// An invoice Crypto Pay made just before bot-handler-0 was killed,
	// which the press's retry replaced with another.
	r.ProviderInvoices = append(r.ProviderInvoices, ProviderInvoice{ID: 504, Created: at(58 * time.Second)})
	v := judge(r)
	require.Empty(t, v.Violations)
	require.Contains(t, v.Rows[0].Result, "1 (1 at kill bot-handler-0 @1:00)")
	for _, row := range v.Rows {
		switch row.Check {
		case checkSentOnce:
			require.Contains(t, row.Result, "1 (1 at kill sender-1 @1:10)")
		case checkOffers:
			require.Contains(t, row.Result, "1 (1 at kill bot-handler-0 @1:00)")
		}
	}
}

func TestReplayExtendsFromTheLaterOfNowAndTheExpiry(t *testing.T) {
	p := Period{Grants: []Grant{
		{At: t0, For: 15 * time.Minute, Kind: shop.LedgerTrial},
		{At: at(5 * time.Minute), For: 20 * time.Minute, Invoice: 1, Kind: shop.LedgerPayment},     // before the expiry: from it
		{At: at(40 * time.Minute), For: 20 * time.Minute, Invoice: 2, Kind: shop.LedgerPayment},    // expired 5 minutes: from now
		{At: at(45 * time.Minute), For: -5 * time.Minute, Invoice: 1, Kind: shop.LedgerRefund},     // invoice 1 refunded: what it took back
		{At: at(50 * time.Minute), For: 7 * 24 * time.Hour, Invoice: 3, Kind: shop.LedgerReferral}, // a reward for invoice 3, another user's
	}}
	expires, after := replay(p)
	require.Equal(t, at(35*time.Minute), after[1], "the refund is not invoice 1's payment")
	require.Equal(t, at(60*time.Minute), after[2])
	require.NotContains(t, after, int64(3), "a referral reward is not its invoice's payment")
	require.Equal(t, at(55*time.Minute).Add(7*24*time.Hour), expires)
}

// TestARepeatIsChargedToTheFaultThatFailedTheAttempt: an update retried
// after a 429, while a kill of a bot-handler also happened before the
// retry, is charged to the 429s under way when it was first answered, not
// to the kill.
func TestARepeatIsChargedToTheFaultThatFailedTheAttempt(t *testing.T) {
	r := healthy()
	// Recorded first, as a kill that ends before the 429s would be.
	r.Applied = append([]Applied{{
		Fault: Fault{Kind: KindKill, Target: localstack.ServiceID{Name: localstack.BotHandler, Replica: 1, Label: "bot-handler-1"}},
		Began: at(210 * time.Second), Ended: at(215 * time.Second),
	}}, r.Applied...)
	r.Updates[0].Answers = []time.Time{at(205 * time.Second), at(212 * time.Second)}
	v := judge(r)
	require.Empty(t, v.Violations)
	require.Contains(t, v.Rows[0].Result, "1 (1 at telegram-429 @3:20)")
}

// A user keeps one key across periods: the key of a revoked period that
// works again for the user's live period breaks nothing, and is still
// checked against that live period.
func TestAKeyKeptAcrossPeriodsIsBackedByTheLiveOne(t *testing.T) {
	r := healthy()
	r.Periods = append(r.Periods, Period{ID: 12, User: bob, Kind: shop.KindPaid, Status: "active",
		Starts: at(3 * time.Minute), Expires: at(40 * time.Minute)})
	r.Accesses = append(r.Accesses, Access{Period: 12, User: bob, URL: "ss://bob", Key: keyOf(panelB, bob).KeyID, Created: at(3 * time.Minute)})
	r.PanelKeys = append(r.PanelKeys, keyOf(panelB, bob))
	v := &Verdict{}
	v.orphans(r)
	require.Empty(t, v.Violations)

	r.PanelKeys = r.PanelKeys[:1]
	v = &Verdict{}
	v.orphans(r)
	require.Len(t, v.Violations, 1)
	require.Contains(t, v.Violations[0].What, "period 12 of user")
}

// TestOneLinkPerUser: a user's later key messages with the link they have
// break nothing; a user seen with two working accounts does, whatever
// faults came before.
func TestOneLinkPerUser(t *testing.T) {
	r := healthy()
	// Bob's renewal after the revocation: his account enabled again, its
	// link delivered again.
	r.Chats[bob] = append(r.Chats[bob], keyMessage(2, "ss://bob", at(4*time.Minute)))
	v := &Verdict{}
	v.oneLink(r)
	require.Empty(t, v.Violations)
	require.Len(t, v.Rows, 1)
	require.True(t, v.Rows[0].OK)
	require.Equal(t, "2 users given a key (their accounts: outline 1, outline-2 1); given more than one link: 0; "+
		"with two working accounts at once: 0", v.Rows[0].Result)

	// Alice on both panels, right after PostgreSQL's cut.
	r.Panel.Doubled[alice] = Doubled{Seen: at(150 * time.Second), Keys: []KeyID{keyOf(panelB, alice).KeyID, keyOf(panelA, alice).KeyID}}
	v = &Verdict{}
	v.oneLink(r)
	require.Len(t, v.Violations, 1)
	require.Contains(t, v.Violations[0].What, "user 7 had 2 working accounts at once")
	require.False(t, v.Rows[0].OK)
}

// A user's accounts on two panels are two keys though the panels give them
// the same id: the watch and the checks tell keys apart by panel too.
func TestKeysOfOneIDOnTwoPanelsAreTwoKeys(t *testing.T) {
	r := healthy()
	r.Accesses[1].Key = keyOf(panelA, bob).KeyID
	r.PanelKeys = append(r.PanelKeys, keyOf(panelB, bob))
	r.Panel.Unbacked[keyOf(panelB, bob).KeyID] = t0
	v := &Verdict{}
	v.orphans(r)
	require.Len(t, v.Violations, 1)
	require.Contains(t, v.Violations[0].What, "key outline-2/vpnbot_u8 works on the panel with no period behind it")
}

// A user who renews after the revocation gets a new period, whose key is the
// link they have, delivered once more: once for each period, not twice for
// the first.
func TestTheSameLinkIsDeliveredOncePerPeriod(t *testing.T) {
	r := healthy()
	r.Periods = append(r.Periods, Period{ID: 12, User: bob, Kind: shop.KindPaid, Status: "active",
		Starts: at(3 * time.Minute), Expires: at(40 * time.Minute)})
	r.Accesses = append(r.Accesses, Access{Period: 12, User: bob, URL: "ss://bob", Key: keyOf(panelB, bob).KeyID, Created: at(3 * time.Minute)})
	r.Chats[bob] = append(r.Chats[bob], keyMessage(2, "ss://bob", at(3*time.Minute+time.Second)))
	v := &Verdict{}
	v.keys(r)
	require.Empty(t, v.Violations)

	r.Chats[bob] = append(r.Chats[bob], keyMessage(3, "ss://bob", at(5*time.Minute)))
	v = &Verdict{}
	v.keys(r)
	require.Len(t, v.Violations, 1)
	require.Contains(t, v.Violations[0].What, "the key of period 12 (user 8, made 3:00) was delivered 2 times, at 3:01, 5:00")
}

// TestTopUpsOfOneAmountAreEachConfirmedOnce: a user's top-ups of one amount
// have confirmations that differ only in the balance; each is matched to
// the first confirmation after it, and one more is a repeat.
func TestTopUpsOfOneAmountAreEachConfirmedOnce(t *testing.T) {
	toppedUp := func(balance string, sent time.Duration) sandboxtg.Message {
		return sandboxtg.Message{ID: 40 + int64(sent/time.Second), Date: at(sent),
			Plain: fmt.Sprintf(botui.BalanceTextsIn(botui.English).TopUpReceived, "50 ⭐", balance)}
	}
	withTopUps := func() *Records {
		r := healthy()
		for i, paid := range []time.Duration{5 * time.Minute, 7 * time.Minute} {
			r.Payments = append(r.Payments, PaidRecord{Invoice: int64(50 + i), Payment: Payment{
				User: bob, Provider: shop.ProviderStars, How: PayStars, External: fmt.Sprintf("stxT%d", i), At: at(paid), TopUp: 50}})
		}
		r.Chats[bob] = append(r.Chats[bob], toppedUp("50 ⭐", 5*time.Minute+time.Second), toppedUp("99 ⭐", 7*time.Minute+time.Second))
		return r
	}
	v := judge(withTopUps())
	require.Empty(t, v.Violations, "two top-ups, two confirmations")

	r := withTopUps()
	r.Chats[bob] = append(r.Chats[bob], toppedUp("99 ⭐", 8*time.Minute))
	requireBroken(t, r, checkConfirmed, "user 8's top-up of 50 stars was confirmed again at 8:00")

	r = withTopUps()
	r.Chats[bob] = r.Chats[bob][:len(r.Chats[bob])-1]
	requireBroken(t, r, checkConfirmed, "invoice 51 (user 8, top-up of 50 stars, paid 7:00) was never confirmed")
}

// TestTwoCommandsThatSayTheSameAreNoRepeat: a reminder sent late and the
// next stage's a moment after say the same thing; that is two commands
// sent once each, and only a third such message is a repeat.
func TestTwoCommandsThatSayTheSameAreNoRepeat(t *testing.T) {
	reminder := func(id int64, sent time.Duration) sandboxtg.Message {
		return sandboxtg.Message{ID: id, Plain: "⏳ Your subscription ends on 2 Jan 2027 12:09 UTC (in 5 minutes).", Date: at(sent)}
	}
	withReminders := func() *Records {
		r := healthy()
		r.Chats[bob] = append(r.Chats[bob], reminder(50, 5*time.Minute), reminder(51, 5*time.Minute+9*time.Second))
		r.SentLog = append(r.SentLog,
			Sent{DedupID: "reminder_10m:11:1", Chat: bob, MessageID: 50, At: at(5 * time.Minute)},
			Sent{DedupID: "reminder_5m:11:1", Chat: bob, MessageID: 51, At: at(5*time.Minute + 9*time.Second)})
		return r
	}
	require.Empty(t, judge(withReminders()).Violations)

	r := withReminders()
	r.Chats[bob] = append(r.Chats[bob], reminder(52, 6*time.Minute))
	requireBroken(t, r, checkSentOnce, "reminder_")
}

// A refund that takes a payment's days back makes the next payment leave
// the same expiry, so its receipt says what the first one's did: one
// receipt per payment is no repeat, a third is.
func TestReceiptsAlikeAfterARefundAreNoRepeat(t *testing.T) {
	alike := func() *Records {
		r := healthy()
		ui := botui.TextsIn(botui.English)
		r.Periods[0].Expires = at(75 * time.Minute)
		r.Periods[0].Grants = []Grant{
			{At: t0, For: 15 * time.Minute, Kind: shop.LedgerTrial, Key: "trial:7"},
			{At: at(11 * time.Second), For: 20 * time.Minute, Invoice: 1, Kind: shop.LedgerPayment, Key: "payment:1"},
			{At: at(25 * time.Second), For: 20 * time.Minute, Invoice: 2, Kind: shop.LedgerPayment, Key: "payment:2"},
			{At: at(28 * time.Second), For: -20 * time.Minute, Invoice: 2, Kind: shop.LedgerRefund, Key: "refund:2"},
			{At: at(31 * time.Second), For: 20 * time.Minute, Invoice: 3, Kind: shop.LedgerPayment, Key: "payment:3"},
			{At: at(36 * time.Second), For: 20 * time.Minute, Invoice: 5, Kind: shop.LedgerPayment, Key: "payment:5"},
		}
		first := fmt.Sprintf(ui.PaymentReceived, ui.Date(at(35*time.Minute)))
		receipt := fmt.Sprintf(ui.PaymentReceived, ui.Date(at(55*time.Minute)))
		r.Chats[alice] = []sandboxtg.Message{
			{ID: 2, ReplyTo: 1, Plain: "Welcome", Date: at(2 * time.Second)},
			keyMessage(3, "ss://alice", at(5*time.Second)),
			{ID: 11, Plain: first, Date: at(12 * time.Second)},
			{ID: 12, Plain: receipt, Date: at(27 * time.Second)},
			{ID: 13, Plain: receipt, Date: at(32 * time.Second)},
			{ID: 15, Plain: fmt.Sprintf(ui.PaymentReceived, ui.Date(at(75*time.Minute))), Date: at(37 * time.Second)},
			{ID: 20, Plain: "Soak notice #1", Date: at(40 * time.Second)},
		}
		return r
	}
	require.Empty(t, judge(alike()).Violations)

	r := alike()
	r.Chats[alice] = append(r.Chats[alice], sandboxtg.Message{ID: 30, Plain: r.Chats[alice][3].Plain, Date: at(33 * time.Second)})
	requireBroken(t, r, checkSentOnce, "payment:2")
}

// The admin is one of "all": the broadcast's preview the bot-handler
// showed them says what the sender then sends them, and is no repeat.
func TestABroadcastsPreviewIsNoRepeat(t *testing.T) {
	withAdmin := func() *Records {
		r := healthy()
		r.Chats[adminID] = []sandboxtg.Message{
			{ID: 5, Plain: "Soak notice #1", Date: at(39 * time.Second)},
			{ID: 6, ReplyTo: 4, Plain: "Send it?", Date: at(39 * time.Second)},
			{ID: 7, Plain: "Soak notice #1", Date: at(40 * time.Second)},
		}
		r.SentLog = append(r.SentLog, Sent{DedupID: "broadcast:1:900001", Chat: adminID, MessageID: 7, At: at(40 * time.Second)})
		r.Broadcasts[0].Recipients = append(r.Broadcasts[0].Recipients, adminID)
		r.Admin.Previews = []int64{5}
		return r
	}
	require.Empty(t, judge(withAdmin()).Violations)

	r := withAdmin()
	r.Admin.Previews = nil
	requireBroken(t, r, checkSentOnce, "broadcast:1:900001")
}
