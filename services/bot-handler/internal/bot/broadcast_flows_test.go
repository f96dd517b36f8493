package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

const broadcastAdmin = 777

// broadcastEnv is relinkEnv's world with an admin's bot that queues
// broadcasts on a real OUTBOX stream.
type broadcastEnv struct {
	*relinkEnv
	client *telegram.Client
}

func newBroadcastEnv(t *testing.T) *broadcastEnv {
	t.Helper()
	e := &broadcastEnv{relinkEnv: newRelinkEnv(t)}
	require.NoError(t, bus.DeclareStreams(e.ctx, e.js, outbox.StreamConfig(), bus.DLQStreamConfig()))
	var err error
	e.client, err = telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: relinkToken})
	require.NoError(t, err)
	t.Cleanup(e.client.Close)
	e.bot, err = bot.New(e.ctx, bot.Config{
		Client: e.client, Users: e.users, Shop: e.shop, Activations: bot.StreamActivations{JS: e.js},
		Broadcasts: e.users, Outbox: bot.StreamOutbox{JS: e.js}, AdminIDs: []int64{broadcastAdmin},
		Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	e.user(broadcastAdmin, botui.English)
	return e
}

// user is a user who started the bot in lang.
func (e *broadcastEnv) user(id int64, lang string) {
	e.t.Helper()
	_, err := e.users.UpsertStartingUser(e.ctx, store.StartingUser{ID: id, ChatID: id, FirstName: "Alice", LanguageCode: lang, Language: lang})
	require.NoError(e.t, err)
	e.sb.SetUser(sandboxtg.User{ID: id, FirstName: "Alice", LanguageCode: lang})
}

func (e *broadcastEnv) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.db.Pool.Exec(e.ctx, sql, args...)
	require.NoError(e.t, err)
}

