package telegram_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/telegram"
)

func TestBotID(t *testing.T) {
	t.Parallel()
	id, err := telegram.BotID("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
	require.NoError(t, err)
	require.Equal(t, int64(123456789), id)

	for _, bad := range []string{"", "123456789", "123456789:", ":AAH", "abc:AAH", "-5:AAH", "0:AAH", "99999999999999999999:AAH", "123:AA H", "123:AA/../x", "123:a%2F"} {
		_, err := telegram.BotID(bad)
		require.ErrorIs(t, err, telegram.ErrMalformedToken, bad)
		if bad != "" {
			require.NotContains(t, err.Error(), bad, "the error must not repeat the token")
		}
	}
}

func TestSettingsRefuseWhatCannotWorkWithoutQuotingTheToken(t *testing.T) {
	t.Parallel()
	require.NoError(t, telegram.Settings{Token: "123:abc", APIURL: "http://127.0.0.1:8080"}.Validate())
	err := telegram.DefaultSettings().Validate()
	require.ErrorContains(t, err, "TELEGRAM_BOT_TOKEN is required")
	err = telegram.Settings{Token: "no-colon-secret", APIURL: "ftp://api"}.Validate()
	require.ErrorContains(t, err, "TELEGRAM_BOT_TOKEN: malformed")
	require.ErrorContains(t, err, `TELEGRAM_API_URL="ftp://api": not an http(s) URL`)
	require.NotContains(t, err.Error(), "no-colon-secret")
}
