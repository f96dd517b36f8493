package notify_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/notify"
)

// Keys of the lengths the panels hand out, and one near the caption's limit
// (the largest symbol KeyReady draws).
var qrKeys = map[string]string{
	"outline":   "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzM2NyM3RwYXNzd29yZDEyMzQ1Njc4@vpn.example.com:12345/?outline=1",
	"remnawave": "https://panel.example.com/api/sub/6f1c2d3e4b5a69788796a5b4c3d2e1f0",
	"long":      "https://panel.example.com/" + strings.Repeat("a", 700),
}

// TestKeyReadyQRCodeShowsTheKeySymbol decodes the photo and reads it as a
// scanner would, at the centre of every module: it must show, module for
// module, the QR symbol of the key (with its white quiet zone), on a
// 512 × 512 image whose modules are all about the same size.
func TestKeyReadyQRCodeShowsTheKeySymbol(t *testing.T) {
	t.Parallel()
	for name, key := range qrKeys {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := notify.KeyReady(notify.Key{Lang: "en", ChatID: 1001, SubscriptionID: 5, URL: key, Expires: time.Now()})
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(m.GetPhoto()))
			require.NoError(t, err)
			require.Equal(t, image.Rect(0, 0, 512, 512), img.Bounds())

			q, err := qrcode.New(key, qrcode.Medium)
			require.NoError(t, err)
			want := q.Bitmap()
			n := len(want)
			for i, line := range want {
				for j, dark := range line {
					x, y := (2*j+1)*512/(2*n), (2*i+1)*512/(2*n)
					require.Equal(t, dark, isBlack(t, img.At(x, y)), "module (%d, %d) of %d at pixel (%d, %d)", j, i, n, x, y)
				}
			}
			// The corners are the quiet zone's: the symbol fills the image.
			require.False(t, isBlack(t, img.At(0, 0)))
			require.False(t, isBlack(t, img.At(511, 511)))
		})
	}
}

// isBlack tells the two colours of the QR code apart, failing on any other.
func isBlack(t *testing.T, c color.Color) bool {
	t.Helper()
	g := color.GrayModel.Convert(c).(color.Gray).Y
	require.True(t, g == 0 || g == 255, "gray level %d is neither black nor white", g)
	return g == 0
}

// BenchmarkQRCode compares the key's QR code as KeyReady draws it with
// qrcode.Encode at the same size, which it replaced (the
// activation worker draws one per key).
func BenchmarkQRCode(b *testing.B) {
	key := qrKeys["outline"]
	b.Run("KeyReady", func(b *testing.B) {
		for range b.N {
			if _, err := notify.KeyReady(notify.Key{Lang: "en", ChatID: 1001, SubscriptionID: 5, URL: key, Expires: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("qrcode.Encode", func(b *testing.B) {
		for range b.N {
			if _, err := qrcode.Encode(key, qrcode.Medium, 512); err != nil {
				b.Fatal(err)
			}
		}
	})
}