func (e *broadcastEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

// say makes user send text and has the bot handle it; it returns the
// update, for a redelivery.
func (e *broadcastEnv) say(user int64, text string) tele.Update {
	e.t.Helper()
	u := nextUpdate(e.t, e.sb, relinkToken, e.sb.SendText(user, text))
	e.handle(u)
	return u
}

// handle has the bot handle u and checks it was handled.
func (e *broadcastEnv) handle(u tele.Update) {
	e.t.Helper()
	_, err := e.bot.Process(e.ctx, u)
	require.NoError(e.t, err, "update %d", u.ID)
}

// photo is a PNG the bot uploaded, by its file_id, as Telegram keeps it.
func (e *broadcastEnv) photo() (fileID string, data []byte) {
	e.t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	require.NoError(e.t, png.Encode(&buf, img))
	var sent struct {
		Photo []struct {
			FileID string `json:"file_id"`
		} `json:"photo"`
	}
	// Sent to a chat of its own, which the test never reads.
	require.NoError(e.t, e.client.Upload(e.ctx, "sendPhoto", map[string]any{"chat_id": 4242}, "photo", buf.Bytes(), &sent))
	require.NotEmpty(e.t, sent.Photo)
	return sent.Photo[len(sent.Photo)-1].FileID, buf.Bytes()
}

// sendPhoto makes user send the photo fileID with caption, and has the bot
// handle it; it returns the update, for a redelivery.
func (e *broadcastEnv) sendPhoto(user int64, fileID, caption string) tele.Update {
	e.t.Helper()
	messageID := int64(len(e.sb.History(user)) + 1000)
	raw, err := json.Marshal(map[string]any{"message": map[string]any{
		"message_id": messageID, "date": time.Now().Unix(),
		"from":    map[string]any{"id": user, "is_bot": false, "first_name": "Alice"},
		"chat":    map[string]any{"id": user, "type": "private"},
		"photo":   []map[string]any{{"file_id": fileID, "file_unique_id": "u" + fileID, "width": 4, "height": 4}},
		"caption": caption,
	}})
	require.NoError(e.t, err)
	e.sb.Enqueue(user, raw)
	u := e.latestUpdate()
	require.Equal(e.t, messageID, int64(u.Message.ID))
	e.handle(u)
	return u
}

// latestUpdate reads the update queued last, as the gateway does.
func (e *broadcastEnv) latestUpdate() tele.Update {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"offset": -1, "limit": 1})
	require.NoError(e.t, err)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Post(e.sb.URL()+"/bot"+relinkToken+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var got struct {
		Result []tele.Update `json:"result"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(e.t, got.Result, 1)
	return got.Result[0]
}

// message is the bot's message id in user's chat, as it is now.
func (e *broadcastEnv) message(user, id int64) sandboxtg.Message {
	e.t.Helper()
	for _, m := range e.sb.Messages(user) {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("no message %d in chat %d", id, user)
	return sandboxtg.Message{}
}

// pressUpdate is user's press of the button with data under message msg,
// for the bot to handle.
func (e *broadcastEnv) pressUpdate(user, msg int64, data string) tele.Update {
	e.t.Helper()
	return nextUpdate(e.t, e.sb, relinkToken, e.sb.PressButton(user, msg, data))
}

// last is the chat's last message.
func (e *broadcastEnv) last(user int64) sandboxtg.Message {
	e.t.Helper()
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs)
	return msgs[len(msgs)-1]
}

// broadcast is the broadcast made last.
func (e *broadcastEnv) broadcast() store.Broadcast {
	e.t.Helper()
	var id int64
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx, `SELECT max(id) FROM broadcasts`).Scan(&id))
	p, found, err := e.users.BroadcastProgress(e.ctx, id, nil)
	require.NoError(e.t, err)
	require.True(e.t, found)
	return p.Broadcast
}

// progress is the broadcast's progress as the store reads it, with the
// sender's dead letters.
func (e *broadcastEnv) progress(id int64) store.BroadcastProgress {
	e.t.Helper()
	failed, err := bot.StreamOutbox{JS: e.js}.BroadcastFailures(e.ctx, id)
	require.NoError(e.t, err)
	p, found, err := e.users.BroadcastProgress(e.ctx, id, failed)
	require.NoError(e.t, err)
	require.True(e.t, found)
	return p
}

// queued are the commands waiting in OUTBOX, by dedup id, and how many
// messages the stream holds (its duplicate window keeps one per id).
func (e *broadcastEnv) queued() map[string]*vpnbotv1.SendMessage {
	e.t.Helper()
	s, err := e.js.Stream(e.ctx, outbox.Stream)
	require.NoError(e.t, err)
	info, err := s.Info(e.ctx)
	require.NoError(e.t, err)
	out := map[string]*vpnbotv1.SendMessage{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(e.ctx, seq)
		require.NoError(e.t, err)
		cmd, err := outbox.Decode(raw.Data)
		require.NoError(e.t, err)
		require.Equal(e.t, cmd.GetDedupId(), raw.Header.Get("Nats-Msg-Id"))
		require.NotContains(e.t, out, cmd.GetDedupId(), "command %s queued twice", cmd.GetDedupId())
		out[cmd.GetDedupId()] = cmd
	}
	return out
}

// deadLetter puts the broadcast's message to user in the DLQ, as the
// sender does with a message it gives up on.
func (e *broadcastEnv) deadLetter(broadcastID, user int64) {
	e.t.Helper()
	h := nats.Header{}
	h.Set(bus.HeaderDLQStream, outbox.Stream)
	h.Set(bus.HeaderDLQMsgID, bot.BroadcastDedupID(broadcastID, user))
	h.Set(bus.HeaderDLQReason, "permanent")
	_, err := e.js.PublishMsg(e.ctx, &nats.Msg{Subject: bus.DLQSubject(outbox.Stream), Header: h, Data: []byte("x")})
	require.NoError(e.t, err)
}

// broadcastButtons is a broadcast's keyboard as the chat shows it.
func broadcastButtons(rows []*vpnbotv1.ButtonRow) [][]sandboxtg.Button {
	var out [][]sandboxtg.Button
	for _, r := range rows {
		var row []sandboxtg.Button
		for _, b := range r.GetButtons() {
			row = append(row, sandboxtg.Button{Text: b.GetText(), Data: b.GetCallbackData(), URL: b.GetUrl()})
		}
		out = append(out, row)
	}
	return out
}

// A photo with buttons: the admin sees it as users will, and what sending
// it means; nothing is queued until Send. Send and Send as paid pressed at
// once, some of the presses redelivered, make one broadcast, whose every
// recipient's command is queued once, as the winning press chose.
func TestAPhotoBroadcastIsPreviewedThenSentOnce(t *testing.T) {
	t.Parallel()
	e := newBroadcastEnv(t)
	const en, ru, gone = 31001, 31002, 31003
	e.user(en, botui.English)
	e.user(ru, botui.Russian)
	e.user(gone, botui.English)
	e.exec(`UPDATE users SET blocked_at = now() WHERE id = $1`, gone)
	fileID, data := e.photo()
	const caption = "/broadcast all Big news: <new> servers & more!\n\nTry them.\n" +
		"[Our site](https://example.com/news) [Plans](plans)\n[Channel](tg://resolve?domain=vpnbot)"
	const text = "Big news: <new> servers & more!\n\nTry them."
	wantButtons := [][]sandboxtg.Button{
		{{Text: "Our site", URL: "https://example.com/news"}, {Text: "Plans", Data: botui.NoticeCallback(botui.ActionPlans, "")}},
		{{Text: "Channel", URL: "tg://resolve?domain=vpnbot"}},
	}

	const rounds, presses = 3, 6
	for round := range rounds {
		before := len(e.sb.Messages(broadcastAdmin))
		u := e.sendPhoto(broadcastAdmin, fileID, caption)
		e.handle(u) // redelivered: the draft is found, and shown again
		bc := e.broadcast()
		require.Equal(t, round+1, e.count(`SELECT count(*) FROM broadcasts`), "round %d: one draft per /broadcast", round)
		require.Equal(t, store.StateDraft, bc.State)
		require.Equal(t, 3, bc.Total, "the admin and the two users who did not block the bot")

		msgs := e.sb.Messages(broadcastAdmin)[before:]
		require.Len(t, msgs, 4, "round %d: preview and summary, twice", round)
		preview, summary := msgs[0], msgs[1]
		require.Equal(t, data, preview.Photo, "the photo itself")
		require.Equal(t, text, preview.Text, "the caption, as typed")
		require.Empty(t, preview.ParseMode, "plain text, as the sender sends it")
		require.Equal(t, wantButtons, preview.Buttons)
		wantSummary := bot.BroadcastPreviewScreen(botui.English, bc, bot.DefaultBroadcastRate)
		require.Equal(t, wantSummary.Text, summary.Text)
		require.Equal(t, sandboxButtons(wantSummary), summary.Buttons)
		require.Contains(t, summary.Plain, "Recipients: 3")
		require.Contains(t, summary.Plain, "≈1 ⭐")
		require.Equal(t, [2]string{preview.Text, summary.Text}, [2]string{msgs[2].Text, msgs[3].Text}, "the redelivery shows the same draft")
		queuedBefore := len(e.queued())
		require.Equal(t, 3*round, queuedBefore, "round %d: nothing queued before Send", round)

		id := fmt.Sprint(bc.ID)
		updates := make([]tele.Update, presses)
		for i := range updates {
			action := botui.ActionBroadcastSend
			if i%2 == 1 {
				action = botui.ActionBroadcastSendPaid
			}
			updates[i] = e.pressUpdate(broadcastAdmin, summary.ID, botui.Callback(action, id))
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, u := range append(updates, updates[0], updates[1]) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := e.bot.Process(context.Background(), u); err != nil {
					t.Errorf("press %d: %v", i, err)
				}
			}()
		}
		close(start)
		wg.Wait()

		bc = e.broadcast()
		require.Equal(t, store.StateSending, bc.State)
		queued := e.queued()
		require.Len(t, queued, 3*(round+1), "round %d: one command per recipient", round)
		for _, user := range []int64{broadcastAdmin, en, ru} {
			cmd := queued[bot.BroadcastDedupID(bc.ID, user)]
			require.NotNil(t, cmd, "round %d: user %d's command", round, user)
			require.True(t, proto.Equal(&vpnbotv1.SendMessage{
				DedupId: bot.BroadcastDedupID(bc.ID, user), ChatId: user, Text: text, PhotoUrl: fileID,
				Rows: cmd.GetRows(), Priority: vpnbotv1.Priority_PRIORITY_BROADCAST, CreatedAt: cmd.GetCreatedAt(),
				BroadcastId: bc.ID, PaidBroadcast: bc.Paid,
			}, cmd), "round %d: %v", round, cmd)
			require.Equal(t, wantButtons, broadcastButtons(cmd.GetRows()), "the buttons the admin saw")
			require.WithinDuration(t, *bc.ConfirmedAt, cmd.GetCreatedAt().AsTime(), time.Millisecond)
		}
		require.NotContains(t, queued, bot.BroadcastDedupID(bc.ID, gone))

		// The summary became the broadcast's status.
		status := bot.BroadcastStatusScreen(botui.English, e.progress(bc.ID), bot.DefaultBroadcastRate)
		got := e.sb.Messages(broadcastAdmin)[before+1]
		require.Equal(t, status.Text, got.Text)
		require.Equal(t, sandboxButtons(status), got.Buttons)
		require.Contains(t, got.Plain, "Waiting: 3")
	}
}

// Cancel asks first, then stops the rest once; a broadcast all sent has
// nothing to cancel, and its status says so.
func TestCancelStopsWhatIsLeftOnce(t *testing.T) {
	t.Parallel()
	e := newBroadcastEnv(t)
	for _, u := range []int64{32001, 32002, 32003} {
		e.user(u, botui.Russian)
	}
	e.say(broadcastAdmin, "/broadcast lang:ru Привет!")
	bc := e.broadcast()
	require.Equal(t, 3, bc.Total)
	e.handle(e.pressUpdate(broadcastAdmin, e.last(broadcastAdmin).ID, botui.Callback(botui.ActionBroadcastSend, fmt.Sprint(bc.ID))))
	require.Len(t, e.queued(), 3)
	// The sender got the message to one, and gave up on another.
	e.exec(`INSERT INTO sent_messages (dedup_id, chat_id) VALUES ($1, 32001)`, bot.BroadcastDedupID(bc.ID, 32001))
	e.deadLetter(bc.ID, 32003)

	e.say(broadcastAdmin, fmt.Sprintf("/broadcast_cancel %d", bc.ID))
	question := e.last(broadcastAdmin)
	require.Equal(t, bot.BroadcastCancelQuestionScreen(botui.English, e.progress(bc.ID)).Text, question.Text)
	require.Nil(t, e.progress(bc.ID).CancelledAt, "asking cancels nothing")

	yes := e.pressUpdate(broadcastAdmin, question.ID, botui.Callback(botui.ActionBroadcastCancelConfirm, fmt.Sprint(bc.ID)))
	e.handle(yes)
	first := e.progress(bc.ID).CancelledAt
	require.NotNil(t, first)
	e.handle(yes) // redelivered
	e.handle(e.pressUpdate(broadcastAdmin, question.ID, botui.Callback(botui.ActionBroadcastCancelConfirm, fmt.Sprint(bc.ID))))
	p := e.progress(bc.ID)
	require.Equal(t, *first, *p.CancelledAt, "cancelled once")
	status := e.last(broadcastAdmin)
	require.Equal(t, bot.BroadcastStatusScreen(botui.English, p, bot.DefaultBroadcastRate).Text, status.Text)
	require.Contains(t, status.Plain, "Sent: 1\nBlocked the bot: 0\nFailed: 1\nCancelled: 1\nWaiting: 0\nRecipients: 3")
	require.Contains(t, status.Plain, ": 1 not sent.")
	require.False(t, status.HasButton(botui.Callback(botui.ActionBroadcastCancel, fmt.Sprint(bc.ID))), "nothing left to cancel")

	// A broadcast all sent.
	e.say(broadcastAdmin, "/broadcast all Hello")
	done := e.broadcast()
	e.handle(e.pressUpdate(broadcastAdmin, e.last(broadcastAdmin).ID, botui.Callback(botui.ActionBroadcastSend, fmt.Sprint(done.ID))))
	for _, u := range []int64{broadcastAdmin, 32001, 32002, 32003} {
		e.exec(`INSERT INTO sent_messages (dedup_id, chat_id) VALUES ($1, $2)`, bot.BroadcastDedupID(done.ID, u), u)
	}
	e.say(broadcastAdmin, fmt.Sprintf("/broadcast_cancel %d", done.ID))
	answer := e.last(broadcastAdmin)
	require.Contains(t, answer.Plain, "Sent: 4")
	require.Contains(t, answer.Plain, "All sent.")
	// An old question's Yes, pressed now, cancels nothing.
	e.handle(e.pressUpdate(broadcastAdmin, question.ID, botui.Callback(botui.ActionBroadcastCancelConfirm, fmt.Sprint(done.ID))))
	require.Nil(t, e.progress(done.ID).CancelledAt)
	require.Contains(t, e.last(broadcastAdmin).Plain, "All sent.")

	// Refresh shows the progress afresh.
	e.exec(`UPDATE users SET blocked_at = now() WHERE id = 32002`)
	e.handle(e.pressUpdate(broadcastAdmin, status.ID, botui.Callback(botui.ActionBroadcastStatus, fmt.Sprint(bc.ID))))
	require.Contains(t, e.message(broadcastAdmin, status.ID).Plain, "Sent: 1\nBlocked the bot: 1\nFailed: 1\nCancelled: 0\n")
}

// A draft cancelled from its preview is never sent, even if Send is
// pressed after; the preview's Cancel does not cancel a broadcast that was
// sent (here as a paid broadcast) meanwhile.
func TestADraftCancelledIsNeverSent(t *testing.T) {
	t.Parallel()
	e := newBroadcastEnv(t)
	e.user(33001, botui.English)
	e.say(broadcastAdmin, "/broadcast all One")
	one := e.broadcast()
	summary := e.last(broadcastAdmin)
	e.handle(e.pressUpdate(broadcastAdmin, summary.ID, botui.Callback(botui.ActionBroadcastDiscard, fmt.Sprint(one.ID))))
	require.Contains(t, e.last(broadcastAdmin).Plain, "Cancelled before it was sent")
	e.handle(e.pressUpdate(broadcastAdmin, summary.ID, botui.Callback(botui.ActionBroadcastSend, fmt.Sprint(one.ID))))
	require.Empty(t, e.queued())
	require.Equal(t, store.StateDraft, e.progress(one.ID).State)

	e.say(broadcastAdmin, "/broadcast all Two")
	two := e.broadcast()
	summary = e.last(broadcastAdmin)
	e.handle(e.pressUpdate(broadcastAdmin, summary.ID, botui.Callback(botui.ActionBroadcastSendPaid, fmt.Sprint(two.ID))))
	e.handle(e.pressUpdate(broadcastAdmin, summary.ID, botui.Callback(botui.ActionBroadcastDiscard, fmt.Sprint(two.ID))))
	require.Nil(t, e.progress(two.ID).CancelledAt)
	queued := e.queued()
	require.Len(t, queued, 2)
	for _, cmd := range queued {
		require.True(t, cmd.GetPaidBroadcast(), "sent as a paid broadcast, as pressed")
		require.Equal(t, two.ID, cmd.GetBroadcastId())
	}
	require.Contains(t, e.last(broadcastAdmin).Plain, "Paid broadcast")
}

// Mistakes are explained, and nothing is stored or queued; to anyone but an
// admin the commands and buttons are unknown.
func TestBadBroadcastsAreExplainedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	e := newBroadcastEnv(t)
	const stranger = 34001
	e.user(stranger, botui.English)
	fileID, _ := e.photo()
	for _, c := range []struct {
		message string
		photo   bool
		want    bot.Screen
	}{
		{"/broadcast everyone hello", false, bot.BroadcastUsageScreen(botui.English)},
		{"/broadcast lang:de hallo", false, bot.BroadcastUsageScreen(botui.English)},
		{"/broadcast all\n[Plans](plans)", false, bot.BroadcastUsageScreen(botui.English)},
		{"/broadcast all " + strings.Repeat("a", 4097), false,
			bot.BroadcastRefusedScreen(botui.English, &bot.BroadcastProblem{Reason: bot.RefusedTooLong, N: 4097, Limit: 4096})},
		{"/broadcast all " + strings.Repeat("a", 1025), true,
			bot.BroadcastRefusedScreen(botui.English, &bot.BroadcastProblem{Reason: bot.RefusedTooLong, N: 1025, Limit: 1024})},
		{"/broadcast all Hi\n[Site](http://example.com)", false,
			bot.BroadcastRefusedScreen(botui.English, &bot.BroadcastProblem{Reason: bot.RefusedButtonURL, Detail: "http://example.com"})},
		{"/broadcast all Hi\n" + strings.Repeat("[Plans](plans)", 9), true,
			bot.BroadcastRefusedScreen(botui.English, &bot.BroadcastProblem{Reason: bot.RefusedTooManyButtons, N: 9, Limit: 8})},
	} {
		if c.photo {
			e.sendPhoto(broadcastAdmin, fileID, c.message)
		} else {
			e.say(broadcastAdmin, c.message)
		}
		require.Equal(t, c.want.Text, e.last(broadcastAdmin).Text, c.message)
	}
	e.say(stranger, "/broadcast all Free VPN")
	e.sendPhoto(stranger, fileID, "/broadcast all Free VPN")
	e.say(stranger, "/broadcast_status 1")
	e.say(stranger, "/broadcast_cancel 1")
	for _, m := range e.sb.Messages(stranger) {
		require.Contains(t, m.Plain, "I only understand commands")
	}
	require.Len(t, e.sb.Messages(stranger), 4)
	require.Zero(t, e.count(`SELECT count(*) FROM broadcasts`))
	require.Empty(t, e.queued())

	e.say(broadcastAdmin, "/broadcast_status 999")
	require.Equal(t, bot.BroadcastNotFoundScreen(botui.English, 999).Text, e.last(broadcastAdmin).Text)
	e.say(broadcastAdmin, "/broadcast_cancel x")
	require.Equal(t, bot.BroadcastUsageScreen(botui.English).Text, e.last(broadcastAdmin).Text)
}

// What Telegram refuses in the preview it would refuse every recipient:
// the admin is told in Telegram's words, and the draft can never be sent.
func TestABroadcastTelegramRefusesIsNeverSent(t *testing.T) {
	t.Parallel()
	e := newBroadcastEnv(t)
	e.sendPhoto(broadcastAdmin, "AgACAgIAAxkBAAIBnope", "/broadcast all Look!")
	bc := e.broadcast()
	require.NotNil(t, bc.CancelledAt, "the draft is dropped")
	require.Equal(t, bot.BroadcastPreviewRefusedScreen(botui.English, "Bad Request: wrong file identifier/HTTP URL specified").Text,
		e.last(broadcastAdmin).Text)
	_, confirmed, _, err := e.users.ConfirmBroadcast(e.ctx, bc.ID, false)
	require.NoError(t, err)
	require.False(t, confirmed)
	require.Empty(t, e.queued())
}
