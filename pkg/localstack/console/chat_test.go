package console_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// message is a chat message as the page reads it.
type message struct {
	ID       int64                `json:"id"`
	FromUser bool                 `json:"from_user"`
	Text     string               `json:"text"`
	Entities []sandboxtg.Entity   `json:"entities"`
	Buttons  [][]sandboxtg.Button `json:"buttons"`
	Photo    string               `json:"photo"`
	Edited   bool                 `json:"edited"`
	ReplyTo  int64                `json:"reply_to"`
	Invoice  *struct {
		Title    string `json:"title"`
		Currency string `json:"currency"`
		Total    int64  `json:"total"`
		Paid     bool   `json:"paid"`
	} `json:"invoice"`
}

func (e *env) chat(user int64) []message {
	e.t.Helper()
	status, body := e.do(http.MethodGet, fmt.Sprintf("/api/chats/%d/messages", user), "")
	require.Equal(e.t, http.StatusOK, status, string(body))
	return decode[[]message](e.t, body)
}

// update is the part of a Bot API update the tests look at.
type update struct {
	UpdateID      int64 `json:"update_id"`
	CallbackQuery *struct {
		Data    string `json:"data"`
		Message struct {
			MessageID int64 `json:"message_id"`
		} `json:"message"`
	} `json:"callback_query"`
	PreCheckoutQuery *struct {
		ID          string `json:"id"`
		TotalAmount int64  `json:"total_amount"`
	} `json:"pre_checkout_query"`
}

func TestChatShowsBothSidesButtonsPhotosAndEditsInPlace(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	const user = 5

	status, body := e.do(http.MethodPut, "/api/chats/5/user", `{"first_name":"Ann"}`)
	require.Equal(t, http.StatusNoContent, status, string(body))
	status, body = e.do(http.MethodPost, "/api/chats/5/messages", `{"text":"/start"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	status, _ = e.do(http.MethodPost, "/api/chats/5/messages", `{"text":"  "}`)
	require.Equal(t, http.StatusBadRequest, status, "an empty text is refused")

	menu := decode[struct {
		MessageID int64 `json:"message_id"`
	}](t, e.bot("sendMessage", map[string]any{
		"chat_id": user, "text": "Hello <b>Ann</b>", "parse_mode": "HTML", "reply_to_message_id": 1,
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{
			{{"text": "Free trial", "callback_data": "trial"}},
			{{"text": "Pay", "url": "http://127.0.0.1:1/pay/abc"}},
		}},
	})).MessageID
	qr := pngSquare(t)
	photo := e.sendPhoto(user, qr, "ss://key")

	chat := e.chat(user)
	require.Len(t, chat, 3)
	require.True(t, chat[0].FromUser)
	require.Equal(t, "/start", chat[0].Text)
	require.Equal(t, menu, chat[1].ID)
	require.False(t, chat[1].FromUser)
	require.Equal(t, "Hello Ann", chat[1].Text, "the text as the user reads it, markup removed")
	require.EqualValues(t, 1, chat[1].ReplyTo)
	require.Equal(t, "trial", chat[1].Buttons[0][0].Data)
	require.Equal(t, "http://127.0.0.1:1/pay/abc", chat[1].Buttons[1][0].URL)
	require.Equal(t, "ss://key", chat[2].Text)
	require.NotEmpty(t, chat[2].Photo)

	status, got := e.do(http.MethodGet, chat[2].Photo, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, qr, got, "the photo is served as the bot uploaded it")
	status, _ = e.do(http.MethodGet, fmt.Sprintf("/api/chats/%d/messages/%d/photo", user, menu), "")
	require.Equal(t, http.StatusNotFound, status, "a message without a photo")

	// Pressing a button queues the callback for the bot.
	status, body = e.do(http.MethodPost, "/api/chats/5/callbacks", fmt.Sprintf(`{"message_id":%d,"data":"trial"}`, menu))
	require.Equal(t, http.StatusOK, status, string(body))
	updates := decode[[]update](t, e.bot("getUpdates", map[string]any{}))
	require.Len(t, updates, 2, "the /start and the press")
	require.NotNil(t, updates[1].CallbackQuery)
	require.Equal(t, "trial", updates[1].CallbackQuery.Data)
	require.Equal(t, menu, updates[1].CallbackQuery.Message.MessageID)
	status, _ = e.do(http.MethodPost, "/api/chats/5/callbacks", `{"message_id":0,"data":"trial"}`)
	require.Equal(t, http.StatusBadRequest, status)

	// The bot edits its menu: the same message changes in place.
	e.bot("editMessageText", map[string]any{"chat_id": user, "message_id": menu, "text": "Your trial is on its way"})
	chat = e.chat(user)
	require.Len(t, chat, 3)
	require.Equal(t, menu, chat[1].ID)
	require.Equal(t, "Your trial is on its way", chat[1].Text)
	require.True(t, chat[1].Edited)
	require.Empty(t, chat[1].Buttons, "the edit dropped the keyboard")
	require.Equal(t, photo, chat[2].ID)

	status, body = e.do(http.MethodGet, "/api/chats", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"chats":[5]}`, string(body))
	require.Empty(t, e.chat(6), "a chat never written to is empty")
	status, _ = e.do(http.MethodGet, "/api/chats/abc/messages", "")
	require.Equal(t, http.StatusBadRequest, status)
}

