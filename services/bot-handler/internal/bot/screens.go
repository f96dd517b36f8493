package bot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// Screen is one message of the bot: HTML text and an inline keyboard. Screens
// are built by pure functions of what they show and the language, so every
// one of them can be golden-tested.
type Screen struct {
	Text    string
	Buttons [][]Button
}

// Button is an inline button: it sends Data back, opens URL, or opens the
// Mini App at WebApp.
type Button struct {
	Text string
	Data string
	URL  string
	// WebApp is the URL of the Mini App the button opens.
	WebApp string
}

func data(text, d string) Button { return Button{Text: text, Data: d} }

func menuButton(t *texts) []Button { return []Button{data(t.BtnMenu, botui.ActionMenu)} }

// menuKeyboard is the main menu.
func menuKeyboard(t *texts, app string) [][]Button {
	rows := [][]Button{
		{data(t.btnTrial, botui.ActionTrial), data(t.BtnPlans, botui.ActionPlans)},
		{data(t.BtnSubscription, botui.ActionSubscription), balanceButton(t)},
		{inviteButton(t.Lang)},
		{data(t.btnLanguage, botui.ActionLanguages), data(t.btnHelp, botui.ActionHelp)},
	}
	if app != "" {
		rows = append([][]Button{{{Text: t.BtnOpenApp, WebApp: app}}}, rows...)
	}
	return rows
}

// WelcomeScreen answers /start: a greeting and the main menu, which opens
// the Mini App at app ("" for none) first.
func WelcomeScreen(lang, firstName, app string) Screen {
	t := textsIn(lang)
	return Screen{Text: botui.Escape(t.welcomeFor(firstName)), Buttons: menuKeyboard(t, app)}
}

// MenuScreen is the main menu, which opens the Mini App at app ("" for
// none) first.
func MenuScreen(lang, app string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.menu, Buttons: menuKeyboard(t, app)}
}

// HelpScreen lists the commands and the support contact, with a button to
// write to it when it is a Telegram username.
func HelpScreen(lang, support string) Screen {
	t := textsIn(lang)
	rows := [][]Button{menuButton(t)}
	if name, ok := strings.CutPrefix(support, "@"); ok && name != "" {
		rows = [][]Button{{{Text: t.btnSupport, URL: "https://t.me/" + name}, data(t.BtnMenu, botui.ActionMenu)}}
	}
	return Screen{Text: fmt.Sprintf(t.help, botui.Escape(support)), Buttons: rows}
}

// FallbackScreen answers what the bot does not understand.
func FallbackScreen(lang string) Screen {
	return Screen{Text: textsIn(lang).fallback}
}

// NeedStartScreen answers a user the bot has no record of.
func NeedStartScreen(lang string) Screen {
	return Screen{Text: textsIn(lang).needStart}
}

// TrialStartedScreen shows the user's trial: confirms it when it starts, and
// is what a press of Free trial shows while the trial runs.
func TrialStartedScreen(lang string, expires time.Time, hasKey bool) Screen {
	t := textsIn(lang)
	text := fmt.Sprintf(t.trialStarted, t.Date(expires))
	if !hasKey {
		text += t.keyOnItsWay
	}
	return Screen{
		Text:    text,
		Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)},
	}
}

// TrialUsedScreen politely refuses a second trial.
func TrialUsedScreen(lang string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.trialUsed, Buttons: [][]Button{{data(t.BtnPlans, botui.ActionPlans)}, menuButton(t)}}
}

// AlreadySubscribedScreen refuses a trial to a subscriber.
func AlreadySubscribedScreen(lang string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.alreadySubscribed, Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)}}
}

func (t *texts) planTitle(p shop.Plan) string { return botui.Pick(t.Lang, p.TitleEN, p.TitleRU) }

