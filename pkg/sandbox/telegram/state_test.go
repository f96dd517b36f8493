package telegram_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// pendingIDs reads the updates waiting for getUpdates, without confirming
// any, as update id → chat id.
func (e *env) pendingIDs() map[int64]int64 {
	e.t.Helper()
	got := decode[[]wireUpdate](e.t, e.callJSON("getUpdates", map[string]any{}).Result)
	out := map[int64]int64{}
	for _, u := range got {
		out[u.UpdateID] = u.chatID()
	}
	return out
}

// historyJSON is a chat as the web chat shows it, encoded: times compare
// as written, without the monotonic clock reading.
func historyJSON(t *testing.T, s *telegram.Server, chat int64) string {
	t.Helper()
	b, err := json.Marshal(s.History(chat))
	require.NoError(t, err)
	return string(b)
}

// TestRestartKeepsChatsAndIds is the sandbox closed and started again on its
// state folder, as make run does: both sides of each chat are as they were
// (edits, buttons, photos, a paid invoice), the user's profile too, updates
// not yet delivered are still waiting, a photo can be sent again by its
// file id, a payment can be delivered again, and update and message ids go
// on from the last ones.
func TestRestartKeepsChatsAndIds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, telegram.Config{StateDir: dir})
	b := first.bot()
	first.s.SetUser(telegram.User{ID: 9, FirstName: "Ann", Username: "ann", LanguageCode: "ru"})
	first.s.SendText(9, "/start")
	menu, err := b.Send(&tele.User{ID: 9}, "<b>Menu</b>", tele.ModeHTML,
		&tele.ReplyMarkup{InlineKeyboard: [][]tele.InlineButton{{{Text: "Plans", Data: "plans"}}}})
	require.NoError(t, err)
	_, err = b.Edit(menu, "<b>Menu</b>, edited", tele.ModeHTML)
	require.NoError(t, err)
	photo, err := b.Send(&tele.User{ID: 9}, &tele.Photo{File: tele.FromReader(bytes.NewReader(pngImage(t, 32, 32))), Caption: "Your key"})
	require.NoError(t, err)
	// Confirm the first update: only the ones after it wait.
	confirmed := first.pendingIDs()
	require.Len(t, confirmed, 1)
	var startID int64
	for id := range confirmed {
		startID = id
	}
	first.callJSON("getUpdates", map[string]any{"offset": startID + 1})
	invoice := first.sendStarsInvoice(9, "order-9")
	paid := first.payAnswering(9, invoice, startID+1)
	first.s.SendText(7, "hello")
	waiting := first.pendingIDs()
	historyBefore := historyJSON(t, first.s, 9)
	lastUpdate := first.s.SendText(7, "last")
	waiting[lastUpdate] = 7
	lastMessage := first.s.History(9)[len(first.s.History(9))-1].ID
	var charge string
	for _, m := range first.s.History(9) {
		if m.Invoice != nil {
			charge = m.Invoice.ChargeID
		}
	}
	require.NotEmpty(t, charge)
	first.s.Close()

	second := start(t, telegram.Config{StateDir: dir})
	require.Equal(t, historyBefore, historyJSON(t, second.s, 9), "chat 9 changed across the restart")
	require.Equal(t, []int64{7, 9}, second.s.Chats())
	require.Equal(t, waiting, second.pendingIDs(), "the updates still waiting")
	require.NotNil(t, paid.PreCheckoutQuery)

	next := second.s.SendText(9, "/start")
	require.Equal(t, lastUpdate+1, next, "update ids go on from the last one")
	sent, err := second.bot().Send(&tele.User{ID: 9}, &tele.Photo{File: tele.File{FileID: photo.Photo.FileID}})
	require.NoError(t, err, "a photo sent before the restart, sent again by its file id")
	require.Equal(t, lastMessage+2, int64(sent.ID), "message ids go on from the last one")
	require.Equal(t, "Ann", sent.Chat.FirstName, "the user's profile")
	resent, err := second.s.ResendSuccessfulPayment(9, charge)
	require.NoError(t, err, "the payment made before the restart")
	require.Equal(t, next+1, resent)
}

// TestIdsAreNeverReusedAfterAKill is what a SIGKILL leaves: a snapshot
// older than the last changes, and the reservation the run had on disk. A
// sandbox started on it hands out no update id and no message id the
// killed one had handed out, in a chat the snapshot has or in one it lost.
func TestIdsAreNeverReusedAfterAKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// An hour between snapshots: only the first change is written before
	// the "kill".
	killed := start(t, telegram.Config{StateDir: dir, SaveInterval: time.Hour})
	killed.s.SendText(9, "/start")
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "state.json"))
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "the first change was not saved")
	b := killed.bot()
	var lastUpdate, lastIn9, lastIn10 int64
	for range 5 {
		lastUpdate = killed.s.SendText(9, "more")
		m, err := b.Send(&tele.User{ID: 9}, "answer")
		require.NoError(t, err)
		lastIn9 = int64(m.ID)
		lastUpdate = killed.s.SendText(10, "a chat the snapshot lacks")
		m, err = b.Send(&tele.User{ID: 10}, "answer")
		require.NoError(t, err)
		lastIn10 = int64(m.ID)
	}

	next := start(t, telegram.Config{StateDir: dir})
	require.Len(t, next.s.History(9), 1, "the snapshot is the one before the kill")
	require.Greater(t, next.s.SendText(9, "after the kill"), lastUpdate)
	b = next.bot()
	for chat, last := range map[int64]int64{9: lastIn9, 10: lastIn10} {
		m, err := b.Send(&tele.User{ID: chat}, "after the kill")
		require.NoError(t, err)
		require.Greater(t, int64(m.ID), last, "chat %d reuses a message id", chat)
	}
}

// TestAnUnreadableStateIsNotStartedOver is a state file the sandbox cannot
// read: Start fails naming it, and leaves it as it is.
func TestAnUnreadableStateIsNotStartedOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"chats": [`), 0o600))
	s := telegram.New(telegram.Config{Token: token, StateDir: dir})
	err := s.Start("127.0.0.1:0")
	s.Close()
	require.ErrorContains(t, err, path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `{"chats": [`, string(b))
}
