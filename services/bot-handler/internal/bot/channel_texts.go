package bot

import (
	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
)

// channelTexts are what the required channel's gate says.
type channelTexts struct {
	joinForTrial string // the gate in front of the free trial
	joinToUse    string // the gate in front of the rest of the bot
	btnJoin      string
	btnCheck     string
}

var channelEN = channelTexts{
	joinForTrial: "<b>Join our channel to get your free trial</b>\n\n" +
		"The free trial is for subscribers of our channel. Join it, then press <b>Check again</b>: " +
		"your trial starts right away.",
	joinToUse: "<b>Join our channel to use the bot</b>\n\n" +
		"The bot is for subscribers of our channel. Join it, then press <b>Check again</b>.",
	btnJoin:  "📢 Join channel",
	btnCheck: "✅ Check again",
}

var channelRU = channelTexts{
	joinForTrial: "<b>Подпишитесь на наш канал, чтобы получить пробный период</b>\n\n" +
		"Пробный период — для подписчиков нашего канала. Подпишитесь и нажмите <b>Проверить снова</b>: " +
		"пробный период начнётся сразу.",
	joinToUse: "<b>Подпишитесь на наш канал, чтобы пользоваться ботом</b>\n\n" +
		"Бот — для подписчиков нашего канала. Подпишитесь и нажмите <b>Проверить снова</b>.",
	btnJoin:  "📢 Подписаться",
	btnCheck: "✅ Проверить снова",
}

func channelTextsIn(lang string) *channelTexts { return botui.Pick(lang, &channelEN, &channelRU) }

// ChannelGateScreen asks a user to join the required channel at url before
// they go on: to the free trial when then is botui.ActionTrial, else to the
// bot. Check again goes on with then once they have joined. In scope
// channelgate.ScopeTrial the rest of the bot stays open, so the gate has a
// way back to the menu.
func ChannelGateScreen(lang, url, scope, then string) Screen {
	ct, t := channelTextsIn(lang), textsIn(lang)
	rows := [][]Button{
		{{Text: ct.btnJoin, URL: url}},
		{data(ct.btnCheck, botui.Callback(botui.ActionChannelCheck, then))},
	}
	if scope == channelgate.ScopeTrial {
		rows = append(rows, menuButton(t))
	}
	if then == botui.ActionTrial {
		return Screen{Text: ct.joinForTrial, Buttons: rows}
	}
	return Screen{Text: ct.joinToUse, Buttons: rows}
}