// PlansScreen lists the plans on offer, one button each.
func PlansScreen(lang string, plans []shop.Plan) Screen {
	t := textsIn(lang)
	lines := []string{t.plans, ""}
	var rows [][]Button
	for _, p := range plans {
		title := botui.Escape(t.planTitle(p))
		lines = append(lines, fmt.Sprintf(t.planLine, title, t.Duration(p.Duration), p.PriceUSD, p.PriceStars))
		rows = append(rows, []Button{data(fmt.Sprintf(t.btnPlan, t.planTitle(p), p.PriceUSD, p.PriceStars), botui.Callback(botui.ActionPlan, p.ID))})
	}
	rows = append(rows, []Button{data(t.btnBack, botui.ActionMenu)})
	return Screen{Text: strings.Join(lines, "\n"), Buttons: rows}
}

// PlanScreen shows one plan and the ways to pay for it; without Crypto Pay
// (cryptoPay false) only Stars is offered.
func PlanScreen(lang string, p shop.Plan, cryptoPay bool) Screen {
	t := textsIn(lang)
	text := fmt.Sprintf(t.plan, botui.Escape(t.planTitle(p)), t.Duration(p.Duration), p.PriceUSD, p.PriceStars)
	var rows [][]Button
	if cryptoPay {
		rows = append(rows, []Button{data(fmt.Sprintf(t.btnPayCrypto, p.PriceUSD), botui.Callback(botui.ActionPayCrypto, p.ID))})
	} else {
		text += "\n\n" + t.cryptoOnly
	}
	rows = append(rows,
		[]Button{data(fmt.Sprintf(t.btnPayStars, p.PriceStars), botui.Callback(botui.ActionPayStars, p.ID))},
		[]Button{data(t.btnBack, botui.ActionPlans)})
	return Screen{Text: text, Buttons: rows}
}

// CryptoInvoiceScreen sends the user to pay a Crypto Pay invoice.
func CryptoInvoiceScreen(lang string, inv shop.Invoice, title, payURL string) Screen {
	t := textsIn(lang)
	return Screen{
		Text: fmt.Sprintf(t.cryptoPay, botui.Escape(title), inv.PriceUSD),
		Buttons: [][]Button{
			{{Text: fmt.Sprintf(t.btnPayURL, inv.PriceUSD), URL: payURL}},
			{paidButton(lang, inv.ID)},
			{data(t.btnBack, botui.Callback(botui.ActionPlan, inv.PlanID))},
		},
	}
}

// PaymentsDownScreen says a payment provider is not answering.
func PaymentsDownScreen(lang, planID string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.paymentsDown, Buttons: [][]Button{{data(t.btnBack, botui.Callback(botui.ActionPlan, planID))}}}
}

// StarsSentScreen replaces the plan screen once its Stars invoice is sent below.
func StarsSentScreen(lang string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.starsSent, Buttons: [][]Button{{data(t.btnBack, botui.ActionPlans)}}}
}

// StarsInvoice is the title and description of a Stars invoice, within
// Telegram's limits (32 and 255 characters).
func StarsInvoice(lang string, p shop.Plan) (title, description string) {
	t := textsIn(lang)
	return t.PlanInvoice(t.planTitle(p), p.Duration)
}

// CheckoutRefusal is the error_message of a refused pre-checkout query;
// problem is true when our side failed rather than the order.
func CheckoutRefusal(lang string, problem bool) string {
	if problem {
		return textsIn(lang).checkoutProblem
	}
	return textsIn(lang).checkoutRefused
}

// PaymentReceivedScreen confirms a payment; a period without a key yet is
// told that the key is coming (a renewal keeps the key the user has).
func PaymentReceivedScreen(lang string, expires time.Time, hasKey bool) Screen {
	t := textsIn(lang)
	text := fmt.Sprintf(t.PaymentReceived, t.Date(expires))
	if !hasKey {
		text += t.keyOnItsWay
	}
	return Screen{
		Text:    text,
		Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)},
	}
}

// PaymentConflictScreen tells a user whose payment could not be applied
// that support will sort it out.
func PaymentConflictScreen(lang, support string) Screen {
	return Screen{Text: fmt.Sprintf(textsIn(lang).paymentConflict, botui.Escape(support))}
}