func TestChatFormatsTheBotsHTMLAsEntitiesAroundPlainText(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	const user = 9
	send := func(text, parseMode string) {
		t.Helper()
		e.bot("sendMessage", map[string]any{"chat_id": user, "text": text, "parse_mode": parseMode})
	}
	// Offsets count UTF-16 code units, as Telegram and JavaScript do: the
	// emoji before the bold text counts two.
	send("⭐ <b>Paid</b>, <i>see</i> <u>the</u> <s>old</s> <a href=\"https://example.org/help?a=1&amp;b=2\">help</a>\n"+
		"<code>ss://key</code> <pre>line 1\nline 2</pre> <tg-spoiler>hidden</tg-spoiler> <blockquote>quote</blockquote>", "HTML")
	// Hostile text: as plain text it is text; escaped in HTML it is text
	// too; a link that would run script loses its link.
	send(`<script>alert(1)</script><img src=x onerror="alert(2)"> <b>unclosed`, "")
	send(`<b>&lt;img src=x onerror="alert(3)"&gt;</b>`, "HTML")
	send(`<a href="javascript:alert(4)">tap</a> <a href="data:text/html,x">data</a> <a href="https://example.org">web</a>`, "HTML")
	// Telegram refuses what it cannot parse: it never reaches the chat.
	require.Equal(t, http.StatusBadRequest, e.botStatus("sendMessage",
		map[string]any{"chat_id": user, "text": `<b>unclosed <i>tags`, "parse_mode": "HTML"}))
	require.Equal(t, http.StatusBadRequest, e.botStatus("sendMessage",
		map[string]any{"chat_id": user, "text": `<img src=x onerror="alert(5)">`, "parse_mode": "HTML"}))
	e.tg.SendText(user, "<b>my own</b> /start")

	chat := e.chat(user)
	require.Len(t, chat, 5)
	require.Equal(t, "⭐ Paid, see the old help\nss://key line 1\nline 2 hidden quote", chat[0].Text)
	require.Equal(t, []sandboxtg.Entity{
		{Type: "bold", Offset: 2, Length: 4},
		{Type: "italic", Offset: 8, Length: 3},
		{Type: "underline", Offset: 12, Length: 3},
		{Type: "strikethrough", Offset: 16, Length: 3},
		{Type: "text_link", Offset: 20, Length: 4, URL: "https://example.org/help?a=1&b=2"},
		{Type: "code", Offset: 25, Length: 8},
		{Type: "pre", Offset: 34, Length: 13},
		{Type: "spoiler", Offset: 48, Length: 6},
		{Type: "blockquote", Offset: 55, Length: 5},
	}, chat[0].Entities)

	require.Equal(t, `<script>alert(1)</script><img src=x onerror="alert(2)"> <b>unclosed`, chat[1].Text)
	require.Empty(t, chat[1].Entities, "a text without parse mode has no formatting")
	require.Equal(t, `<img src=x onerror="alert(3)">`, chat[2].Text)
	require.Equal(t, []sandboxtg.Entity{{Type: "bold", Offset: 0, Length: 30}}, chat[2].Entities)
	require.Equal(t, "tap data web", chat[3].Text)
	require.Equal(t, []sandboxtg.Entity{{Type: "text_link", Offset: 9, Length: 3, URL: "https://example.org"}}, chat[3].Entities,
		"only a link to a web page stays a link")
	require.True(t, chat[4].FromUser)
	require.Equal(t, "<b>my own</b> /start", chat[4].Text)
	require.Empty(t, chat[4].Entities, "the user's text is not markup")
}

