package telegram_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestRenderIsWhatTheSandboxMakesOfTheBotsText(t *testing.T) {
	t.Parallel()
	plain, entities, err := telegram.Render("🔑 <b>key</b>: <code>ss://a&amp;b</code>", "HTML")
	require.NoError(t, err)
	require.Equal(t, "🔑 key: ss://a&b", plain)
	require.Equal(t, []telegram.Entity{{Type: "bold", Offset: 3, Length: 3}, {Type: "code", Offset: 8, Length: 8}}, entities,
		"offsets in UTF-16 code units: the emoji counts two")

	plain, entities, err = telegram.Render("<b>as written</b>", "")
	require.NoError(t, err)
	require.Equal(t, "<b>as written</b>", plain)
	require.Empty(t, entities)

	_, _, err = telegram.Render("<b>unclosed", "HTML")
	require.EqualError(t, err, `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`)
	_, _, err = telegram.Render("x", "BBCode")
	require.EqualError(t, err, "Bad Request: unsupported parse_mode")
}
