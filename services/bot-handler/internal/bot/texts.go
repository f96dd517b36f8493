package bot

import (
	"fmt"

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
}

// textsIn returns the texts of lang, English for a language the bot does not speak.
func textsIn(lang string) *texts { return botui.Pick(lang, &en, &ru) }

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

	checkoutRefused:  "This invoice is no longer valid. Please choose the plan again.",
	checkoutProblem:  "Something went wrong on our side. Please try again in a minute.",
	keyOnItsWay:      " Your key is on its way.",
	paymentConflict:  "We received your payment but could not apply it automatically. Support will sort it out: %s.",
	paymentDuplicate: "This payment was already received.",

	noSubscription:  "You have no subscription yet. Take the free trial or choose a plan.",
	expired:         "Your subscription ended on %s. Choose a plan to continue.",
	subscription:    "<b>%s</b>, active until %s.",
	kindTrial:       "Free trial",
	kindPaid:        "Subscription",
	keyPending:      "Your key is being prepared; it will arrive here in a moment.",
	qrCaption:       "Scan this QR code in your VPN app.",
	setupPick:       "Setup instructions:",
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

	checkoutRefused:  "Этот счёт больше не действует. Выберите тариф заново.",
	checkoutProblem:  "У нас что-то пошло не так. Попробуйте через минуту.",
	keyOnItsWay:      " Ключ уже в пути.",
	paymentConflict:  "Мы получили оплату, но не смогли зачесть её автоматически. Поддержка во всём разберётся: %s.",
	paymentDuplicate: "Эта оплата уже получена.",

	noSubscription:  "У вас пока нет подписки. Возьмите пробный период или выберите тариф.",
	expired:         "Подписка закончилась %s. Выберите тариф, чтобы продолжить.",
	subscription:    "<b>%s</b>, действует до %s.",
	kindTrial:       "Пробный период",
	kindPaid:        "Подписка",
	keyPending:      "Ключ готовится и скоро придёт сюда.",
	qrCaption:       "Отсканируйте этот QR-код в приложении VPN.",
	setupPick:       "Инструкции по настройке:",
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
}

// welcomeFor greets a user by first name after /start.
func (t *texts) welcomeFor(firstName string) string {
	if firstName == "" {
		firstName = t.stranger
	}
	return fmt.Sprintf(t.welcome, firstName)
}
