package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The admin's actions on users' cards: each asked on the card, then its
// yes pressed twice at once (an admin's double tap), which must do it once
// and record it once.
const (
	// abuserID is the user the admin bans and later unbans: they take the
	// trial, then write to the bot while banned.
	abuserID = 900_002
	// abuserWrites is how many messages the abuser sends while banned:
	// one answer in all is the bot's due.
	abuserWrites = 3
	// grantAnswer is the amount the admin gives from the card's balance
	// question, and adminMessage the text of the card's message.
	grantAnswer  = "1.50"
	adminMessage = "A word from the shop: your key is fine."
)

// AdminPress is an admin's action confirmed on a card.
type AdminPress struct {
	Action string // shop.Action*
	Target int64
	// Invoice is a refund's invoice; 0 for the other actions.
	Invoice int64
	// Answer is what the admin typed for a grant's or message's question.
	Answer string
	At     time.Time
	// Done is whether the admin saw the card come back with the result.
	Done bool
}

// BanWindow is when the abuser was banned: from the ban's confirmation to
// the unban's result.
type BanWindow struct {
	From, To time.Time
}

func (j *journal) adminPress(p AdminPress) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.presses = append(j.presses, p)
}

// adminStep is one of the admin's scheduled actions, at a share of the drive.
type adminStep struct {
	at float64
	do func(ctx context.Context, u *user)
}

// adminSteps are the admin's card actions, with the ban's window shared
// with the abuser through ban and unban.
func (d *driver) adminSteps(ban, unban chan<- struct{}) []adminStep {
	return []adminStep{
		{0.30, func(ctx context.Context, u *user) {
			from := time.Now()
			if u.cardAction(ctx, abuserID, shop.ActionBan, 0) {
				d.j.banFrom(from)
			}
			close(ban)
		}},
		{0.35, func(ctx context.Context, u *user) {
			if target, ok := d.pick(ctx, `SELECT s.user_id FROM subscriptions s
				WHERE s.status = 'active' AND s.user_id BETWEEN $1 AND $2 ORDER BY s.user_id LIMIT 1`); ok {
				u.cardAction(ctx, target, shop.ActionExtend, 0)
			}
		}},
		{0.45, func(ctx context.Context, u *user) {
			u.cardAction(ctx, abuserID, shop.ActionUnban, 0)
			d.j.banTo(time.Now())
			close(unban)
		}},
		{0.50, func(ctx context.Context, u *user) {
			if target, ok := d.pick(ctx, `SELECT c.user_id FROM vpn_accounts c
				JOIN subscriptions s ON s.user_id = c.user_id AND s.status = 'active'
				WHERE c.external_id <> '' AND c.user_id BETWEEN $1 AND $2 ORDER BY c.user_id DESC LIMIT 1`); ok {
				u.cardAction(ctx, target, shop.ActionReissue, 0)
			}
		}},
		{0.55, func(ctx context.Context, u *user) {
			if target, ok := d.pick(ctx, `SELECT s.user_id FROM subscriptions s
				WHERE s.status = 'active' AND s.user_id BETWEEN $1 AND $2 ORDER BY s.user_id DESC LIMIT 1`); ok {
				u.cardInput(ctx, target, shop.ActionGrantBalance, grantAnswer)
			}
		}},
		{0.58, func(ctx context.Context, u *user) {
			if target, ok := d.pick(ctx, `SELECT s.user_id FROM subscriptions s
				WHERE s.status = 'active' AND s.user_id BETWEEN $1 AND $2 ORDER BY s.user_id LIMIT 1 OFFSET 1`); ok {
				u.cardInput(ctx, target, shop.ActionMessage, adminMessage)
			}
		}},
		{0.60, func(ctx context.Context, u *user) {
			var target, invoice int64
			err := d.pool.QueryRow(ctx, `SELECT i.user_id, i.id FROM invoices i
				JOIN subscriptions s ON s.user_id = i.user_id AND s.status = 'active'
				WHERE i.provider = 'stars' AND i.status = 'paid' AND i.purpose = 'plan' AND i.user_id BETWEEN $1 AND $2
				  AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.op_key = 'refund:' || i.id)
				ORDER BY i.id LIMIT 1`, firstNewcomer, firstNewcomer+newcomers).Scan(&target, &invoice)
			if err != nil {
				d.j.miss("a Stars payment to refund")
				return
			}
			u.cardAction(ctx, target, shop.ActionRefund, invoice)
		}},
	}
}

// pick is the first user sql finds among the newcomers.
func (d *driver) pick(ctx context.Context, sql string) (int64, bool) {
	var id int64
	if err := d.pool.QueryRow(ctx, sql, firstNewcomer, firstNewcomer+newcomers).Scan(&id); err != nil {
		d.j.miss("a user for an admin action: " + err.Error())
		return 0, false
	}
	return id, true
}

