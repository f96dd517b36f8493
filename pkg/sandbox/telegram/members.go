package telegram

import (
	"fmt"
	"strings"
)

// Statuses of a ChatMember, as Telegram names them.
const (
	StatusCreator       = "creator"
	StatusAdministrator = "administrator"
	StatusMember        = "member"
	StatusRestricted    = "restricted"
	StatusLeft          = "left"
	StatusKicked        = "kicked"
)

// ChatMember is what a user is in a channel: a Status, and with
// StatusRestricted whether they are still a member (IsMember).
type ChatMember struct {
	Status   string `json:"status"`
	IsMember bool   `json:"is_member,omitempty"`
}

// channel is a channel the bot can look into with getChatMember. Channels
// exist only here, not as chats: the sandbox's chats are private ones.
type channel struct {
	members map[int64]ChatMember
	// hidden is a channel whose bot is not an administrator: Telegram does
	// not show it the members.
	hidden bool
}

// channelKey is how a channel is found from a chat_id: "@name" (whose case
// Telegram ignores) or the channel's numeric id, as text. A channel set up
// under one form is not found under the other.
func channelKey(chat string) string {
	chat = strings.TrimSpace(chat)
	if strings.HasPrefix(chat, "@") {
		return strings.ToLower(chat)
	}
	return chat
}

func (s *Server) channelLocked(chat string) *channel {
	key := channelKey(chat)
	if s.channels == nil {
		s.channels = map[string]*channel{}
	}
	c, ok := s.channels[key]
	if !ok {
		c = &channel{members: map[int64]ChatMember{}}
		s.channels[key] = c
	}
	return c
}

// SetChatMember makes user userID's place in channel chat ("@name" or
// "-100…", as the bot names it) m, creating the channel if needed: a user
// never set there has left it. A status Telegram does not have is refused.
func (s *Server) SetChatMember(chat string, userID int64, m ChatMember) error {
	switch m.Status {
	case StatusCreator, StatusAdministrator, StatusMember, StatusLeft, StatusKicked:
		m.IsMember = false // only a restricted user's is_member means anything
	case StatusRestricted:
	default:
		return fmt.Errorf("chat member status %q is not one of Telegram's", m.Status)
	}
	if channelKey(chat) == "" || userID <= 0 {
		return fmt.Errorf("chat %q, user %d: want a channel and a user id", chat, userID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelLocked(chat).members[userID] = m
	s.changedLocked()
	return nil
}

// HideMembers makes the bot (not) an administrator of channel chat: while
// hidden, getChatMember there answers 400 "member list is inaccessible", as
// Telegram does for a channel the bot does not administer.
func (s *Server) HideMembers(chat string, hidden bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelLocked(chat).hidden = hidden
	s.changedLocked()
}

// apiChatMember is a ChatMember object as Telegram shapes it by status:
// is_anonymous for the creator and administrators, is_member and until_date
// for a restricted user, until_date for a banned one.
type apiChatMember struct {
	Status      string   `json:"status"`
	User        *apiUser `json:"user"`
	IsAnonymous *bool    `json:"is_anonymous,omitempty"`
	IsMember    *bool    `json:"is_member,omitempty"`
	UntilDate   *int64   `json:"until_date,omitempty"`
	// Administrators' rights; the sandbox gives channel administrators
	// the ones to manage the chat and post.
	CanBeEdited   *bool `json:"can_be_edited,omitempty"`
	CanManageChat *bool `json:"can_manage_chat,omitempty"`
	CanPostMsgs   *bool `json:"can_post_messages,omitempty"`
}

// getChatMember answers what a user is in a channel set up with
// SetChatMember; an unknown channel is "chat not found", as for a bot that
// is not in it.
func (s *Server) getChatMember(r *request) (any, *apiError) {
	chat := r.params.str("chat_id")
	if channelKey(chat) == "" {
		return nil, badRequest("chat_id is empty")
	}
	userID, e := r.params.int64("user_id")
	if e != nil {
		return nil, e
	}
	if userID <= 0 {
		return nil, badRequest("invalid user_id specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[channelKey(chat)]
	switch {
	case !ok:
		return nil, badRequest("chat not found")
	case c.hidden:
		return nil, badRequest("member list is inaccessible")
	}
	m, ok := c.members[userID]
	if !ok {
		m = ChatMember{Status: StatusLeft}
	}
	out := apiChatMember{Status: m.Status, User: fromUser(s.userLocked(userID))}
	no, yes, forever := false, true, int64(0)
	switch m.Status {
	case StatusCreator:
		out.IsAnonymous = &no
	case StatusAdministrator:
		out.IsAnonymous, out.CanBeEdited, out.CanManageChat, out.CanPostMsgs = &no, &no, &yes, &yes
	case StatusRestricted:
		out.IsMember, out.UntilDate = &m.IsMember, &forever
	case StatusKicked:
		out.UntilDate = &forever
	}
	return out, nil
}