func TestStarsInvoiceIsPaidThroughTheChat(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	const user = 8
	e.tg.SendText(user, "/buy")
	invoice := decode[struct {
		MessageID int64 `json:"message_id"`
	}](t, e.bot("sendInvoice", map[string]any{
		"chat_id": user, "title": "30 days", "description": "VPN for 30 days", "payload": "plan:m1",
		"currency": "XTR", "prices": []map[string]any{{"label": "30 days", "amount": 250}},
	})).MessageID

	chat := e.chat(user)
	require.Len(t, chat, 2)
	require.NotNil(t, chat[1].Invoice)
	require.Equal(t, "XTR", chat[1].Invoice.Currency)
	require.EqualValues(t, 250, chat[1].Invoice.Total)
	require.False(t, chat[1].Invoice.Paid)

	// The test plays the bot: it takes the /start, then accepts the
	// pre-checkout query the payment sends.
	first := decode[[]update](t, e.bot("getUpdates", map[string]any{}))
	require.Len(t, first, 1)
	var wg sync.WaitGroup
	var botErr error
	wg.Go(func() { botErr = e.acceptCheckout(first[0].UpdateID+1, 250) })
	status, body := e.do(http.MethodPost, fmt.Sprintf("/api/chats/%d/invoices/%d/pay", user, invoice), "")
	wg.Wait()
	require.NoError(t, botErr)
	require.Equal(t, http.StatusOK, status, string(body))
	res := decode[sandboxtg.PaymentResult](t, body)
	require.True(t, res.Accepted)
	require.True(t, strings.HasPrefix(res.ChargeID, "stx"))

	chat = e.chat(user)
	require.Len(t, chat, 2, "the user's payment service message is not drawn as a message")
	require.True(t, chat[1].Invoice.Paid)

	status, _ = e.do(http.MethodPost, fmt.Sprintf("/api/chats/%d/invoices/%d/pay", user, invoice), "")
	require.Equal(t, http.StatusConflict, status, "an invoice is paid once")
	status, _ = e.do(http.MethodPost, fmt.Sprintf("/api/chats/%d/invoices/%d/pay", user, 1), "")
	require.Equal(t, http.StatusBadRequest, status, "the user's own message is no invoice")
}

func TestAMiniAppsInvoiceLinkIsShownAndPaid(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	const user = 9
	var link string
	require.NoError(t, json.Unmarshal(e.bot("createInvoiceLink", map[string]any{
		"title": "30 days", "description": "VPN for 30 days", "payload": "plan:m1",
		"currency": "XTR", "prices": []map[string]any{{"label": "30 days", "amount": 250}},
	}), &link))
	slug, ok := sandboxtg.InvoiceLinkSlug(link)
	require.True(t, ok, link)

	status, body := e.do(http.MethodGet, "/api/invoice-links/"+slug, "")
	require.Equal(t, http.StatusOK, status, string(body))
	shown := decode[map[string]any](t, body)
	require.Equal(t, map[string]any{"title": "30 days", "description": "VPN for 30 days", "currency": "XTR", "total": 250.0, "paid": false}, shown,
		"the payload is the bot's, never shown")

	var wg sync.WaitGroup
	var botErr error
	wg.Go(func() { botErr = e.acceptCheckout(0, 250) })
	status, body = e.do(http.MethodPost, fmt.Sprintf("/api/chats/%d/invoice-links/%s/pay", user, slug), "")
	wg.Wait()
	require.NoError(t, botErr)
	require.Equal(t, http.StatusOK, status, string(body))
	require.True(t, decode[sandboxtg.PaymentResult](t, body).Accepted)

	status, _ = e.do(http.MethodGet, "/api/invoice-links/nosuchslug", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.do(http.MethodPost, fmt.Sprintf("/api/chats/%d/invoice-links/nosuchslug/pay", user), "")
	require.Equal(t, http.StatusNotFound, status)
}

func TestPagesAndTheSandboxAPIAreServed(t *testing.T) {
	t.Parallel()
	var sandboxCalls atomic.Int32
	e := start(t, console.Config{SandboxAPI: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sandboxCalls.Add(1)
		w.WriteHeader(http.StatusTeapot)
	})})
	for path, want := range map[string]string{
		"/":                 `id="compose"`,
		"/status":           `id="switches"`,
		"/static/chat.js":   "/api/chats/",
		"/static/status.js": "/api/status",
		"/static/app.css":   ".bubble",
	} {
		status, body := e.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, status, path)
		require.Contains(t, string(body), want, path)
	}
	status, _ := e.do(http.MethodGet, "/sandbox/chats/5/messages", "")
	require.Equal(t, http.StatusTeapot, status)
	require.EqualValues(t, 1, sandboxCalls.Load())
	status, _ = e.do(http.MethodGet, "/api/nothing", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.do(http.MethodGet, "/nothing", "")
	require.Equal(t, http.StatusNotFound, status)
}

// acceptCheckout plays the bot's part of a payment: it long-polls from
// offset for the pre-checkout query of the amount and accepts it.
func (e *env) acceptCheckout(offset, amount int64) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := e.call("getUpdates", map[string]any{"offset": offset, "timeout": 1})
		if err != nil {
			return err
		}
		var got []update
		if err := json.Unmarshal(raw, &got); err != nil {
			return err
		}
		for _, u := range got {
			offset = u.UpdateID + 1
			if q := u.PreCheckoutQuery; q != nil && q.TotalAmount == amount {
				_, err := e.call("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": q.ID, "ok": true})
				return err
			}
		}
	}
	return errors.New("no pre-checkout query came")
}
