package notify_test

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the messages as they are now")

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// render writes a command as the user and the sender see it: its envelope,
// whether it has a photo, the text, then one line per keyboard row.
func render(m *vpnbotv1.SendMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dedup: %s\nchat: %d\npriority: %s\nparse mode: %s\n", m.GetDedupId(), m.GetChatId(), m.GetPriority(), m.GetParseMode())
	if len(m.GetPhoto()) > 0 {
		b.WriteString("photo: PNG\n")
	}
	b.WriteString("---\n")
	b.WriteString(m.GetText())
	b.WriteString("\n---\n")
	for _, row := range m.GetRows() {
		for i, btn := range row.GetButtons() {
			if i > 0 {
				b.WriteString(" | ")
			}
			app := ""
			if btn.GetWebAppUrl() != "" {
				app = "app " + btn.GetWebAppUrl()
			}
			fmt.Fprintf(&b, "[%s → %s%s%s]", btn.GetText(), btn.GetCallbackData(), btn.GetUrl(), app)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// requireGolden compares the message, rendered, with the golden file
// testdata/golden/<name>.txt, or with -update rewrites the file.
func requireGolden(t *testing.T, name string, m *vpnbotv1.SendMessage) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	got := render(m)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file for %s: run go test ./notify -update", name)
	require.Equal(t, string(want), got, "message %s differs from %s (go test ./notify -update rewrites it)", name, path)
}

func TestMessagesMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	messages := map[string]func(lang string) *vpnbotv1.SendMessage{
		"key_ready_outline": func(l string) *vpnbotv1.SendMessage {
			m, err := notify.KeyReady(notify.Key{Lang: l, ChatID: 1001, SubscriptionID: 5, URL: "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1", Expires: expires})
			require.NoError(t, err)
			return m
		},
		"key_ready_remnawave": func(l string) *vpnbotv1.SendMessage {
			m, err := notify.KeyReady(notify.Key{Lang: l, ChatID: 1002, SubscriptionID: 6, URL: "https://panel.example.com/api/sub/abc&def", Expires: expires})
			require.NoError(t, err)
			return m
		},
		"key_ready_location": func(l string) *vpnbotv1.SendMessage {
			m, err := notify.KeyReady(notify.Key{Lang: l, ChatID: 1004, SubscriptionID: 7, URL: "https://fra.example.com/api/sub/xyz", Location: "Frankfurt <1>", Expires: expires})
			require.NoError(t, err)
			return m
		},
		"key_ready_app": func(l string) *vpnbotv1.SendMessage {
			m, err := notify.KeyReady(notify.Key{Lang: l, ChatID: 1005, SubscriptionID: 8, URL: "https://fra.example.com/api/sub/xyz", Expires: expires,
				App: "https://app.example.com/"})
			require.NoError(t, err)
			return m
		},
		"payment_received": func(l string) *vpnbotv1.SendMessage { return notify.PaymentReceived(l, 1003, 17, expires) },
	}

	dir := filepath.Join("testdata", "golden")
	for name, message := range messages {
		for _, lang := range []string{botui.English, botui.Russian} {
			m := message(lang)
			require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
			requireGolden(t, name+"."+lang, m)
		}
	}
	if !*update {
		// The folder is shared with the workers' messages: count only this
		// test's families.
		var files []string
		for _, family := range []string{"key_ready_*", "payment_received.*"} {
			matched, err := filepath.Glob(filepath.Join(dir, family))
			require.NoError(t, err)
			files = append(files, matched...)
		}
		require.Len(t, files, len(messages)*2, "golden files of messages that no longer exist: %v", files)
	}
}

func TestKeyReadyCarriesTheKeyAsAQRCodePNG(t *testing.T) {
	t.Parallel()
	key := "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1"
	m, err := notify.KeyReady(notify.Key{Lang: "en", ChatID: 1001, SubscriptionID: 5, URL: key, Expires: time.Now()})
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(m.GetPhoto(), pngMagic), "the photo is a PNG")
	// The header alone (no pixel decoding) says it is drawn at the size
	// phones scan easily.
	cfg, err := png.DecodeConfig(bytes.NewReader(m.GetPhoto()))
	require.NoError(t, err)
	require.Equal(t, [2]int{512, 512}, [2]int{cfg.Width, cfg.Height})
	require.Contains(t, m.GetText(), "<code>"+key+"</code>")

	other, err := notify.KeyReady(notify.Key{Lang: "en", ChatID: 1001, SubscriptionID: 5, URL: key + "2", Expires: time.Now()})
	require.NoError(t, err)
	require.NotEqual(t, m.GetDedupId(), other.GetDedupId(), "a new key for the subscription is a new message")
	again, err := notify.KeyReady(notify.Key{Lang: "ru", ChatID: 1001, SubscriptionID: 5, URL: key, Expires: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, m.GetDedupId(), again.GetDedupId(), "the same key is sent once, whatever else changed")
}

func TestKeyReadyRefusesAKeyTooLongForACaption(t *testing.T) {
	t.Parallel()
	_, err := notify.KeyReady(notify.Key{Lang: "en", ChatID: 1001, SubscriptionID: 5, URL: "https://panel.example.com/" + strings.Repeat("a", 1000), Expires: time.Now()})
	require.ErrorIs(t, err, notify.ErrKeyTooLong)
}

// requireOpens checks that m's first button opens action's screen, below
// the notice rather than in its place.
func requireOpens(t *testing.T, m *vpnbotv1.SendMessage, action string) {
	t.Helper()
	got, _, notice := botui.ParseCallback(m.GetRows()[0].GetButtons()[0].GetCallbackData())
	require.Equal(t, action, got, "the first button's action")
	require.True(t, notice, "a notice's button opens its screen as a new message, so the notice stays")
}
