package e2e

import (
	"bytes"
	"strings"
	"testing"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestTrialKeyArrivesByItself runs the activation worker and the sender
// beside the bot: a user who takes the trial gets their key — link and QR
// code — without the test playing any worker's part.
func TestTrialKeyArrivesByItself(t *testing.T) {
	t.Parallel()
	s := start(t, options{workers: true})
	const user = 4242
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)

	key := s.waitScreen(user, "with the key and its QR code", func(m sandboxtg.Message) bool {
		return len(m.Photo) > 0 && strings.Contains(m.Plain, "ss://")
	})
	if !bytes.HasPrefix(key.Photo, []byte("\x89PNG")) {
		t.Fatalf("the QR code is not a PNG")
	}
	if n := strings.Count(describeChat(s.Sandbox.Messages(user)), "ss://"); n != 1 {
		t.Fatalf("the key was sent %d times:\n%s", n, describeChat(s.Sandbox.Messages(user)))
	}
	if keys := s.Outline.Keys(); len(keys) != 1 {
		t.Fatalf("the panel has %d keys, want 1", len(keys))
	}
}
