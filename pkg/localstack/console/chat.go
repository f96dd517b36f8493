package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// The chat's API. A chat's id is its user's id, as in a private Telegram
// chat.
func (s *Server) routeChat(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/chats", s.listChats)
	mux.HandleFunc("GET /api/chats/{id}/messages", s.chatMessages)
	mux.HandleFunc("GET /api/chats/{id}/messages/{message}/photo", s.chatPhoto)
	mux.HandleFunc("POST /api/chats/{id}/messages", s.sendText)
	mux.HandleFunc("POST /api/chats/{id}/callbacks", s.pressButton)
	mux.HandleFunc("POST /api/chats/{id}/invoices/{message}/pay", s.payInvoice)
	mux.HandleFunc("GET /api/invoice-links/{slug}", s.invoiceLink)
	mux.HandleFunc("POST /api/chats/{id}/invoice-links/{slug}/pay", s.payInvoiceLink)
	mux.HandleFunc("PUT /api/chats/{id}/user", s.setUser)
	mux.HandleFunc("GET /api/menu-button", s.menuButton)
	mux.HandleFunc("GET /api/chats/{id}/webapp", s.webAppLaunch)
}

// menuButton is the bot's menu button: the page shows a web_app one beside
// the message field.
func (s *Server) menuButton(w http.ResponseWriter, _ *http.Request) {
	m := s.cfg.Telegram.MenuButton()
	writeJSON(w, http.StatusOK, map[string]string{"type": m.Type, "text": m.Text, "url": m.URL})
}

// webAppLaunch is the initData the page opens the Mini App with for the
// chat's user, signed by the sandbox as Telegram signs it; the page puts it
// in the app's URL fragment (tgWebAppData) as Telegram's clients do.
func (s *Server) webAppLaunch(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"init_data": s.cfg.Telegram.WebAppInitData(id)})
}

// messageView is a message as the chat page draws it.
type messageView struct {
	ID       int64  `json:"id"`
	FromUser bool   `json:"from_user,omitempty"`
	Text     string `json:"text"`
	// Entities format Text as Telegram shows it (bold, code, links...);
	// the page draws them as elements around plain text, never as markup.
	Entities []sandboxtg.Entity `json:"entities,omitempty"`
	// Buttons is the inline keyboard: callback (data), URL and Pay buttons.
	Buttons [][]sandboxtg.Button `json:"buttons,omitempty"`
	// Photo is the URL of the message's photo; it changes when the message
	// is edited, so the browser fetches an edited photo again.
	Photo   string       `json:"photo,omitempty"`
	Invoice *invoiceView `json:"invoice,omitempty"`
	Edited  bool         `json:"edited,omitempty"`
	ReplyTo int64        `json:"reply_to,omitempty"`
	Date    time.Time    `json:"date"`
}

// invoiceView is a Stars invoice without its payload, which users never see.
type invoiceView struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Currency    string `json:"currency"`
	Total       int64  `json:"total"`
	Paid        bool   `json:"paid"`
}

func viewMessages(chatID int64, msgs []sandboxtg.Message) []messageView {
	out := make([]messageView, 0, len(msgs))
	for _, m := range msgs {
		// The user's service message of a payment has no text; the paid
		// invoice shows it instead.
		if m.FromUser && m.Plain == "" {
			continue
		}
		text, entities := formatted(m)
		v := messageView{
			ID: m.ID, FromUser: m.FromUser, Text: text, Entities: entities, Buttons: m.Buttons,
			Edited: m.Edits > 0, ReplyTo: m.ReplyTo, Date: m.Date,
		}
		switch {
		case len(m.Photo) > 0:
			v.Photo = fmt.Sprintf("/api/chats/%d/messages/%d/photo?v=%d", chatID, m.ID, m.Edits)
		case m.PhotoURL != "":
			v.Photo = m.PhotoURL
		}
		if inv := m.Invoice; inv != nil {
			v.Invoice = &invoiceView{
				Title: inv.Title, Description: inv.Description, Currency: inv.Currency, Total: inv.Total,
				Paid: inv.ChargeID != "",
			}
		}
		out = append(out, v)
	}
	return out
}

