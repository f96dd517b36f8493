package telegram_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestGetMeDescribesTheBotToTelebot(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	b, err := tele.NewBot(tele.Settings{URL: e.s.URL(), Token: token, Client: e.client})
	require.NoError(t, err)
	require.Equal(t, int64(123456), b.Me.ID)
	require.True(t, b.Me.IsBot)
	require.Equal(t, "vpnbot_test_bot", b.Me.Username)

	_, err = tele.NewBot(tele.Settings{URL: e.s.URL(), Token: "123456:WRONG", Client: e.client})
	require.ErrorIs(t, err, tele.ErrUnauthorized)
}

func TestTelebotSendEditAndDeleteShowInChat(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	user := &tele.User{ID: 42}

	e.s.SendText(42, "/start") // the user's message takes id 1: ids are shared by both sides
	markup := &tele.ReplyMarkup{}
	markup.Inline(markup.Row(markup.Data("Monthly", "plan", "m1"), markup.URL("Help", "https://example.com/help")))
	sent, err := b.Send(user, "<b>Hello</b>, pick a plan", &tele.SendOptions{
		ParseMode: tele.ModeHTML, ReplyTo: &tele.Message{ID: 1}, ReplyMarkup: markup,
	})
	require.NoError(t, err)

	// What telebot parsed is what Telegram would have returned.
	require.Equal(t, 2, sent.ID)
	require.Equal(t, "Hello, pick a plan", sent.Text)
	require.Equal(t, []tele.MessageEntity{{Type: tele.EntityBold, Offset: 0, Length: 5}}, []tele.MessageEntity(sent.Entities))
	require.Equal(t, int64(42), sent.Chat.ID)
	require.Equal(t, tele.ChatPrivate, sent.Chat.Type)
	require.True(t, sent.Sender.IsBot)
	require.NotNil(t, sent.ReplyTo)
	require.Equal(t, "/start", sent.ReplyTo.Text)
	require.Equal(t, "\fplan|m1", sent.ReplyMarkup.InlineKeyboard[0][0].Data)

	msgs := e.s.Messages(42)
	require.Len(t, msgs, 1)
	require.Equal(t, int64(2), msgs[0].ID)
	require.Equal(t, "<b>Hello</b>, pick a plan", msgs[0].Text)
	require.Equal(t, "Hello, pick a plan", msgs[0].Plain)
	require.Equal(t, "HTML", msgs[0].ParseMode)
	require.Equal(t, int64(1), msgs[0].ReplyTo)
	require.Equal(t, [][]telegram.Button{{{Text: "Monthly", Data: "\fplan|m1"}, {Text: "Help", URL: "https://example.com/help"}}}, msgs[0].Buttons)

	// An edit without reply_markup removes the keyboard, as in Telegram.
	_, err = b.Edit(sent, "Plan chosen")
	require.NoError(t, err)
	msgs = e.s.Messages(42)
	require.Equal(t, "Plan chosen", msgs[0].Text)
	require.Nil(t, msgs[0].Buttons)
	require.Equal(t, 1, msgs[0].Edits)

	_, err = b.Edit(sent, "Plan chosen")
	require.ErrorIs(t, err, tele.ErrSameMessageContent)

	again := &tele.ReplyMarkup{}
	again.Inline(again.Row(again.Data("Pay", "pay", "inv1")))
	_, err = b.EditReplyMarkup(sent, again)
	require.NoError(t, err)
	msgs = e.s.Messages(42)
	require.Equal(t, [][]telegram.Button{{{Text: "Pay", Data: "\fpay|inv1"}}}, msgs[0].Buttons)
	require.Equal(t, 2, msgs[0].Edits)

	bye, err := b.Send(user, "bye")
	require.NoError(t, err)
	require.Equal(t, 3, bye.ID)
	require.NoError(t, b.Delete(sent))
	msgs = e.s.Messages(42)
	require.Len(t, msgs, 1)
	require.Equal(t, "bye", msgs[0].Text)
	require.ErrorIs(t, b.Delete(sent), tele.ErrNotFoundToDelete)
	_, err = b.Edit(sent, "gone")
	require.ErrorContains(t, err, "message to edit not found")
}

