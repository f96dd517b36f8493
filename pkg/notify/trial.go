package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Kinds of the trial funnel's notices: the first part of their dedup ids,
// and what the trial-notifier records them as sent under. The two "ends
// soon" notices are of TrialEndsSoonKind.
const (
	KindTrialEnded   = "trial_ended"
	KindNeverStarted = "never_started"
)

// trialEndsSoonPrefix starts the kind of every "ends soon" notice.
const trialEndsSoonPrefix = "trial_"

// TrialEndsSoonKind is the kind of the "ends soon" notice sent lead before a
// trial's end (the trial-notifier's TRIAL_NOTICE_LEADS), named after its
// lead as a reminder's stage is: "trial_24h" and "trial_1h" at the default
// leads, as these notices were always recorded, and "trial_10m" and
// "trial_5m" at make run's demo ones, so that each is counted as what it is.
func TrialEndsSoonKind(lead time.Duration) string {
	return trialEndsSoonPrefix + leadName(lead)
}

// trialTexts is what the trial funnel's notices say in one language, HTML.
type trialTexts struct {
	endsFirst    string // takes the lead and the expiry
	endsLast     string // takes the lead and the expiry
	ended        string // takes the expiry and when the key stops working
	neverStarted string
	btnStart     string
	// anHour and aMinute are a lead of one unit, as said after "in" /
	// "через"; counts writes the others, as the reminders do.
	anHour, aMinute string
	counts          *reminderTexts
}

func trialTextsIn(lang string) *trialTexts { return botui.Pick(lang, &trialEN, &trialRU) }

var trialEN = trialTexts{
	endsFirst: "⏳ Your free trial ends in %s, on %s.\n\n" +
		"Choose a plan now to keep your VPN running without a break: your key stays the same.",
	endsLast: "⏳ Your free trial ends in %s, on %s.\n\n" +
		"Choose a plan to keep your VPN running: your key stays the same.",
	ended: "Your free trial ended on %s. Your VPN key keeps working until %s, then stops.\n\n" +
		"Did you like it? Choose a plan before then to keep using the VPN with the same key: plans start at a few dollars a month.",
	neverStarted: "👋 You have not tried the VPN yet.\n\n" +
		"The free trial costs nothing and needs no payment details: tap the button and your key arrives in a moment.",
	btnStart: "🎁 Start free trial",
	anHour:   "an hour",
	aMinute:  "a minute",
	counts:   &reminderEN,
}

var trialRU = trialTexts{
	endsFirst: "⏳ Пробный период закончится через %s — %s.\n\n" +
		"Выберите тариф сейчас, чтобы VPN работал без перерыва: ключ останется прежним.",
	endsLast: "⏳ Пробный период закончится через %s — %s.\n\n" +
		"Выберите тариф, чтобы VPN продолжил работать: ключ останется прежним.",
	ended: "Пробный период закончился %s. Ключ VPN будет работать до %s, потом перестанет.\n\n" +
		"Понравилось? Выберите тариф до этого времени, чтобы и дальше пользоваться VPN с тем же ключом: тарифы начинаются с нескольких долларов в месяц.",
	neverStarted: "👋 Вы ещё не попробовали наш VPN.\n\n" +
		"Пробный период бесплатный и не требует платёжных данных: нажмите кнопку, и ключ придёт через минуту.",
	btnStart: "🎁 Начать пробный период",
	anHour:   "час",
	aMinute:  "минуту",
	counts:   &reminderRU,
}

// TrialEndsSoonFirst is the first of the two "ends soon" notices: it tells
// a user that their trial period ends at expires, lead from now ("in 24
// hours", "in 10 minutes"), and offers the plans. Its dedup id is
// "<TrialEndsSoonKind(lead)>:<subscriptionID>:<expires, unix seconds>",
// e.g. "trial_24h:…", its priority reminder.
func TrialEndsSoonFirst(lang string, chatID, subscriptionID int64, expires time.Time, lead time.Duration) *vpnbotv1.SendMessage {
	t := trialTextsIn(lang)
	text := fmt.Sprintf(t.endsFirst, t.lead(lead), botui.TextsIn(lang).Date(expires))
	return trialPeriodNotice(lang, chatID, TrialEndsSoonKind(lead), subscriptionID, expires, text)
}