// formatted is a message as Telegram shows it: the bot's Text parsed with
// its parse mode by the sandbox's own parser (which accepted it when the bot
// sent it), so the page draws plain text and the entities around it. A link
// is kept only to a web page: another scheme (javascript:, data:) would run
// in the page, so its text shows unlinked.
func formatted(m sandboxtg.Message) (string, []sandboxtg.Entity) {
	if m.FromUser || m.ParseMode == "" {
		return m.Plain, nil
	}
	plain, all, err := sandboxtg.Render(m.Text, m.ParseMode)
	if err != nil {
		return m.Plain, nil
	}
	entities := make([]sandboxtg.Entity, 0, len(all))
	for _, e := range all {
		if e.Type == "text_link" && !webURL(e.URL) {
			continue
		}
		entities = append(entities, e)
	}
	return plain, entities
}

// webURL reports whether a link opens a web page.
func webURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (s *Server) listChats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]int64{"chats": s.cfg.Telegram.Chats()})
}

func (s *Server) chatMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, viewMessages(id, s.cfg.Telegram.History(id)))
}

func (s *Server) chatPhoto(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	msgID, err := pathInt(r, "message")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	for _, m := range s.cfg.Telegram.History(id) {
		if m.ID == msgID && len(m.Photo) > 0 {
			w.Header().Set("Content-Type", http.DetectContentType(m.Photo))
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write(m.Photo) // a client that went away is not our error
			return
		}
	}
	fail(w, http.StatusNotFound, fmt.Errorf("chat %d has no photo in message %d", id, msgID))
}

func (s *Server) sendText(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if strings.TrimSpace(body.Text) == "" {
		fail(w, http.StatusBadRequest, errors.New("text is empty"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"update_id": s.cfg.Telegram.SendText(id, body.Text)})
}

func (s *Server) pressButton(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	var body struct {
		MessageID int64  `json:"message_id"`
		Data      string `json:"data"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if body.MessageID <= 0 || body.Data == "" {
		fail(w, http.StatusBadRequest, errors.New("message_id and data are required"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"update_id": s.cfg.Telegram.PressButton(id, body.MessageID, body.Data)})
}

// payInvoice pays a Stars invoice as the user's Pay button does: the bot
// gets the pre-checkout query and, if it accepts, the successful payment.
// It answers once the payment has ended (at most the sandbox's
// pre-checkout timeout, 10 s).
func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	msgID, err := pathInt(r, "message")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	res, err := s.cfg.Telegram.PayInvoice(id, msgID)
	answerPayment(w, res, err, sandboxtg.ErrInvoicePaid, http.StatusConflict)
}

// answerPayment answers with a sandbox payment's result, or with its
// error: status for the error named, 400 for any other.
func answerPayment(w http.ResponseWriter, res sandboxtg.PaymentResult, err, named error, status int) {
	if err == nil {
		writeJSON(w, http.StatusOK, res)
		return
	}
	if !errors.Is(err, named) {
		status = http.StatusBadRequest
	}
	fail(w, status, err)
}

// invoiceLink is the invoice a Mini App opened with openInvoice, for the
// page to ask the user to pay it.
func (s *Server) invoiceLink(w http.ResponseWriter, r *http.Request) {
	inv, err := s.cfg.Telegram.InvoiceLink(r.PathValue("slug"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, invoiceView{Title: inv.Title, Description: inv.Description, Currency: inv.Currency, Total: inv.Total})
}

// payInvoiceLink pays the invoice a Mini App opened, as the Pay button of
// Telegram's invoice sheet does; it answers as payInvoice.
func (s *Server) payInvoiceLink(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	res, err := s.cfg.Telegram.PayInvoiceLink(id, r.PathValue("slug"))
	answerPayment(w, res, err, sandboxtg.ErrNoSuchInvoiceLink, http.StatusNotFound)
}

func (s *Server) setUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "id")
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	var u sandboxtg.User
	if err := decodeBody(w, r, &u); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	u.ID = id
	if u.FirstName == "" {
		u.FirstName = "Test"
	}
	if u.LanguageCode == "" {
		u.LanguageCode = "en"
	}
	s.cfg.Telegram.SetUser(u)
	w.WriteHeader(http.StatusNoContent)
}
