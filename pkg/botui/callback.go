package botui

import (
	"slices"
	"strings"
)

// MaxCallbackData is Telegram's limit on a button's callback data, in bytes:
// a longer one is refused with the whole message. The longest action that
// takes an argument is ActionPayCrypto (7 bytes), and a notice's button adds
// its mark (1 byte), so a plan id must be at most 56 bytes; platforms and
// languages are short constants.
const MaxCallbackData = 64

// Actions a button asks of the bot-handler: its callback data is the action,
// followed by an argument for the actions that end in ':'. Buttons of the
// workers' messages use the same actions, and open the same screens, as the
// bot's own.
const (
	ActionMenu         = "menu"
	ActionTrial        = "trial"
	ActionPlans        = "plans"
	ActionPlan         = "plan:"   // + plan id
	ActionPayCrypto    = "pay:cp:" // + plan id
	ActionPayStars     = "pay:st:" // + plan id
	ActionSubscription = "sub"
	ActionSetup        = "setup:" // + platform
	ActionLanguages    = "lang"
	ActionSetLanguage  = "lang:" // + language
	ActionHelp         = "help"
	// ActionRelink asks for a new link in place of the user's (a leaked
	// one); ActionRelinkConfirm is the answer yes to the question it shows.
	ActionRelink        = "relink"
	ActionRelinkConfirm = "relink:yes"
	// ActionLocations lists the locations offered; ActionSetLocation
	// chooses one.
	ActionLocations   = "loc"
	ActionSetLocation = "loc:" // + location
	// ActionPaid is "I paid" under a Crypto Pay order: check it now.
	ActionPaid = "paid:" // + invoice id
	// ActionBalance shows the user's balance and how to top it up;
	// ActionHistory their latest payments.
	ActionBalance = "bal"
	ActionHistory = "hist"
	// ActionTopUpCrypto and ActionTopUpStars top the balance up: by cents
	// with Crypto Pay, by stars with Telegram Stars.
	ActionTopUpCrypto = "top:cp:" // + cents
	ActionTopUpStars  = "top:st:" // + stars
	// ActionPayBalanceUSD and ActionPayBalanceXTR pay for a plan from the
	// user's balance in that currency.
	ActionPayBalanceUSD = "pay:bu:" // + plan id
	ActionPayBalanceXTR = "pay:bx:" // + plan id
	// ActionInvite shows the user's invite link and what it earned them.
	ActionInvite = "invite"
	// ActionAutoRenewOn and ActionAutoRenewOff turn auto-renewal from the
	// balance on and off (not a toggle: a press retried keeps its effect);
	// ActionAutoRenewPlans lists the plans it can renew with, and
	// ActionAutoRenewPlan picks one; ActionAutoRenewTopUp tops the balance
	// up by what a renewal lacks.
	ActionAutoRenewOn    = "ar:on"
	ActionAutoRenewOff   = "ar:off"
	ActionAutoRenewPlans = "ar:plans"
	ActionAutoRenewPlan  = "ar:p:" // + plan id
	ActionAutoRenewTopUp = "ar:top"
	// ActionAdmin is a button of an admin screen (the user card): the
	// bot-handler reads its argument, and checks the presser's role.
	ActionAdmin = "adm:" // + what the admin screen asks
	// An admin's broadcast: under its preview, ActionBroadcastSend sends
	// it, ActionBroadcastSendPaid sends it as a paid broadcast and
	// ActionBroadcastDiscard drops it; under its status,
	// ActionBroadcastStatus shows the progress afresh, ActionBroadcastCancel
	// asks whether to cancel it and ActionBroadcastCancelConfirm cancels it.
	ActionBroadcastSend          = "bc:send:" // + broadcast id
	ActionBroadcastSendPaid      = "bc:paid:" // + broadcast id
	ActionBroadcastDiscard       = "bc:drop:" // + broadcast id
	ActionBroadcastStatus        = "bc:st:"   // + broadcast id
	ActionBroadcastCancel        = "bc:cx:"   // + broadcast id
	ActionBroadcastCancelConfirm = "bc:cxy:"  // + broadcast id
	// ActionChannelCheck is "Check again" under the screen that asks to
	// join the required channel; its argument is the action to go on with
	// once the user has joined (ActionTrial), or "" for the menu.
	ActionChannelCheck = "chan:" // + action
)

// MaxLocation is the longest location label, in bytes, that a button of
// ActionSetLocation carries (under a notice's mark too).
const MaxLocation = MaxCallbackData - len(noticeMark) - len(ActionSetLocation)

var (
	// actionsAlone are the actions whose callback data is the action alone.
	actionsAlone = []string{ActionMenu, ActionTrial, ActionPlans, ActionSubscription, ActionLanguages, ActionHelp,
		ActionRelink, ActionRelinkConfirm, ActionLocations, ActionBalance, ActionHistory, ActionInvite,
		ActionAutoRenewOn, ActionAutoRenewOff, ActionAutoRenewPlans, ActionAutoRenewTopUp}
	// actionsWithArg are the actions followed by an argument.
	actionsWithArg = []string{ActionPlan, ActionPayCrypto, ActionPayStars, ActionSetup, ActionSetLanguage, ActionSetLocation,
		ActionPaid, ActionTopUpCrypto, ActionTopUpStars, ActionPayBalanceUSD, ActionPayBalanceXTR, ActionAutoRenewPlan,
		ActionAdmin,
		ActionBroadcastSend, ActionBroadcastSendPaid, ActionBroadcastDiscard, ActionBroadcastStatus, ActionBroadcastCancel,
		ActionBroadcastCancelConfirm, ActionChannelCheck}
)

// noticeMark starts the callback data of a notice's button.
const noticeMark = "!"

// Callback is the callback data of a button that asks for action with arg:
// a plan id, a platform, a language or a location for the actions that take one, ""
// otherwise. It must fit MaxCallbackData.
func Callback(action, arg string) string { return action + arg }

// NoticeCallback is Callback for a button under a notice, a message the
// system sends on its own (a worker's, through the sender): the screen it
// opens comes as a new message below, so the notice — a payment's receipt, a
// key — stays in the chat. A button under one of the bot's screens puts the
// next screen in that screen's place instead, so navigating does not pile up
// messages.
func NoticeCallback(action, arg string) string { return noticeMark + Callback(action, arg) }

// ParseCallback reads the callback data of a pressed button: the action it
// asks for, that action's argument, and whether the button is a notice's
// (NoticeCallback). Data of no known action (a button of an older version of
// the bot) reads as action "".
func ParseCallback(data string) (action, arg string, notice bool) {
	data, notice = strings.CutPrefix(data, noticeMark)
	if slices.Contains(actionsAlone, data) {
		return data, "", notice
	}
	for _, a := range actionsWithArg {
		if rest, ok := strings.CutPrefix(data, a); ok {
			return a, rest, notice
		}
	}
	return "", "", notice
}
