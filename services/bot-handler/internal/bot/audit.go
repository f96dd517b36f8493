package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// auditMax is how many audit rows /audit shows, newest first.
const auditMax = 20

// onAudit is /audit [user]: the latest admin actions, of all or on one
// user, for support and up; to anyone else it is an unknown command.
func (b *Bot) onAudit(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleSupport); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	var target int64
	label := ""
	if query := strings.TrimSpace(c.Message().Payload); query != "" {
		userID, found, err := b.findUser(ctx, query)
		if err != nil {
			return err
		}
		if !found {
			return b.reply(ctx, c, CardNoUserScreen(lang, query))
		}
		target, label = userID, botui.Escape(query)
	}
	entries, err := b.shop.Audit(ctx, target, auditMax)
	if err != nil {
		return err
	}
	return b.reply(ctx, c, AuditScreen(lang, label, entries))
}

// AuditScreen lists audit rows, newest first: when, who, what, to whom,
// what changed, and the note. of names the user they are all about ("" all).
func AuditScreen(lang, of string, entries []shop.AuditEntry) Screen {
	t, adm := textsIn(lang), adminTextsIn(lang)
	var b strings.Builder
	if of == "" {
		fmt.Fprintf(&b, adm.auditAll, len(entries))
	} else {
		fmt.Fprintf(&b, adm.auditOf, of)
	}
	if len(entries) == 0 {
		return Screen{Text: b.String() + "\n" + adm.auditNone}
	}
	for _, e := range entries {
		note := ""
		if e.Note != "" {
			note = " — " + botui.Escape(e.Note)
		}
		line := "\n" + fmt.Sprintf(adm.auditLine, t.Date(e.CreatedAt), e.AdminID, e.Action, e.TargetID, auditChange(e.Before, e.After), note)
		if utf8.RuneCountInString(b.String())+utf8.RuneCountInString(line) > MaxBroadcastText {
			break // one message: the older rows are left off
		}
		b.WriteString(line)
	}
	return Screen{Text: b.String()}
}

// auditChange is what an audit row changed, field by field in name order:
// " (expires_at: 2027-01-02T… → 2027-02-01T…)".
func auditChange(before, after map[string]any) string {
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return ""
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s → %s", botui.Escape(k), auditValue(before, k), auditValue(after, k))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// auditValue is the value of key in m as JSON, "—" if absent.
func auditValue(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok {
		return "—"
	}
	if s, isString := v.(string); isString {
		return botui.Escape(s)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return botui.Escape(fmt.Sprint(v))
	}
	return botui.Escape(string(raw))
}
