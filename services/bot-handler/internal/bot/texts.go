package bot

import (
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
)

// languages are the languages a user can choose, in the order of the
// language screen.
var languages = []string{botui.English, botui.Russian}

// texts is everything the bot says, in one language: the words it shares
// with the workers' messages (botui.Texts, with the date) and its own. Texts
// are HTML (the parse mode of every screen): values put into them are
// escaped by the screens.
type texts struct {
	*botui.Texts
	welcome  string // takes the user's first name
	stranger string // stands in for a missing first name
	help     string // takes the support contact
	fallback string

	menu string
	// Buttons of the main menu and of navigation, besides botui.Texts'.
	btnTrial, btnLanguage, btnHelp, btnSupport, btnBack string

	trialStarted      string // takes the trial's end
	trialUsed         string
	alreadySubscribed string
	needStart         string

	plans        string
	planLine     string // title, duration, USD price, Stars price
	plan         string // title, duration, USD price, Stars price
	btnPlan      string // title, USD price, Stars price
	btnPayCrypto string // takes the USD price
	btnPayStars  string // takes the Stars price
	cryptoOnly   string // shown when only Stars is on offer
	cryptoPay    string // title, USD price
	btnPayURL    string // takes the USD price
	paymentsDown string
	starsSent    string
	invoiceTitle string // takes the plan title
	invoiceDesc  string // takes the plan title and duration

	checkoutRefused  string
	checkoutProblem  string
	keyOnItsWay      string // added when the period has no key yet
	paymentConflict  string // takes the support contact
	paymentDuplicate string

	noSubscription  string
	expired         string // takes the expiry
	subscription    string // kind, expiry
	kindTrial       string
	kindPaid        string
	keyPending      string
	qrCaption       string
	setupPick       string
	setupOutline    map[string]string // per platform
	setupV2Ray      map[string]string // per platform
	platformNames   map[string]string
	chooseLanguage  string
	languageNames   map[string]string
	languageChanged string

	// A new link in place of a leaked one: the button, the question and its
	// answers, and what yes shows.
	btnRelink       string
	relinkConfirm   string
	btnRelinkYes    string
	btnRelinkCancel string
	relinkRequested string
	relinkMoves     string // takes the location the new link is for

	// Locations, where the fleet offers a choice: the button, the
	// question, what it says of a key made already, the mark of the
	// choice, and the way to move the key there.
	btnLocation      string
	chooseLocation   string
	locationKeyStays string // takes the key's location
	chosenMark       string
	locationMove     string // takes the location chosen

	stats string // users, active, trials, payments, revenue, stars
	// Broadcasts, for admins.
	broadcastUsage    string
	broadcastTooLong  string // the text's length, the limit
	broadcastQueued   string // id, recipients, id
	broadcastStatus   string // id, segment, created, text, sent, blocked, waiting, total
	broadcastNotFound string // takes the id
	segmentNames      map[string]string

	// A plan's length, in each unit.
	days, hours, minutes botui.Noun
}

// textsIn returns the texts of lang, English for a language the bot does not speak.
func textsIn(lang string) *texts { return botui.Pick(lang, &en, &ru) }

// Platforms with setup instructions, in button order.
const (
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
	PlatformWindows = "windows"
	PlatformMacOS   = "macos"
)

var platforms = []string{PlatformAndroid, PlatformIOS, PlatformWindows, PlatformMacOS}

var platformNames = map[string]string{
	PlatformAndroid: "Android", PlatformIOS: "iOS", PlatformWindows: "Windows", PlatformMacOS: "macOS",
}

var languageNames = map[string]string{botui.English: "English", botui.Russian: "Русский"}

