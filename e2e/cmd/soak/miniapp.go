package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// PayMiniApp is a plan paid with Stars in the cabinet: an invoice link the
// Mini App opens, paid in Telegram's sheet.
const PayMiniApp = "stars (mini app)"

// cabinet is a user's session in the Mini App: the cookie it was given
// (Secure, which Go's cookie jar keeps from plain HTTP) and its CSRF token.
type cabinet struct {
	u      *user
	cookie *http.Cookie
	csrf   string
}

// openApp signs in to the cabinet with the initData Telegram opens the
// Mini App with.
func (u *user) openApp(ctx context.Context) (*cabinet, error) {
	res, err := u.appCall(ctx, nil, http.MethodPost, "/api/session", u.st.Sandbox.WebAppInitData(u.id))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("reading the session: %w", err)
	}
	for _, c := range res.Cookies() {
		if c.Name == "__Host-session" {
			return &cabinet{u: u, cookie: c, csrf: s.CSRF}, nil
		}
	}
	return nil, fmt.Errorf("POST /api/session: no session cookie")
}

// order asks the cabinet for a Stars order of the demo plan for the
// press request; it returns the order's invoice link.
func (c *cabinet) order(ctx context.Context, request string) (id int64, link string, err error) {
	body := fmt.Sprintf(`{"plan":%q,"provider":%q,"request_id":%q}`, localstack.DemoPlanID, shop.ProviderStars, request)
	res, err := c.u.appCall(ctx, c, http.MethodPost, "/api/orders", body)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var o struct {
		ID     int64  `json:"id"`
		PayURL string `json:"pay_url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&o); err != nil {
		return 0, "", fmt.Errorf("reading the order: %w", err)
	}
	return o.ID, o.PayURL, nil
}

// appCall makes one request of the cabinet's API; anything but 200 is an
// error.
func (u *user) appCall(ctx context.Context, c *cabinet, method, path, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.st.WebAppURL+path, bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	if c != nil {
		req.AddCookie(c.cookie)
		req.Header.Set("X-CSRF-Token", c.csrf)
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := u.http.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return res, nil
}

// payInApp buys the demo plan with Stars in the Mini App: it signs in,
// orders (the press sent twice, as a retried request is: one order), and
// pays the invoice link in Telegram's sheet. The bot answers the
// pre-checkout query and applies the payment as for an invoice message.
func (u *user) payInApp(ctx context.Context) {
	app, err := u.openApp(ctx)
	if err != nil {
		u.log.Warn().Err(err).Int64("user_id", u.id).Msg("signing in to the Mini App")
		u.j.miss("signing in to the Mini App")
		return
	}
	request := fmt.Sprintf("soak-%d-%d", u.id, time.Now().UnixNano())
	first, link, err := app.order(ctx, request)
	var again int64
	if err == nil {
		again, _, err = app.order(ctx, request)
	}
	if err != nil {
		u.log.Warn().Err(err).Int64("user_id", u.id).Msg("ordering in the Mini App")
		u.j.miss("a Stars order in the Mini App")
		return
	}
	if again != first {
		u.j.miss(fmt.Sprintf("one order for one press in the Mini App (got %d and %d)", first, again))
	}
	slug, ok := sandboxtg.InvoiceLinkSlug(link)
	if !ok || !u.react(ctx) {
		if !ok {
			u.j.miss("an invoice link from the Mini App (got " + link + ")")
		}
		return
	}
	u.bought = time.Now()
	r, err := u.st.Sandbox.PayInvoiceLink(u.id, slug)
	if err != nil {
		u.log.Warn().Err(err).Int64("user_id", u.id).Msg("paying an invoice link")
		u.j.miss("paying an invoice link")
		return
	}
	u.checkedOut(r, "invoice link "+slug, "a Mini App checkout", PayMiniApp, 0)
}