// cardActs are the card's names of the shop's actions (the bot-handler's
// card buttons: "adm:<step>:<act>:<user>:<param>:<nonce>").
var cardActs = map[string]string{
	shop.ActionExtend: "ext", shop.ActionBan: "ban", shop.ActionUnban: "unb",
	shop.ActionReissue: "key", shop.ActionRefund: "ref", shop.ActionGrantBalance: "bal", shop.ActionMessage: "msg",
}

// cardAction opens target's card with /user, asks for action (for a refund,
// through the card's list of payments) and presses the question's yes twice
// at once; true once the card came back with the result.
func (u *user) cardAction(ctx context.Context, target int64, action string, invoice int64) bool {
	card, ok := u.card(ctx, target)
	if !ok {
		return false
	}
	act := cardActs[action]
	if action == shop.ActionRefund {
		list := cardButton(card, "adm:r:")
		if list == "" || !u.press(ctx, list, "the card's payments", nil) {
			return false
		}
	}
	ask := cardButton(u.screen, fmt.Sprintf("adm:a:%s:%d:", act, target))
	if action == shop.ActionRefund {
		ask = cardButton(u.screen, fmt.Sprintf("adm:a:%s:%d:%d:", act, target, invoice))
	}
	if ask == "" {
		u.j.miss("the card's button for " + action)
		return false
	}
	if !u.press(ctx, ask, "the question of "+action, func(m sandboxtg.Message) bool { return cardButton(m, "adm:y:") != "" }) {
		return false
	}
	return u.confirmTwice(ctx, AdminPress{Action: action, Target: target, Invoice: invoice})
}

// card opens target's card with /user, as the screen.
func (u *user) card(ctx context.Context, target int64) (sandboxtg.Message, bool) {
	after := u.newest()
	u.send(ctx, "/user "+strconv.FormatInt(target, 10))
	card, ok := u.await(ctx, "a user's card", func(m sandboxtg.Message) bool {
		return m.ID > after && cardButton(m, "adm:c:") != ""
	})
	if ok {
		u.screen = card
	}
	return card, ok
}

// cardInput opens target's card, presses the button of action (a grant or
// a message) that asks for input, answers with answer, and presses the
// confirmation's yes twice at once; true once the result came back.
func (u *user) cardInput(ctx context.Context, target int64, action, answer string) bool {
	card, ok := u.card(ctx, target)
	if !ok {
		return false
	}
	ask := cardButton(card, fmt.Sprintf("adm:i:%s:%d:", cardActs[action], target))
	if ask == "" {
		u.j.miss("the card's button for " + action)
		return false
	}
	if !u.press(ctx, ask, "the card's question for "+action, func(m sandboxtg.Message) bool { return cardButton(m, "adm:x:") != "" }) {
		return false
	}
	if !u.react(ctx) {
		return false
	}
	after := u.newest()
	u.send(ctx, answer)
	question, ok := u.await(ctx, "the confirmation of "+action, func(m sandboxtg.Message) bool {
		return m.ID > after && cardButton(m, "adm:y:") != ""
	})
	if !ok {
		return false
	}
	u.screen = question
	return u.confirmTwice(ctx, AdminPress{Action: action, Target: target, Answer: answer})
}

// confirmTwice presses the yes of the question on the screen twice at
// once, and journals p; true once the screen came back with the result.
func (u *user) confirmTwice(ctx context.Context, p AdminPress) bool {
	yes := cardButton(u.screen, "adm:y:")
	if !u.react(ctx) {
		return false
	}
	screen := u.screen
	at := time.Now()
	u.pressOnly(yes)
	u.pressOnly(yes)
	m, done := u.await(ctx, "the result of "+p.Action, func(m sandboxtg.Message) bool {
		return m.ID == screen.ID && m.Edits > screen.Edits && cardButton(m, "adm:y:") == ""
	})
	if done {
		u.screen = m
	}
	p.At, p.Done = at, done
	u.j.adminPress(p)
	return done
}

// cardButton is the data of m's first button whose data starts with prefix
// (an admin card's, "adm:…"), or "".
func cardButton(m sandboxtg.Message, prefix string) string {
	for _, row := range m.Buttons {
		for _, b := range row {
			if action, arg, _ := botui.ParseCallback(b.Data); action == botui.ActionAdmin &&
				strings.HasPrefix(action+arg, prefix) {
				return b.Data
			}
		}
	}
	return ""
}

// abuser takes the trial, is banned by the admin, writes to the bot while
// banned, and after the unban starts the bot again.
func (u *user) abuser(ctx context.Context, banned, unbanned <-chan struct{}) {
	if !u.start(ctx) {
		return
	}
	u.press(ctx, botui.ActionTrial, "the trial's confirmation", nil)
	select {
	case <-banned:
	case <-ctx.Done():
		return
	}
	for i := range abuserWrites {
		if !u.think(ctx) {
			return
		}
		u.send(ctx, fmt.Sprintf("let me in (%d)", i))
	}
	select {
	case <-unbanned:
	case <-ctx.Done():
		return
	}
	u.start(ctx)
}