var en = texts{
	Texts: botui.TextsIn(botui.English),
	welcome: "Hi, %s! I sell fast, reliable VPN access: a free trial, " +
		"payment in crypto or Telegram Stars, and your key right away.\n\n" +
		"See what I can do: /help",
	stranger: "there",
	help: "Commands:\n" +
		"/start — the main menu\n" +
		"/language — choose the language\n" +
		"/topup 10 or /topup 300 stars — top up your balance\n" +
		"/paysupport — help with a payment\n" +
		"/help — this help\n\n" +
		"Have a promo code? Just send it as a message.\n\n" +
		"Questions or problems? Write to %s.",
	fallback: "I only understand commands. See /help",

	menu:     "What would you like to do?",
	btnTrial: "🎁 Free trial", btnLanguage: "🌐 Language", btnHelp: "❓ Help", btnSupport: "💬 Support", btnBack: "« Back",

	trialStarted:      "Your trial runs until %s.",
	trialUsed:         "You have already used your free trial, sorry. Have a look at the plans: they start at a few dollars a month.",
	alreadySubscribed: "You already have an active subscription, so a trial would add nothing.",
	needStart:         "Please send /start first.",

	plans:        "Choose a plan:",
	planLine:     "• <b>%s</b> — %s, $%s or ⭐%d",
	plan:         "<b>%s</b>\nDuration: %s\nPrice: $%s or ⭐%d\n\nHow would you like to pay?",
	btnPlan:      "%s — $%s / ⭐%d",
	btnPayCrypto: "Crypto Pay ($%s)",
	btnPayStars:  "Telegram Stars (⭐%d)",
	cryptoOnly:   "Crypto payments are not available right now; you can pay with Telegram Stars.",
	cryptoPay:    "<b>%s</b> for $%s.\n\nPay with Crypto Pay using the button below: the invoice is valid for a limited time. Your subscription starts as soon as the payment arrives.",
	btnPayURL:    "Pay $%s",
	paymentsDown: "Payments are down for a moment, try again in a minute.",
	starsSent:    "Here is your invoice: pay it with Telegram Stars.",
	invoiceTitle: "VPN %s",
	invoiceDesc:  "VPN access: %s (%s).",

	checkoutRefused:  "This invoice is no longer valid. Please choose the plan again.",
	checkoutProblem:  "Something went wrong on our side. Please try again in a minute.",
	keyOnItsWay:      " Your key is on its way.",
	paymentConflict:  "We received your payment but could not apply it automatically. Support will sort it out: %s.",
	paymentDuplicate: "This payment was already received.",

	noSubscription: "You have no subscription yet. Take the free trial or choose a plan.",
	expired:        "Your subscription ended on %s. Choose a plan to continue.",
	subscription:   "<b>%s</b>, active until %s.",
	kindTrial:      "Free trial",
	kindPaid:       "Subscription",
	keyPending:     "Your key is being prepared; it will arrive here in a moment.",
	qrCaption:      "Scan this QR code in your VPN app.",
	setupPick:      "Setup instructions:",
	setupOutline: map[string]string{
		PlatformAndroid: "<b>Android</b>\n1. Install Outline from Google Play.\n2. Copy your key.\n3. Open Outline, tap +, paste the key and connect.",
		PlatformIOS:     "<b>iOS</b>\n1. Install Outline from the App Store.\n2. Copy your key.\n3. Open Outline, tap +, paste the key and connect.",
		PlatformWindows: "<b>Windows</b>\n1. Download Outline Client from getoutline.org.\n2. Copy your key.\n3. Open Outline, click +, paste the key and connect.",
		PlatformMacOS:   "<b>macOS</b>\n1. Install Outline from the Mac App Store.\n2. Copy your key.\n3. Open Outline, click +, paste the key and connect.",
	},
	setupV2Ray: map[string]string{
		PlatformAndroid: "<b>Android</b>\n1. Install Hiddify or v2rayNG.\n2. Copy your subscription link.\n3. Add it as a new profile (import from clipboard) and connect.",
		PlatformIOS:     "<b>iOS</b>\n1. Install Hiddify or Streisand from the App Store.\n2. Copy your subscription link.\n3. Add it from the clipboard and connect.",
		PlatformWindows: "<b>Windows</b>\n1. Install Hiddify from hiddify.com.\n2. Copy your subscription link.\n3. Click «New profile», add from clipboard and connect.",
		PlatformMacOS:   "<b>macOS</b>\n1. Install Hiddify from hiddify.com.\n2. Copy your subscription link.\n3. Click «New profile», add from clipboard and connect.",
	},
	platformNames:   platformNames,
	chooseLanguage:  "Choose your language:",
	languageNames:   languageNames,
	languageChanged: "Language set to English.",

	btnRelink: "🔄 New link",
	relinkConfirm: "<b>A new link?</b>\nIf your link leaked, or went to someone it should not have, replace it. " +
		"The current link stops working at once, on every device that uses it: " +
		"import the new one into your VPN app when it arrives. Your subscription stays as it is.",
	btnRelinkYes:    "✅ Yes, new link",
	btnRelinkCancel: "Cancel",
	relinkRequested: "Your new link is being made and will arrive here in a moment. " +
		"Import it into your VPN app: the old link stops working.",
	relinkMoves: "The new link will be for %s.",

	btnLocation:    "📍 Location",
	chooseLocation: "<b>Where should your VPN server be?</b>\nChoose a location: your key is made there.",
	locationKeyStays: "Your current link is for %s and stays so, to keep working in your apps. " +
		"To move it, choose a location, then ask for a 🔄 New link.",
	chosenMark:   "✅ ",
	locationMove: "You chose %s: a 🔄 New link moves your key there (the current link then stops working).",

	stats: "<b>Stats</b>\nUsers: %d\nActive subscriptions: %d\nTrials taken: %d\nPayments today: %d\nRevenue today: $%s\nStars today: ⭐%d",
	broadcastUsage: "Usage:\n/broadcast &lt;all|active|expired&gt; &lt;text&gt; — send the text as it is (plain text) to\n" +
		"• all: everyone who has not blocked the bot\n" +
		"• active: users with a running subscription\n" +
		"• expired: users whose subscription ended\n" +
		"/broadcast_status &lt;id&gt; — how far a broadcast got",
	broadcastTooLong:  "The text is %d characters long; a Telegram message holds at most %d. Nothing was sent.",
	broadcastQueued:   "Broadcast #%d queued for %d users. /broadcast_status %d shows progress.",
	broadcastStatus:   "<b>Broadcast #%d</b> to %s, %s\n<blockquote>%s</blockquote>\nSent: %d\nBlocked the bot: %d\nWaiting: %d\nRecipients: %d",
	broadcastNotFound: "There is no broadcast #%d.",
	segmentNames:      map[string]string{"all": "all users", "active": "active users", "expired": "expired users"},
	days:              botui.EnglishNoun("day", "days"),
	hours:             botui.EnglishNoun("hour", "hours"),
	minutes:           botui.EnglishNoun("minute", "minutes"),
}

