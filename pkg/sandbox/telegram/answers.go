package telegram

import (
	"slices"
	"time"
)

// Answers returns when the bot answered an update, oldest first: each
// message it sent in reply to the update's message, and each call that
// answered the update's callback query or pre-checkout query, those that
// Telegram refused as answered already or too late included. Each time the
// bot handles an update it answers it, so more than one time means it
// handled the update more than once; none, that the update got no answer.
// A successful_payment has no answer here: the bot confirms it with a
// message of its own, not a reply.
func (s *Server) Answers(updateID int64) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.answers[updateID])
}

// answeredLocked records an answer to the update now.
func (s *Server) answeredLocked(updateID int64) {
	if updateID > 0 {
		s.answers[updateID] = append(s.answers[updateID], time.Now())
	}
}

// repliedLocked records the bot's message replying to message replyTo of
// the chat as an answer to the update that brought that message.
func (s *Server) repliedLocked(chatID, replyTo int64) {
	if replyTo == 0 {
		return
	}
	if m := s.chatLocked(chatID).find(replyTo); m != nil && !m.fromBot {
		s.answeredLocked(m.updateID)
	}
}
