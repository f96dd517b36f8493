package cryptopay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Invoice statuses.
const (
	StatusActive  = "active"
	StatusPaid    = "paid"
	StatusExpired = "expired"
)

// Invoice is an invoice as the sandbox keeps it. Its JSON is Crypto Pay's
// Invoice object: amounts as strings, times in ISO 8601 with milliseconds,
// paid_* fields only once paid.
type Invoice struct {
	InvoiceID         int64    `json:"invoice_id"`
	Hash              string   `json:"hash"`
	CurrencyType      string   `json:"currency_type"`
	Asset             string   `json:"asset,omitempty"`
	Fiat              string   `json:"fiat,omitempty"`
	Amount            string   `json:"amount"`
	PaidAsset         string   `json:"paid_asset,omitempty"`
	PaidAmount        string   `json:"paid_amount,omitempty"`
	PaidFiatRate      string   `json:"paid_fiat_rate,omitempty"`
	AcceptedAssets    []string `json:"accepted_assets,omitempty"`
	FeeAsset          string   `json:"fee_asset,omitempty"`
	FeeAmount         string   `json:"fee_amount,omitempty"`
	BotInvoiceURL     string   `json:"bot_invoice_url"`
	MiniAppInvoiceURL string   `json:"mini_app_invoice_url"`
	WebAppInvoiceURL  string   `json:"web_app_invoice_url"`
	Description       string   `json:"description,omitempty"`
	Status            string   `json:"status"`
	PaidUSDRate       string   `json:"paid_usd_rate,omitempty"`
	AllowComments     bool     `json:"allow_comments"`
	AllowAnonymous    bool     `json:"allow_anonymous"`
	HiddenMessage     string   `json:"hidden_message,omitempty"`
	Payload           string   `json:"payload,omitempty"`
	PaidBtnName       string   `json:"paid_btn_name,omitempty"`
	PaidBtnURL        string   `json:"paid_btn_url,omitempty"`

	// Written by MarshalJSON in the API's format.
	CreatedAt       time.Time `json:"-"`
	ExpirationDate  time.Time `json:"-"` // zero: never expires
	PaidAt          time.Time `json:"-"`
	PaidAnonymously bool      `json:"-"`
}

// isoLayout is how Crypto Pay writes times: "2025-02-08T12:11:01.341Z".
const isoLayout = "2006-01-02T15:04:05.000Z"

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(isoLayout)
}

// MarshalJSON writes the invoice as Crypto Pay does, with its times and the
// deprecated pay_url the real service still sends.
func (inv Invoice) MarshalJSON() ([]byte, error) {
	type plain Invoice // without this method, so no recursion
	out := struct {
		plain
		PayURL          string `json:"pay_url"`
		CreatedAt       string `json:"created_at"`
		ExpirationDate  string `json:"expiration_date,omitempty"`
		PaidAt          string `json:"paid_at,omitempty"`
		PaidAnonymously *bool  `json:"paid_anonymously,omitempty"`
	}{
		plain:          plain(inv),
		PayURL:         inv.BotInvoiceURL,
		CreatedAt:      isoTime(inv.CreatedAt),
		ExpirationDate: isoTime(inv.ExpirationDate),
		PaidAt:         isoTime(inv.PaidAt),
	}
	if inv.Status == StatusPaid {
		out.PaidAnonymously = &inv.PaidAnonymously
	}
	return json.Marshal(out)
}

// usdRates is what one unit of each asset and fiat is worth in USD here:
// fixed, fake numbers, so paid amounts are predictable.
var usdRates = map[string]string{
	"USDT": "1", "USDC": "1", "TON": "3.2", "BTC": "100000", "ETH": "4000",
	"LTC": "100", "BNB": "600", "TRX": "0.25", "JET": "0.01",
	"USD": "1", "EUR": "1.08", "RUB": "0.011",
}

// assets are the crypto assets, in Crypto Pay's order; fiats the fiat
// currencies the sandbox prices in.
var (
	assets = []string{"USDT", "TON", "BTC", "ETH", "LTC", "BNB", "TRX", "USDC", "JET"}
	fiats  = []string{"USD", "EUR", "RUB"}
)

