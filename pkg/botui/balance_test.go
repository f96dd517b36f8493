package botui_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
)

func TestBalanceCallbacksReadBackAsTheirActions(t *testing.T) {
	t.Parallel()
	for _, action := range []string{botui.ActionBalance, botui.ActionHistory} {
		for _, build := range []func(string, string) string{botui.Callback, botui.NoticeCallback} {
			gotAction, gotArg, _ := botui.ParseCallback(build(action, ""))
			require.Equal(t, [2]string{action, ""}, [2]string{gotAction, gotArg}, "data %q", action)
		}
	}
	longest := strings.Repeat("p", botui.MaxCallbackData-len(botui.ActionPayCrypto)-1)
	for _, action := range []string{botui.ActionTopUpCrypto, botui.ActionTopUpStars, botui.ActionPayBalanceUSD, botui.ActionPayBalanceXTR} {
		for _, arg := range []string{"500", "250", "m1", longest} {
			for _, build := range []func(string, string) string{botui.Callback, botui.NoticeCallback} {
				data := build(action, arg)
				require.LessOrEqual(t, len(data), botui.MaxCallbackData, "data %q", data)
				gotAction, gotArg, _ := botui.ParseCallback(data)
				require.Equal(t, [2]string{action, arg}, [2]string{gotAction, gotArg}, "data %q", data)
			}
		}
	}
	// Neither a plan's pay buttons nor the balance are mistaken for them.
	for data, want := range map[string][2]string{
		"pay:cp:m1": {botui.ActionPayCrypto, "m1"},
		"pay:st:m1": {botui.ActionPayStars, "m1"},
		"bal:":      {"", ""},
		"top:":      {"", ""},
		"hist:1":    {"", ""},
	} {
		action, arg, _ := botui.ParseCallback(data)
		require.Equal(t, want, [2]string{action, arg}, "data %q", data)
	}
}

func TestAmountsReadAsMoneyAndStars(t *testing.T) {
	t.Parallel()
	for want, got := range map[string]string{
		"$12.50":   botui.Amount("USD", 1250),
		"$0.05":    botui.Amount("USD", 5),
		"$0.00":    botui.Amount("USD", 0),
		"−$4.99":   botui.Amount("USD", -499),
		"300 ⭐":    botui.Amount("XTR", 300),
		"−250 ⭐":   botui.Amount("XTR", -250),
		"7 EUR":    botui.Amount("EUR", 7),
		"$1000.00": botui.Amount("USD", 100_000),
	} {
		require.Equal(t, want, got)
	}
}
