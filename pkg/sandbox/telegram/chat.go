package telegram

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// User is a fake Telegram user talking to the bot in a private chat whose
// chat id is the user id.
type User struct {
	ID           int64  `json:"id"`
	FirstName    string `json:"first_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

// Button is an inline keyboard button of a message the bot sent.
type Button struct {
	Text string `json:"text"`
	Data string `json:"data,omitempty"` // callback_data
	URL  string `json:"url,omitempty"`
	// WebApp is the URL of the Mini App the button opens (web_app).
	WebApp string `json:"web_app,omitempty"`
	Pay    bool   `json:"pay,omitempty"` // the Pay button of an invoice
}

// Message is a message the bot sent, as the chat shows it now.
type Message struct {
	ID     int64 `json:"id"`
	ChatID int64 `json:"chat_id"`
	// Text is the text (or a photo's caption) as the bot sent it, markup
	// included; Plain is what the user reads (HTML tags removed).
	Text      string     `json:"text"`
	Plain     string     `json:"plain"`
	ParseMode string     `json:"parse_mode,omitempty"`
	Buttons   [][]Button `json:"buttons,omitempty"`
	// ReplyTo is the id of the message this one replies to, or 0.
	ReplyTo int64 `json:"reply_to,omitempty"`
	// Photo holds the uploaded bytes of a photo (also when it was resent by
	// file_id); PhotoURL is set when the bot sent a photo by URL.
	Photo    []byte `json:"photo,omitempty"`
	PhotoURL string `json:"photo_url,omitempty"`
	// Invoice is set on an invoice (sendInvoice); its text is empty. Without
	// Buttons, Telegram shows the user its own Pay button.
	Invoice *Invoice  `json:"invoice,omitempty"`
	Edits   int       `json:"edits"`
	Date    time.Time `json:"date"`
	// FromUser marks a message the user wrote (History lists them; Messages
	// never does).
	FromUser bool `json:"from_user,omitempty"`
	// PaidBroadcast marks a message the bot sent with allow_paid_broadcast:
	// Telegram let it past the free bot-wide limit and charged Stars for it.
	PaidBroadcast bool `json:"paid_broadcast,omitempty"`
}

// HasButton reports whether the message shows an inline button that sends
// data back.
func (m Message) HasButton(data string) bool {
	for _, row := range m.Buttons {
		for _, b := range row {
			if b.Data == data {
				return true
			}
		}
	}
	return false
}

// ButtonURL is the link of the message's first URL button, or "".
func (m Message) ButtonURL() string {
	for _, row := range m.Buttons {
		for _, b := range row {
			if b.URL != "" {
				return b.URL
			}
		}
	}
	return ""
}

// chat is one private chat: the messages of both sides share one id sequence,
// as in Telegram.
type chat struct {
	lastID   int64
	messages []*storedMessage // in send order; deleted ones removed
}

type storedMessage struct {
	Message
	fromBot  bool
	entities []apiEntity
	photo    []apiPhotoSize
	markup   *apiMarkup
	editDate time.Time
	// startParam is an invoice's start_parameter; paying marks an invoice
	// whose pre-checkout query is waiting for the bot.
	startParam string
	paying     bool
	// payment is set on the user's service message of a successful payment.
	payment *apiSuccessfulPayment
	// updateID is the update that brought a message of the user to the bot
	// (0 for the bot's own), whose answer a reply to the message is.
	updateID int64
}

// SetUser sets the profile of a fake user; users never set get a default
// profile with language "en".
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
	s.changedLocked()
}

func (s *Server) userLocked(id int64) User {
	if u, ok := s.users[id]; ok {
		return u
	}
	return User{ID: id, FirstName: "Test", Username: fmt.Sprintf("user%d", id), LanguageCode: "en"}
}

func (s *Server) chatLocked(id int64) *chat {
	c, ok := s.chats[id]
	if !ok {
		c = &chat{lastID: s.messageFloor}
		s.chats[id] = c
	}
	return c
}

// addLocked appends m to its chat under the chat's next message id.
func (s *Server) addLocked(m *storedMessage) {
	c := s.chatLocked(m.ChatID)
	c.lastID++
	m.ID = c.lastID
	c.messages = append(c.messages, m)
	s.maxMessageID = max(s.maxMessageID, m.ID)
	s.reserveLocked()
}

func (c *chat) find(id int64) *storedMessage {
	for _, m := range c.messages {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Messages returns what the bot sent to a chat, in send order, as the chat
// shows it now: edits applied, deleted messages left out.
func (s *Server) Messages(chatID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(chatID)
}

func (s *Server) messagesLocked(chatID int64) []Message {
	c, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	var out []Message
	for _, m := range c.messages {
		if m.fromBot {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// snapshot copies the message as the chat shows it now, sharing nothing
// that later edits change.
func (m *storedMessage) snapshot() Message {
	cp := m.Message
	cp.Buttons = make([][]Button, len(m.Buttons))
	for i, row := range m.Buttons {
		cp.Buttons[i] = slices.Clone(row)
	}
	if len(m.Buttons) == 0 {
		cp.Buttons = nil
	}
	if m.Invoice != nil {
		inv := *m.Invoice
		cp.Invoice = &inv
	}
	cp.FromUser = !m.fromBot
	return cp
}

// History returns a chat as the user sees it: the messages of both sides in
// send order, edits applied, deleted ones left out. The user's own messages
// have FromUser set; a payment's service message is one of them, with no
// text.
func (s *Server) History(chatID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	out := make([]Message, len(c.messages))
	for i, m := range c.messages {
		out[i] = m.snapshot()
	}
	return out
}

// Chats lists the ids of the chats that have messages, in ascending order.
func (s *Server) Chats() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.chats))
	for id, c := range s.chats {
		if len(c.messages) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// WaitMessages waits until the bot has sent at least n messages to a chat
// (deleted ones do not count) and returns them, or fails when ctx ends.
func (s *Server) WaitMessages(ctx context.Context, chatID int64, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		msgs := s.messagesLocked(chatID)
		changed := s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			return msgs, fmt.Errorf("waiting for %d messages in chat %d, have %d: %w", n, chatID, len(msgs), ctx.Err())
		case <-s.ctx.Done():
			return msgs, fmt.Errorf("waiting for %d messages in chat %d, have %d: sandbox closed", n, chatID, len(msgs))
		case <-changed:
		}
	}
}

// Block makes the user block the bot: sending methods to their chat now fail
// with 403 "Forbidden: bot was blocked by the user".
func (s *Server) Block(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[userID] = true
	s.changedLocked()
}

// Unblock lets the bot write to the user again.
func (s *Server) Unblock(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocked, userID)
	s.changedLocked()
}

// Wire types: the Bot API's JSON objects, with only the fields we produce.

type apiUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

type apiChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	FirstName string `json:"first_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

type apiEntity struct {
	Type     string `json:"type"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	Language string `json:"language,omitempty"`
}

type apiPhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int    `json:"file_size,omitempty"`
}

type apiButton struct {
	Text         string     `json:"text"`
	CallbackData string     `json:"callback_data,omitempty"`
	URL          string     `json:"url,omitempty"`
	WebApp       *apiWebApp `json:"web_app,omitempty"`
	Pay          bool       `json:"pay,omitempty"`
}

// apiWebApp is Telegram's WebAppInfo.
type apiWebApp struct {
	URL string `json:"url"`
}

type apiMarkup struct {
	InlineKeyboard [][]apiButton `json:"inline_keyboard"`
}

type apiMessage struct {
	MessageID       int64          `json:"message_id"`
	From            *apiUser       `json:"from,omitempty"`
	Chat            apiChat        `json:"chat"`
	Date            int64          `json:"date"`
	EditDate        int64          `json:"edit_date,omitempty"`
	ReplyToMessage  *apiMessage    `json:"reply_to_message,omitempty"`
	Text            string         `json:"text,omitempty"`
	Entities        []apiEntity    `json:"entities,omitempty"`
	Photo           []apiPhotoSize `json:"photo,omitempty"`
	Caption         string         `json:"caption,omitempty"`
	CaptionEntities []apiEntity    `json:"caption_entities,omitempty"`
	Invoice         *apiInvoice    `json:"invoice,omitempty"`
	// SuccessfulPayment is a service message from the user: no text.
	SuccessfulPayment *apiSuccessfulPayment `json:"successful_payment,omitempty"`
	ReplyMarkup       *apiMarkup            `json:"reply_markup,omitempty"`
}

func (s *Server) botUser() *apiUser {
	return &apiUser{ID: s.botID, IsBot: true, FirstName: botFirstName, Username: s.cfg.BotUsername}
}

func fromUser(u User) *apiUser {
	return &apiUser{ID: u.ID, FirstName: u.FirstName, Username: u.Username, LanguageCode: u.LanguageCode}
}

func (s *Server) privateChat(id int64) apiChat {
	u := s.userLocked(id)
	return apiChat{ID: id, Type: "private", FirstName: u.FirstName, Username: u.Username}
}

// apiMessageLocked renders a stored message as the Bot API returns it.
func (s *Server) apiMessageLocked(m *storedMessage, withReply bool) *apiMessage {
	out := &apiMessage{
		MessageID:   m.ID,
		Chat:        s.privateChat(m.ChatID),
		Date:        m.Date.Unix(),
		ReplyMarkup: m.markup,
	}
	if m.fromBot {
		out.From = s.botUser()
	} else {
		out.From = fromUser(s.userLocked(m.ChatID))
	}
	if !m.editDate.IsZero() {
		out.EditDate = m.editDate.Unix()
	}
	switch {
	case len(m.photo) > 0:
		out.Photo = m.photo
		out.Caption, out.CaptionEntities = m.Plain, m.entities
	case m.Invoice != nil:
		out.Invoice = &apiInvoice{
			Title: m.Invoice.Title, Description: m.Invoice.Description, StartParameter: m.startParam,
			Currency: m.Invoice.Currency, TotalAmount: m.Invoice.Total,
		}
	case m.payment != nil:
		out.SuccessfulPayment = m.payment
	default:
		out.Text, out.Entities = m.Plain, m.entities
	}
	if withReply && m.ReplyTo != 0 {
		if target := s.chatLocked(m.ChatID).find(m.ReplyTo); target != nil {
			out.ReplyToMessage = s.apiMessageLocked(target, false)
		}
	}
	return out
}
