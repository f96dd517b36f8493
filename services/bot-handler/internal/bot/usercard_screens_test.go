package bot

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The admin tools' screens, in both languages, pinned in testdata/admin as
// TestScreensMatchGoldenFiles pins the others (-update rewrites them).
func TestAdminScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	paid := now.Add(-48 * time.Hour)
	info := shop.UserInfo{
		ID: 1001, ChatID: 1001, Username: "alice", FirstName: "Alice <3", LanguageCode: "en-US", Language: "en",
		StartParam: "promo42", CreatedAt: now.Add(-90 * 24 * time.Hour), Trial: &paid,
		Subscription: &shop.Subscription{ID: 9, UserID: 1001, Kind: shop.KindPaid, Status: shop.StatusActive,
			StartsAt: paid, ExpiresAt: now.Add(28 * 24 * time.Hour)},
		Invoices: []shop.Invoice{
			{ID: 18, PlanID: "m1", Provider: shop.ProviderStars, PriceStars: 250, Price: 250, Status: shop.InvoicePaid, PaidAt: &paid, CreatedAt: paid},
			{ID: 17, PlanID: "m1", Provider: shop.ProviderCryptoPay, PriceUSD: "4.99", Price: 499, Status: shop.InvoicePaid, CreatedAt: paid},
			{ID: 16, PlanID: "m3", Provider: shop.ProviderCryptoPay, PriceUSD: "10.39", Status: shop.InvoiceExpired, CreatedAt: paid},
		},
	}
	full := CardView{Act: true, Card: shop.UserCard{
		UserInfo: info,
		Role:     shop.RoleSupport,
		Balances: []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 501}, {Currency: shop.CurrencyXTR, Amount: 300}},
		Account:  &shop.Account{Panel: "outline", Name: "u1001", ExternalID: "42", URL: "ss://Y2hhY2hh@vpn.example.com:443/?outline=1"},
		History: []shop.Entry{
			{Kind: shop.LedgerGrant, Duration: 7 * 24 * time.Hour, CreatedAt: now},
			{Kind: shop.LedgerPayment, Currency: shop.CurrencyXTR, Money: 250, Duration: 30 * 24 * time.Hour, CreatedAt: paid},
			{Kind: shop.LedgerTopUp, Currency: shop.CurrencyUSD, Money: 1000, Amount: 1000, CreatedAt: paid},
			{Kind: shop.LedgerPurchase, Currency: shop.CurrencyUSD, Amount: -499, Duration: 30 * 24 * time.Hour, CreatedAt: paid},
			{Kind: shop.LedgerRefund, Currency: shop.CurrencyUSD, Money: -1000, Amount: -1000, CreatedAt: paid},
			{Kind: shop.LedgerTrial, Duration: 72 * time.Hour, CreatedAt: paid},
		},
	}}
	banned := full
	banned.Card.BannedAt = &now
	banned.Card.SuspendedAt = &now
	banned.Card.Role = ""
	readOnly := full
	readOnly.Act = false
	fresh := CardView{Act: true, Card: shop.UserCard{UserInfo: shop.UserInfo{ID: 1002, Language: "ru", CreatedAt: now}}}

	ask := func(act string, param int64) cardPress {
		return cardPress{step: stepAsk, act: act, target: info.ID, param: param, nonce: 123456789}
	}
	answered := func(act string, param int64) cardPress {
		return cardPress{step: stepYes, act: act, target: info.ID, param: param, nonce: 123456790}
	}
	stars, crypto := info.Invoices[0], info.Invoices[1]
	entries := []shop.AuditEntry{
		{ID: 3, AdminID: 777, Action: shop.ActionRefund, TargetID: 1001, Note: "returned by hand in Crypto Pay", CreatedAt: now,
			Before: map[string]any{"invoice_id": json.Number("17")},
			After:  map[string]any{"invoice_id": json.Number("17"), "money": json.Number("499"), "currency": "USD", "reversed": true}},
		{ID: 2, AdminID: 778, Action: shop.ActionBan, TargetID: 1001, CreatedAt: now,
			Before: map[string]any{"banned_at": nil}, After: map[string]any{"banned_at": "2027-01-02T15:04:00Z"}},
		{ID: 1, AdminID: 777, Action: shop.ActionExtend, TargetID: 1001, CreatedAt: paid,
			Before: map[string]any{"expires_at": "2027-01-23T15:04:00Z"}, After: map[string]any{"expires_at": "2027-01-30T15:04:00Z"}},
	}
	grants := []shop.RoleGrant{
		{UserID: 1001, Role: shop.RoleSupport, GrantedBy: 777, GrantedAt: now, Username: "alice"},
		{UserID: 1003, Role: shop.RoleAdmin, GrantedBy: 777, GrantedAt: paid},
	}

	screens := map[string]func(lang string) Screen{
		"card":          func(l string) Screen { return UserCardScreen(l, full) },
		"card_banned":   func(l string) Screen { return UserCardScreen(l, banned) },
		"card_support":  func(l string) Screen { return UserCardScreen(l, readOnly) },
		"card_new":      func(l string) Screen { return UserCardScreen(l, fresh) },
		"card_usage":    func(l string) Screen { return CardUsageScreen(l) },
		"card_no_user":  func(l string) Screen { return CardNoUserScreen(l, "@<nobody>") },
		"ask_extend":    func(l string) Screen { return CardQuestionScreen(l, ask(cardExtend, 30), info, nil) },
		"ask_shorten":   func(l string) Screen { return CardQuestionScreen(l, ask(cardShorten, 7), info, nil) },
		"ask_end":       func(l string) Screen { return CardQuestionScreen(l, ask(cardEnd, 0), info, nil) },
		"ask_ban":       func(l string) Screen { return CardQuestionScreen(l, ask(cardBan, 0), info, nil) },
		"ask_unban":     func(l string) Screen { return CardQuestionScreen(l, ask(cardUnban, 0), info, nil) },
		"ask_reissue":   func(l string) Screen { return CardQuestionScreen(l, ask(cardReissue, 0), info, nil) },
		"ask_refund":    func(l string) Screen { return CardQuestionScreen(l, ask(cardRefund, stars.ID), info, &stars) },
		"ask_refund_cp": func(l string) Screen { return CardQuestionScreen(l, ask(cardRefund, crypto.ID), info, &crypto) },
		"input_balance": func(l string) Screen { return CardInputScreen(l, cardBalance, info) },
		"input_message": func(l string) Screen { return CardInputScreen(l, cardMessage, info) },
		"ask_grant":     func(l string) Screen { return CardQuestionScreen(l, answered(cardGrantUSD, 250), info, nil) },
		"ask_take":      func(l string) Screen { return CardQuestionScreen(l, answered(cardGrantStars, -40), info, nil) },
		"ask_message": func(l string) Screen {
			return CardMessageQuestionScreen(l, answered(cardMessage, 0), info, "Hi <there>,\nyour key moved.")
		},
		"refunds":      func(l string) Screen { return CardRefundsScreen(l, full) },
		"refunds_none": func(l string) Screen { return CardRefundsScreen(l, fresh) },
		"refused":      func(l string) Screen { return CardRefusedScreen(l, shop.RoleSupport, UserCardScreen(l, readOnly)) },
		"result_extend": func(l string) Screen {
			result := fmt.Sprintf(adminTextsIn(l).ends, who(info), textsIn(l).Date(info.Subscription.ExpiresAt))
			return WithResult(withAgain(adminTextsIn(l), result, false), UserCardScreen(l, full))
		},
		"audit":          func(l string) Screen { return AuditScreen(l, "", entries) },
		"audit_user":     func(l string) Screen { return AuditScreen(l, "@alice", entries[:1]) },
		"audit_none":     func(l string) Screen { return AuditScreen(l, "", nil) },
		"roles":          func(l string) Screen { return RoleListScreen(l, grants) },
		"roles_none":     func(l string) Screen { return RoleListScreen(l, nil) },
		"role_granted":   func(l string) Screen { return RoleSetScreen(l, 1001, shop.RoleAdmin) },
		"role_revoked":   func(l string) Screen { return RoleSetScreen(l, 1001, "") },
		"role_usage":     func(l string) Screen { return RoleUsageScreen(l) },
		"banned":         func(l string) Screen { return BannedScreen(l, "@vpnbot_support") },
		"banned_payment": func(l string) Screen { return Screen{Text: BannedCheckoutRefusal(l)} },
	}
	requireGolden(t, filepath.Join("testdata", "admin"), screens)
}

