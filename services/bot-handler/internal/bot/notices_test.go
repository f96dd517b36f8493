package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// The workers write buttons under their messages that the bot-handler
// answers, maybe a release later: pressing each must open the screen its
// label names, as the bot itself draws that screen. Each press is by a user
// who started the bot and has nothing else yet.
func TestWorkersButtonsOpenTheScreensTheyName(t *testing.T) {
	t.Parallel()
	const token = "123456:TEST-notices"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgdbtest.New(t)
	_, js := bustest.Connect(t, bustest.NewServer(t).URL())
	require.NoError(t, bus.DeclareStreams(ctx, js, events.StreamConfig()))
	sb := sandboxtg.New(sandboxtg.Config{Token: token, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	users, sh := store.New(db.Pool), shop.New(db.Pool, shop.Config{})
	client, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: token})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	b, err := bot.New(ctx, bot.Config{
		Client: client, Users: users, Shop: sh, Activations: bot.StreamActivations{JS: js},
		Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	plans, err := sh.Plans(ctx)
	require.NoError(t, err)

	// The screens a worker's button may name, as the bot draws them.
	screens := map[string]func(lang string, user int64) bot.Screen{
		"subscription": func(lang string, _ int64) bot.Screen {
			return bot.SubscriptionScreen(lang, bot.SubscriptionView{Now: time.Now()})
		},
		"menu":  func(lang string, _ int64) bot.Screen { return bot.MenuScreen(lang, "") },
		"plans": func(lang string, _ int64) bot.Screen { return bot.PlansScreen(lang, plans) },
		"trial": func(lang string, user int64) bot.Screen {
			sub, err := sh.RunningTrial(ctx, user)
			require.NoError(t, err)
			require.NotNil(t, sub, "user %d pressed for the trial but has none", user)
			return bot.TrialStartedScreen(lang, sub.ExpiresAt, false)
		},
	}
	expires := time.Now().Add(30 * time.Hour).Truncate(time.Second)
	notices := []struct {
		name      string
		buildFunc func(lang string, chat int64) *vpnbotv1.SendMessage
		// opens names the screen of each button, in order.
		opens []string
	}{
		{"key ready", func(lang string, chat int64) *vpnbotv1.SendMessage {
			m, err := notify.KeyReady(notify.Key{Lang: lang, ChatID: chat, SubscriptionID: 5, URL: "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1", Expires: expires})
			require.NoError(t, err)
			return m
		}, []string{"subscription", "menu"}},
		{"payment received", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.PaymentReceived(lang, chat, 17, expires)
		}, []string{"subscription", "menu"}},
		{"key revoked", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.KeyRevoked(lang, chat, 5, false, expires)
		}, []string{"plans", "menu"}},
		{"paid period ended", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.PaidEnded(lang, chat, 5, expires, expires.Add(time.Hour))
		}, []string{"plans", "menu"}},
		{"reminder", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.Reminder(lang, chat, 5, 24*time.Hour, expires, expires.Add(-23*time.Hour))
		}, []string{"plans"}},
		{"trial ends soon, first", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonFirst(lang, chat, 5, expires, 24*time.Hour)
		}, []string{"plans", "menu"}},
		{"trial ends soon, last", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonLast(lang, chat, 5, expires, time.Hour)
		}, []string{"plans", "menu"}},
		{"trial ended", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.TrialEnded(lang, chat, 5, expires, expires.Add(time.Hour))
		}, []string{"plans", "menu"}},
		{"trial never started", func(lang string, chat int64) *vpnbotv1.SendMessage {
			return notify.TrialNeverStarted(lang, chat, chat)
		}, []string{"trial", "menu"}},
	}

	user, pressed := int64(1000), 0
	for _, n := range notices {
		for _, lang := range []string{botui.English, botui.Russian} {
			var buttons []*vpnbotv1.Button
			for _, row := range n.buildFunc(lang, user).GetRows() {
				buttons = append(buttons, row.GetButtons()...)
			}
			require.Len(t, buttons, len(n.opens), "%s (%s): the buttons the test expects", n.name, lang)
			for i, btn := range buttons {
				user++
				_, err := users.UpsertStartingUser(ctx, store.StartingUser{ID: user, ChatID: user, FirstName: "Alice", LanguageCode: lang, Language: lang})
				require.NoError(t, err)
				sb.SetUser(sandboxtg.User{ID: user, FirstName: "Alice", LanguageCode: lang})
				// The notice reaches the chat as the sender sends it; its
				// button opens the screen as a new message below it, and the
				// notice stays as it was.
				notice := deliver(t, sb, client, n.buildFunc(lang, user))
				updateID := sb.PressButton(user, notice.ID, btn.GetCallbackData())
				_, err = b.Process(ctx, nextUpdate(t, sb, token, updateID))
				require.NoError(t, err, "%s (%s): pressing %q", n.name, lang, btn.GetText())
				_, answered := sb.CallbackAnswer(updateID)
				require.True(t, answered, "%s (%s): the press of %q was answered", n.name, lang, btn.GetText())

				want := screens[n.opens[i]](lang, user)
				got := sb.Messages(user)
				require.Len(t, got, 2, "%s (%s): pressing %q showed one screen below the notice", n.name, lang, btn.GetText())
				require.Equal(t, notice, got[0], "%s (%s): the notice stays as it was", n.name, lang)
				require.Equal(t, want.Text, got[1].Text, "%s (%s): %q opens %s", n.name, lang, btn.GetText(), n.opens[i])
				require.Equal(t, sandboxButtons(want), got[1].Buttons, "%s (%s): %q opens %s", n.name, lang, btn.GetText(), n.opens[i])
				pressed++
			}
		}
	}
	require.Equal(t, 2*17, pressed, "every button of every notice was pressed, in both languages")
}

