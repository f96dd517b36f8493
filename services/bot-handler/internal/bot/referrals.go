package bot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// inviteTexts are the words of inviting friends, in one language, HTML.
type inviteTexts struct {
	btnInvite string
	title     string
	// What the inviter gets for the first payment of a friend, or for
	// every one; each takes the reward.
	inviterFirst, inviterEvery string
	// What the friend gets; each takes the reward.
	inviteeFirst, inviteeEvery string
	// The parts of a reward: days (take the duration), a share of the
	// payment on the inviter's or the friend's balance (take the percent),
	// and what joins them.
	rewardDays, shareYours, shareTheirs, and string

	link      string // takes the link
	stats     string // invited, paid, earned
	nothing   string // earned so far, when nothing was
	btnShare  string
	shareText string // sent along with the link when shared
}

var inviteEN = inviteTexts{
	btnInvite:    "👥 Invite friends",
	title:        "<b>👥 Invite friends</b>",
	inviterFirst: "When a friend who joined by your link pays for the first time, you get %s.",
	inviterEvery: "Every time a friend who joined by your link pays, you get %s.",
	inviteeFirst: "Your friend gets %s with their first payment.",
	inviteeEvery: "Your friend gets %s with each of their payments.",
	rewardDays:   "%s of VPN",
	shareYours:   "%d%% of the payment on your balance",
	shareTheirs:  "%d%% of the payment on their balance",
	and:          " and ",
	link:         "Your link (tap to copy):\n<code>%s</code>",
	stats:        "Invited: %d\nPaid: %d\nEarned: %s",
	nothing:      "nothing yet",
	btnShare:     "📤 Share the link",
	shareText:    "Fast, reliable VPN: try it free",
}

var inviteRU = inviteTexts{
	btnInvite:    "👥 Пригласить друзей",
	title:        "<b>👥 Пригласите друзей</b>",
	inviterFirst: "Когда друг, пришедший по вашей ссылке, заплатит впервые, вы получите %s.",
	inviterEvery: "Каждый раз, когда друг, пришедший по вашей ссылке, платит, вы получаете %s.",
	inviteeFirst: "Друг получит %s со своей первой оплатой.",
	inviteeEvery: "Друг получает %s с каждой своей оплатой.",
	rewardDays:   "%s VPN",
	shareYours:   "%d%% от платежа на ваш баланс",
	shareTheirs:  "%d%% от платежа на свой баланс",
	and:          " и ",
	link:         "Ваша ссылка (нажмите, чтобы скопировать):\n<code>%s</code>",
	stats:        "Приглашено: %d\nОплатили: %d\nЗаработано: %s",
	nothing:      "пока ничего",
	btnShare:     "📤 Поделиться ссылкой",
	shareText:    "Быстрый и надёжный VPN: попробуйте бесплатно",
}

func inviteTextsIn(lang string) *inviteTexts { return botui.Pick(lang, &inviteEN, &inviteRU) }

// inviteButton opens the invite screen, from the main menu.
func inviteButton(lang string) Button { return data(inviteTextsIn(lang).btnInvite, botui.ActionInvite) }

// InviteLink is the link that makes whoever starts the bot by it the
// user's invitee (shop.RecordReferral).
func InviteLink(botUsername string, userID int64) string {
	return "https://t.me/" + botUsername + "?start=" + shop.InviteParam(userID)
}

// InviteScreen shows the user's invite link, what a friend's payments
// earn them (and the friend) under r, and what they have earned so far.
func InviteScreen(lang, link string, r shop.Referrals, st shop.ReferralStats) Screen {
	t, it := textsIn(lang), inviteTextsIn(lang)
	paras := []string{it.title}
	var terms []string
	for _, side := range []struct {
		r                  shop.Reward
		share, first, each string
	}{
		{r.Inviter, it.shareYours, it.inviterFirst, it.inviterEvery},
		{r.Invitee, it.shareTheirs, it.inviteeFirst, it.inviteeEvery},
	} {
		reward := it.reward(t, side.r, side.share)
		switch {
		case reward == "":
		case side.r.Every:
			terms = append(terms, fmt.Sprintf(side.each, reward))
		default:
			terms = append(terms, fmt.Sprintf(side.first, reward))
		}
	}
	if len(terms) > 0 {
		paras = append(paras, strings.Join(terms, " "))
	}
	paras = append(paras,
		fmt.Sprintf(it.link, botui.Escape(link)),
		fmt.Sprintf(it.stats, st.Invited, st.Paid, it.earned(t, st)))
	share := "https://t.me/share/url?url=" + url.QueryEscape(link) + "&text=" + url.QueryEscape(it.shareText)
	return Screen{
		Text:    strings.Join(paras, "\n\n"),
		Buttons: [][]Button{{{Text: it.btnShare, URL: share}}, menuButton(t)},
	}
}

// reward writes what r gives for a rewarded payment, its share of the
// payment written with share; "" when it gives nothing.
func (it *inviteTexts) reward(t *texts, r shop.Reward, share string) string {
	var parts []string
	if r.Days > 0 {
		parts = append(parts, fmt.Sprintf(it.rewardDays, t.Days(r.Days)))
	}
	if r.Percent > 0 {
		parts = append(parts, fmt.Sprintf(share, r.Percent))
	}
	return strings.Join(parts, it.and)
}

// earned writes what the user's invitees earned them: the days, then the
// balance per currency.
func (it *inviteTexts) earned(t *texts, st shop.ReferralStats) string {
	var parts []string
	if st.Days > 0 {
		parts = append(parts, t.Duration(st.Days))
	}
	for _, b := range st.Balance {
		switch b.Currency {
		case shop.CurrencyUSD:
			parts = append(parts, "$"+shop.FormatCents(b.Amount))
		case shop.CurrencyXTR:
			parts = append(parts, fmt.Sprintf("⭐%d", b.Amount))
		}
	}
	if len(parts) == 0 {
		return it.nothing
	}
	return strings.Join(parts, ", ")
}

// invite shows the user's invite screen.
func (b *Bot) invite(ctx context.Context, c tele.Context, lang string) error {
	userID := c.Sender().ID
	st, err := b.shop.ReferralStats(ctx, userID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, InviteScreen(lang, InviteLink(b.me.Username, userID), b.shop.Referrals(), st))
}

// recordReferral records the inviter whose invite link param is, if it is
// one, as userID's, once their /start is recorded. The shop decides whether
// the link brought them (it was their first /start's) and may make its
// owner their inviter; a refusal is no error of the update, which goes on
// to greet them, and a /start handled again records nothing new.
func (b *Bot) recordReferral(ctx context.Context, userID int64, param string) error {
	inviter, ok := shop.ParseInviteParam(param)
	if !ok {
		return nil
	}
	recorded, err := b.shop.RecordReferral(ctx, userID, inviter)
	switch {
	case errors.Is(err, shop.ErrSelfReferral), errors.Is(err, shop.ErrHasInviter), errors.Is(err, shop.ErrNotFirstStart),
		errors.Is(err, shop.ErrInviterLater), errors.Is(err, shop.ErrUnknownUser):
		b.log.Debug().Ctx(ctx).Err(err).Int64("user_id", userID).Int64("inviter", inviter).Msg("invite link not recorded")
		return nil
	case err != nil:
		return err
	case recorded:
		b.log.Info().Ctx(ctx).Int64("user_id", userID).Int64("inviter", inviter).Msg("referral recorded")
	}
	return nil
}
