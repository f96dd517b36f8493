package bot

import "github.com/vpnbot/vpnbot/pkg/botui"

// adminTexts is what the admin tools say (the user card, its questions and
// results, /refund, /grant, /extend, /msg, /audit, /role), in one language,
// HTML. The database's own words (a period's kind and status, a provider,
// a ledger kind) are shown as they are.
type adminTexts struct {
	cardUsage     string
	noUser        string // takes the query
	head          string // takes the user's id
	name          string
	username      string
	language      string // the language chosen, the client's
	joined        string
	blocked       string
	banned        string
	trial         string
	trialNone     string
	sub           string // id, kind, status, start, expiry
	subNone       string
	role          string
	key           string // panel, account
	suspended     string
	keyNone       string
	link          string
	balance       string
	balanceNone   string
	invoices      string
	invoicesNone  string
	ledger        string
	ofBalance     string // marks a ledger row's change of the balance
	commands      string // takes the user's id three times
	btnExtend     string // takes a duration
	btnShorten    string // takes a duration
	btnEnd        string
	btnBan        string
	btnUnban      string
	btnReissue    string
	btnRefund     string
	btnRefresh    string
	btnBack       string
	btnYes        string
	askExtend     string // duration, user
	askShorten    string // duration, user
	askEnd        string
	askBan        string
	askUnban      string
	askReissue    string
	askRefund     string // invoice, user, amount
	askRefundHand string // invoice, user, amount
	// The questions an admin's text answers (cardinput.go).
	btnGrant       string
	btnMessage     string
	btnCancel      string
	inputGrant     string // user, minutes open
	inputMessage   string // user, most characters, minutes open
	inputBadAmount string // the text sent
	askGrant       string // amount, user
	askTake        string // amount, user
	askMessage     string // user, the text
	inputGone      string // the user's id
	pickRefund     string
	noRefunds      string
	refusedRole    string // takes the role's name
	again          string
	ends           string // user, expiry
	ended          string
	nothingLive    string
	bannedDone     string
	unbannedDone   string
	ownerNoBan     string // takes the user's name
	reissued       string
	noKey          string
	// Refunds, by the card or /refund.
	refundUsage     string
	noInvoice       string // takes the invoice id
	refunded        string // invoice, amount, user, what was taken back
	refundedByHand  string // invoice, amount, user, what was taken back
	notPaid         string // invoice, status
	spent           string // invoice
	telegramRefused string // invoice, Telegram's error, invoice
	takenAccess     string // takes a duration
	takenBalance    string // takes an amount
	takenNothing    string
	// Commands that act on a user.
	extendUsage string
	grantUsage  string
	granted     string // user, amount, the balance now
	overdraw    string // user
	msgUsage    string
	msgTooLong  string // takes the characters, the most
	msgQueued   string
	// /audit.
	auditAll  string // takes the count
	auditOf   string // user
	auditNone string
	auditLine string // when, admin, action, target, change, note
	// /role.
	roleUsage   string
	roles       string
	roleLine    string // user, role, granted by, when
	rolesNone   string
	roleGranted string // user, role
	roleRevoked string // user
	roleNames   map[string]string
}

