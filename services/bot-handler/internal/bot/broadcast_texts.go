package bot

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// broadcastTexts are what the bot says to admins about broadcasts.
type broadcastTexts struct {
	usage    string
	tooLong  string // the text's length, the limit
	tooMany  string // the number of buttons, the limit
	badURL   string // the link
	noLabel  string // the link
	notFound string // takes the id

	preview        string // id, audience, recipients, free rate, time at it
	previewPaid    string // stars
	previewNobody  string // id, audience
	previewRefused string // Telegram's words
	btnSend        string
	btnSendPaid    string // stars
	btnDiscard     string

	title       string // id, audience, date
	draft       string // how many are in the audience now
	discarded   string
	sent        string
	blocked     string
	failed      string
	cancelled   string
	waiting     string
	recipients  string
	rate        string // messages a second
	paid        string
	timeLeft    string // a duration
	allSent     string
	cancelledAt string // date, how many were not sent
	btnRefresh  string
	btnCancel   string

	cancelQuestion string // id, how many are waiting
	btnCancelYes   string
	btnCancelNo    string

	seconds, minutes, hours string // each takes a number
	audiences               map[string]string
}

var broadcastEN = broadcastTexts{
	usage: "Usage:\n/broadcast &lt;audience&gt; &lt;text&gt; — send the text as it is (plain text) to\n" +
		"• all: everyone who has not blocked the bot\n" +
		"• active: users with a running subscription\n" +
		"• expired: users whose subscription ended\n" +
		"• trial: users on a running trial\n" +
		"• never_paid: users who never paid\n" +
		"• lang:en, lang:ru: users who speak that language with the bot\n" +
		"The last lines may be buttons: [Label](https://link) or [Label](plans) (the plans), several to a line make a row, " +
		"at most 8. A photo captioned /broadcast &lt;audience&gt; &lt;text&gt; is sent with its caption.\n" +
		"You see a preview first, and send it from there.\n" +
		"/broadcast_status &lt;id&gt; — how far a broadcast got\n" +
		"/broadcast_cancel &lt;id&gt; — stop a broadcast",
	tooLong:  "The text is %d characters long; a message holds at most %d (a photo's caption 1024). Nothing was sent.",
	tooMany:  "There are %d buttons; a broadcast may have at most %d. Nothing was sent.",
	badURL:   "A button's link must start with https:// or tg://, or be plans; <code>%s</code> is neither. Nothing was sent.",
	noLabel:  "The button to <code>%s</code> has no label. Nothing was sent.",
	notFound: "There is no broadcast #%d.",

	preview: "☝️ This is the message as users will get it.\n\n" +
		"<b>Broadcast #%d</b> to %s\nRecipients: %d\nAt the free rate (%s msg/s) it takes ≈%s.",
	previewPaid:    "\nA paid broadcast goes up to 1000 msg/s, for 0.1 ⭐ a message: ≈%d ⭐.",
	previewNobody:  "☝️ This is the message as users would get it.\n\n<b>Broadcast #%d</b> to %s: nobody is in this audience now.",
	previewRefused: "Telegram refused the message: %s. Nothing will be sent; fix it and send /broadcast again.",
	btnSend:        "✅ Send",
	btnSendPaid:    "⭐ Send as paid broadcast — ≈%d ⭐",
	btnDiscard:     "✖️ Cancel",

	title:       "<b>Broadcast #%d</b> to %s, %s",
	draft:       "Not sent yet; %d users are in its audience now.",
	discarded:   "Cancelled before it was sent: nobody got it.",
	sent:        "Sent: %d",
	blocked:     "Blocked the bot: %d",
	failed:      "Failed: %d",
	cancelled:   "Cancelled: %d",
	waiting:     "Waiting: %d",
	recipients:  "Recipients: %d",
	rate:        "Rate: %s msg/s",
	paid:        "Paid broadcast",
	timeLeft:    "Time left: ≈%s",
	allSent:     "All sent.",
	cancelledAt: "Cancelled %s: %d not sent.",
	btnRefresh:  "🔄 Refresh",
	btnCancel:   "⛔ Cancel broadcast",

	cancelQuestion: "Cancel broadcast #%d? The %d messages still waiting will not be sent. This cannot be undone.",
	btnCancelYes:   "⛔ Yes, cancel it",
	btnCancelNo:    "↩️ No, keep sending",

	seconds: "%d s", minutes: "%d min", hours: "%d h %d min",
	audiences: map[string]string{
		store.SegmentAll: "all users", store.SegmentActive: "active users", store.SegmentExpired: "expired users",
		store.SegmentTrial: "users on a trial", store.SegmentNeverPaid: "users who never paid",
		store.SegmentLangEN: "English-speaking users", store.SegmentLangRU: "Russian-speaking users",
	},
}

