package telegram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // decoders for the photo formats Telegram accepts
	_ "image/jpeg"
	_ "image/png"
	"slices"
	"strings"
	"time"
)

// method is one Bot API method; sends marks the ones subject to flood limits
// and to blocked users.
type method struct {
	name       string
	sends      bool
	handleFunc func(*Server, *request) (any, *apiError)
}

// methods are the Bot API methods served, keyed by lower-case name.
var methods = func() map[string]method {
	list := []method{
		{name: "getMe", handleFunc: (*Server).getMe},
		{name: "sendMessage", sends: true, handleFunc: (*Server).sendMessage},
		{name: "sendPhoto", sends: true, handleFunc: (*Server).sendPhoto},
		{name: "sendInvoice", sends: true, handleFunc: (*Server).sendInvoice},
		{name: "createInvoiceLink", handleFunc: (*Server).createInvoiceLink},
		{name: "answerPreCheckoutQuery", handleFunc: (*Server).answerPreCheckoutQuery},
		{name: "refundStarPayment", handleFunc: (*Server).refundStarPayment},
		{name: "editMessageText", sends: true, handleFunc: (*Server).editMessageText},
		{name: "editMessageReplyMarkup", sends: true, handleFunc: (*Server).editMessageReplyMarkup},
		{name: "deleteMessage", handleFunc: (*Server).deleteMessage},
		{name: "answerCallbackQuery", handleFunc: (*Server).answerCallbackQuery},
		{name: "sendChatAction", handleFunc: (*Server).sendChatAction},
		{name: "getChatMember", handleFunc: (*Server).getChatMember},
		{name: "setMyCommands", handleFunc: (*Server).setMyCommands},
		{name: "getMyCommands", handleFunc: (*Server).getMyCommands},
		{name: "setChatMenuButton", handleFunc: (*Server).setChatMenuButton},
		{name: "getChatMenuButton", handleFunc: (*Server).getChatMenuButton},
		{name: "setWebhook", handleFunc: (*Server).setWebhook},
		{name: "deleteWebhook", handleFunc: (*Server).deleteWebhook},
		{name: "getWebhookInfo", handleFunc: (*Server).getWebhookInfo},
		{name: "getUpdates", handleFunc: (*Server).getUpdates},
	}
	m := make(map[string]method, len(list))
	for _, x := range list {
		m[strings.ToLower(x.name)] = x
	}
	return m
}()

const (
	maxTextLen         = 4096
	maxCaptionLen      = 1024
	maxCallbackDataLen = 64
	errNotModified     = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
)

func (s *Server) getMe(*request) (any, *apiError) {
	return struct {
		*apiUser
		CanJoinGroups           bool `json:"can_join_groups"`
		CanReadAllGroupMessages bool `json:"can_read_all_group_messages"`
		SupportsInlineQueries   bool `json:"supports_inline_queries"`
	}{apiUser: s.botUser(), CanJoinGroups: true}, nil
}

// chatID reads chat_id; only private chats (chat id = user id) exist here.
func (p params) chatID() (int64, *apiError) {
	if p.str("chat_id") == "" {
		return 0, badRequest("chat_id is empty")
	}
	id, e := p.int64("chat_id")
	if e != nil || id <= 0 {
		return 0, badRequest("chat not found")
	}
	return id, nil
}

func (p params) messageRef() (chatID, msgID int64, e *apiError) {
	if p.str("inline_message_id") != "" {
		return 0, 0, badRequest("inline messages are not supported by the sandbox")
	}
	if chatID, e = p.chatID(); e != nil {
		return 0, 0, e
	}
	if msgID, e = p.int64("message_id"); e != nil {
		return 0, 0, e
	}
	if msgID <= 0 {
		return 0, 0, badRequest("message identifier is not specified")
	}
	return chatID, msgID, nil
}