var adminEN = adminTexts{
	cardUsage:     "Usage: /user &lt;id | @username | #invoice | charge or Crypto Pay id&gt;",
	noUser:        "No user matches %s.",
	head:          "<b>User %d</b>",
	name:          "Name: %s",
	username:      "Username: %s",
	language:      "Language: %s (client %s)",
	joined:        "Joined: %s",
	blocked:       "Blocked the bot: %s",
	banned:        "⛔ <b>Banned</b> since %s",
	trial:         "Trial: taken %s",
	trialNone:     "Trial: not taken",
	sub:           "Subscription %d: %s, %s, %s – %s",
	subNone:       "Subscription: none",
	role:          "Role: %s",
	key:           "Key: %s %s",
	suspended:     "⏸ Key suspended since %s",
	keyNone:       "Key: none yet",
	link:          "Link: <code>%s</code>",
	balance:       "Balance: %s",
	balanceNone:   "Balance: none",
	invoices:      "Invoices:",
	invoicesNone:  "Invoices: none",
	ledger:        "Ledger:",
	ofBalance:     "balance",
	commands:      "/extend %d &lt;days&gt; · /grant %d &lt;amount&gt; [stars] · /msg %d &lt;text&gt;",
	btnExtend:     "➕ %s",
	btnShorten:    "➖ %s",
	btnEnd:        "⏹ End now",
	btnBan:        "⛔ Ban",
	btnUnban:      "✅ Unban",
	btnReissue:    "🔑 New key",
	btnRefund:     "↩️ Refund…",
	btnRefresh:    "🔄 Refresh",
	btnBack:       "⬅️ Back to the card",
	btnYes:        "✅ Yes, do it",
	askExtend:     "Add <b>%s</b> to the subscription of %s?",
	askShorten:    "Take <b>%s</b> off the subscription of %s? It never ends before now.",
	askEnd:        "End the subscription of %s <b>now</b>? The key stops working after the grace period.",
	askBan:        "Ban %s? They are told once that their access is suspended, and their key is suspended until an unban.",
	askUnban:      "Lift the ban on %s? Their key works again while their subscription lasts.",
	askReissue:    "Give %s a <b>new key</b>? The key they have stops working at once.",
	askRefund:     "Refund invoice #%d of %s, %s, through Telegram? What it bought is taken back.",
	askRefundHand: "Reverse invoice #%d of %s, %s, in the ledger? What it bought is taken back; you return the money by hand in Crypto Pay.",

	btnGrant:   "💰 Balance",
	btnMessage: "✉️ Message",
	btnCancel:  "✖️ Cancel",
	inputGrant: "How much to give %s? Send the amount: <code>5</code> or <code>2.50</code> in dollars, <code>100 stars</code> in stars; " +
		"a minus takes from the balance (<code>-5</code>). The question stays open for %d minutes.",
	inputMessage: "Send the message for %s. The bot sends it exactly as you type it, line breaks kept, at most %d characters. " +
		"The question stays open for %d minutes.",
	inputBadAmount: "“%s” is not an amount. Send <code>5</code>, <code>2.50</code>, <code>-5</code> or <code>100 stars</code>, or press Cancel.",
	askGrant:       "Give <b>%s</b> to the balance of %s?",
	askTake:        "Take <b>%s</b> from the balance of %s?",
	askMessage:     "Send %s this message?\n\n%s",
	inputGone:      "That question is closed (another was asked, or it was cancelled): nothing was done. Open the card again with /user %d.",
	pickRefund:     "Which payment of %s is to be refunded?",
	noRefunds:      "%s has no paid invoice to refund.",
	refusedRole:    "Your role (%s) cannot do this.",
	again:          "Done already by this confirmation: nothing more was changed.",
	ends:           "✅ The subscription of %s now ends %s.",
	ended:          "✅ The subscription of %s ended now.",
	nothingLive:    "%s has no active subscription: there is nothing to shorten or end.",
	bannedDone:     "✅ %s is banned.",
	ownerNoBan:     "%s is an owner (ADMIN_IDS): owners cannot be banned.",
	unbannedDone:   "✅ %s is no longer banned.",
	reissued:       "✅ A new key for %s is on its way to them.",
	noKey:          "%s has no key to replace.",

	refundUsage:     "Usage: /refund &lt;invoice id&gt; (/user lists a user's invoices)",
	noInvoice:       "No invoice %d.",
	refunded:        "Invoice %d refunded: %s to user %d; %s taken back. The user is told.",
	refundedByHand:  "Invoice %d reversed: return %s to user %d by hand in Crypto Pay; %s taken back. The user is told.",
	notPaid:         "Invoice %d is %s: there is no payment to refund.",
	spent:           "Invoice %d topped up a balance that has been spent since: nothing was refunded.",
	telegramRefused: "Invoice %d: the ledger reversal is recorded, but Telegram refused the refund: %s. Send /refund %d again to retry.",
	takenAccess:     "%s of access",
	takenBalance:    "%s of balance",
	takenNothing:    "nothing (the period had ended)",

	extendUsage: "Usage: /extend &lt;user&gt; &lt;days&gt; (negative days shorten, never below now)",
	grantUsage: "Usage: /grant &lt;user&gt; &lt;amount&gt; [stars], e.g. /grant 1001 5.00 or /grant @alice 100 stars; " +
		"a negative amount takes from the balance",
	granted:    "✅ Balance of %s: %s granted, %s now.",
	overdraw:   "%s does not have that much: nothing was taken.",
	msgUsage:   "Usage: /msg &lt;user&gt; &lt;text&gt;",
	msgTooLong: "The message has %d characters; at most %d fit.",
	msgQueued:  "✅ Message to %s queued.",

	auditAll:  "<b>Admin actions</b>, the latest %d:",
	auditOf:   "<b>Admin actions on %s</b>:",
	auditNone: "No admin actions yet.",
	auditLine: "• %s: %d %s → %d%s%s",

	roleUsage:   "Usage: /role grant &lt;id | @user&gt; admin|support · /role revoke &lt;id | @user&gt; · /role list",
	roles:       "<b>Roles</b> (owners are ADMIN_IDS):",
	roleLine:    "• %s: %s, granted by %d, %s",
	rolesNone:   "No roles granted: only the owners (ADMIN_IDS) run the shop.",
	roleGranted: "✅ %s is now %s.",
	roleRevoked: "✅ %s has no role now.",
	roleNames:   map[string]string{"owner": "owner", "admin": "admin", "support": "support", "": "none"},
}

