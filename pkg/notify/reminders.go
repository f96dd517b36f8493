package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// reminderKindPrefix starts the notifications_sent kind of every reminder
// stage, and so the dedup id of its message.
const reminderKindPrefix = "reminder_"

// KindPaidEnded is the notifications_sent kind of PaidEnded, and the first
// part of its dedup id.
const KindPaidEnded = "paid_ended"

// reminderTexts is what the expiry reminder says in one language, HTML.
type reminderTexts struct {
	text     string // takes the expiry date and the time left
	ended    string // takes the expiry and when the key stops working
	btnRenew string
	// minutes, hours and days write a count of that unit, in the form the
	// language wants after "in" / "через".
	minutes, hours, days botui.Noun
}

var reminderEN = reminderTexts{
	text: "⏳ Your subscription ends on %s (in %s).\n\n" +
		"Renew it now to keep your VPN working without a break.",
	ended: "⌛ Your subscription ended on %s. Your VPN key keeps working until %s, then stops.\n\n" +
		"Renew it before then to keep using the VPN with the same key.",
	btnRenew: "🔄 Renew",
	minutes:  botui.EnglishNoun("minute", "minutes"),
	hours:    botui.EnglishNoun("hour", "hours"),
	days:     botui.EnglishNoun("day", "days"),
}

var reminderRU = reminderTexts{
	text: "⏳ Ваша подписка заканчивается %s (через %s).\n\n" +
		"Продлите её сейчас, чтобы VPN работал без перерыва.",
	ended: "⌛ Ваша подписка закончилась %s. Ключ VPN будет работать до %s, потом перестанет.\n\n" +
		"Продлите её до этого времени, чтобы и дальше пользоваться VPN с тем же ключом.",
	btnRenew: "🔄 Продлить",
	minutes:  botui.RussianNoun("минуту", "минуты", "минут"),
	hours:    botui.RussianNoun("час", "часа", "часов"),
	days:     botui.RussianNoun("день", "дня", "дней"),
}

// ReminderKind is the notifications_sent kind of the reminder sent stage
// before expiry, in the stage's largest whole unit: "reminder_72h",
// "reminder_90m", "reminder_45s". The same stage always has the same kind,
// however it was written in the configuration ("24h" or "1440m").
func ReminderKind(stage time.Duration) string {
	return reminderKindPrefix + leadName(stage)
}

// leadName writes how long before an end a notice is due, for its kind, in
// its largest whole unit: "72h", "90m", "45s".
func leadName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
}

// Reminder tells a user that their subscription ends at expires: the date,
// how long that is from now ("in 3 days", "in 23 hours", "in 40 minutes")
// and a "Renew" button that opens the plans. Its dedup id is
// "<ReminderKind(stage)>:<subscriptionID>:<expires, unix seconds>", so each
// stage of each expiry is one message, however often it is published; a
// renewed subscription (a new expiry) is reminded again. Its priority is
// reminder.
func Reminder(lang string, chatID, subscriptionID int64, stage time.Duration, expires, now time.Time) *vpnbotv1.SendMessage {
	rt := botui.Pick(lang, &reminderEN, &reminderRU)
	return &vpnbotv1.SendMessage{
		DedupId: ReminderKind(stage) + ":" + strconv.FormatInt(subscriptionID, 10) + ":" +
			strconv.FormatInt(expires.Unix(), 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(rt.text, botui.TextsIn(lang).Date(expires), rt.left(expires.Sub(now))),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		Rows:      []*vpnbotv1.ButtonRow{renewRow(rt)},
	}
}

// PaidEnded tells a user that their paid period ran out at expired, and
// when its key stops working (keyStops, the end of the grace), with a
// "Renew" button and the menu. It is the first of the period's two messages
// about its end: when expiry-cleanup revokes the key, KeyRevoked says it no
// longer works. Its dedup id is "paid_ended:<subscriptionID>:<expired, unix
// seconds>": one message per period and expiry, however often it is
// published. Its priority is reminder, as the reminders before it.
func PaidEnded(lang string, chatID, subscriptionID int64, expired, keyStops time.Time) *vpnbotv1.SendMessage {
	rt, ui := botui.Pick(lang, &reminderEN, &reminderRU), botui.TextsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId: KindPaidEnded + ":" + strconv.FormatInt(subscriptionID, 10) + ":" +
			strconv.FormatInt(expired.Unix(), 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(rt.ended, ui.Date(expired), ui.Date(keyStops)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		Rows:      []*vpnbotv1.ButtonRow{renewRow(rt), menuRow(ui)},
	}
}

// renewRow is the row of the "Renew" button, which opens the plans.
func renewRow(rt *reminderTexts) *vpnbotv1.ButtonRow {
	return &vpnbotv1.ButtonRow{Buttons: []*vpnbotv1.Button{{Text: rt.btnRenew, CallbackData: botui.NoticeCallback(botui.ActionPlans, "")}}}
}

// left writes the time to the expiry, rounded to the unit a reader expects:
// minutes under an hour, hours under two days, days beyond. It is never
// "0": a reminder sent at the last moment still says "1 minute".
func (rt *reminderTexts) left(d time.Duration) string {
	if m := int(d.Round(time.Minute) / time.Minute); m < 60 {
		return rt.minutes(max(m, 1))
	}
	if h := int(d.Round(time.Hour) / time.Hour); h < 48 {
		return rt.hours(h)
	}
	return rt.days(int((d + 12*time.Hour) / (24 * time.Hour)))
}
