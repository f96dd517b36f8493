package sender

import (
	"context"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

type inlineButton struct {
	Text         string  `json:"text"`
	CallbackData string  `json:"callback_data,omitempty"`
	URL          string  `json:"url,omitempty"`
	WebApp       *webApp `json:"web_app,omitempty"`
}

// webApp is a button's Mini App (Bot API WebAppInfo).
type webApp struct {
	URL string `json:"url"`
}

type replyMarkup struct {
	InlineKeyboard [][]inlineButton `json:"inline_keyboard"`
}

// send sends m with sendMessage, or sendPhoto when it has a photo (uploaded
// when it carries the PNG; otherwise photo_url is a URL or the file_id of a
// photo Telegram has, such as one an admin sent the bot), and returns the
// id Telegram gave the message. A refusal is a *telegram.Error.
func (s *Sender) send(ctx context.Context, m *vpnbotv1.SendMessage) (int64, error) {
	params := map[string]any{"chat_id": m.GetChatId()}
	if m.GetPaidBroadcast() {
		// Past the free limit, for Stars; the client then takes only the
		// chat's slot of the shared budget.
		params["allow_paid_broadcast"] = true
	}
	if m.GetParseMode() != "" {
		params["parse_mode"] = m.GetParseMode()
	}
	if rows := m.GetRows(); len(rows) > 0 {
		kb := replyMarkup{InlineKeyboard: make([][]inlineButton, 0, len(rows))}
		for _, r := range rows {
			row := make([]inlineButton, 0, len(r.GetButtons()))
			for _, b := range r.GetButtons() {
				ib := inlineButton{Text: b.GetText(), CallbackData: b.GetCallbackData(), URL: b.GetUrl()}
				if u := b.GetWebAppUrl(); u != "" {
					ib.WebApp = &webApp{URL: u}
				}
				row = append(row, ib)
			}
			kb.InlineKeyboard = append(kb.InlineKeyboard, row)
		}
		params["reply_markup"] = kb
	}
	var sent struct {
		MessageID int64 `json:"message_id"`
	}
	if len(m.GetPhoto()) == 0 && m.GetPhotoUrl() == "" {
		params["text"] = m.GetText()
		err := s.client.Call(ctx, "sendMessage", params, &sent)
		return sent.MessageID, err
	}
	if m.GetText() != "" {
		params["caption"] = m.GetText()
	}
	var err error
	if len(m.GetPhoto()) > 0 {
		err = s.client.Upload(ctx, "sendPhoto", params, "photo", m.GetPhoto(), &sent)
	} else {
		params["photo"] = m.GetPhotoUrl()
		err = s.client.Call(ctx, "sendPhoto", params, &sent)
	}
	return sent.MessageID, err
}