var adminRU = adminTexts{
	cardUsage:     "Формат: /user &lt;id | @username | #счёт | id платежа или Crypto Pay&gt;",
	noUser:        "Пользователь %s не найден.",
	head:          "<b>Пользователь %d</b>",
	name:          "Имя: %s",
	username:      "Username: %s",
	language:      "Язык: %s (клиент %s)",
	joined:        "С нами с: %s",
	blocked:       "Заблокировал бота: %s",
	banned:        "⛔ <b>Забанен</b> с %s",
	trial:         "Пробный период: взят %s",
	trialNone:     "Пробный период: не брал",
	sub:           "Подписка %d: %s, %s, %s – %s",
	subNone:       "Подписка: нет",
	role:          "Роль: %s",
	key:           "Ключ: %s %s",
	suspended:     "⏸ Ключ приостановлен с %s",
	keyNone:       "Ключ: ещё нет",
	link:          "Ссылка: <code>%s</code>",
	balance:       "Баланс: %s",
	balanceNone:   "Баланс: пуст",
	invoices:      "Счета:",
	invoicesNone:  "Счета: нет",
	ledger:        "Движения:",
	ofBalance:     "баланс",
	commands:      "/extend %d &lt;дни&gt; · /grant %d &lt;сумма&gt; [stars] · /msg %d &lt;текст&gt;",
	btnExtend:     "➕ %s",
	btnShorten:    "➖ %s",
	btnEnd:        "⏹ Завершить",
	btnBan:        "⛔ Забанить",
	btnUnban:      "✅ Разбанить",
	btnReissue:    "🔑 Новый ключ",
	btnRefund:     "↩️ Возврат…",
	btnRefresh:    "🔄 Обновить",
	btnBack:       "⬅️ К карточке",
	btnYes:        "✅ Да, выполнить",
	askExtend:     "Добавить <b>%s</b> к подписке %s?",
	askShorten:    "Убрать <b>%s</b> из подписки %s? Раньше текущего момента она не закончится.",
	askEnd:        "Завершить подписку %s <b>сейчас</b>? Ключ перестанет работать после льготного периода.",
	askBan:        "Забанить %s? Ему один раз сообщат, что доступ приостановлен, а ключ будет приостановлен до разбана.",
	askUnban:      "Снять бан с %s? Ключ снова заработает, пока идёт подписка.",
	askReissue:    "Выдать %s <b>новый ключ</b>? Прежний ключ сразу перестанет работать.",
	askRefund:     "Вернуть оплату счёта #%d пользователя %s, %s, через Telegram? Купленное будет списано.",
	askRefundHand: "Отменить счёт #%d пользователя %s, %s, в учёте? Купленное будет списано, а деньги вы вернёте вручную в Crypto Pay.",

	btnGrant:   "💰 Баланс",
	btnMessage: "✉️ Сообщение",
	btnCancel:  "✖️ Отмена",
	inputGrant: "Сколько начислить %s? Пришлите сумму: <code>5</code> или <code>2.50</code> в долларах, <code>100 stars</code> в звёздах; " +
		"минус списывает с баланса (<code>-5</code>). Вопрос открыт %d мин.",
	inputMessage: "Пришлите сообщение для %s. Бот отправит его ровно так, как вы его напишете, с переносами строк, не больше %d символов. " +
		"Вопрос открыт %d мин.",
	inputBadAmount: "«%s» — не сумма. Пришлите <code>5</code>, <code>2.50</code>, <code>-5</code> или <code>100 stars</code> либо нажмите «Отмена».",
	askGrant:       "Начислить <b>%s</b> на баланс %s?",
	askTake:        "Списать <b>%s</b> с баланса %s?",
	askMessage:     "Отправить %s это сообщение?\n\n%s",
	inputGone:      "Этот вопрос уже закрыт (задан другой или он отменён): ничего не сделано. Откройте карточку снова: /user %d.",
	pickRefund:     "Какую оплату %s вернуть?",
	noRefunds:      "У %s нет оплаченных счетов для возврата.",
	refusedRole:    "Вашей роли (%s) это недоступно.",
	again:          "Уже выполнено по этому подтверждению: больше ничего не изменено.",
	ends:           "✅ Подписка %s теперь заканчивается %s.",
	ended:          "✅ Подписка %s завершена.",
	nothingLive:    "У %s нет активной подписки: нечего сокращать или завершать.",
	bannedDone:     "✅ %s забанен.",
	ownerNoBan:     "%s — владелец (ADMIN_IDS): владельцев нельзя забанить.",
	unbannedDone:   "✅ С %s снят бан.",
	reissued:       "✅ Новый ключ для %s уже в пути.",
	noKey:          "У %s нет ключа, который можно заменить.",

	refundUsage:     "Формат: /refund &lt;id счёта&gt; (счета пользователя показывает /user)",
	noInvoice:       "Счёта %d нет.",
	refunded:        "Счёт %d возвращён: %s пользователю %d; списано: %s. Пользователь уведомлён.",
	refundedByHand:  "Счёт %d отменён: верните %s пользователю %d вручную в Crypto Pay; списано: %s. Пользователь уведомлён.",
	notPaid:         "Счёт %d в статусе %s: возвращать нечего.",
	spent:           "Счёт %d пополнил баланс, который уже потрачен: ничего не возвращено.",
	telegramRefused: "Счёт %d: отмена в учёте записана, но Telegram отказал в возврате: %s. Отправьте /refund %d ещё раз, чтобы повторить.",
	takenAccess:     "%s доступа",
	takenBalance:    "%s баланса",
	takenNothing:    "ничего (период уже закончился)",

	extendUsage: "Формат: /extend &lt;пользователь&gt; &lt;дни&gt; (отрицательное число сокращает, но не раньше текущего момента)",
	grantUsage: "Формат: /grant &lt;пользователь&gt; &lt;сумма&gt; [stars], например /grant 1001 5.00 или /grant @alice 100 stars; " +
		"отрицательная сумма списывает с баланса",
	granted:    "✅ Баланс %s: начислено %s, теперь %s.",
	overdraw:   "У %s столько нет: ничего не списано.",
	msgUsage:   "Формат: /msg &lt;пользователь&gt; &lt;текст&gt;",
	msgTooLong: "В сообщении %d символов; помещается не больше %d.",
	msgQueued:  "✅ Сообщение для %s поставлено в очередь.",

	auditAll:  "<b>Действия админов</b>, последние %d:",
	auditOf:   "<b>Действия админов над %s</b>:",
	auditNone: "Действий админов пока нет.",
	auditLine: "• %s: %d %s → %d%s%s",

	roleUsage:   "Формат: /role grant &lt;id | @user&gt; admin|support · /role revoke &lt;id | @user&gt; · /role list",
	roles:       "<b>Роли</b> (владельцы — ADMIN_IDS):",
	roleLine:    "• %s: %s, выдал %d, %s",
	rolesNone:   "Ролей не выдано: магазином управляют только владельцы (ADMIN_IDS).",
	roleGranted: "✅ %s теперь %s.",
	roleRevoked: "✅ У %s больше нет роли.",
	roleNames:   map[string]string{"owner": "владелец", "admin": "админ", "support": "поддержка", "": "нет"},
}

func adminTextsIn(lang string) *adminTexts { return botui.Pick(lang, &adminEN, &adminRU) }

// roleName is role as the admin reads it.
func (t *adminTexts) roleName(role string) string {
	if n, ok := t.roleNames[role]; ok {
		return n
	}
	return role
}
