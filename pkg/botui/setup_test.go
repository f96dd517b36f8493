package botui_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
)

// Every platform has a guide for both kinds of key in every language, and
// the chat's HTML of a guide is its name in bold and its steps numbered.
func TestEveryPlatformHasASetupGuide(t *testing.T) {
	for _, lang := range []string{botui.English, botui.Russian} {
		texts := botui.TextsIn(lang)
		for _, outline := range []bool{true, false} {
			guides := texts.SetupGuides(outline)
			require.Len(t, guides, len(botui.Platforms), "%s, outline %v", lang, outline)
			for i, g := range guides {
				require.Equal(t, botui.Platforms[i], g.Platform)
				require.NotEmpty(t, g.Name)
				require.Len(t, g.Steps, 3, "%s %s", lang, g.Platform)
			}
		}
	}
	g, ok := botui.TextsIn(botui.English).Setup(botui.PlatformIOS, true)
	require.True(t, ok)
	require.Equal(t, "<b>iOS</b>\n1. Install Outline from the App Store.\n2. Copy your key.\n3. Open Outline, tap +, paste the key and connect.", g.HTML())
	_, ok = botui.TextsIn(botui.English).Setup("symbian", true)
	require.False(t, ok)
}