var ru = texts{
	Texts: botui.TextsIn(botui.Russian),
	welcome: "Привет, %s! Я продаю быстрый и надёжный VPN: бесплатный пробный период, " +
		"оплата криптовалютой или звёздами Telegram, ключ приходит сразу.\n\n" +
		"Что я умею — /help",
	stranger: "друг",
	help: "Команды:\n" +
		"/start — главное меню\n" +
		"/language — выбрать язык\n" +
		"/topup 10 или /topup 300 stars — пополнить баланс\n" +
		"/paysupport — помощь с оплатой\n" +
		"/help — эта справка\n\n" +
		"Есть промокод? Просто отправьте его сообщением.\n\n" +
		"Вопросы или проблемы? Пишите %s.",
	fallback: "Я понимаю только команды. Список — /help",

	menu:     "Что будем делать?",
	btnTrial: "🎁 Пробный период", btnLanguage: "🌐 Язык", btnHelp: "❓ Помощь", btnSupport: "💬 Поддержка", btnBack: "« Назад",

	trialStarted:      "Пробный период действует до %s.",
	trialUsed:         "Вы уже воспользовались бесплатным пробным периодом, извините. Посмотрите тарифы: они начинаются с нескольких долларов в месяц.",
	alreadySubscribed: "У вас уже есть активная подписка, пробный период ничего не добавит.",
	needStart:         "Сначала отправьте /start.",

	plans:        "Выберите тариф:",
	planLine:     "• <b>%s</b> — %s, $%s или ⭐%d",
	plan:         "<b>%s</b>\nСрок: %s\nЦена: $%s или ⭐%d\n\nКак будете платить?",
	btnPlan:      "%s — $%s / ⭐%d",
	btnPayCrypto: "Crypto Pay ($%s)",
	btnPayStars:  "Звёзды Telegram (⭐%d)",
	cryptoOnly:   "Оплата криптовалютой сейчас недоступна; можно оплатить звёздами Telegram.",
	cryptoPay:    "<b>%s</b> за $%s.\n\nОплатите через Crypto Pay кнопкой ниже: счёт действует ограниченное время. Подписка начнётся, как только придёт оплата.",
	btnPayURL:    "Оплатить $%s",
	paymentsDown: "Платежи временно недоступны, попробуйте через минуту.",
	starsSent:    "Вот ваш счёт: оплатите его звёздами Telegram.",
	invoiceTitle: "VPN %s",
	invoiceDesc:  "Доступ к VPN: %s (%s).",

	checkoutRefused:  "Этот счёт больше не действует. Выберите тариф заново.",
	checkoutProblem:  "У нас что-то пошло не так. Попробуйте через минуту.",
	keyOnItsWay:      " Ключ уже в пути.",
	paymentConflict:  "Мы получили оплату, но не смогли зачесть её автоматически. Поддержка во всём разберётся: %s.",
	paymentDuplicate: "Эта оплата уже получена.",

	noSubscription: "У вас пока нет подписки. Возьмите пробный период или выберите тариф.",
	expired:        "Подписка закончилась %s. Выберите тариф, чтобы продолжить.",
	subscription:   "<b>%s</b>, действует до %s.",
	kindTrial:      "Пробный период",
	kindPaid:       "Подписка",
	keyPending:     "Ключ готовится и скоро придёт сюда.",
	qrCaption:      "Отсканируйте этот QR-код в приложении VPN.",
	setupPick:      "Инструкции по настройке:",
	setupOutline: map[string]string{
		PlatformAndroid: "<b>Android</b>\n1. Установите Outline из Google Play.\n2. Скопируйте ключ.\n3. Откройте Outline, нажмите +, вставьте ключ и подключитесь.",
		PlatformIOS:     "<b>iOS</b>\n1. Установите Outline из App Store.\n2. Скопируйте ключ.\n3. Откройте Outline, нажмите +, вставьте ключ и подключитесь.",
		PlatformWindows: "<b>Windows</b>\n1. Скачайте Outline Client с getoutline.org.\n2. Скопируйте ключ.\n3. Откройте Outline, нажмите +, вставьте ключ и подключитесь.",
		PlatformMacOS:   "<b>macOS</b>\n1. Установите Outline из Mac App Store.\n2. Скопируйте ключ.\n3. Откройте Outline, нажмите +, вставьте ключ и подключитесь.",
	},
	setupV2Ray: map[string]string{
		PlatformAndroid: "<b>Android</b>\n1. Установите Hiddify или v2rayNG.\n2. Скопируйте ссылку подписки.\n3. Добавьте её как новый профиль (импорт из буфера) и подключитесь.",
		PlatformIOS:     "<b>iOS</b>\n1. Установите Hiddify или Streisand из App Store.\n2. Скопируйте ссылку подписки.\n3. Добавьте её из буфера обмена и подключитесь.",
		PlatformWindows: "<b>Windows</b>\n1. Установите Hiddify с hiddify.com.\n2. Скопируйте ссылку подписки.\n3. Нажмите «Новый профиль», добавьте из буфера и подключитесь.",
		PlatformMacOS:   "<b>macOS</b>\n1. Установите Hiddify с hiddify.com.\n2. Скопируйте ссылку подписки.\n3. Нажмите «Новый профиль», добавьте из буфера и подключитесь.",
	},
	platformNames:   platformNames,
	chooseLanguage:  "Выберите язык:",
	languageNames:   languageNames,
	languageChanged: "Язык: русский.",

	btnRelink: "🔄 Новая ссылка",
	relinkConfirm: "<b>Новая ссылка?</b>\nЕсли ваша ссылка утекла или попала не к тому человеку, замените её. " +
		"Текущая ссылка сразу перестанет работать на всех устройствах, где она есть: " +
		"когда придёт новая, импортируйте её в приложение VPN. Подписка останется как есть.",
	btnRelinkYes:    "✅ Да, новая ссылка",
	btnRelinkCancel: "Отмена",
	relinkRequested: "Новая ссылка готовится и вот-вот придёт сюда. " +
		"Импортируйте её в приложение VPN: старая ссылка перестаёт работать.",
	relinkMoves: "Новая ссылка будет для локации %s.",

	btnLocation:    "📍 Локация",
	chooseLocation: "<b>Где должен быть ваш VPN-сервер?</b>\nВыберите локацию: ключ будет создан там.",
	locationKeyStays: "Ваша текущая ссылка — для локации %s и останется такой, чтобы работать в ваших приложениях. " +
		"Чтобы перенести её, выберите локацию, а затем запросите 🔄 Новую ссылку.",
	chosenMark:   "✅ ",
	locationMove: "Вы выбрали %s: 🔄 Новая ссылка перенесёт ключ туда (текущая ссылка тогда перестанет работать).",

	stats: "<b>Статистика</b>\nПользователей: %d\nАктивных подписок: %d\nПробных периодов: %d\nПлатежей сегодня: %d\nВыручка сегодня: $%s\nЗвёзд сегодня: ⭐%d",
	broadcastUsage: "Как пользоваться:\n/broadcast &lt;all|active|expired&gt; &lt;текст&gt; — отправить текст как есть (без разметки)\n" +
		"• all: всем, кто не заблокировал бота\n" +
		"• active: пользователям с действующей подпиской\n" +
		"• expired: пользователям, у которых подписка закончилась\n" +
		"/broadcast_status &lt;номер&gt; — как идёт рассылка",
	broadcastTooLong:  "В тексте %d символов, а в сообщение Telegram помещается не больше %d. Ничего не отправлено.",
	broadcastQueued:   "Рассылка #%d поставлена в очередь для %d пользователей. Ход рассылки — /broadcast_status %d",
	broadcastStatus:   "<b>Рассылка #%d</b>: %s, %s\n<blockquote>%s</blockquote>\nОтправлено: %d\nЗаблокировали бота: %d\nВ очереди: %d\nВсего: %d",
	broadcastNotFound: "Рассылки #%d нет.",
	segmentNames:      map[string]string{"all": "всем пользователям", "active": "с активной подпиской", "expired": "с истёкшей подпиской"},
	days:              botui.RussianNoun("день", "дня", "дней"),
	hours:             botui.RussianNoun("час", "часа", "часов"),
	minutes:           botui.RussianNoun("минута", "минуты", "минут"),
}

// welcomeFor greets a user by first name after /start.
func (t *texts) welcomeFor(firstName string) string {
	if firstName == "" {
		firstName = t.stranger
	}
	return fmt.Sprintf(t.welcome, firstName)
}

// duration writes a plan's length with the plural the language wants: in
// days when it is whole days, as sold plans are; else in hours, or minutes,
// for a short plan such as make run's 20-minute demo.
func (t *texts) duration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return t.days(int(d / (24 * time.Hour)))
	case d%time.Hour == 0:
		return t.hours(int(d / time.Hour))
	}
	return t.minutes(max(int(d.Round(time.Minute)/time.Minute), 1))
}