// A card's buttons read back as they were made, and fit Telegram's 64
// bytes with the largest ids Telegram gives.
func TestCardPressesReadBack(t *testing.T) {
	t.Parallel()
	const maxUser, maxUpdate = 1<<52 - 1, 1<<32 - 1
	for _, p := range []cardPress{
		{step: stepCard, target: maxUser},
		{step: stepRefunds, target: 7},
		{step: stepAsk, act: cardExtend, target: maxUser, param: cardMonth},
		{step: stepYes, act: cardRefund, target: maxUser, param: maxUpdate, nonce: maxUpdate},
		{step: stepYes, act: cardBan, target: 1, nonce: 1},
		{step: stepInput, act: cardBalance, target: maxUser},
		{step: stepCancel, target: maxUser},
		{step: stepYes, act: cardGrantUSD, target: maxUser, param: -maxUser, nonce: maxUpdate},
		{step: stepYes, act: cardMessage, target: maxUser, nonce: maxUpdate},
	} {
		data := p.data()
		require.LessOrEqual(t, len(data), botui.MaxCallbackData, data)
		action, arg, _ := botui.ParseCallback(data)
		require.Equal(t, botui.ActionAdmin, action, data)
		got, ok := parseCardPress(arg)
		require.True(t, ok, data)
		require.Equal(t, p, got, data)
	}
	for _, arg := range []string{"", "c", "c:-:0:0:0", "a:nuke:1:0:0", "y:ban:1:0:0", "y:ban:1:0", "a:ext:-1:7:0",
		"z:ext:1:7:0", "x:ext:1:7:0", "a:ext:1:seven:0", strings.Repeat("a:", 5), "a:ext:1:-7:0", "y:gu:1:0:5", "a:gu:1:5:0",
		"a:msg:1:0:0", "i:ext:1:0:0", "i:gu:1:0:0"} {
		_, ok := parseCardPress(arg)
		require.False(t, ok, "%q", arg)
	}
}

