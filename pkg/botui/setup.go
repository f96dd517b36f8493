package botui

import (
	"fmt"
	"strings"
)

// Platforms a key's setup is written for, in the order users are offered
// them.
const (
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
	PlatformWindows = "windows"
	PlatformMacOS   = "macos"
)

// Platforms are the platforms with a setup guide, in that order.
var Platforms = []string{PlatformAndroid, PlatformIOS, PlatformWindows, PlatformMacOS}

var platformNames = map[string]string{
	PlatformAndroid: "Android", PlatformIOS: "iOS", PlatformWindows: "Windows", PlatformMacOS: "macOS",
}

// PlatformName is a platform's name as users know it.
func PlatformName(platform string) string { return platformNames[platform] }

// SetupGuide is how to use a key on one platform: the app to install and
// where to put the key. The bot shows it as a message (HTML), the cabinet
// as a list; both say the same.
type SetupGuide struct {
	Platform string   `json:"platform"`
	Name     string   `json:"name"`
	Steps    []string `json:"steps"`
}

// Setup is the guide of platform for a kind of key, an Outline key or
// else a subscription link (OutlineKey tells them apart), in t's language;
// ok is false for a platform without one.
func (t *Texts) Setup(platform string, outline bool) (g SetupGuide, ok bool) {
	steps := t.setupV2Ray
	if outline {
		steps = t.setupOutline
	}
	s, ok := steps[platform]
	if !ok {
		return SetupGuide{}, false
	}
	return SetupGuide{Platform: platform, Name: platformNames[platform], Steps: s}, true
}

// SetupGuides are the guides of every platform for a kind of key, as
// Setup, in Platforms' order.
func (t *Texts) SetupGuides(outline bool) []SetupGuide {
	guides := make([]SetupGuide, 0, len(Platforms))
	for _, p := range Platforms {
		if g, ok := t.Setup(p, outline); ok {
			guides = append(guides, g)
		}
	}
	return guides
}

// HTML writes the guide for a chat message: the platform in bold, then the
// steps numbered, one a line.
func (g SetupGuide) HTML() string {
	var b strings.Builder
	b.WriteString("<b>" + Escape(g.Name) + "</b>")
	for i, s := range g.Steps {
		fmt.Fprintf(&b, "\n%d. %s", i+1, Escape(s))
	}
	return b.String()
}

var setupOutlineEN = map[string][]string{
	PlatformAndroid: {"Install Outline from Google Play.", "Copy your key.", "Open Outline, tap +, paste the key and connect."},
	PlatformIOS:     {"Install Outline from the App Store.", "Copy your key.", "Open Outline, tap +, paste the key and connect."},
	PlatformWindows: {"Download Outline Client from getoutline.org.", "Copy your key.", "Open Outline, click +, paste the key and connect."},
	PlatformMacOS:   {"Install Outline from the Mac App Store.", "Copy your key.", "Open Outline, click +, paste the key and connect."},
}

var setupV2RayEN = map[string][]string{
	PlatformAndroid: {"Install Hiddify or v2rayNG.", "Copy your subscription link.", "Add it as a new profile (import from clipboard) and connect."},
	PlatformIOS:     {"Install Hiddify or Streisand from the App Store.", "Copy your subscription link.", "Add it from the clipboard and connect."},
	PlatformWindows: {"Install Hiddify from hiddify.com.", "Copy your subscription link.", "Click «New profile», add from clipboard and connect."},
	PlatformMacOS:   {"Install Hiddify from hiddify.com.", "Copy your subscription link.", "Click «New profile», add from clipboard and connect."},
}

var setupOutlineRU = map[string][]string{
	PlatformAndroid: {"Установите Outline из Google Play.", "Скопируйте ключ.", "Откройте Outline, нажмите +, вставьте ключ и подключитесь."},
	PlatformIOS:     {"Установите Outline из App Store.", "Скопируйте ключ.", "Откройте Outline, нажмите +, вставьте ключ и подключитесь."},
	PlatformWindows: {"Скачайте Outline Client с getoutline.org.", "Скопируйте ключ.", "Откройте Outline, нажмите +, вставьте ключ и подключитесь."},
	PlatformMacOS:   {"Установите Outline из Mac App Store.", "Скопируйте ключ.", "Откройте Outline, нажмите +, вставьте ключ и подключитесь."},
}

var setupV2RayRU = map[string][]string{
	PlatformAndroid: {"Установите Hiddify или v2rayNG.", "Скопируйте ссылку подписки.", "Добавьте её как новый профиль (импорт из буфера) и подключитесь."},
	PlatformIOS:     {"Установите Hiddify или Streisand из App Store.", "Скопируйте ссылку подписки.", "Добавьте её из буфера обмена и подключитесь."},
	PlatformWindows: {"Установите Hiddify с hiddify.com.", "Скопируйте ссылку подписки.", "Нажмите «Новый профиль», добавьте из буфера и подключитесь."},
	PlatformMacOS:   {"Установите Hiddify с hiddify.com.", "Скопируйте ссылку подписки.", "Нажмите «Новый профиль», добавьте из буфера и подключитесь."},
}