// SubscriptionView is what the subscription screen shows.
type SubscriptionView struct {
	// Sub is the user's active period; nil when they have none.
	Sub *shop.Subscription
	// Now tells a period past its expiry (waiting out the grace) from a running one.
	Now time.Time
	// Locations are the locations offered, the user's choice and where
	// their key is; with none offered the screen says nothing of them.
	Locations store.Locations
	// Balances are the user's balances, shown in one line.
	Balances []shop.Balance
	// AutoRenew is the user's auto-renewal, shown with a period (off when
	// zero).
	AutoRenew shop.AutoRenewal
}

// moveTo is the location a new link would move the user's key to: the one
// they chose, offered and other than the key's; "" when it would not move.
func (v SubscriptionView) moveTo() string {
	l := v.Locations
	if l.Key == "" || l.Chosen == l.Key || !slices.Contains(l.Offered, l.Chosen) {
		return ""
	}
	return l.Chosen
}

// locationLines are the subscription screen's words on locations, when a
// choice is offered: where the user's key is (or, before they have one,
// where it will be made), and how to move it to the location they chose.
func (v SubscriptionView) locationLines(t *texts) string {
	l := v.Locations
	if len(l.Offered) == 0 {
		return ""
	}
	at := cmp.Or(l.Key, l.Chosen)
	if at == "" {
		return ""
	}
	text := "\n" + fmt.Sprintf(t.KeyLocation, botui.Escape(at))
	if to := v.moveTo(); to != "" && v.keyShown() {
		text += "\n" + fmt.Sprintf(t.locationMove, botui.Escape(to))
	}
	return text
}

// locationRow is the button to the locations, when a choice is offered.
func (v SubscriptionView) locationRow(t *texts) [][]Button {
	if len(v.Locations.Offered) == 0 {
		return nil
	}
	return [][]Button{{data(t.btnLocation, botui.ActionLocations)}}
}

// key is the access URL to show, or "" while there is none.
func (v SubscriptionView) key() string {
	if v.Sub == nil || v.Sub.Access == nil || v.Sub.Access.RevokedAt != nil {
		return ""
	}
	return v.Sub.Access.URL
}

// running reports whether the period gives access now.
func (v SubscriptionView) running() bool {
	return v.Sub != nil && v.Sub.ExpiresAt.After(v.Now)
}

// keyShown reports whether the screen shows a key: the period runs and has a
// live access. Only such a key can be replaced by a new link.
func (v SubscriptionView) keyShown() bool { return v.running() && v.key() != "" }

// SubscriptionScreen shows the user's subscription: none, ended, waiting for
// its key, or the key with setup buttons per platform and a button to
// replace it with a new link. When the fleet offers a choice of locations,
// it says where the key is and has a button to choose. With a period, it
// has the buttons of auto-renewal, and says with what plan it renews. A
// line shows the balance, and buttons lead to it and to the user's
// payments.
func SubscriptionScreen(lang string, v SubscriptionView) Screen {
	t := textsIn(lang)
	var (
		text string
		rows [][]Button
	)
	switch {
	case v.Sub == nil:
		text = t.noSubscription
		rows = [][]Button{{data(t.btnTrial, botui.ActionTrial), data(t.BtnPlans, botui.ActionPlans)}}
	case !v.running():
		text = fmt.Sprintf(t.expired, t.Date(v.Sub.ExpiresAt))
		rows = [][]Button{{data(t.BtnPlans, botui.ActionPlans)}}
	default:
		kind := t.kindPaid
		if v.Sub.Kind == shop.KindTrial {
			kind = t.kindTrial
		}
		text = fmt.Sprintf(t.subscription, kind, t.Date(v.Sub.ExpiresAt))
	}
	text += v.locationLines(t) + v.autoRenewLine(t) + v.balanceLine(t)
	switch key := v.key(); {
	case !v.running():
	case key == "":
		text += "\n\n" + t.keyPending
		rows = [][]Button{{data(t.BtnPlans, botui.ActionPlans)}}
	default:
		text += "\n\n" + fmt.Sprintf(t.KeyIntro, botui.Escape(key)) + "\n\n" + t.setupPick
		rows = append(setupButtons(t), []Button{data(t.BtnPlans, botui.ActionPlans), data(t.btnRelink, botui.ActionRelink)})
	}
	rows = append(rows, v.autoRenewRow(t)...)
	rows = append(rows, v.locationRow(t)...)
	return Screen{Text: text, Buttons: append(rows, balanceRow(t), menuButton(t))}
}