func TestSendPhotoUploadsAndResendsByFileID(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	user := &tele.User{ID: 7}
	qr := pngImage(t, 64, 48)

	sent, err := b.Send(user, &tele.Photo{File: tele.FromReader(bytes.NewReader(qr)), Caption: "Your key"})
	require.NoError(t, err)
	require.Equal(t, 64, sent.Photo.Width)
	require.Equal(t, 48, sent.Photo.Height)
	require.NotEmpty(t, sent.Photo.FileID)
	require.Equal(t, "Your key", sent.Caption)

	again, err := b.Send(user, &tele.Photo{File: tele.File{FileID: sent.Photo.FileID}})
	require.NoError(t, err)
	require.Equal(t, sent.Photo.FileID, again.Photo.FileID)

	byURL, err := b.Send(user, &tele.Photo{File: tele.FromURL("https://example.com/qr.png")})
	require.NoError(t, err)
	require.NotEmpty(t, byURL.Photo.FileID)

	msgs := e.s.Messages(7)
	require.Len(t, msgs, 3)
	require.Equal(t, qr, msgs[0].Photo)
	require.Equal(t, "Your key", msgs[0].Text)
	require.Equal(t, qr, msgs[1].Photo)
	require.Equal(t, "https://example.com/qr.png", msgs[2].PhotoURL)

	_, err = b.Send(user, &tele.Photo{File: tele.FromReader(strings.NewReader("not an image"))})
	require.ErrorIs(t, err, tele.ErrFailedImageProcess)
	_, err = b.Send(user, &tele.Photo{File: tele.File{FileID: "no-such-file"}})
	require.ErrorIs(t, err, tele.ErrWrongFileID)
}

func TestTelebotBotHandlesCommandsAndButtonsFromSandboxUsers(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	b.Poller = &tele.LongPoller{Timeout: time.Second}

	menu := &tele.ReplyMarkup{}
	plan := menu.Data("Monthly", "plan", "m1")
	menu.Inline(menu.Row(plan))
	b.Handle("/start", func(c tele.Context) error {
		return c.Send("Hi "+c.Sender().FirstName+", payload "+c.Message().Payload, menu)
	})
	b.Handle(&plan, func(c tele.Context) error {
		if err := c.Respond(&tele.CallbackResponse{Text: "Plan " + c.Data()}); err != nil {
			return err
		}
		return c.Edit("You chose " + c.Data())
	})
	run(t, b)

	e.s.SetUser(telegram.User{ID: 5, FirstName: "Ann", LanguageCode: "ru"})
	e.s.SendText(5, "/start ref42")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := e.s.WaitMessages(ctx, 5, 1)
	require.NoError(t, err)
	require.Equal(t, "Hi Ann, payload ref42", msgs[0].Text)

	press := e.s.PressButton(5, msgs[0].ID, msgs[0].Buttons[0][0].Data)
	require.Eventually(t, func() bool {
		m := e.s.Messages(5)
		return len(m) == 1 && m[0].Text == "You chose m1" && m[0].Edits == 1
	}, 5*time.Second, 10*time.Millisecond)
	got, ok := e.s.CallbackAnswer(press)
	require.True(t, ok)
	require.Equal(t, telegram.CallbackAnswer{Text: "Plan m1"}, got)
}

