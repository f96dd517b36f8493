package webapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// paymentsShown is how many of the user's latest orders the payments
// screen lists.
const paymentsShown = 20

// SessionView is the answer of a session's creation: the CSRF token the
// page sends with every write, and when the session ends.
type SessionView struct {
	UserID    int64     `json:"user_id"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) startMiniApp(w http.ResponseWriter, r *http.Request) {
	s.start(w, r, "miniapp", s.verifier.InitData)
}

func (s *Server) startLogin(w http.ResponseWriter, r *http.Request) {
	s.start(w, r, "login", s.verifier.Login)
}

// start exchanges the signed data of the body, checked by check, for a
// session cookie: only a user the shop knows and has not banned gets one.
func (s *Server) start(w http.ResponseWriter, r *http.Request, via string, check func(string) (webappauth.Auth, error)) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSessionBody))
	if err != nil {
		if _, tooLong := errors.AsType[*http.MaxBytesError](err); tooLong {
			writeError(w, http.StatusRequestEntityTooLarge, codeBadRequest, "The request is too large.")
			return
		}
		writeError(w, http.StatusBadRequest, codeBadRequest, "The request could not be read.")
		return
	}
	auth, err := check(strings.TrimSpace(string(body)))
	if err != nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Telegram's signature is not valid; open the app from the bot again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	if !s.admitted(w, r, auth.User.ID) {
		return
	}
	value, expires := s.sessions.issue(auth.User.ID)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", Expires: expires, MaxAge: int(s.cfg.SessionTTL / time.Second),
		// Telegram's web client frames the app from another site: only a
		// SameSite=None cookie is sent there, and browsers that partition
		// third-party cookies keep it only when Partitioned.
		HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode, Partitioned: true,
	})
	s.log.Info().Ctx(ctx).Str("event", EventSessionStarted).Str("via", via).Int64("user_id", auth.User.ID).Msg("session started")
	writeJSON(w, http.StatusOK, SessionView{UserID: auth.User.ID, CSRFToken: s.sessions.csrf(value), ExpiresAt: expires})
}

// session answers the session's CSRF token again, for a page reloaded on
// the open web, which has no initData to sign in with anew. Only a page of
// this origin can read the answer.
func (s *Server) session(w http.ResponseWriter, r *http.Request, userID int64) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Your session has ended; open the app again.")
		return
	}
	_, expires, _ := s.sessions.open(c.Value)
	writeJSON(w, http.StatusOK, SessionView{UserID: userID, CSRFToken: s.sessions.csrf(c.Value), ExpiresAt: expires})
}

// MeView is what the subscription screen shows.
type MeView struct {
	User UserView `json:"user"`
	// Subscription is the user's active period; null when they have none.
	Subscription *SubscriptionView `json:"subscription"`
	Balances     []MoneyView       `json:"balances"`
	// CryptoPay tells whether plans can be ordered with Crypto Pay here.
	CryptoPay bool `json:"crypto_pay"`
	// Stars tells whether plans can be ordered with Telegram Stars here.
	Stars bool `json:"stars"`
	// Now is the server's time, which the page counts the expiry down from.
	Now time.Time `json:"now"`
}

// UserView is the signed-in user as the shop knows them.
type UserView struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	Username  string `json:"username"`
	// Language is what the bot speaks to them: en or ru.
	Language string `json:"language"`
}

// SubscriptionView is a period as the user sees it.
type SubscriptionView struct {
	// Kind is trial or paid.
	Kind      string    `json:"kind"`
	ExpiresAt time.Time `json:"expires_at"`
	// Running is false for a period past its expiry, waiting out the grace
	// before its access is revoked.
	Running bool `json:"running"`
	// Location is where the key's panel is; "" when the fleet names none.
	Location string `json:"location"`
	// Key is the link for the VPN app; "" while there is none to show.
	Key string `json:"key"`
	// KeyKind is the kind of key, which the setup guides (/api/setup)
	// depend on: outline, or subscription for a v2ray-style link.
	KeyKind string `json:"key_kind,omitempty"`
	// KeyPending is a running period whose key is being made.
	KeyPending bool `json:"key_pending"`
}

// Kinds of key (SubscriptionView.KeyKind, SetupView).
const (
	KeyKindOutline      = "outline"
	KeyKindSubscription = "subscription"
)

func keyKind(key string) string {
	if botui.OutlineKey(key) {
		return KeyKindOutline
	}
	return KeyKindSubscription
}

// SetupView is every setup guide, by kind of key and language: the bot's
// own (botui), for the page to show the ones the user's key and chosen
// language call for.
type SetupView map[string]map[string][]botui.SetupGuide

// setupGuides is the SetupView, the same for everyone.
var setupGuides = func() SetupView {
	v := SetupView{}
	for kind, outline := range map[string]bool{KeyKindOutline: true, KeyKindSubscription: false} {
		v[kind] = map[string][]botui.SetupGuide{}
		for _, lang := range []string{botui.English, botui.Russian} {
			v[kind][lang] = botui.TextsIn(lang).SetupGuides(outline)
		}
	}
	return v
}()

// setup serves the setup guides, which the page reads once.
func setup(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, setupGuides)
}

// MoneyView is an amount in minor units, with how the bot writes it.
type MoneyView struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
	Text     string `json:"text"`
}

func moneyViews(bs []shop.Balance) []MoneyView {
	out := make([]MoneyView, 0, len(bs))
	for _, b := range bs {
		out = append(out, MoneyView{Currency: b.Currency, Amount: b.Amount, Text: botui.Amount(b.Currency, b.Amount)})
	}
	return out
}

// shownKey is the key of sub to show at now, as the bot's subscription
// screen shows it: a running period's access not revoked.
func shownKey(sub *shop.Subscription, now time.Time) string {
	if sub == nil || !sub.ExpiresAt.After(now) || sub.Access == nil || sub.Access.RevokedAt != nil {
		return ""
	}
	return sub.Access.URL
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, userID int64) {
	c, err := s.cfg.Shop.Cabinet(r.Context(), userID)
	if !s.admission(w, r, c.BannedAt, err) {
		return
	}
	now := s.cfg.NowFunc().UTC()
	v := MeView{
		User:      UserView{ID: c.ID, FirstName: c.FirstName, Username: c.Username, Language: c.Language},
		Balances:  moneyViews(c.Balances),
		CryptoPay: s.cfg.CryptoPay != nil,
		Stars:     s.cfg.Telegram != nil,
		Now:       now,
	}
	if sub := c.Subscription; sub != nil {
		sv := &SubscriptionView{Kind: sub.Kind, ExpiresAt: sub.ExpiresAt, Running: sub.ExpiresAt.After(now), Key: shownKey(sub, now)}
		sv.KeyPending = sv.Running && sv.Key == ""
		if sv.Key != "" {
			sv.Location = c.Location
			sv.KeyKind = keyKind(sv.Key)
		}
		v.Subscription = sv
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) keyQR(w http.ResponseWriter, r *http.Request, userID int64) {
	sub, err := s.cfg.Shop.ActiveSubscription(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key := shownKey(sub, s.cfg.NowFunc())
	if key == "" {
		writeError(w, http.StatusNotFound, codeNoKey, "You have no key now.")
		return
	}
	png, err := notify.QRCode(key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	// The QR code is the key: no cache keeps it past a revocation.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// PlansView is the plans at the user's prices.
type PlansView struct {
	Plans []PlanView `json:"plans"`
	// Discount is the promo discount the user holds, already in the
	// prices; null for none.
	Discount *DiscountView `json:"discount"`
}

// PlanView is a plan on offer.
type PlanView struct {
	ID      string `json:"id"`
	TitleEN string `json:"title_en"`
	TitleRU string `json:"title_ru"`
	// Seconds is how long a payment extends access.
	Seconds    int64  `json:"seconds"`
	PriceUSD   string `json:"price_usd"`
	PriceStars int    `json:"price_stars"`
}

// DiscountView is a promo discount.
type DiscountView struct {
	Code    string `json:"code"`
	Percent int    `json:"percent,omitempty"`
	// OffUSD is a fixed discount in cents.
	OffUSD int64 `json:"off_usd,omitempty"`
}

func (s *Server) plans(w http.ResponseWriter, r *http.Request, userID int64) {
	plans, held, err := s.cfg.Shop.PlansFor(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := PlansView{Plans: make([]PlanView, 0, len(plans))}
	for _, p := range plans {
		v.Plans = append(v.Plans, PlanView{ID: p.ID, TitleEN: p.TitleEN, TitleRU: p.TitleRU,
			Seconds: int64(p.Duration / time.Second), PriceUSD: p.PriceUSD, PriceStars: p.PriceStars})
	}
	if held != nil {
		v.Discount = &DiscountView{Code: held.Code, Percent: held.Percent, OffUSD: held.OffUSD}
	}
	writeJSON(w, http.StatusOK, v)
}

// OrderView is one of the user's orders with its timeline.
type OrderView struct {
	ID       int64     `json:"id"`
	Purpose  string    `json:"purpose"`
	PlanID   string    `json:"plan_id,omitempty"`
	Provider string    `json:"provider"`
	Price    MoneyView `json:"price"`
	// Status is pending, paid or expired.
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// PaidAt is when it was paid and applied, ToldAt when the user was
	// told, KeyAt when the key of the period it paid for was delivered.
	PaidAt *time.Time `json:"paid_at"`
	ToldAt *time.Time `json:"told_at"`
	KeyAt  *time.Time `json:"key_at"`
	// PayURL is where to pay it while it may still be paid.
	PayURL string `json:"pay_url,omitempty"`
}

// PaymentsView is the user's latest orders, newest first.
type PaymentsView struct {
	Orders []OrderView `json:"orders"`
}

func (s *Server) payments(w http.ResponseWriter, r *http.Request, userID int64) {
	orders, err := s.cfg.Shop.Orders(r.Context(), userID, paymentsShown)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.NowFunc()
	v := PaymentsView{Orders: make([]OrderView, 0, len(orders))}
	for _, o := range orders {
		inv := o.Invoice
		ov := OrderView{ID: inv.ID, Purpose: inv.Purpose, PlanID: inv.PlanID, Provider: inv.Provider,
			Price:  MoneyView{Currency: inv.Currency(), Amount: inv.Price, Text: botui.Amount(inv.Currency(), inv.Price)},
			Status: inv.Status, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, PaidAt: inv.PaidAt, ToldAt: o.ToldAt, KeyAt: o.KeyAt}
		if inv.Status == shop.InvoicePending && inv.ExpiresAt.After(now) {
			ov.PayURL = inv.PayURL
		}
		v.Orders = append(v.Orders, ov)
	}
	writeJSON(w, http.StatusOK, v)
}

// InviteView is the user's invite link and what it brought them.
type InviteView struct {
	// Link is "" when the bot's username is not known.
	Link string `json:"link"`
	// Invited counts the users who joined by the link, Paid those of them
	// who paid since.
	Invited int `json:"invited"`
	Paid    int `json:"paid"`
	// Days is the access their payments earned the user.
	Days    int         `json:"days"`
	Balance []MoneyView `json:"balance"`
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request, userID int64) {
	st, err := s.cfg.Shop.ReferralStats(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := InviteView{Invited: st.Invited, Paid: st.Paid, Days: int(st.Days / (24 * time.Hour)), Balance: moneyViews(st.Balance)}
	if s.cfg.BotUsername != "" {
		// The bot's invite link, as its invite screen gives it.
		v.Link = "https://t.me/" + s.cfg.BotUsername + "?start=" + shop.InviteParam(userID)
	}
	writeJSON(w, http.StatusOK, v)
}

// OrderRequest is the body of POST /api/orders. Nothing in it names a user:
// an order is always the session's user's.
type OrderRequest struct {
	Plan string `json:"plan"`
	// Provider is cryptopay, stars, or balance to pay from the user's
	// balance.
	Provider string `json:"provider"`
	// RequestID names a Stars order or a balance purchase: the page makes
	// one per press, and a request repeated with it orders or buys once.
	// Currency (USD or XTR) is a balance purchase's.
	Currency  string `json:"currency,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ProviderBalance pays an order from the user's balance.
const ProviderBalance = "balance"

// requestID is what a page may name its request with.
var requestID = regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)