// LocationsScreen lists the locations offered, the user's choice marked,
// each a button that chooses it. A user with a key is told that it stays
// where it is until they ask for a new link. Back goes to the subscription.
func LocationsScreen(lang string, l store.Locations) Screen {
	t := textsIn(lang)
	text := t.chooseLocation
	if l.Key != "" {
		text += "\n\n" + fmt.Sprintf(t.locationKeyStays, botui.Escape(l.Key))
	}
	var rows [][]Button
	for _, loc := range l.Offered {
		label := loc
		if loc == l.Chosen {
			label = t.chosenMark + loc
		}
		rows = append(rows, []Button{data(label, botui.Callback(botui.ActionSetLocation, loc))})
	}
	return Screen{Text: text, Buttons: append(rows, []Button{data(t.btnBack, botui.ActionSubscription)})}
}

// RelinkConfirmScreen asks a user who pressed New link whether to replace
// their link, saying what it costs them: the link they have stops working at
// once, and their VPN app must import the new one; and, when it moves the
// key to the location they chose (moveTo, "" when it stays), where. Cancel
// goes back to the subscription.
func RelinkConfirmScreen(lang, moveTo string) Screen {
	t := textsIn(lang)
	text := t.relinkConfirm
	if moveTo != "" {
		text += "\n\n" + fmt.Sprintf(t.relinkMoves, botui.Escape(moveTo))
	}
	return Screen{Text: text, Buttons: [][]Button{
		{data(t.btnRelinkYes, botui.ActionRelinkConfirm)},
		{data(t.btnRelinkCancel, botui.ActionSubscription)},
	}}
}

// RelinkRequestedScreen answers yes to a new link: it is being made, and
// comes as a new key does, in a message of its own.
func RelinkRequestedScreen(lang string) Screen {
	t := textsIn(lang)
	return Screen{
		Text:    t.relinkRequested,
		Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)},
	}
}

func setupButtons(t *texts) [][]Button {
	var row []Button
	var rows [][]Button
	for _, p := range botui.Platforms {
		row = append(row, data(botui.PlatformName(p), botui.Callback(botui.ActionSetup, p)))
		if len(row) == 2 {
			rows, row = append(rows, row), nil
		}
	}
	return rows
}

// SetupScreen is the setup instructions of one platform for the kind of key
// the user has.
func SetupScreen(lang, platform, key string) Screen {
	t := textsIn(lang)
	text := t.setupPick
	if g, ok := t.Setup(platform, botui.OutlineKey(key)); ok {
		text = g.HTML()
	}
	return Screen{Text: text, Buttons: [][]Button{{data(t.btnBack, botui.ActionSubscription)}}}
}

// QRCaption is the caption of the key's QR code.
func QRCaption(lang string) string { return textsIn(lang).qrCaption }

// LanguageScreen offers the languages.
func LanguageScreen(lang string) Screen {
	t := textsIn(lang)
	var row []Button
	for _, l := range languages {
		row = append(row, data(t.languageNames[l], botui.Callback(botui.ActionSetLanguage, l)))
	}
	return Screen{Text: t.chooseLanguage, Buttons: [][]Button{row, menuButton(t)}}
}

// LanguageChangedScreen confirms the new language with the main menu in it
// (app: MenuScreen's).
func LanguageChangedScreen(lang, app string) Screen {
	t := textsIn(lang)
	return Screen{Text: t.languageChanged + "\n\n" + t.menu, Buttons: menuKeyboard(t, app)}
}

// StatsScreen is /stats for an admin.
func StatsScreen(lang string, st shop.Stats) Screen {
	t := textsIn(lang)
	return Screen{Text: fmt.Sprintf(t.stats, st.Users, st.ActiveSubscriptions, st.Trials, st.PaymentsToday,
		st.RevenueTodayUSD, st.StarsToday) + statsMore(lang, st)}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func at(username string) string {
	if username == "" {
		return ""
	}
	return "@" + username
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// ellipsis marks a text cut to n characters.
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		return "…"
	}
	return ""
}