func TestRequestEncodingsAreAllAccepted(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	typed := e.callJSON("sendMessage", map[string]any{
		"chat_id": 77, "text": "json",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "A", "callback_data": "a"}}}},
	})
	require.True(t, typed.OK, typed.Description)

	form := e.callForm("sendMessage", url.Values{
		"chat_id": {"77"}, "text": {"form"}, "reply_to_message_id": {"1"},
		"reply_markup": {`{"inline_keyboard":[[{"text":"B","callback_data":"b"}]]}`},
	})
	require.True(t, form.OK, form.Description)

	// Method names are case-insensitive and GET with a query string works, as in Telegram.
	get := e.do(mustRequest(t, http.MethodGet, e.s.URL()+"/bot"+token+"/SENDMESSAGE?chat_id=77&text=get"))
	require.True(t, get.OK, get.Description)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("chat_id", "77"))
	require.NoError(t, mw.WriteField("caption", "multipart"))
	require.NoError(t, mw.WriteField("reply_parameters", `{"message_id":2}`))
	part, err := mw.CreateFormFile("photo", "qr.png")
	require.NoError(t, err)
	_, err = part.Write(pngImage(t, 10, 10))
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	photo := e.post("sendPhoto", mw.FormDataContentType(), &body)
	require.True(t, photo.OK, photo.Description)

	msgs := e.s.Messages(77)
	require.Len(t, msgs, 4)
	for i, want := range []struct {
		text    string
		replyTo int64
		buttons [][]telegram.Button
	}{
		{"json", 0, [][]telegram.Button{{{Text: "A", Data: "a"}}}},
		{"form", 1, [][]telegram.Button{{{Text: "B", Data: "b"}}}},
		{"get", 0, nil},
		{"multipart", 2, nil},
	} {
		require.Equal(t, int64(i+1), msgs[i].ID)
		require.Equal(t, want.text, msgs[i].Text)
		require.Equal(t, want.replyTo, msgs[i].ReplyTo)
		require.Equal(t, want.buttons, msgs[i].Buttons)
	}
	require.NotEmpty(t, msgs[3].Photo)
}

func mustRequest(t *testing.T, method, target string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	return req
}

func TestProtocolErrorsMatchTelegram(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	wrongToken := e.do(mustRequest(t, http.MethodPost, e.s.URL()+"/bot1:nope/getMe"))
	require.Equal(t, answer{Status: 401, ErrorCode: 401, Description: "Unauthorized"}, wrongToken)
	unknown := e.callJSON("sendDice", map[string]any{"chat_id": 1})
	require.Equal(t, answer{Status: 404, ErrorCode: 404, Description: "Not Found"}, unknown)

	for _, tc := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"no chat", map[string]any{"text": "x"}, "Bad Request: chat_id is empty"},
		{"empty text", map[string]any{"chat_id": 1, "text": " "}, "Bad Request: message text is empty"},
		{"unclosed tag", map[string]any{"chat_id": 1, "text": "<b>bold", "parse_mode": "HTML"}, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""},
		{"unsupported tag", map[string]any{"chat_id": 1, "text": "a<br>b", "parse_mode": "HTML"}, "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 1"},
		{"unknown parse mode", map[string]any{"chat_id": 1, "text": "x", "parse_mode": "BBCode"}, "Bad Request: unsupported parse_mode"},
		{"too long", map[string]any{"chat_id": 1, "text": strings.Repeat("я", 4097)}, "Bad Request: message is too long"},
		{"long callback data", map[string]any{"chat_id": 1, "text": "x", "reply_markup": `{"inline_keyboard":[[{"text":"A","callback_data":"` + strings.Repeat("d", 65) + `"}]]}`}, "Bad Request: BUTTON_DATA_INVALID"},
		{"text button", map[string]any{"chat_id": 1, "text": "x", "reply_markup": `{"inline_keyboard":[[{"text":"A"}]]}`}, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"},
		{"missing reply target", map[string]any{"chat_id": 1, "text": "x", "reply_to_message_id": 99}, "Bad Request: message to be replied not found"},
	} {
		got := e.callJSON("sendMessage", tc.params)
		require.Equal(t, 400, got.Status, tc.name)
		require.Equal(t, tc.want, got.Description, tc.name)
	}
	require.Empty(t, e.s.Messages(1))

	// Entities in HTML are decoded for the user.
	ok := e.callJSON("sendMessage", map[string]any{"chat_id": 1, "text": "a &lt; b &amp; c", "parse_mode": "HTML"})
	require.True(t, ok.OK)
	require.Equal(t, "a < b & c", e.s.Messages(1)[0].Plain)
}

func TestCommandsRoundTripAndAreValidated(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()

	cmds := []tele.Command{{Text: "start", Description: "Start"}, {Text: "plans", Description: "Buy VPN"}}
	require.NoError(t, b.SetCommands(cmds))
	got, err := b.Commands()
	require.NoError(t, err)
	require.Equal(t, cmds, got)

	require.ErrorContains(t, b.SetCommands([]tele.Command{{Text: "Start", Description: "x"}}), "BOT_COMMAND_INVALID")
}

func TestWaitMessagesFailsWhenNothingArrives(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.s.WaitMessages(ctx, 3, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