// TrialEndsSoonLast is the last "ends soon" notice: it tells a user that
// their trial period ends at expires, lead from now ("in an hour", "in 5
// minutes"), and offers the plans. Its dedup id is
// "<TrialEndsSoonKind(lead)>:<subscriptionID>:<expires, unix seconds>",
// e.g. "trial_1h:…", its priority reminder.
func TrialEndsSoonLast(lang string, chatID, subscriptionID int64, expires time.Time, lead time.Duration) *vpnbotv1.SendMessage {
	t := trialTextsIn(lang)
	text := fmt.Sprintf(t.endsLast, t.lead(lead), botui.TextsIn(lang).Date(expires))
	return trialPeriodNotice(lang, chatID, TrialEndsSoonKind(lead), subscriptionID, expires, text)
}

// lead writes how long before the end a notice is sent, exactly, in the form
// the language wants after "in" / "через": in days when it is two or more
// whole days, else in hours when whole hours ("24 hours" rather than "a
// day", as the notice always said), else in minutes (the trial-notifier's
// leads are whole minutes; a part of a minute is rounded, never to 0).
func (t *trialTexts) lead(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == time.Hour:
		return t.anHour
	case d%day == 0 && d >= 2*day:
		return t.counts.days(int(d / day))
	case d%time.Hour == 0:
		return t.counts.hours(int(d / time.Hour))
	}
	m := max(int(d.Round(time.Minute)/time.Minute), 1)
	if m == 1 {
		return t.aMinute
	}
	return t.counts.minutes(m)
}

// TrialEnded tells a user that their trial period ran out at expired, and
// when its key stops working (keyStops, the end of the grace), and offers the
// plans. It is the first of the period's two messages about its end: when
// expiry-cleanup revokes the key, KeyRevoked says it no longer works. Its
// dedup id is "trial_ended:<subscriptionID>:<expired, unix seconds>", its
// priority reminder.
func TrialEnded(lang string, chatID, subscriptionID int64, expired, keyStops time.Time) *vpnbotv1.SendMessage {
	t, date := trialTextsIn(lang), botui.TextsIn(lang).Date
	text := fmt.Sprintf(t.ended, date(expired), date(keyStops))
	return trialPeriodNotice(lang, chatID, KindTrialEnded, subscriptionID, expired, text)
}

// TrialNeverStarted nudges a user who started the bot but never took the
// free trial, with a button that starts it. Its dedup id is
// "never_started:<userID>": a user gets it once. Its priority is reminder.
func TrialNeverStarted(lang string, chatID, userID int64) *vpnbotv1.SendMessage {
	t := trialTextsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId:   KindNeverStarted + ":" + strconv.FormatInt(userID, 10),
		ChatId:    chatID,
		Text:      t.neverStarted,
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		Rows: []*vpnbotv1.ButtonRow{
			{Buttons: []*vpnbotv1.Button{{Text: t.btnStart, CallbackData: botui.NoticeCallback(botui.ActionTrial, "")}}},
			menuRow(botui.TextsIn(lang)),
		},
	}
}

// trialPeriodNotice is a notice about one trial period: the text, the plans
// and menu buttons, and a dedup id naming the period and its expiry, so
// that a period extended to a new expiry is a new notice.
func trialPeriodNotice(lang string, chatID int64, kind string, subscriptionID int64, expires time.Time, text string) *vpnbotv1.SendMessage {
	return &vpnbotv1.SendMessage{
		DedupId:   kind + ":" + strconv.FormatInt(subscriptionID, 10) + ":" + strconv.FormatInt(expires.Unix(), 10),
		ChatId:    chatID,
		Text:      text,
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		Rows:      plansKeyboard(botui.TextsIn(lang)),
	}
}
