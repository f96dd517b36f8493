package vpnbotv1_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// The sender must send exactly what a worker published: the keyboard's rows
// in order, the photo's bytes, and the priority that decides which message
// goes first.
func TestSendMessageRoundTrip(t *testing.T) {
	t.Parallel()
	sent := &vpnbotv1.SendMessage{
		DedupId:   "reminder:17:3d",
		ChatId:    -1_001_234_567_890,
		Text:      "<b>Your VPN expires in 3 days</b>",
		ParseMode: "HTML",
		Rows: []*vpnbotv1.ButtonRow{
			{Buttons: []*vpnbotv1.Button{{Text: "Renew", CallbackData: "buy:m1"}, {Text: "Plans", CallbackData: "plans"}}},
			{Buttons: []*vpnbotv1.Button{{Text: "Help", Url: "https://example.org/help"}}},
		},
		Photo:     []byte{0x89, 'P', 'N', 'G', 0, 0xff},
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		CreatedAt: timestamppb.New(time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)),
	}

	wire, err := proto.Marshal(sent)
	require.NoError(t, err)

	var got vpnbotv1.SendMessage
	require.NoError(t, proto.Unmarshal(wire, &got))
	require.True(t, proto.Equal(sent, &got), "sent %v, got %v", sent, &got)
	require.Equal(t, "buy:m1", got.GetRows()[0].GetButtons()[0].GetCallbackData())
	require.Equal(t, "https://example.org/help", got.GetRows()[1].GetButtons()[0].GetUrl())
	require.Equal(t, sent.GetPhoto(), got.GetPhoto())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, got.GetPriority())
}

// Lower numbers are more urgent, so priorities compare as DESIGN orders them
// (transactional > reminder > broadcast); renumbering them would break that.
func TestPriorityNumbersOrderTheBacklog(t *testing.T) {
	t.Parallel()
	require.Less(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, vpnbotv1.Priority_PRIORITY_REMINDER)
	require.Less(t, vpnbotv1.Priority_PRIORITY_REMINDER, vpnbotv1.Priority_PRIORITY_BROADCAST)
	require.Equal(t, "PRIORITY_UNSPECIFIED", vpnbotv1.Priority(0).String(), "a command without a priority reads as unspecified")
}
