package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Languages the notifications are written in; they are the values of
// users.language.
const (
	English = "en"
	Russian = "ru"
)

// Panels whose keys KeyReady explains how to use: the names pkg/vpn's
// provisioners report.
const (
	PanelOutline   = "outline"
	PanelRemnawave = "remnawave"
)

// The bot-handler's callback data, so that a button under a worker's message
// opens the same screen as the one in the bot's menu.
const (
	cbSubscription = "sub"
	cbMenu         = "menu"
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

// Language normalises a language code (users.language or Telegram's
// language_code) to a language the notifications are written in: Russian
// for any "ru" variant, English otherwise.
func Language(code string) string {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(code)), Russian) {
		return Russian
	}
	return English
}

// KeyReady is the message that hands a user their VPN key: a QR code of it
// (PNG) with a caption holding the expiry, the key itself in <code> so a tap
// copies it, a short setup hint for the panel's clients ("outline": the
// Outline app; "remnawave": a v2ray-style client with the subscription URL)
// and a "My subscription" button. Its dedup id is
// "key:<subscriptionID>:<hash of url>", its priority transactional. A key
// too long for a caption or a QR code fails with ErrKeyTooLong.
func KeyReady(lang string, chatID int64, subscriptionID int64, panel, url string, expires time.Time) (*vpnbotv1.SendMessage, error) {
	t := textsIn(lang)
	hint := t.hintV2Ray
	if panel == PanelOutline {
		hint = t.hintOutline
	}
	caption := fmt.Sprintf(t.keyReady, t.date(expires), esc(url)) + "\n\n" + hint
	if n := utf8.RuneCountInString(caption); n > maxCaption {
		return nil, fmt.Errorf("writing the key message of subscription %d: %w: caption is %d characters, more than %d",
			subscriptionID, ErrKeyTooLong, n, maxCaption)
	}
	png, err := QRCode(url)
	if err != nil {
		return nil, fmt.Errorf("drawing the QR code of subscription %d: %w: %w", subscriptionID, ErrKeyTooLong, err)
	}
	sum := sha256.Sum256([]byte(url))
	return &vpnbotv1.SendMessage{
		DedupId:   "key:" + strconv.FormatInt(subscriptionID, 10) + ":" + hex.EncodeToString(sum[:urlHashBytes]),
		ChatId:    chatID,
		Text:      caption,
		ParseMode: "HTML",
		Photo:     png,
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      subscriptionKeyboard(t),
	}, nil
}

// PaymentReceived confirms a payment applied by a worker (not by the
// bot-handler, which answers the user itself): the new expiry and the "My
// subscription" button. Its dedup id is "payment:<invoiceID>", its priority
// transactional.
func PaymentReceived(lang string, chatID, invoiceID int64, expires time.Time) *vpnbotv1.SendMessage {
	t := textsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId:   "payment:" + strconv.FormatInt(invoiceID, 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(t.paymentReceived, t.date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      subscriptionKeyboard(t),
	}
}

func subscriptionKeyboard(t *texts) []*vpnbotv1.ButtonRow {
	return []*vpnbotv1.ButtonRow{
		{Buttons: []*vpnbotv1.Button{{Text: t.btnSubscription, CallbackData: cbSubscription}}},
		{Buttons: []*vpnbotv1.Button{{Text: t.btnMenu, CallbackData: cbMenu}}},
	}
}

// esc escapes a value for Telegram's HTML, as the bot-handler does.
func esc(s string) string { return htmlEscaper.Replace(s) }

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
