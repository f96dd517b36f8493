package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

const (
	// maxCaption is Telegram's limit on a photo caption, in characters.
	maxCaption = 1024
	// urlHashBytes of the key's SHA-256 go into its dedup id: a new key for
	// the same subscription is a new message, the same key is not.
	urlHashBytes = 8
)

// ErrKeyTooLong is returned by KeyReady for a key that does not fit a
// caption or a QR code. It stays so on retry: the worker should not retry it.
var ErrKeyTooLong = errors.New("key too long for a key message")

// Language is botui.Language, the one rule both the bot-handler and the
// workers read a language code with (users.language or Telegram's
// language_code): Russian for any "ru" variant, English otherwise. The
// messages here apply it themselves; workers call it where they name the
// language.
func Language(code string) string { return botui.Language(code) }

// Key is a VPN key to hand its user (KeyReady).
type Key struct {
	Lang           string
	ChatID         int64
	SubscriptionID int64
	URL            string
	// Location is the location the key is for; "" for none (the fleet
	// offers no choice, botui.Offered).
	Location string
	Expires  time.Time
	// App is the Mini App's URL, for an "Open app" button; "" for none.
	App string
}

// KeyReady is the message that hands a user their VPN key: a QR code of it
// (PNG) with a caption holding the expiry, the key itself in <code> so a tap
// copies it, a short setup hint for the kind of key (an Outline key: the
// Outline app; a subscription URL: a v2ray-style client), a "My
// subscription" button and, with an app, an "Open app" button; with a
// location, the location the key is for. Its dedup id is
// "key:<subscription>:<hash of url>", its priority transactional. A key too
// long for a caption or a QR code fails with ErrKeyTooLong.
func KeyReady(k Key) (*vpnbotv1.SendMessage, error) {
	t, ui := botui.Pick(k.Lang, &keyEN, &keyRU), botui.TextsIn(k.Lang)
	hint := t.hintV2Ray
	if botui.OutlineKey(k.URL) {
		hint = t.hintOutline
	}
	caption := fmt.Sprintf(t.keyReady, ui.Date(k.Expires))
	if k.Location != "" {
		caption += "\n" + fmt.Sprintf(ui.KeyLocation, botui.Escape(k.Location))
	}
	caption += "\n\n" + fmt.Sprintf(ui.KeyIntro, botui.Escape(k.URL)) + "\n\n" + hint
	if n := utf8.RuneCountInString(caption); n > maxCaption {
		return nil, fmt.Errorf("writing the key message of subscription %d: %w: caption is %d characters, more than %d",
			k.SubscriptionID, ErrKeyTooLong, n, maxCaption)
	}
	png, err := QRCode(k.URL)
	if err != nil {
		return nil, fmt.Errorf("drawing the QR code of subscription %d: %w: %w", k.SubscriptionID, ErrKeyTooLong, err)
	}
	sum := sha256.Sum256([]byte(k.URL))
	rows := subscriptionKeyboard(ui)
	if k.App != "" {
		rows = append([]*vpnbotv1.ButtonRow{{Buttons: []*vpnbotv1.Button{{Text: ui.BtnOpenApp, WebAppUrl: k.App}}}}, rows...)
	}
	return &vpnbotv1.SendMessage{
		DedupId:   "key:" + strconv.FormatInt(k.SubscriptionID, 10) + ":" + hex.EncodeToString(sum[:urlHashBytes]),
		ChatId:    k.ChatID,
		Text:      caption,
		ParseMode: "HTML",
		Photo:     png,
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      rows,
	}, nil
}

// PaymentReceived confirms a payment applied by a worker (not by the
// bot-handler, which answers the user itself): the new expiry and the "My
// subscription" button. Its dedup id is "payment:<invoiceID>", its priority
// transactional.
func PaymentReceived(lang string, chatID, invoiceID int64, expires time.Time) *vpnbotv1.SendMessage {
	ui := botui.TextsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId:   "payment:" + strconv.FormatInt(invoiceID, 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(ui.PaymentReceived, ui.Date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      subscriptionKeyboard(ui),
	}
}

func subscriptionKeyboard(ui *botui.Texts) []*vpnbotv1.ButtonRow {
	return []*vpnbotv1.ButtonRow{
		{Buttons: []*vpnbotv1.Button{{Text: ui.BtnSubscription, CallbackData: botui.NoticeCallback(botui.ActionSubscription, "")}}},
		menuRow(ui),
	}
}

// plansKeyboard offers the plans, where a user whose subscription ends or
// ended chooses one, and the menu.
func plansKeyboard(ui *botui.Texts) []*vpnbotv1.ButtonRow {
	return []*vpnbotv1.ButtonRow{
		{Buttons: []*vpnbotv1.Button{{Text: ui.BtnPlans, CallbackData: botui.NoticeCallback(botui.ActionPlans, "")}}},
		menuRow(ui),
	}
}

// menuRow is the row of the menu button that ends most messages.
func menuRow(ui *botui.Texts) *vpnbotv1.ButtonRow {
	return &vpnbotv1.ButtonRow{Buttons: []*vpnbotv1.Button{{Text: ui.BtnMenu, CallbackData: botui.NoticeCallback(botui.ActionMenu, "")}}}
}