var broadcastRU = broadcastTexts{
	usage: "Как пользоваться:\n/broadcast &lt;аудитория&gt; &lt;текст&gt; — отправить текст как есть (без разметки)\n" +
		"• all: всем, кто не заблокировал бота\n" +
		"• active: пользователям с действующей подпиской\n" +
		"• expired: пользователям, у которых подписка закончилась\n" +
		"• trial: тем, у кого идёт пробный период\n" +
		"• never_paid: тем, кто ни разу не платил\n" +
		"• lang:en, lang:ru: тем, кто говорит с ботом на этом языке\n" +
		"Последние строки могут быть кнопками: [Название](https://ссылка) или [Название](plans) (тарифы), " +
		"несколько в строке — один ряд, всего не больше 8. Фото с подписью /broadcast &lt;аудитория&gt; &lt;текст&gt; " +
		"отправляется с этой подписью.\n" +
		"Сначала вы увидите, как выглядит сообщение, и отправите его оттуда.\n" +
		"/broadcast_status &lt;номер&gt; — как идёт рассылка\n" +
		"/broadcast_cancel &lt;номер&gt; — остановить рассылку",
	tooLong:  "В тексте %d символов, а в сообщение помещается не больше %d (в подпись к фото — 1024). Ничего не отправлено.",
	tooMany:  "Кнопок %d, а в рассылке их может быть не больше %d. Ничего не отправлено.",
	badURL:   "Ссылка кнопки должна начинаться с https:// или tg:// либо быть plans; <code>%s</code> — ни то, ни другое. Ничего не отправлено.",
	noLabel:  "У кнопки со ссылкой <code>%s</code> нет названия. Ничего не отправлено.",
	notFound: "Рассылки #%d нет.",

	preview: "☝️ Так сообщение увидят пользователи.\n\n" +
		"<b>Рассылка #%d</b>: %s\nПолучателей: %d\nПри бесплатной скорости (%s сообщ./с) займёт ≈%s.",
	previewPaid:    "\nПлатная рассылка идёт до 1000 сообщ./с, по 0,1 ⭐ за сообщение: ≈%d ⭐.",
	previewNobody:  "☝️ Так сообщение увидели бы пользователи.\n\n<b>Рассылка #%d</b>: %s — сейчас в этой аудитории никого нет.",
	previewRefused: "Telegram не принял сообщение: %s. Ничего не будет отправлено; исправьте и отправьте /broadcast снова.",
	btnSend:        "✅ Отправить",
	btnSendPaid:    "⭐ Платная рассылка — ≈%d ⭐",
	btnDiscard:     "✖️ Отмена",

	title:       "<b>Рассылка #%d</b>: %s, %s",
	draft:       "Ещё не отправлена; сейчас в аудитории %d пользователей.",
	discarded:   "Отменена до отправки: никто её не получил.",
	sent:        "Отправлено: %d",
	blocked:     "Заблокировали бота: %d",
	failed:      "Не доставлено: %d",
	cancelled:   "Отменено: %d",
	waiting:     "В очереди: %d",
	recipients:  "Всего: %d",
	rate:        "Скорость: %s сообщ./с",
	paid:        "Платная рассылка",
	timeLeft:    "Осталось: ≈%s",
	allSent:     "Всё отправлено.",
	cancelledAt: "Отменена %s: не отправлено %d.",
	btnRefresh:  "🔄 Обновить",
	btnCancel:   "⛔ Отменить рассылку",

	cancelQuestion: "Отменить рассылку #%d? Ждущие в очереди сообщения (%d) не будут отправлены. Это нельзя вернуть.",
	btnCancelYes:   "⛔ Да, отменить",
	btnCancelNo:    "↩️ Нет, продолжать",

	seconds: "%d с", minutes: "%d мин", hours: "%d ч %d мин",
	audiences: map[string]string{
		store.SegmentAll: "всем пользователям", store.SegmentActive: "с активной подпиской", store.SegmentExpired: "с истёкшей подпиской",
		store.SegmentTrial: "на пробном периоде", store.SegmentNeverPaid: "тем, кто не платил",
		store.SegmentLangEN: "англоязычным", store.SegmentLangRU: "русскоязычным",
	},
}