// Purchase is a plan bought from the balance: the period it extended, and
// what is left.
type Purchase struct {
	PlanID    string      `json:"plan_id"`
	ExpiresAt time.Time   `json:"expires_at"`
	Balances  []MoneyView `json:"balances"`
}

// OrderCreated is an order to pay. A Crypto Pay order is the same one,
// with the same link, for every request while it may be offered
// (shop.CryptoPayOrder); a Stars order is the request's, and its link an
// invoice link (createInvoiceLink) the page opens with openInvoice.
type OrderCreated struct {
	ID         int64     `json:"id"`
	PlanID     string    `json:"plan_id"`
	Provider   string    `json:"provider"`
	PriceUSD   string    `json:"price_usd,omitempty"`
	PriceStars int       `json:"price_stars,omitempty"`
	PayURL     string    `json:"pay_url"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// order makes or shows the user's Crypto Pay order of a plan, exactly as
// the bot's Crypto Pay button does: one order on offer per user and plan,
// one Crypto Pay invoice each, however many requests and replicas ask.
func (s *Server) order(w http.ResponseWriter, r *http.Request, userID int64) {
	var req OrderRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOrderBody)).Decode(&req); err != nil || req.Plan == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Say which plan to order.")
		return
	}
	switch {
	case req.Provider == ProviderBalance:
		s.buyFromBalance(w, r, userID, req)
		return
	case req.Provider == shop.ProviderStars && s.cfg.Telegram != nil:
		s.starsOrder(w, r, userID, req)
		return
	}
	if req.Provider != shop.ProviderCryptoPay || s.cfg.CryptoPay == nil {
		writeError(w, http.StatusBadRequest, codeProvider, "This payment method is not offered here; pay in the bot.")
		return
	}
	ctx := r.Context()
	p, info, ok := s.planFor(w, r, userID, req.Plan)
	if !ok {
		return
	}
	inv, err := s.cfg.Shop.CryptoPayOrder(ctx, userID, p.ID, s.createCryptoInvoice(botui.Pick(info.Language, p.TitleEN, p.TitleRU)))
	switch {
	case errors.Is(err, shop.ErrUnknownPlan):
		writeError(w, http.StatusNotFound, codeUnknownPlan, "This plan is no longer offered.")
		return
	case errors.Is(err, shop.ErrExternal):
		s.log.Warn().Ctx(ctx).Err(err).Str("event", EventCryptoPayDown).Int64("user_id", userID).Str("plan", p.ID).
			Msg("creating the Crypto Pay invoice failed; the next request tries again, or the order expires unpaid")
		writeError(w, http.StatusServiceUnavailable, codePaymentsDown, "Crypto Pay is not answering; try again in a minute.")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OrderCreated{ID: inv.ID, PlanID: inv.PlanID, Provider: inv.Provider, PriceUSD: inv.PriceUSD,
		PayURL: inv.PayURL, ExpiresAt: inv.ExpiresAt})
}

// planFor reads the plan an order names and the user ordering it (their
// language names the invoice); ok is false when the request was answered
// instead.
func (s *Server) planFor(w http.ResponseWriter, r *http.Request, userID int64, planID string) (p shop.Plan, info shop.UserInfo, ok bool) {
	p, err := s.cfg.Shop.Plan(r.Context(), planID)
	if errors.Is(err, shop.ErrUnknownPlan) {
		writeError(w, http.StatusNotFound, codeUnknownPlan, "This plan is no longer offered.")
		return shop.Plan{}, shop.UserInfo{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return shop.Plan{}, shop.UserInfo{}, false
	}
	info, err = s.cfg.Shop.UserInfo(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return shop.Plan{}, shop.UserInfo{}, false
	}
	return p, info, true
}

// starsOrder makes the request's Stars order of a plan, as the bot's Stars
// button does (shop.CreateOrderOnce: a request repeated gets the same
// order), and an invoice link for it with the bot's invoice texts. The bot
// answers its pre-checkout query and applies its payment as those of the
// invoices it sends: the payload names the order.
func (s *Server) starsOrder(w http.ResponseWriter, r *http.Request, userID int64, req OrderRequest) {
	if !requestID.MatchString(req.RequestID) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Name the request.")
		return
	}
	ctx := r.Context()
	p, info, ok := s.planFor(w, r, userID, req.Plan)
	if !ok {
		return
	}
	inv, err := s.cfg.Shop.CreateOrderOnce(ctx, fmt.Sprintf("web:%d:%s", userID, req.RequestID), userID, p.ID, shop.ProviderStars)
	switch {
	case errors.Is(err, shop.ErrUnknownPlan):
		writeError(w, http.StatusNotFound, codeUnknownPlan, "This plan is no longer offered.")
		return
	case errors.Is(err, shop.ErrRequestConflict):
		writeError(w, http.StatusConflict, codeBadRequest, "This request was another order; press the button again.")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if inv.Status != shop.InvoicePending {
		writeError(w, http.StatusConflict, codeOrderClosed, "This order is no longer open; press the button again.")
		return
	}
	texts := botui.TextsIn(info.Language)
	title, description := texts.PlanInvoice(botui.Pick(info.Language, p.TitleEN, p.TitleRU), p.Duration)
	var link string
	err = s.cfg.Telegram.Call(ctx, "createInvoiceLink", map[string]any{
		"title":       title,
		"description": description,
		"payload":     shop.StarsPayload(inv.ID),
		"currency":    shop.StarsCurrency,
		"prices":      []map[string]any{{"label": title, "amount": inv.PriceStars}},
	}, &link)
	if err != nil {
		s.log.Warn().Ctx(ctx).Err(err).Str("event", EventInvoiceLinkFailed).Int64("user_id", userID).Int64("invoice_id", inv.ID).
			Msg("making the Stars invoice link failed; the next press tries again, or the order expires unpaid")
		writeError(w, http.StatusServiceUnavailable, codePaymentsDown, "Telegram is not answering; try again in a minute.")
		return
	}
	writeJSON(w, http.StatusOK, OrderCreated{ID: inv.ID, PlanID: inv.PlanID, Provider: inv.Provider, PriceStars: inv.PriceStars,
		PayURL: link, ExpiresAt: inv.ExpiresAt})
}

// buyFromBalance pays the plan from the user's balance, as the bot's
// "pay from balance" button does (shop.BuyFromBalance), once per request
// id, and wakes the activation worker to extend the key on the panel, as
// the bot does; a request repeated asks again under the same message id.
func (s *Server) buyFromBalance(w http.ResponseWriter, r *http.Request, userID int64, req OrderRequest) {
	if (req.Currency != shop.CurrencyUSD && req.Currency != shop.CurrencyXTR) || !requestID.MatchString(req.RequestID) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Say which balance to pay from, and name the request.")
		return
	}
	ctx := r.Context()
	opKey := fmt.Sprintf("purchase:web:%d:%s", userID, req.RequestID)
	buy, applied, err := s.cfg.Shop.BuyFromBalance(ctx, opKey, userID, req.Plan, req.Currency)
	switch {
	case errors.Is(err, shop.ErrUnknownPlan):
		writeError(w, http.StatusNotFound, codeUnknownPlan, "This plan is no longer offered.")
		return
	case errors.Is(err, shop.ErrInsufficientBalance):
		writeError(w, http.StatusConflict, codeInsufficient, "Your balance does not cover this plan.")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if applied {
		s.log.Info().Ctx(ctx).Str("event", EventPurchaseApplied).Int64("user_id", userID).Str("plan", req.Plan).
			Str("currency", req.Currency).Int64("subscription_id", buy.Sub.ID).Msg("plan bought from the balance in the app")
	}
	if s.cfg.Activations != nil {
		if err := s.cfg.Activations.RequestActivation(ctx, buy.Sub); err != nil {
			s.log.Warn().Ctx(ctx).Err(err).Int64("subscription_id", buy.Sub.ID).
				Msg("activation request not published; the activation worker's polling will find what it asks for")
		}
	}
	balances, err := s.cfg.Shop.Balances(ctx, userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Purchase{PlanID: req.Plan, ExpiresAt: buy.Sub.ExpiresAt, Balances: moneyViews(balances)})
}

// createCryptoInvoice makes an order's Crypto Pay invoice as the bot's
// does: its payload names the order as shop.StarsPayload does, which is
// how the payment-watcher finds it.
func (s *Server) createCryptoInvoice(title string) shop.CreateExternalFunc {
	return func(ctx context.Context, inv shop.Invoice, expiresIn time.Duration) (string, string, error) {
		ci, err := s.cfg.CryptoPay.CreateInvoice(ctx, cryptopay.CreateInvoice{
			AmountUSD:      inv.PriceUSD,
			AcceptedAssets: s.cfg.CryptoAssets,
			Description:    "VPN: " + title,
			Payload:        shop.StarsPayload(inv.ID),
			ExpiresIn:      expiresIn,
		})
		if err != nil {
			return "", "", err
		}
		payURL := ci.BotInvoiceURL
		if payURL == "" {
			payURL = ci.MiniAppInvoiceURL
		}
		return strconv.FormatInt(ci.InvoiceID, 10), payURL, nil
	}
}