// deliver sends a worker's message to its chat as the sender does (a photo
// with its caption, or a text, under its keyboard) and returns it as the
// chat shows it.
func deliver(t *testing.T, sb *sandboxtg.Server, client *telegram.Client, m *vpnbotv1.SendMessage) sandboxtg.Message {
	t.Helper()
	var rows [][]map[string]string
	for _, r := range m.GetRows() {
		var row []map[string]string
		for _, b := range r.GetButtons() {
			row = append(row, map[string]string{"text": b.GetText(), "callback_data": b.GetCallbackData()})
		}
		rows = append(rows, row)
	}
	params := map[string]any{"chat_id": m.GetChatId(), "parse_mode": m.GetParseMode(),
		"reply_markup": map[string]any{"inline_keyboard": rows}}
	var sent struct {
		MessageID int64 `json:"message_id"`
	}
	var err error
	if len(m.GetPhoto()) > 0 {
		params["caption"] = m.GetText()
		err = client.Upload(context.Background(), "sendPhoto", params, "photo", m.GetPhoto(), &sent)
	} else {
		params["text"] = m.GetText()
		err = client.Call(context.Background(), "sendMessage", params, &sent)
	}
	require.NoError(t, err)
	msgs := sb.Messages(m.GetChatId())
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.Equal(t, sent.MessageID, last.ID)
	return last
}

// nextUpdate reads the update updateID from the sandbox, as the gateway does.
func nextUpdate(t *testing.T, sb *sandboxtg.Server, token string, updateID int64) tele.Update {
	t.Helper()
	body, err := json.Marshal(map[string]any{"offset": updateID, "limit": 1})
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Post(sb.URL()+"/bot"+token+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var got struct {
		Result []tele.Update `json:"result"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Result, 1, "update %d", updateID)
	require.EqualValues(t, updateID, got.Result[0].ID)
	return got.Result[0]
}

// sandboxButtons is a screen's keyboard as the chat shows it.
func sandboxButtons(s bot.Screen) [][]sandboxtg.Button {
	var rows [][]sandboxtg.Button
	for _, row := range s.Buttons {
		var r []sandboxtg.Button
		for _, b := range row {
			r = append(r, sandboxtg.Button{Text: b.Text, Data: b.Data, URL: b.URL})
		}
		rows = append(rows, r)
	}
	return rows
}