func TestAdminCommandsReadAsWritten(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]roleCommand{
		"list":                 {action: roleList},
		"grant 1001 admin":     {action: roleGrant, who: "1001", role: shop.RoleAdmin},
		"GRANT @alice Support": {action: roleGrant, who: "@alice", role: shop.RoleSupport},
		"revoke @alice":        {action: roleRevoke, who: "@alice"},
		"  revoke   1001  ":    {action: roleRevoke, who: "1001"},
	} {
		got, ok := parseRoleCommand(args)
		require.True(t, ok, "%q", args)
		require.Equal(t, want, got, "%q", args)
	}
	for _, args := range []string{"", "grant 1001", "grant 1001 owner", "revoke", "list all", "promote 1001 admin"} {
		_, ok := parseRoleCommand(args)
		require.False(t, ok, "%q", args)
	}

	type grant struct {
		currency string
		amount   int64
	}
	for args, want := range map[string]grant{
		"5":         {shop.CurrencyUSD, 500},
		"$1.50":     {shop.CurrencyUSD, 150},
		"-2.5":      {shop.CurrencyUSD, -250},
		"100 stars": {shop.CurrencyXTR, 100},
		"-30 STARS": {shop.CurrencyXTR, -30},
	} {
		currency, amount, ok := parseGrant(args)
		require.True(t, ok, "%q", args)
		require.Equal(t, want, grant{currency, amount}, "%q", args)
	}
	for _, args := range []string{"", "0", "-0", "1.505", "five", "100 coins", "1.5 stars", "0 stars", "5 stars please"} {
		_, _, ok := parseGrant(args)
		require.False(t, ok, "%q", args)
	}

	for message, want := range map[string][2]string{
		"/msg 1001 hello":                  {"1001", "hello"},
		"/msg@vpn_bot @alice  two\nlines ": {"@alice", "two\nlines"},
		"/msg 1001":                        {"1001", ""},
		"/msg":                             {"", ""},
	} {
		user, rest := commandArgs(message)
		require.Equal(t, want, [2]string{user, rest}, "%q", message)
	}
}
