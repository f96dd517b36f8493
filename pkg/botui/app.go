package botui

import (
	"fmt"
	"net/url"
)

// ValidateAppURL reports whether u (WEBAPP_URL) can be the Mini App's
// address on a web_app button: empty (no app), or an absolute http(s) URL.
// Telegram opens only https; http is for make run's sandbox.
func ValidateAppURL(u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("WEBAPP_URL=%q: not an http(s) URL", u)
	}
	return nil
}