// inlineKeyboard reads reply_markup; only inline keyboards are kept (other
// markups are accepted and not shown).
func (p params) inlineKeyboard() (*apiMarkup, [][]Button, *apiError) {
	var markup struct {
		InlineKeyboard [][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if _, e := p.decode("reply_markup", &markup); e != nil {
		return nil, nil, e
	}
	if len(markup.InlineKeyboard) == 0 {
		return nil, nil, nil
	}
	out := &apiMarkup{}
	var buttons [][]Button
	for _, row := range markup.InlineKeyboard {
		var apiRow []apiButton
		var btnRow []Button
		for _, fields := range row {
			b, e := inlineButton(fields)
			if e != nil {
				return nil, nil, e
			}
			ab := apiButton{Text: b.Text, CallbackData: b.Data, URL: b.URL, Pay: b.Pay}
			if b.WebApp != "" {
				ab.WebApp = &apiWebApp{URL: b.WebApp}
			}
			apiRow = append(apiRow, ab)
			btnRow = append(btnRow, b)
		}
		out.InlineKeyboard = append(out.InlineKeyboard, apiRow)
		buttons = append(buttons, btnRow)
	}
	return out, buttons, nil
}

// inlineButton checks a button as Telegram does: it needs text and exactly
// one action, and callback data of 1-64 bytes.
func inlineButton(fields map[string]json.RawMessage) (Button, *apiError) {
	var b Button
	str := func(key string) string {
		var v string
		_ = json.Unmarshal(fields[key], &v) // a non-string value reads as empty
		return v
	}
	b.Text, b.Data, b.URL = str("text"), str("callback_data"), str("url")
	b.Pay = string(fields["pay"]) == "true"
	// Telegram takes only an https Mini App; the sandbox takes http too,
	// for make run's app on this machine.
	if raw, ok := fields["web_app"]; ok && string(raw) != "null" {
		var app apiWebApp
		if err := json.Unmarshal(raw, &app); err != nil || !strings.HasPrefix(app.URL, "https://") && !strings.HasPrefix(app.URL, "http://") {
			return b, badRequest("BUTTON_URL_INVALID")
		}
		b.WebApp = app.URL
	}
	if b.Text == "" {
		return b, badRequest("can't parse inline keyboard button: Text must be non-empty")
	}
	if raw, ok := fields["callback_data"]; ok && string(raw) != `""` && string(raw) != "null" {
		if b.Data == "" || len(b.Data) > maxCallbackDataLen {
			return b, badRequest("BUTTON_DATA_INVALID")
		}
	}
	actions := 0
	for _, key := range []string{"callback_data", "url", "web_app", "login_url", "switch_inline_query",
		"switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game", "pay"} {
		// telebot always sends switch_inline_query_current_chat, empty when unused.
		if raw, ok := fields[key]; ok && string(raw) != `""` && string(raw) != "null" && string(raw) != "false" {
			actions++
		}
	}
	if actions == 0 {
		return b, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
	}
	return b, nil
}

// replyTo reads reply_to_message_id or reply_parameters and checks the
// message exists in the chat, as Telegram does.
func (s *Server) replyToLocked(p params, chatID int64) (int64, *apiError) {
	id, e := p.int64("reply_to_message_id")
	if e != nil {
		return 0, e
	}
	allowMissing := p.bool("allow_sending_without_reply")
	var rp struct {
		MessageID                int64 `json:"message_id"`
		AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
	}
	if set, e := p.decode("reply_parameters", &rp); e != nil {
		return 0, e
	} else if set {
		id, allowMissing = rp.MessageID, rp.AllowSendingWithoutReply
	}
	if id == 0 {
		return 0, nil
	}
	if s.chatLocked(chatID).find(id) == nil {
		if allowMissing {
			return 0, nil
		}
		return 0, badRequest("message to be replied not found")
	}
	return id, nil
}

// messageText reads and renders the text of sendMessage and
// editMessageText, refusing what Telegram refuses: a text that is empty once
// rendered, or longer than maxTextLen.
func (p params) messageText() (text, parseMode, plain string, entities []apiEntity, e *apiError) {
	text, parseMode = p.str("text"), p.str("parse_mode")
	plain, entities, e = renderText(text, parseMode)
	if e != nil {
		return "", "", "", nil, e
	}
	if strings.TrimSpace(plain) == "" {
		return "", "", "", nil, badRequest("message text is empty")
	}
	if utf16Len(plain) > maxTextLen {
		return "", "", "", nil, badRequest("message is too long")
	}
	return text, parseMode, plain, entities, nil
}

func (s *Server) sendMessage(r *request) (any, *apiError) {
	p := r.params
	chatID, e := p.chatID()
	if e != nil {
		return nil, e
	}
	text, parseMode, plain, entities, e := p.messageText()
	if e != nil {
		return nil, e
	}
	markup, buttons, e := p.inlineKeyboard()
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	replyTo, e := s.replyToLocked(p, chatID)
	if e != nil {
		return nil, e
	}
	m := &storedMessage{
		Message: Message{
			ChatID: chatID, Text: text, Plain: plain, ParseMode: parseMode, PaidBroadcast: p.bool(paramPaidBroadcast),
			Buttons: buttons, ReplyTo: replyTo, Date: time.Now(),
		},
		fromBot: true, entities: entities, markup: markup,
	}
	s.addLocked(m)
	s.repliedLocked(chatID, replyTo)
	s.broadcastLocked()
	return s.apiMessageLocked(m, true), nil
}

func (s *Server) sendPhoto(r *request) (any, *apiError) {
	p := r.params
	chatID, e := p.chatID()
	if e != nil {
		return nil, e
	}
	caption, parseMode := p.str("caption"), p.str("parse_mode")
	plain, entities, e := renderText(caption, parseMode)
	if e != nil {
		return nil, e
	}
	if utf16Len(plain) > maxCaptionLen {
		return nil, badRequest("message caption is too long")
	}
	markup, buttons, e := p.inlineKeyboard()
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	replyTo, e := s.replyToLocked(p, chatID)
	if e != nil {
		return nil, e
	}
	data, photoURL, fileID, e := s.photoSourceLocked(p)
	if e != nil {
		return nil, e
	}
	width, height := 512, 512 // a photo by URL is not fetched; its size is made up
	if data != nil {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, badRequest("IMAGE_PROCESS_FAILED")
		}
		width, height = cfg.Width, cfg.Height
	}
	m := &storedMessage{
		Message: Message{
			ChatID: chatID, Text: caption, Plain: plain, ParseMode: parseMode, Buttons: buttons, PaidBroadcast: p.bool(paramPaidBroadcast),
			ReplyTo: replyTo, Photo: data, PhotoURL: photoURL, Date: time.Now(),
		},
		fromBot: true, entities: entities, markup: markup,
		photo: s.photoSizesLocked(data, fileID, width, height),
	}
	s.addLocked(m)
	s.repliedLocked(chatID, replyTo)
	s.broadcastLocked()
	return s.apiMessageLocked(m, true), nil
}

// photoSourceLocked finds the photo of a sendPhoto call: an uploaded part
// (named photo, or referenced as attach://name), a file_id we issued, or a URL.
func (s *Server) photoSourceLocked(p params) (data []byte, photoURL, fileID string, e *apiError) {
	if f, ok := p.files["photo"]; ok {
		return f, "", "", nil
	}
	ref := p.str("photo")
	switch {
	case ref == "":
		return nil, "", "", badRequest("there is no photo in the request")
	case strings.HasPrefix(ref, "attach://"):
		f, ok := p.files[strings.TrimPrefix(ref, "attach://")]
		if !ok {
			return nil, "", "", badRequest("wrong file identifier/HTTP URL specified")
		}
		return f, "", "", nil
	case strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://"):
		return nil, ref, "", nil
	default:
		f, ok := s.files[ref]
		if !ok {
			return nil, "", "", badRequest("wrong file identifier/HTTP URL specified")
		}
		return f, "", ref, nil
	}
}

// photoSizesLocked describes a photo as Telegram does: a small thumbnail and
// the photo itself (scaled down to 1280 px), each with a file_id that can be
// sent again. A photo resent by file_id keeps that file_id.
func (s *Server) photoSizesLocked(data []byte, fileID string, width, height int) []apiPhotoSize {
	size := func(maxSide int) (int, int) {
		longest := max(width, height)
		if longest <= maxSide || longest == 0 {
			return width, height
		}
		return max(1, width*maxSide/longest), max(1, height*maxSide/longest)
	}
	newID := func() (string, string) {
		s.nextFile++
		return fmt.Sprintf("AgACAgIAAxkBAAIB%012d", s.nextFile), fmt.Sprintf("AQADsandbox%06d", s.nextFile)
	}
	thumbID, thumbUnique := newID()
	fullID, fullUnique := newID()
	if fileID != "" {
		fullID = fileID
	}
	s.files[thumbID] = data
	s.files[fullID] = data
	tw, th := size(90)
	fw, fh := size(1280)
	return []apiPhotoSize{
		{FileID: thumbID, FileUniqueID: thumbUnique, Width: tw, Height: th, FileSize: len(data) / 10},
		{FileID: fullID, FileUniqueID: fullUnique, Width: fw, Height: fh, FileSize: len(data)},
	}
}

// botMessageLocked finds a message the bot may edit.
func (s *Server) botMessageLocked(chatID, msgID int64) (*storedMessage, *apiError) {
	var m *storedMessage
	if c, ok := s.chats[chatID]; ok {
		m = c.find(msgID)
	}
	if m == nil {
		return nil, badRequest("message to edit not found")
	}
	if !m.fromBot {
		return nil, badRequest("message can't be edited")
	}
	return m, nil
}

func (s *Server) editMessageText(r *request) (any, *apiError) {
	p := r.params
	chatID, msgID, e := p.messageRef()
	if e != nil {
		return nil, e
	}
	text, parseMode, plain, entities, e := p.messageText()
	if e != nil {
		return nil, e
	}
	// Like Telegram, an edit without reply_markup removes the keyboard.
	markup, buttons, e := p.inlineKeyboard()
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.botMessageLocked(chatID, msgID)
	if e != nil {
		return nil, e
	}
	if len(m.photo) > 0 || m.Invoice != nil {
		return nil, badRequest("there is no text in the message to edit")
	}
	if plain == m.Plain && slices.Equal(entities, m.entities) && buttonsEqual(buttons, m.Buttons) {
		return nil, badRequest(errNotModified)
	}
	m.Text, m.Plain, m.ParseMode, m.entities = text, plain, parseMode, entities
	m.markup, m.Buttons = markup, buttons
	m.Edits++
	m.editDate = time.Now()
	s.broadcastLocked()
	return s.apiMessageLocked(m, true), nil
}

func (s *Server) editMessageReplyMarkup(r *request) (any, *apiError) {
	p := r.params
	chatID, msgID, e := p.messageRef()
	if e != nil {
		return nil, e
	}
	markup, buttons, e := p.inlineKeyboard()
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.botMessageLocked(chatID, msgID)
	if e != nil {
		return nil, e
	}
	if buttonsEqual(buttons, m.Buttons) {
		return nil, badRequest(errNotModified)
	}
	if m.Invoice != nil {
		if e := invoiceButtons(buttons); e != nil {
			return nil, e
		}
	}
	m.markup, m.Buttons = markup, buttons
	m.Edits++
	m.editDate = time.Now()
	s.broadcastLocked()
	return s.apiMessageLocked(m, true), nil
}

func buttonsEqual(a, b [][]Button) bool {
	return slices.EqualFunc(a, b, func(x, y []Button) bool { return slices.Equal(x, y) })
}

func (s *Server) deleteMessage(r *request) (any, *apiError) {
	chatID, msgID, e := r.params.messageRef()
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[chatID]
	if !ok {
		return nil, badRequest("message to delete not found")
	}
	i := slices.IndexFunc(c.messages, func(m *storedMessage) bool { return m.ID == msgID })
	if i < 0 {
		return nil, badRequest("message to delete not found")
	}
	c.messages = slices.Delete(c.messages, i, i+1)
	s.broadcastLocked()
	return true, nil
}

func (s *Server) sendChatAction(r *request) (any, *apiError) {
	chatID, e := r.params.chatID()
	if e != nil {
		return nil, e
	}
	if r.params.str("action") == "" {
		return nil, badRequest("action is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[chatID] {
		return nil, errBlocked
	}
	return true, nil
}

// CallbackAnswer is how the bot answered a button press (answerCallbackQuery).
type CallbackAnswer struct {
	Text      string `json:"text,omitempty"`
	ShowAlert bool   `json:"show_alert,omitempty"`
	URL       string `json:"url,omitempty"`
}

type callbackState struct {
	updateID int64
	answered bool
	answer   CallbackAnswer
}

// CallbackAnswer returns the bot's answer to the button press PressButton
// returned updateID for; ok is false until the bot answered.
func (s *Server) CallbackAnswer(updateID int64) (answer CallbackAnswer, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cb := range s.callbacks {
		if cb.updateID == updateID {
			return cb.answer, cb.answered
		}
	}
	return CallbackAnswer{}, false
}

func (s *Server) answerCallbackQuery(r *request) (any, *apiError) {
	p := r.params
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.callbacks[p.str("callback_query_id")]
	if ok {
		s.answeredLocked(cb.updateID)
	}
	if !ok || cb.answered {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	cb.answered = true
	cb.answer = CallbackAnswer{Text: p.str("text"), ShowAlert: p.bool("show_alert"), URL: p.str("url")}
	s.broadcastLocked()
	return true, nil
}

type botCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// commandsKey identifies a command list by scope and language, as Telegram
// keeps one list per pair.
func commandsKey(p params) string {
	scope := p.str("scope")
	var compact bytes.Buffer
	if scope == "" || json.Compact(&compact, []byte(scope)) != nil {
		compact.Reset()
		compact.WriteString(`{"type":"default"}`)
	}
	return compact.String() + "|" + p.str("language_code")
}

func (s *Server) setMyCommands(r *request) (any, *apiError) {
	var cmds []botCommand
	if _, e := r.params.decode("commands", &cmds); e != nil {
		return nil, e
	}
	if len(cmds) > 100 {
		return nil, badRequest("too many commands specified")
	}
	for _, c := range cmds {
		if !validCommand(c.Command) {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
		if n := len([]rune(c.Description)); n == 0 || n > 256 {
			return nil, badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	data, err := json.Marshal(cmds)
	if err != nil {
		return nil, badRequest("can't encode commands")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[commandsKey(r.params)] = data
	return true, nil
}

// validCommand: 1-32 characters, lower-case English letters, digits and
// underscores only.
func validCommand(c string) bool {
	if len(c) == 0 || len(c) > 32 {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func (s *Server) getMyCommands(r *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data, ok := s.commands[commandsKey(r.params)]; ok {
		return json.RawMessage(data), nil
	}
	return []botCommand{}, nil
}
