package bot_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

const fallback = "I only understand commands"

// The card's balance and message buttons ask for an amount or a text; the
// admin's answer, delivered twice at once, is one question, and its yes,
// pressed twice and each press delivered twice, is one effect and one
// audit row.
func TestCardAsksForTheAmountAndTheMessage(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	card := e.say(adminID, fmt.Sprintf("/user %d", customerID))
	balanceButton := fmt.Sprintf("adm:i:bal:%d:0:0", customerID)
	messageButton := fmt.Sprintf("adm:i:msg:%d:0:0", customerID)
	require.True(t, card.HasButton(balanceButton), "the card offers the balance: %v", card.Buttons)
	require.True(t, card.HasButton(messageButton), "the card offers a message: %v", card.Buttons)

	// answer has the admin press ask on the card and send text, delivered
	// twice at once; it returns the bot's answer.
	answer := func(ask, text string) telegram.Message {
		t.Helper()
		card := e.say(adminID, fmt.Sprintf("/user %d", customerID))
		prompt := e.press(adminID, card.ID, ask)
		require.True(t, prompt.HasButton(fmt.Sprintf("adm:x:-:%d:0:0", customerID)), "the question can be cancelled: %s", prompt.Plain)
		id := e.sb.SendText(adminID, text)
		e.processAtOnce(e.update(id), e.update(id))
		return e.last(adminID)
	}
	// confirm presses the yes of question twice, each press delivered
	// twice, all at once, and returns the question's message then.
	confirm := func(question telegram.Message) telegram.Message {
		t.Helper()
		yes := yesData(t, question)
		first, second := e.sb.PressButton(adminID, question.ID, yes), e.sb.PressButton(adminID, question.ID, yes)
		e.processAtOnce(e.update(first), e.update(first), e.update(second), e.update(second))
		return e.message(adminID, question.ID)
	}
	grants := func() int {
		return e.count(`SELECT count(*) FROM admin_audit WHERE action = 'grant_balance' AND target_id = $1`, customerID)
	}

	for round := 1; round <= 3; round++ {
		question := answer(balanceButton, "2.50")
		require.Contains(t, question.Plain, "Give $2.50 to the balance of", "round %d", round)
		done := confirm(question)
		require.Contains(t, done.Plain, fmt.Sprintf("$%s now", shop.FormatCents(int64(250*round))), "round %d", round)
		require.EqualValues(t, 250*round, balance(t, e.shop, customerID, shop.CurrencyUSD), "round %d: once", round)
		require.Equal(t, round, grants(), "round %d: one audit row", round)
	}
	question := answer(balanceButton, "100 stars")
	confirm(question)
	question = answer(balanceButton, "-40 stars")
	require.Contains(t, question.Plain, "Take 40 ⭐ from the balance of")
	confirm(question)
	require.EqualValues(t, 60, balance(t, e.shop, customerID, shop.CurrencyXTR))
	// Taking more than there is is refused, and recorded nowhere.
	done := confirm(answer(balanceButton, "-100"))
	require.Contains(t, done.Plain, "does not have that much")
	require.Equal(t, 5, grants())

	// A text that is not an amount says so and leaves the question open.
	card = e.say(adminID, fmt.Sprintf("/user %d", customerID))
	e.press(adminID, card.ID, balanceButton)
	require.Contains(t, e.say(adminID, "five dollars").Plain, "is not an amount")
	require.Contains(t, e.say(adminID, "1").Plain, "Give $1.00 to the balance of")
	// Once answered, the admin's texts are ordinary texts again.
	require.Contains(t, e.say(adminID, "2").Plain, fallback)

	typed := "Hello,\nyour <b>key</b> was moved."
	question = answer(messageButton, typed)
	require.Contains(t, question.Plain, "this message?\n\n"+typed, "the message as the user will read it")
	require.Contains(t, confirm(question).Plain, "queued")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'message' AND target_id = $1`, customerID))
	sent := e.out.to(customerID)
	require.Len(t, sent, 1, "one message however often yes was pressed")
	for _, text := range sent {
		require.Equal(t, typed, text, "as typed, not as HTML")
	}

	// A question asked again replaces the one before: the earlier yes does
	// nothing.
	stale := answer(messageButton, "first")
	fresh := answer(messageButton, "second")
	require.Contains(t, confirm(stale).Plain, "That question is closed")
	confirm(fresh)
	require.ElementsMatch(t, []string{typed, "second"}, values(e.out.to(customerID)))

	// Cancel closes the question: the next text is an ordinary one.
	card = e.say(adminID, fmt.Sprintf("/user %d", customerID))
	e.press(adminID, card.ID, balanceButton)
	cancelled := e.press(adminID, card.ID, fmt.Sprintf("adm:x:-:%d:0:0", customerID))
	require.Contains(t, cancelled.Plain, fmt.Sprintf("User %d", customerID), "back to the card")
	require.Contains(t, e.say(adminID, "5").Plain, fallback)

	// A command is never an answer, and a question left open too long is
	// closed.
	card = e.say(adminID, fmt.Sprintf("/user %d", customerID))
	e.press(adminID, card.ID, balanceButton)
	require.Contains(t, e.say(adminID, "/nonsense 5").Plain, fallback)
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE admin_inputs SET asked_at = asked_at - interval '16 minutes'`)
	require.NoError(t, err)
	require.Contains(t, e.say(adminID, "5").Plain, fallback)
	require.Equal(t, 5, grants())
}

// Only an admin's question is answered: support cannot ask, a stranger's
// text is their own, and an admin whose role was revoked since asking
// answers nothing.
func TestCardQuestionsAreAdminsOnly(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	card := e.say(supportID, fmt.Sprintf("/user %d", customerID))
	require.False(t, card.HasButton(fmt.Sprintf("adm:i:bal:%d:0:0", customerID)), "support sees no actions")
	refused := e.press(supportID, card.ID, fmt.Sprintf("adm:i:bal:%d:0:0", customerID))
	require.Contains(t, refused.Plain, "cannot")
	require.Contains(t, e.say(supportID, "5").Plain, fallback)
	require.Contains(t, e.say(strangerID, "5").Plain, fallback)

	card = e.say(adminID, fmt.Sprintf("/user %d", customerID))
	e.press(adminID, card.ID, fmt.Sprintf("adm:i:bal:%d:0:0", customerID))
	e.say(ownerID, fmt.Sprintf("/role revoke %d", adminID))
	require.Contains(t, e.say(adminID, "5").Plain, fallback)
	require.Zero(t, e.count(`SELECT count(*) FROM admin_audit WHERE action = 'grant_balance'`))
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, strings.TrimSpace(v))
	}
	return out
}