// Limits of createInvoice and getInvoices, as Crypto Pay documents them.
const (
	maxDescriptionRunes   = 1024
	maxHiddenMessageRunes = 2048
	maxPayloadBytes       = 4096
	maxExpiresIn          = 2678400
	defaultCount          = 100
	maxCount              = 1000
	feePercent            = 3
	hashChars             = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

var (
	decimal  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	paidBtns = []string{"viewItem", "openChannel", "openBot", "callback"}
)

func (s *Server) getMe(params) (any, *apiError) {
	return map[string]any{
		"app_id":                          1,
		"name":                            s.cfg.AppName,
		"payment_processing_bot_username": "CryptoBot",
	}, nil
}

func (s *Server) createInvoice(p params) (any, *apiError) {
	inv := Invoice{CurrencyType: cmp.Or(p["currency_type"], "crypto"), Amount: p["amount"]}
	switch inv.CurrencyType {
	case "crypto":
		inv.Asset = p["asset"]
		if !slices.Contains(assets, inv.Asset) {
			return nil, badParam("ASSET_INVALID")
		}
	case "fiat":
		inv.Fiat = p["fiat"]
		if !slices.Contains(fiats, inv.Fiat) {
			return nil, badParam("FIAT_INVALID")
		}
		inv.AcceptedAssets = p.list("accepted_assets")
		for _, a := range inv.AcceptedAssets {
			if !slices.Contains(assets, a) {
				return nil, badParam("ACCEPTED_ASSETS_INVALID")
			}
		}
		if len(inv.AcceptedAssets) == 0 {
			inv.AcceptedAssets = slices.Clone(assets)
		}
	default:
		return nil, badParam("CURRENCY_TYPE_INVALID")
	}
	if amount, ok := rat(inv.Amount); !ok || amount.Sign() <= 0 {
		return nil, badParam("AMOUNT_INVALID")
	}
	inv.Description, inv.HiddenMessage, inv.Payload = p["description"], p["hidden_message"], p["payload"]
	switch {
	case utf8.RuneCountInString(inv.Description) > maxDescriptionRunes:
		return nil, badParam("DESCRIPTION_TOO_LONG")
	case utf8.RuneCountInString(inv.HiddenMessage) > maxHiddenMessageRunes:
		return nil, badParam("HIDDEN_MESSAGE_TOO_LONG")
	case len(inv.Payload) > maxPayloadBytes:
		return nil, badParam("PAYLOAD_TOO_LONG")
	}
	inv.PaidBtnName, inv.PaidBtnURL = p["paid_btn_name"], p["paid_btn_url"]
	if inv.PaidBtnName != "" {
		if !slices.Contains(paidBtns, inv.PaidBtnName) {
			return nil, badParam("PAID_BTN_NAME_INVALID")
		}
		if inv.PaidBtnURL == "" {
			return nil, badParam("PAID_BTN_URL_REQUIRED")
		}
	}
	var e *apiError
	if inv.AllowComments, e = p.bool("allow_comments", true); e != nil {
		return nil, e
	}
	if inv.AllowAnonymous, e = p.bool("allow_anonymous", true); e != nil {
		return nil, e
	}
	expiresIn, e := p.int("expires_in", 0)
	if e != nil || expiresIn < 0 || expiresIn > maxExpiresIn || (p["expires_in"] != "" && expiresIn == 0) {
		return nil, badParam("EXPIRES_IN_INVALID")
	}
	inv.Status = StatusActive

	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	inv.InvoiceID = s.lastID
	inv.Hash = s.newHashLocked()
	inv.CreatedAt = s.nowFunc()
	if expiresIn > 0 {
		inv.ExpirationDate = inv.CreatedAt.Add(time.Duration(expiresIn) * time.Second)
	}
	base := s.publicURLLocked() + "/pay/" + inv.Hash
	inv.BotInvoiceURL = base
	inv.MiniAppInvoiceURL = base + "?mode=mini_app"
	inv.WebAppInvoiceURL = base + "?mode=web_app"
	s.invoices[inv.InvoiceID] = &inv
	s.byHash[inv.Hash] = inv.InvoiceID
	if err := s.saveLocked(); err != nil {
		// Not handed out, and lastID stays past it: no id is given twice.
		delete(s.invoices, inv.InvoiceID)
		delete(s.byHash, inv.Hash)
		return nil, errNotSaved
	}
	return inv, nil
}

// newHashLocked returns an unused hash shaped like Crypto Pay's ("IVHuvcfIGkOl").
func (s *Server) newHashLocked() string {
	for {
		b := []byte("IV")
		for range 10 {
			b = append(b, hashChars[rand.IntN(len(hashChars))])
		}
		if _, taken := s.byHash[string(b)]; !taken {
			return string(b)
		}
	}
}

func (s *Server) getInvoices(p params) (any, *apiError) {
	var ids map[int64]bool
	if p["invoice_ids"] != "" {
		ids = map[int64]bool{}
		for _, v := range p.list("invoice_ids") {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, badParam("INVOICE_IDS_INVALID")
			}
			ids[id] = true
		}
	}
	status := p["status"]
	if status != "" && status != StatusActive && status != StatusPaid && status != StatusExpired {
		return nil, badParam("STATUS_INVALID")
	}
	offset, e := p.int("offset", 0)
	if e != nil || offset < 0 {
		return nil, badParam("OFFSET_INVALID")
	}
	count, e := p.int("count", defaultCount)
	if e != nil || count < 1 || count > maxCount {
		return nil, badParam("COUNT_INVALID")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	items := []Invoice{}
	for id, inv := range s.invoices {
		s.refreshLocked(inv)
		if (ids != nil && !ids[id]) || (status != "" && inv.Status != status) ||
			(p["asset"] != "" && inv.Asset != p["asset"]) || (p["fiat"] != "" && inv.Fiat != p["fiat"]) {
			continue
		}
		items = append(items, *inv)
	}
	// Newest first, as Crypto Pay lists them.
	slices.SortFunc(items, func(a, b Invoice) int { return cmp.Compare(b.InvoiceID, a.InvoiceID) })
	items = items[min(int(offset), len(items)):]
	items = items[:min(int(count), len(items))]
	return map[string]any{"items": items}, nil
}

func (s *Server) deleteInvoice(p params) (any, *apiError) {
	id, e := p.int("invoice_id", 0)
	if e != nil || id <= 0 {
		return nil, badParam("INVOICE_ID_INVALID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[id]
	if !ok {
		return nil, badParam("INVOICE_NOT_FOUND")
	}
	delete(s.invoices, id)
	delete(s.byHash, inv.Hash)
	if err := s.saveLocked(); err != nil {
		s.invoices[id] = inv
		s.byHash[inv.Hash] = id
		return nil, errNotSaved
	}
	return true, nil
}

// refreshLocked expires an active invoice whose time has passed.
func (s *Server) refreshLocked(inv *Invoice) {
	if inv.Status == StatusActive && !inv.ExpirationDate.IsZero() && !s.nowFunc().Before(inv.ExpirationDate) {
		inv.Status = StatusExpired
	}
}

// errNotSaved refuses an API call whose change could not be written to
// Config.StateDir: it is undone, as if it had never been asked.
var errNotSaved = &apiError{code: http.StatusInternalServerError, name: "INTERNAL_ERROR"}

// Errors of the test API.
var (
	// ErrNotFound: no invoice with that id (or hash); it may have been deleted.
	ErrNotFound = errors.New("no such invoice")
	// ErrNotActive: the invoice is already paid or expired.
	ErrNotActive = errors.New("invoice is not active")
	// ErrNotPaid: the invoice was never paid, so there is no update to resend.
	ErrNotPaid = errors.New("invoice was never paid")
)

// Invoices returns every invoice, oldest first.
func (s *Server) Invoices() []Invoice {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invoice, 0, len(s.invoices))
	for _, inv := range s.invoices {
		s.refreshLocked(inv)
		out = append(out, *inv)
	}
	slices.SortFunc(out, func(a, b Invoice) int { return cmp.Compare(a.InvoiceID, b.InvoiceID) })
	return out
}

// Invoice returns one invoice.
func (s *Server) Invoice(id int64) (Invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[id]
	if !ok {
		return Invoice{}, fmt.Errorf("invoice %d: %w", id, ErrNotFound)
	}
	s.refreshLocked(inv)
	return *inv, nil
}

// MarkPaid pays an active invoice as a payer would, with its first accepted
// asset, and sends the invoice_paid webhook.
func (s *Server) MarkPaid(id int64) (Invoice, error) {
	return s.markPaid(id, true)
}

// MarkPaidUnannounced pays an active invoice as MarkPaid does but sends no
// invoice_paid webhook for it, as when every delivery to the app's webhook
// was lost: only getInvoices shows the payment, until Resend.
func (s *Server) MarkPaidUnannounced(id int64) (Invoice, error) {
	return s.markPaid(id, false)
}

func (s *Server) markPaid(id int64, announce bool) (Invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[id]
	if !ok {
		return Invoice{}, fmt.Errorf("paying invoice %d: %w", id, ErrNotFound)
	}
	if err := s.payLocked(inv, "", announce); err != nil {
		return Invoice{}, fmt.Errorf("paying invoice %d: %w", id, err)
	}
	return *inv, nil
}

// Expire makes an active invoice expired now, as its expires_in passing would.
func (s *Server) Expire(id int64) (Invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[id]
	if !ok {
		return Invoice{}, fmt.Errorf("expiring invoice %d: %w", id, ErrNotFound)
	}
	s.refreshLocked(inv)
	if inv.Status != StatusActive {
		return Invoice{}, fmt.Errorf("expiring invoice %d (%s): %w", id, inv.Status, ErrNotActive)
	}
	inv.Status = StatusExpired
	if err := s.saveLocked(); err != nil {
		inv.Status = StatusActive
		return Invoice{}, fmt.Errorf("expiring invoice %d: %w", id, err)
	}
	return *inv, nil
}

// Resend delivers a paid invoice's invoice_paid update again, the same bytes
// and update_id, as Crypto Pay does when it did not see our 2xx: receivers
// must treat it as a duplicate.
func (s *Server) Resend(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, ok := s.paidBodies[id]
	if !ok {
		return fmt.Errorf("resending invoice %d: %w", id, ErrNotPaid)
	}
	s.queueLocked(id, body)
	return nil
}

// payLocked marks an active invoice paid in asset (its first accepted asset
// when empty), fills the paid_* fields and, with announce, sends the
// webhook.
func (s *Server) payLocked(inv *Invoice, asset string, announce bool) error {
	s.refreshLocked(inv)
	if inv.Status != StatusActive {
		return fmt.Errorf("%w (%s)", ErrNotActive, inv.Status)
	}
	unpaid := *inv
	amount, _ := rat(inv.Amount) // checked when created
	if inv.CurrencyType == "crypto" {
		if asset != "" && asset != inv.Asset {
			return fmt.Errorf("asset %s is not the invoice's %s", asset, inv.Asset)
		}
		inv.PaidAsset, inv.PaidAmount = inv.Asset, inv.Amount
		inv.PaidUSDRate = usdRates[inv.Asset]
	} else {
		if asset == "" {
			asset = inv.AcceptedAssets[0]
		}
		if !slices.Contains(inv.AcceptedAssets, asset) {
			return fmt.Errorf("asset %s is not accepted by the invoice", asset)
		}
		assetUSD, _ := rat(usdRates[asset])
		fiatUSD, _ := rat(usdRates[inv.Fiat])
		paid := new(big.Rat).Quo(new(big.Rat).Mul(amount, fiatUSD), assetUSD)
		inv.PaidAsset, inv.PaidAmount = asset, decimalString(paid)
		inv.PaidFiatRate = decimalString(new(big.Rat).Quo(assetUSD, fiatUSD))
		inv.PaidUSDRate = usdRates[asset]
	}
	paid, _ := rat(inv.PaidAmount)
	inv.FeeAsset = inv.PaidAsset
	inv.FeeAmount = decimalString(new(big.Rat).Mul(paid, big.NewRat(feePercent, 100)))
	inv.Status = StatusPaid
	inv.PaidAt = s.nowFunc()

	s.lastUpdate++
	body, err := json.Marshal(update{
		UpdateID:    s.lastUpdate,
		UpdateType:  "invoice_paid",
		RequestDate: isoTime(s.nowFunc()),
		Payload:     *inv,
	})
	if err != nil {
		*inv = unpaid
		return fmt.Errorf("encoding the invoice_paid update: %w", err)
	}
	s.paidBodies[inv.InvoiceID] = body
	if err := s.saveLocked(); err != nil {
		// Unpaid again, and lastUpdate stays past the update: the payer may
		// try again, and no update id is given twice.
		*inv = unpaid
		delete(s.paidBodies, inv.InvoiceID)
		return err
	}
	if announce {
		s.queueLocked(inv.InvoiceID, body)
	}
	return nil
}

func rat(s string) (*big.Rat, bool) {
	if !decimal.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// decimalString writes r with at most 8 decimals and no trailing zeros.
func decimalString(r *big.Rat) string {
	s := r.FloatString(8)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
