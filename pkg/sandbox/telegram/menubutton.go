package telegram

import (
	"net/url"
	"time"

	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// The bot's Mini App: the menu button that opens it, and the signed
// initData it opens with.

// MenuButton is the bot's menu button, beside the message field: Type
// "default" or "commands", or "web_app" opening the Mini App at URL under
// Text.
type MenuButton struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	URL  string `json:"-"`
}

// apiMenuButton is MenuButton as the Bot API writes it.
type apiMenuButton struct {
	Type   string     `json:"type"`
	Text   string     `json:"text,omitempty"`
	WebApp *apiWebApp `json:"web_app,omitempty"`
}

// setChatMenuButton sets the bot's default menu button; a chat's own
// (chat_id) is not kept apart here: the sandbox has one for all.
func (s *Server) setChatMenuButton(r *request) (any, *apiError) {
	b := apiMenuButton{Type: "default"}
	if _, e := r.params.decode("menu_button", &b); e != nil {
		return nil, e
	}
	m := MenuButton{Type: b.Type, Text: b.Text}
	switch b.Type {
	case "default", "commands":
		m.Text = ""
	case "web_app":
		if b.Text == "" || b.WebApp == nil || b.WebApp.URL == "" {
			return nil, badRequest("BUTTON_TEXT_INVALID")
		}
		m.URL = b.WebApp.URL
	default:
		return nil, badRequest("unsupported menu button type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.menuButton = m
	return true, nil
}

func (s *Server) getChatMenuButton(*request) (any, *apiError) {
	m := s.MenuButton()
	b := apiMenuButton{Type: m.Type, Text: m.Text}
	if m.URL != "" {
		b.WebApp = &apiWebApp{URL: m.URL}
	}
	return b, nil
}

// MenuButton is the bot's menu button as it set it: type "default" until
// it sets one.
func (s *Server) MenuButton() MenuButton {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.menuButton.Type == "" {
		return MenuButton{Type: "default"}
	}
	return s.menuButton
}

// WebAppInitData is the initData Telegram opens the bot's Mini App with for
// user userID now (Telegram.WebApp.initData): the user as the sandbox knows
// them and the time, signed with the bot's token as Telegram signs it.
func (s *Server) WebAppInitData(userID int64) string {
	s.mu.Lock()
	u := s.userLocked(userID)
	s.mu.Unlock()
	return webappauth.Sign(s.cfg.Token, webappauth.User{ID: u.ID, FirstName: u.FirstName, Username: u.Username,
		LanguageCode: u.LanguageCode}, time.Now(), url.Values{"chat_type": {"private"}})
}
