package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// Who runs the shop from Telegram: owners are the ADMIN_IDS of the
// configuration; the admins and support they name are rows of the database
// (shop.Role). Support reads (/stats, /user, /audit), admins also act on
// users and money, owners also name admins and support. Every command and
// every button of an admin screen asks again when it is used: a menu shown
// to someone once proves nothing about them now.

// roleRank orders the roles: a role may do what any lower one may.
var roleRank = map[string]int{shop.RoleSupport: 1, shop.RoleAdmin: 2, shop.RoleOwner: 3}

// roleOf is the role of userID: owner for the configured admins, else the
// role granted in the database ("" none).
func (b *Bot) roleOf(ctx context.Context, userID int64) (string, error) {
	if b.admins[userID] {
		return shop.RoleOwner, nil
	}
	role, err := b.shop.Role(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("reading the role of user %d: %w", userID, err)
	}
	return role, nil
}

// allowed reports whether role may do what needs role need.
func allowed(role, need string) bool {
	return roleRank[role] > 0 && roleRank[role] >= roleRank[need]
}

// refused answers a command that needs role need, from someone without it,
// as the unknown command it is to them (no hint that it exists), and reports
// whether it did: a handler starts with
//
//	if refused, err := b.refused(ctx, c, shop.RoleAdmin); refused || err != nil {
//		return err
//	}
func (b *Bot) refused(ctx context.Context, c tele.Context, need string) (bool, error) {
	role, err := b.roleOf(ctx, c.Sender().ID)
	if err != nil {
		return false, err
	}
	if allowed(role, need) {
		return false, nil
	}
	return true, b.onOther(ctx, c)
}

// Words of /role.
const (
	roleGrant  = "grant"
	roleRevoke = "revoke"
	roleList   = "list"
)

// roleCommand is a /role read: its action, the user it names as written,
// and the role to grant.
type roleCommand struct {
	action string
	who    string
	role   string
}

// parseRoleCommand reads the arguments of /role:
//
//	grant <id|@user> admin|support
//	revoke <id|@user>
//	list
func parseRoleCommand(args string) (roleCommand, bool) {
	words := strings.Fields(args)
	if len(words) == 0 {
		return roleCommand{}, false
	}
	cmd := roleCommand{action: strings.ToLower(words[0])}
	switch {
	case cmd.action == roleList && len(words) == 1:
		return cmd, true
	case cmd.action == roleRevoke && len(words) == 2:
		cmd.who = words[1]
		return cmd, true
	case cmd.action == roleGrant && len(words) == 3:
		cmd.who, cmd.role = words[1], strings.ToLower(words[2])
		return cmd, cmd.role == shop.RoleAdmin || cmd.role == shop.RoleSupport
	}
	return roleCommand{}, false
}

// onRole is an owner's /role: grant a role, revoke it, or list who has
// one. Granting is an audited admin action keyed by the update, so a
// redelivered /role is the one grant.
func (b *Bot) onRole(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleOwner); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	cmd, ok := parseRoleCommand(c.Message().Payload)
	if !ok {
		return b.reply(ctx, c, RoleUsageScreen(lang))
	}
	if cmd.action == roleList {
		grants, err := b.shop.Roles(ctx)
		if err != nil {
			return err
		}
		return b.reply(ctx, c, RoleListScreen(lang, grants))
	}
	userID, err := b.shop.FindUser(ctx, cmd.who)
	if errors.Is(err, shop.ErrUnknownUser) {
		return b.reply(ctx, c, CardNoUserScreen(lang, cmd.who))
	}
	if err != nil {
		return err
	}
	act := b.commandAct(c, shop.ActionRole, userID, 0)
	res, err := b.shop.SetRole(ctx, act, userID, cmd.role)
	if err != nil {
		return err
	}
	b.logAction(ctx, act, shop.ActionRole, userID, res.Applied)
	return b.reply(ctx, c, RoleSetScreen(lang, userID, cmd.role))
}

// RoleUsageScreen answers a /role written wrong.
func RoleUsageScreen(lang string) Screen { return Screen{Text: adminTextsIn(lang).roleUsage} }

// RoleListScreen is /role list: who has a role, and who granted it.
func RoleListScreen(lang string, grants []shop.RoleGrant) Screen {
	t, adm := textsIn(lang), adminTextsIn(lang)
	if len(grants) == 0 {
		return Screen{Text: adm.rolesNone}
	}
	lines := []string{adm.roles}
	for _, g := range grants {
		user := fmt.Sprint(g.UserID)
		if g.Username != "" {
			user = fmt.Sprintf("%d (@%s)", g.UserID, botui.Escape(g.Username))
		}
		lines = append(lines, fmt.Sprintf(adm.roleLine, user, adm.roleName(g.Role), g.GrantedBy, t.Date(g.GrantedAt)))
	}
	return Screen{Text: strings.Join(lines, "\n")}
}

// RoleSetScreen tells the owner the role of userID is now role ("" none).
func RoleSetScreen(lang string, userID int64, role string) Screen {
	adm := adminTextsIn(lang)
	if role == "" {
		return Screen{Text: fmt.Sprintf(adm.roleRevoked, fmt.Sprint(userID))}
	}
	return Screen{Text: fmt.Sprintf(adm.roleGranted, fmt.Sprint(userID), adm.roleName(role))}
}
