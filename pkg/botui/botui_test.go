package botui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
)

func TestCallbackDataReadsBackAsTheActionItWasBuiltFor(t *testing.T) {
	t.Parallel()
	for _, action := range []string{botui.ActionMenu, botui.ActionTrial, botui.ActionPlans, botui.ActionSubscription,
		botui.ActionLanguages, botui.ActionHelp, botui.ActionRelink, botui.ActionRelinkConfirm, botui.ActionLocations, botui.ActionInvite,
		botui.ActionAutoRenewOn, botui.ActionAutoRenewOff, botui.ActionAutoRenewPlans, botui.ActionAutoRenewTopUp} {
		gotAction, gotArg, notice := botui.ParseCallback(botui.Callback(action, ""))
		require.Equal(t, [2]string{action, ""}, [2]string{gotAction, gotArg}, "data %q", action)
		require.False(t, notice, "data %q", action)
		gotAction, gotArg, notice = botui.ParseCallback(botui.NoticeCallback(action, ""))
		require.Equal(t, [2]string{action, ""}, [2]string{gotAction, gotArg}, "a notice's %q", action)
		require.True(t, notice, "a notice's %q", action)
	}
	// The longest plan id that fits, under a notice's mark too, is the limit
	// of every argument.
	longest := strings.Repeat("p", botui.MaxCallbackData-len(botui.ActionPayCrypto)-1)
	for _, action := range []string{botui.ActionPlan, botui.ActionPayCrypto, botui.ActionPayStars, botui.ActionSetup,
		botui.ActionSetLanguage, botui.ActionSetLocation, botui.ActionAutoRenewPlan, botui.ActionChannelCheck} {
		for _, arg := range []string{"m1", "ios", botui.Russian, "🇩🇪 Frankfurt", longest, ""} {
			for _, build := range []func(string, string) string{botui.Callback, botui.NoticeCallback} {
				data := build(action, arg)
				require.LessOrEqual(t, len(data), botui.MaxCallbackData, "data %q", data)
				gotAction, gotArg, _ := botui.ParseCallback(data)
				require.Equal(t, [2]string{action, arg}, [2]string{gotAction, gotArg}, "data %q", data)
			}
		}
	}
	// An action that is the start of another is not mistaken for it, nor
	// the other way round.
	for data, want := range map[string][2]string{
		"plans":      {botui.ActionPlans, ""},
		"plan:s":     {botui.ActionPlan, "s"},
		"lang":       {botui.ActionLanguages, ""},
		"lang:ru":    {botui.ActionSetLanguage, "ru"},
		"relink":     {botui.ActionRelink, ""},
		"relink:yes": {botui.ActionRelinkConfirm, ""},
		"loc":        {botui.ActionLocations, ""},
		"loc:":       {botui.ActionSetLocation, ""},
		"loc:loc":    {botui.ActionSetLocation, "loc"},
		"ar:plans":   {botui.ActionAutoRenewPlans, ""},
		"ar:p:lans":  {botui.ActionAutoRenewPlan, "lans"},
		"bc:cx:12":   {botui.ActionBroadcastCancel, "12"},
		"bc:cxy:12":  {botui.ActionBroadcastCancelConfirm, "12"},
		"chan:trial": {botui.ActionChannelCheck, "trial"},
		// Buttons of no action this bot knows, such as an older version's.
		"":             {"", ""},
		"subscription": {"", ""},
		"menu:x":       {"", ""},
		"pay:":         {"", ""},
		"plan":         {"", ""},
		"relink:":      {"", ""},
		"relink:no":    {"", ""},
	} {
		action, arg, _ := botui.ParseCallback(data)
		require.Equal(t, want, [2]string{action, arg}, "data %q", data)
	}
}

// The longest location label a button carries fits under a notice too.
func TestALocationOfMaxLocationFitsAButton(t *testing.T) {
	t.Parallel()
	label := strings.Repeat("x", botui.MaxLocation)
	data := botui.NoticeCallback(botui.ActionSetLocation, label)
	require.Len(t, data, botui.MaxCallbackData)
	action, arg, notice := botui.ParseCallback(data)
	require.Equal(t, [2]string{botui.ActionSetLocation, label}, [2]string{action, arg})
	require.True(t, notice)
}

// A choice is offered of two labelled locations or more, in their order.
func TestOfferedLocationsAreTheLabelledOnesWhenThereIsAChoice(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"Frankfurt", "Amsterdam"}, botui.Offered([]string{"Frankfurt", "", "Amsterdam", "Frankfurt"}))
	require.Nil(t, botui.Offered([]string{"Frankfurt", "", "Frankfurt"}), "one location: nothing to choose")
	require.Nil(t, botui.Offered([]string{""}))
	require.Nil(t, botui.Offered(nil))
}

func TestLanguageFollowsTheTelegramClientAndFallsBackToEnglish(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"ru": botui.Russian, "ru-RU": botui.Russian, "RU": botui.Russian, " ru ": botui.Russian,
		"en": botui.English, "en-US": botui.English, "de": botui.English, "uk": botui.English, "": botui.English,
	} {
		require.Equal(t, want, botui.Language(code), "code %q", code)
		require.Equal(t, want, botui.TextsIn(code).Lang, "code %q", code)
	}
}

func TestDatesReadTheSameForEveryoneInUTC(t *testing.T) {
	t.Parallel()
	ts := time.Date(2027, time.May, 9, 3, 7, 0, 0, time.FixedZone("MSK", 3*3600))
	require.Equal(t, "9 May 2027 00:07 UTC", botui.TextsIn(botui.English).Date(ts))
	require.Equal(t, "9 мая 2027 00:07 UTC", botui.TextsIn(botui.Russian).Date(ts))
	require.Equal(t, "31 Dec 2026 23:59 UTC", botui.TextsIn(botui.English).Date(time.Date(2026, time.December, 31, 23, 59, 0, 0, time.UTC)))
}

func TestCountsTakeTheFormTheNumberWants(t *testing.T) {
	t.Parallel()
	days := botui.RussianNoun("день", "дня", "дней")
	for n, want := range map[int]string{1: "1 день", 2: "2 дня", 4: "4 дня", 5: "5 дней", 11: "11 дней", 12: "12 дней",
		14: "14 дней", 21: "21 день", 22: "22 дня", 30: "30 дней", 101: "101 день", 111: "111 дней", 112: "112 дней", 365: "365 дней"} {
		require.Equal(t, want, days(n))
	}
	hours := botui.EnglishNoun("hour", "hours")
	for n, want := range map[int]string{1: "1 hour", 2: "2 hours", 21: "21 hours", 0: "0 hours"} {
		require.Equal(t, want, hours(n))
	}
}

func TestEscapeLeavesNoMarkupInAValue(t *testing.T) {
	t.Parallel()
	// An entity typed by the user is shown as typed, not decoded.
	require.Equal(t, "Alice &lt;b&gt; &amp; &amp;quot;Bob&amp;quot;", botui.Escape(`Alice <b> & &quot;Bob&quot;`))
	require.Equal(t, `"Bob's"`, botui.Escape(`"Bob's"`), "quotes mean nothing to Telegram outside a tag")
}
