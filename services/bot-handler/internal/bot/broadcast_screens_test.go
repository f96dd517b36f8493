package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// The broadcast screens, in both languages, pinned in testdata/broadcast as
// TestScreensMatchGoldenFiles pins the others (-update rewrites them).
func TestBroadcastScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	created := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	confirmed := created.Add(time.Minute)
	draft := store.Broadcast{ID: 12, AdminID: 777, Segment: store.SegmentActive, State: store.StateDraft, Total: 1234,
		CreatedAt: created, Text: "New servers <b>in Amsterdam</b> & Tokyo!\nRenew now: " + strings.Repeat("faster ", 20)}
	sending := draft
	sending.State, sending.ConfirmedAt = store.StateSending, &confirmed
	paid := sending
	paid.Paid = true
	cancelledAt := confirmed.Add(10 * time.Minute)
	cancelled := sending
	cancelled.CancelledAt = &cancelledAt
	discarded := draft
	discarded.CancelledAt = &cancelledAt
	at := func(d time.Duration) *time.Time { t := confirmed.Add(d); return &t }

	screens := map[string]func(lang string) Screen{
		"usage": BroadcastUsageScreen,
		"too_long": func(l string) Screen {
			return BroadcastRefusedScreen(l, &BroadcastProblem{Reason: RefusedTooLong, N: 5000, Limit: 4096})
		},
		"too_many": func(l string) Screen {
			return BroadcastRefusedScreen(l, &BroadcastProblem{Reason: RefusedTooManyButtons, N: 9, Limit: 8})
		},
		"bad_url": func(l string) Screen {
			return BroadcastRefusedScreen(l, &BroadcastProblem{Reason: RefusedButtonURL, Detail: "http://x.com/<a>"})
		},
		"no_label": func(l string) Screen {
			return BroadcastRefusedScreen(l, &BroadcastProblem{Reason: RefusedButtonLabel, Detail: "plans"})
		},
		"preview": func(l string) Screen { return BroadcastPreviewScreen(l, draft, 25) },
		"preview_nobody": func(l string) Screen {
			return BroadcastPreviewScreen(l, store.Broadcast{ID: 13, Segment: store.SegmentLangRU}, 25)
		},
		"preview_slow": func(l string) Screen {
			return BroadcastPreviewScreen(l, store.Broadcast{ID: 14, Segment: store.SegmentNeverPaid, Total: 200000}, 12.5)
		},
		"preview_refused": func(l string) Screen { return BroadcastPreviewRefusedScreen(l, "Bad Request: BUTTON_URL_INVALID") },
		"status_draft": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: draft}, 25)
		},
		"status_discarded": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: discarded}, 25)
		},
		"status_queued": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: sending, Blocked: 2}, 25)
		},
		"status_sending": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: sending, Sent: 500, Blocked: 12, Failed: 3, LastSentAt: at(40 * time.Second)}, 25)
		},
		"status_paid": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: paid}, 25)
		},
		"status_cancelled": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: cancelled, Sent: 500, Blocked: 12, LastSentAt: at(40 * time.Second)}, 25)
		},
		"status_all_sent": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: sending, Sent: 1230, Blocked: 4, LastSentAt: at(100 * time.Second)}, 25)
		},
		"status_short": func(l string) Screen {
			return BroadcastStatusScreen(l, store.BroadcastProgress{Broadcast: store.Broadcast{ID: 15, Segment: store.SegmentTrial,
				State: store.StateSending, Total: 2, CreatedAt: created, ConfirmedAt: &confirmed, Text: "Come back"}, Sent: 1, Blocked: 1,
				LastSentAt: at(time.Second)}, 25)
		},
		"cancel_question": func(l string) Screen {
			return BroadcastCancelQuestionScreen(l, store.BroadcastProgress{Broadcast: sending, Sent: 500, Blocked: 12})
		},
		"not_found": func(l string) Screen { return BroadcastNotFoundScreen(l, 99) },
	}
	requireGolden(t, "testdata/broadcast", screens)
}

func TestBroadcastArgumentsKeepTheTextAsTyped(t *testing.T) {
	t.Parallel()
	for message, want := range map[string][2]string{
		"/broadcast all Hello":                           {"all", "Hello"},
		"/broadcast ACTIVE  Renew <now>\n\nSecond line ": {"active", "Renew <now>\n\nSecond line"},
		"/broadcast@vpnbot_test_bot expired\nCome back":  {"expired", "Come back"},
		"/broadcast lang:RU Привет":                      {"lang:ru", "Привет"},
		"/broadcast all":                                 {"all", ""},
		"/broadcast":                                     {"", ""},
	} {
		segment, text := broadcastArgs(message)
		require.Equal(t, want, [2]string{segment, text}, "message %q", message)
	}
}

// The last lines of a broadcast that are all buttons are its keyboard, a
// line a row; a link in the middle of the text stays text.
func TestBroadcastButtonsAreTheLastLines(t *testing.T) {
	t.Parallel()
	plans := store.BroadcastButton{Text: "Plans", Callback: botui.NoticeCallback(botui.ActionPlans, "")}
	in, problem := parseBroadcast("/broadcast trial Hi [not a](https://button.example)\n\n"+
		"[Site](https://example.com/a?b=c) [Plans](plans)\n  [Channel](tg://resolve?domain=vpn)  \n", false)
	require.Nil(t, problem)
	require.Equal(t, broadcastInput{segment: store.SegmentTrial, text: "Hi [not a](https://button.example)",
		buttons: [][]store.BroadcastButton{
			{{Text: "Site", URL: "https://example.com/a?b=c"}, plans},
			{{Text: "Channel", URL: "tg://resolve?domain=vpn"}},
		}}, in)

	in, problem = parseBroadcast("/broadcast all Hello", false)
	require.Nil(t, problem)
	require.Nil(t, in.buttons)

	for message, want := range map[string]BroadcastProblem{
		"/broadcast everyone Hi":                      {Reason: RefusedUsage},
		"/broadcast lang:de Hi":                       {Reason: RefusedUsage},
		"/broadcast all [Site](https://example.com)":  {Reason: RefusedUsage},
		"/broadcast all Hi\n[Site](http://x.com)":     {Reason: RefusedButtonURL, Detail: "http://x.com"},
		"/broadcast all Hi\n[Site](javascript:x)":     {Reason: RefusedButtonURL, Detail: "javascript:x"},
		"/broadcast all Hi\n[Site](https:///nohost)":  {Reason: RefusedButtonURL, Detail: "https:///nohost"},
		"/broadcast all Hi\n[ ](plans)":               {Reason: RefusedButtonLabel, Detail: "plans"},
		"/broadcast all " + strings.Repeat("я", 4097): {Reason: RefusedTooLong, N: 4097, Limit: MaxBroadcastText},
		"/broadcast all Hi\n" + strings.Repeat("[B](plans) ", 5) + "\n" + strings.Repeat("[B](plans) ", 4): {
			Reason: RefusedTooManyButtons, N: 9, Limit: MaxBroadcastButtons},
	} {
		_, problem := parseBroadcast(message, false)
		require.NotNil(t, problem, message)
		require.Equal(t, want, *problem, message)
	}
	// A photo's caption holds less than a message.
	_, problem = parseBroadcast("/broadcast all "+strings.Repeat("a", 1025), true)
	require.Equal(t, &BroadcastProblem{Reason: RefusedTooLong, N: 1025, Limit: MaxBroadcastCaption}, problem)
	_, problem = parseBroadcast("/broadcast all "+strings.Repeat("a", 1025), false)
	require.Nil(t, problem)
}
