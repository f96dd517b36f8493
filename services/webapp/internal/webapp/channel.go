package webapp

import (
	"context"
	"net/http"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
)

// member runs h for a user who has joined the required channel, when its
// scope is all: the cabinet is then for the channel's members only, as the
// bot is, so the app's button in the chat is no way around the bot's gate.
// Anyone else gets 403 channel_required with the link to join. In scope
// trial the cabinet, which offers no trial, is open to all.
func (s *Server) member(h userHandler) userHandler {
	if !s.membersOnly() {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, userID int64) {
		if !s.joined(r.Context(), userID, false) {
			writeJSON(w, http.StatusForbidden, apiError{
				Code: codeChannel, Message: "The app is for subscribers of our channel. Join it, then check again.",
				JoinURL: s.cfg.Channel.JoinURL(),
			})
			return
		}
		h(w, r, userID)
	}
}

// membersOnly reports whether the cabinet is for the required channel's
// members only: a channel is required in scope all.
func (s *Server) membersOnly() bool {
	return s.cfg.Channel != nil && s.cfg.Channel.Scope() == channelgate.ScopeAll
}

// ChannelView is the user's standing with the required channel.
type ChannelView struct {
	// Required is whether the cabinet needs the user in a channel.
	Required bool   `json:"required"`
	Joined   bool   `json:"joined"`
	JoinURL  string `json:"join_url,omitempty"`
}

// channelCheck is the gate's "Check again": it asks Telegram past the
// cache, so a user who has just joined is let in at once.
func (s *Server) channelCheck(w http.ResponseWriter, r *http.Request, userID int64) {
	if !s.membersOnly() {
		writeJSON(w, http.StatusOK, ChannelView{Joined: true})
		return
	}
	writeJSON(w, http.StatusOK, ChannelView{
		Required: true, Joined: s.joined(r.Context(), userID, true), JoinURL: s.cfg.Channel.JoinURL(),
	})
}

// joined is channelgate.Checker.Joined; a failed check is logged and lets
// the user through.
func (s *Server) joined(ctx context.Context, userID int64, fresh bool) bool {
	joined, err := s.cfg.Channel.Joined(ctx, userID, fresh)
	if err != nil {
		s.log.Warn().Ctx(ctx).Err(err).Str("event", channelgate.EventCheckFailed).Int64("user_id", userID).
			Msg("the required channel's membership could not be checked; the user is let through")
	}
	return joined
}
