package bot

import (
	"context"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
)

// gates reports whether a button press of action needs the channel of
// scope: the trial always, anything else in scope all but what must work
// for everyone: help, languages, the check itself, and "I paid" under an
// order already paid.
func gates(scope, action string) bool {
	switch action {
	case botui.ActionTrial:
		return true
	case botui.ActionHelp, botui.ActionLanguages, botui.ActionSetLanguage, botui.ActionChannelCheck, botui.ActionPaid:
		return false
	}
	return scope == channelgate.ScopeAll
}

// gate is the gate screen of the required channel.
func (b *Bot) gate(lang, then string) Screen {
	return ChannelGateScreen(lang, b.channel.JoinURL(), b.channel.Scope(), then)
}

// joined is channelgate.Checker.Joined for the sender of an update; a failed check is
// logged and lets the user through.
func (b *Bot) joined(ctx context.Context, c tele.Context, fresh bool) bool {
	joined, err := b.channel.Joined(ctx, c.Sender().ID, fresh)
	if err != nil {
		b.log.Warn().Ctx(ctx).Err(err).Str("event", channelgate.EventCheckFailed).Int64("user_id", c.Sender().ID).
			Msg("the required channel's membership could not be checked; the user is let through")
	}
	return joined
}

// channelGate shows the gate to a user pressing a button of action that
// the channel gates, when they have not joined it; gated reports whether
// it did, and the press is then done.
func (b *Bot) channelGate(ctx context.Context, c tele.Context, lang, action string) (gated bool, err error) {
	if b.channel == nil || !gates(b.channel.Scope(), action) || b.joined(ctx, c, false) {
		return false, nil
	}
	then := ""
	if action == botui.ActionTrial {
		then = botui.ActionTrial
	}
	return true, b.show(ctx, c, b.gate(lang, then))
}

// gated wraps the handler of a message (text, media, /topup) that scope
// all gates: a user who has not joined the channel gets the gate in reply.
func (b *Bot) gated(h func(ctx context.Context, c tele.Context) error) func(ctx context.Context, c tele.Context) error {
	return func(ctx context.Context, c tele.Context) error {
		if b.channel == nil || b.channel.Scope() != channelgate.ScopeAll || b.joined(ctx, c, false) {
			return h(ctx, c)
		}
		lang, err := b.language(ctx, c.Sender())
		if err != nil {
			return err
		}
		return b.reply(ctx, c, b.gate(lang, ""))
	}
}

// channelCheck is "Check again": it asks Telegram past the cache and, once
// the user has joined, goes on with what the gate stopped (then: the trial,
// or the menu); otherwise the gate stays as it is.
func (b *Bot) channelCheck(ctx context.Context, c tele.Context, lang, then string) error {
	if b.channel != nil && !b.joined(ctx, c, true) {
		return b.show(ctx, c, b.gate(lang, then))
	}
	if then == botui.ActionTrial {
		return b.trial(ctx, c, lang)
	}
	return b.show(ctx, c, MenuScreen(lang, b.appURL))
}