func broadcastTextsIn(lang string) *broadcastTexts {
	return botui.Pick(lang, &broadcastEN, &broadcastRU)
}

// broadcastQuote is how much of a broadcast's text its status quotes: enough
// to tell broadcasts apart.
const broadcastQuote = 100

// audience names a broadcast's segment.
func (t *broadcastTexts) audience(segment string) string {
	if name, ok := t.audiences[segment]; ok {
		return name
	}
	return botui.Escape(segment)
}

// took writes how long sending n messages at rate a second takes.
func (t *broadcastTexts) took(n int, rate float64) string {
	secs := int(math.Ceil(float64(n) / rate))
	switch {
	case secs < 60:
		return fmt.Sprintf(t.seconds, secs)
	case secs < 3600:
		return fmt.Sprintf(t.minutes, (secs+59)/60)
	}
	mins := (secs + 59) / 60
	return fmt.Sprintf(t.hours, mins/60, mins%60)
}

// rateText writes a rate as the language writes decimals.
func rateText(lang string, x float64) string {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if x != math.Trunc(x) {
		s = strconv.FormatFloat(x, 'f', 1, 64)
	}
	if lang == botui.Russian {
		return strings.ReplaceAll(s, ".", ",")
	}
	return s
}

// PaidBroadcastStars is what a paid broadcast to recipients costs: Telegram
// charges 0.1 Star a message sent with allow_paid_broadcast.
func PaidBroadcastStars(recipients int) int { return (recipients + 9) / 10 }

// BroadcastUsageScreen answers a /broadcast, /broadcast_status or
// /broadcast_cancel an admin got wrong.
func BroadcastUsageScreen(lang string) Screen { return Screen{Text: broadcastTextsIn(lang).usage} }

// BroadcastRefusedScreen says why a /broadcast was refused.
func BroadcastRefusedScreen(lang string, p *BroadcastProblem) Screen {
	t := broadcastTextsIn(lang)
	switch p.Reason {
	case RefusedTooLong:
		return Screen{Text: fmt.Sprintf(t.tooLong, p.N, p.Limit)}
	case RefusedTooManyButtons:
		return Screen{Text: fmt.Sprintf(t.tooMany, p.N, p.Limit)}
	case RefusedButtonURL:
		return Screen{Text: fmt.Sprintf(t.badURL, botui.Escape(p.Detail))}
	case RefusedButtonLabel:
		return Screen{Text: fmt.Sprintf(t.noLabel, botui.Escape(p.Detail))}
	}
	return BroadcastUsageScreen(lang)
}

// BroadcastPreviewScreen follows a draft's preview: its audience, how many
// get it and how long that takes at the free rate (messages a second), and
// what a paid broadcast costs, with the buttons that send it or drop it.
func BroadcastPreviewScreen(lang string, bc store.Broadcast, rate float64) Screen {
	t := broadcastTextsIn(lang)
	id := strconv.FormatInt(bc.ID, 10)
	discard := []Button{data(t.btnDiscard, botui.Callback(botui.ActionBroadcastDiscard, id))}
	if bc.Total == 0 {
		return Screen{Text: fmt.Sprintf(t.previewNobody, bc.ID, t.audience(bc.Segment)), Buttons: [][]Button{discard}}
	}
	stars := PaidBroadcastStars(bc.Total)
	return Screen{
		Text: fmt.Sprintf(t.preview, bc.ID, t.audience(bc.Segment), bc.Total, rateText(lang, rate), t.took(bc.Total, rate)) +
			fmt.Sprintf(t.previewPaid, stars),
		Buttons: [][]Button{
			{data(t.btnSend, botui.Callback(botui.ActionBroadcastSend, id))},
			{data(fmt.Sprintf(t.btnSendPaid, stars), botui.Callback(botui.ActionBroadcastSendPaid, id))},
			discard,
		},
	}
}

// BroadcastPreviewRefusedScreen says Telegram refused a draft's preview,
// in its words: it would refuse every recipient's message too.
func BroadcastPreviewRefusedScreen(lang, description string) Screen {
	return Screen{Text: fmt.Sprintf(broadcastTextsIn(lang).previewRefused, botui.Escape(description))}
}

// BroadcastStatusScreen is a broadcast's progress: how many got the
// message, how many never will (they blocked the bot, the sender gave up,
// or it was cancelled)
// and how many are still queued, the rate so far and the time left, at
// that rate or, before the first message, at the sender's (free rate, in
// messages a second, or the paid broadcasts').
func BroadcastStatusScreen(lang string, p store.BroadcastProgress, rate float64) Screen {
	t := broadcastTextsIn(lang)
	if p.State == store.StateDraft && p.CancelledAt == nil {
		s := BroadcastPreviewScreen(lang, p.Broadcast, rate)
		s.Text = broadcastHeader(lang, p.Broadcast) + "\n" + fmt.Sprintf(t.draft, p.Total)
		return s
	}
	if p.State == store.StateDraft {
		return Screen{Text: broadcastHeader(lang, p.Broadcast) + "\n" + t.discarded}
	}
	lines := []string{broadcastHeader(lang, p.Broadcast)}
	if p.Paid {
		lines = append(lines, t.paid)
		rate = paidBroadcastRate
	}
	lines = append(lines, fmt.Sprintf(t.sent, p.Sent), fmt.Sprintf(t.blocked, p.Blocked), fmt.Sprintf(t.failed, p.Failed))
	if p.CancelledAt != nil {
		lines = append(lines, fmt.Sprintf(t.cancelled, p.Cancelled()))
	}
	lines = append(lines, fmt.Sprintf(t.waiting, p.Waiting()), fmt.Sprintf(t.recipients, p.Total))
	if p.Sent > 0 && p.LastSentAt != nil && p.LastSentAt.After(*p.ConfirmedAt) {
		rate = float64(p.Sent) / p.LastSentAt.Sub(*p.ConfirmedAt).Seconds()
		lines = append(lines, fmt.Sprintf(t.rate, rateText(lang, math.Round(rate*10)/10)))
	}
	id := strconv.FormatInt(p.ID, 10)
	buttons := [][]Button{{data(t.btnRefresh, botui.Callback(botui.ActionBroadcastStatus, id))}}
	switch {
	case p.CancelledAt != nil:
		lines = append(lines, "", fmt.Sprintf(t.cancelledAt, botui.TextsIn(lang).Date(*p.CancelledAt), p.Cancelled()))
	case p.Waiting() == 0:
		lines = append(lines, "", t.allSent)
	default:
		lines = append(lines, fmt.Sprintf(t.timeLeft, t.took(p.Waiting(), rate)))
		buttons = append(buttons, []Button{data(t.btnCancel, botui.Callback(botui.ActionBroadcastCancel, id))})
	}
	return Screen{Text: strings.Join(lines, "\n"), Buttons: buttons}
}

// broadcastHeader names a broadcast and quotes the start of its text.
func broadcastHeader(lang string, bc store.Broadcast) string {
	t := broadcastTextsIn(lang)
	return fmt.Sprintf(t.title, bc.ID, t.audience(bc.Segment), botui.TextsIn(lang).Date(bc.CreatedAt)) +
		"\n<blockquote>" + botui.Escape(cut(bc.Text, broadcastQuote)) + ellipsis(bc.Text, broadcastQuote) + "</blockquote>"
}

// BroadcastCancelQuestionScreen asks whether to cancel a broadcast being
// sent.
func BroadcastCancelQuestionScreen(lang string, p store.BroadcastProgress) Screen {
	t := broadcastTextsIn(lang)
	id := strconv.FormatInt(p.ID, 10)
	return Screen{
		Text: broadcastHeader(lang, p.Broadcast) + "\n" + fmt.Sprintf(t.cancelQuestion, p.ID, p.Waiting()),
		Buttons: [][]Button{
			{data(t.btnCancelYes, botui.Callback(botui.ActionBroadcastCancelConfirm, id))},
			{data(t.btnCancelNo, botui.Callback(botui.ActionBroadcastStatus, id))},
		},
	}
}

// BroadcastNotFoundScreen answers about an unknown broadcast id.
func BroadcastNotFoundScreen(lang string, id int64) Screen {
	return Screen{Text: fmt.Sprintf(broadcastTextsIn(lang).notFound, id)}
}
