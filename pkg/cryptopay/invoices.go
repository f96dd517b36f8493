package cryptopay

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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

// Limits of createInvoice, as Crypto Pay documents them.
const (
	MaxPayloadBytes     = 4096                  // payload: "up to 4kb"
	MaxDescriptionRunes = 1024                  // description: "up to 1024 characters"
	MaxExpiresIn        = 2678400 * time.Second // expires_in: 1..2678400 seconds (31 days)
	// MaxInvoicesPerCall is getInvoices' largest count; GetInvoices splits
	// longer id lists into calls of this many.
	MaxInvoicesPerCall = 1000
)

// Invoice is Crypto Pay's Invoice object, with the API's field names.
// Amounts are decimal strings, as the API sends them. Optional fields the API
// leaves out stay empty (times stay zero).
type Invoice struct {
	InvoiceID    int64  `json:"invoice_id"`
	Hash         string `json:"hash"`
	Status       string `json:"status"`          // StatusActive, StatusPaid or StatusExpired
	CurrencyType string `json:"currency_type"`   // "fiat" for ours, or "crypto"
	Fiat         string `json:"fiat,omitempty"`  // with currency_type "fiat", e.g. "USD"
	Asset        string `json:"asset,omitempty"` // with currency_type "crypto", e.g. "USDT"
	Amount       string `json:"amount"`          // in Fiat or Asset, e.g. "4.99"
	// AcceptedAssets are the assets the payer may choose, with currency_type "fiat".
	AcceptedAssets []string `json:"accepted_assets,omitempty"`

	// Set once paid.
	PaidAsset       string `json:"paid_asset,omitempty"`     // what the payer chose
	PaidAmount      string `json:"paid_amount,omitempty"`    // in PaidAsset
	PaidFiatRate    string `json:"paid_fiat_rate,omitempty"` // PaidAsset's rate in Fiat
	PaidUSDRate     string `json:"paid_usd_rate,omitempty"`  // PaidAsset's rate in USD
	FeeAsset        string `json:"fee_asset,omitempty"`
	FeeAmount       string `json:"fee_amount,omitempty"`
	PaidAnonymously bool   `json:"paid_anonymously,omitempty"`
	Comment         string `json:"comment,omitempty"`

	// BotInvoiceURL is the link to give the payer (a t.me link to @CryptoBot).
	BotInvoiceURL     string `json:"bot_invoice_url"`
	MiniAppInvoiceURL string `json:"mini_app_invoice_url,omitempty"`
	WebAppInvoiceURL  string `json:"web_app_invoice_url,omitempty"`

	Description    string `json:"description,omitempty"`
	Payload        string `json:"payload,omitempty"`
	AllowComments  bool   `json:"allow_comments"`
	AllowAnonymous bool   `json:"allow_anonymous"`

	CreatedAt      time.Time `json:"created_at"`
	ExpirationDate time.Time `json:"expiration_date,omitzero"` // zero when the invoice never expires
	PaidAt         time.Time `json:"paid_at,omitzero"`
}

// CreateInvoice is a USD-priced invoice to create.
type CreateInvoice struct {
	// AmountUSD is the price, a decimal string with at most two decimals, e.g. "4.99".
	AmountUSD string
	// AcceptedAssets are the crypto assets the payer may choose, e.g.
	// {"USDT", "TON", "BTC"}; empty accepts every asset Crypto Pay supports.
	AcceptedAssets []string
	// Description is shown to the payer (at most 1024 characters).
	Description string
	// Payload comes back in the invoice and its webhook: ours names the order
	// (at most 4096 bytes).
	Payload string
	// ExpiresIn, when set, lets the invoice expire after this long (rounded
	// up to whole seconds, at most 31 days).
	ExpiresIn time.Duration
	// AllowComments lets the payer attach a comment; AllowAnonymous lets them
	// hide their name from us. Both are sent explicitly (the API's defaults
	// are true).
	AllowComments  bool
	AllowAnonymous bool
}

// createInvoiceParams is createInvoice's request.
type createInvoiceParams struct {
	CurrencyType   string `json:"currency_type"`
	Fiat           string `json:"fiat"`
	Amount         string `json:"amount"`
	AcceptedAssets string `json:"accepted_assets,omitempty"`
	Description    string `json:"description,omitempty"`
	Payload        string `json:"payload,omitempty"`
	ExpiresIn      int64  `json:"expires_in,omitempty"`
	AllowComments  bool   `json:"allow_comments"`
	AllowAnonymous bool   `json:"allow_anonymous"`
}

var (
	usdAmount = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,2})?$`)
	assetCode = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)
)

func (in CreateInvoice) params() (createInvoiceParams, error) {
	if !usdAmount.MatchString(in.AmountUSD) || strings.Trim(in.AmountUSD, "0.") == "" {
		return createInvoiceParams{}, fmt.Errorf("amount %q is not a positive USD amount with at most two decimals", in.AmountUSD)
	}
	for _, a := range in.AcceptedAssets {
		if !assetCode.MatchString(a) {
			return createInvoiceParams{}, fmt.Errorf("accepted asset %q is not an asset code such as USDT", a)
		}
	}
	if utf8.RuneCountInString(in.Description) > MaxDescriptionRunes {
		return createInvoiceParams{}, fmt.Errorf("description is longer than %d characters", MaxDescriptionRunes)
	}
	if len(in.Payload) > MaxPayloadBytes {
		return createInvoiceParams{}, fmt.Errorf("payload is longer than %d bytes", MaxPayloadBytes)
	}
	if in.ExpiresIn < 0 || in.ExpiresIn > MaxExpiresIn {
		return createInvoiceParams{}, fmt.Errorf("expires in %s is outside 1s..%s", in.ExpiresIn, MaxExpiresIn)
	}
	return createInvoiceParams{
		CurrencyType:   "fiat",
		Fiat:           "USD",
		Amount:         in.AmountUSD,
		AcceptedAssets: strings.Join(in.AcceptedAssets, ","),
		Description:    in.Description,
		Payload:        in.Payload,
		ExpiresIn:      int64((in.ExpiresIn + time.Second - 1) / time.Second),
		AllowComments:  in.AllowComments,
		AllowAnonymous: in.AllowAnonymous,
	}, nil
}

// CreateInvoice creates an invoice priced in USD. A request that Crypto Pay
// would refuse anyway (bad amount, payload too long) fails here without a call.
func (c *Client) CreateInvoice(ctx context.Context, in CreateInvoice) (Invoice, error) {
	p, err := in.params()
	if err != nil {
		return Invoice{}, fmt.Errorf("creating invoice: %w", err)
	}
	var inv Invoice
	if err := c.call(ctx, "createInvoice", p, &inv); err != nil {
		return Invoice{}, fmt.Errorf("creating invoice: %w", err)
	}
	return inv, nil
}

// getInvoicesParams is getInvoices' request by ids.
type getInvoicesParams struct {
	InvoiceIDs string `json:"invoice_ids"`
	Count      int    `json:"count"`
}

// GetInvoices returns the invoices with the given ids that exist, in no
// particular order; ids Crypto Pay does not know (deleted ones) are absent.
// Long lists are asked for MaxInvoicesPerCall at a time, with count set so
// that the API's default page (100) does not cut the answer short. It returns
// every invoice or an error, never a part.
func (c *Client) GetInvoices(ctx context.Context, ids []int64) ([]Invoice, error) {
	ids = uniqueIDs(ids)
	var all []Invoice
	for start := 0; start < len(ids); start += MaxInvoicesPerCall {
		batch := ids[start:min(start+MaxInvoicesPerCall, len(ids))]
		var b strings.Builder
		for i, id := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(id, 10))
		}
		var res struct {
			Items []Invoice `json:"items"`
		}
		if err := c.call(ctx, "getInvoices", getInvoicesParams{InvoiceIDs: b.String(), Count: len(batch)}, &res); err != nil {
			return nil, fmt.Errorf("getting %d invoices: %w", len(ids), err)
		}
		all = append(all, res.Items...)
	}
	return all, nil
}

// uniqueIDs drops repeated ids, keeping the first occurrence's order.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// DeleteInvoice deletes an invoice, so it can no longer be paid. An unknown
// id is an *APIError (Crypto Pay's name for it, e.g. INVOICE_NOT_FOUND).
func (c *Client) DeleteInvoice(ctx context.Context, id int64) error {
	var deleted bool
	if err := c.call(ctx, "deleteInvoice", map[string]int64{"invoice_id": id}, &deleted); err != nil {
		return fmt.Errorf("deleting invoice %d: %w", id, err)
	}
	if !deleted {
		return fmt.Errorf("deleting invoice %d: %w", id, errors.New("crypto pay answered false"))
	}
	return nil
}

// App is what getMe says about the app the token belongs to.
type App struct {
	AppID                        int64  `json:"app_id"`
	Name                         string `json:"name"`
	PaymentProcessingBotUsername string `json:"payment_processing_bot_username"`
}

// GetMe checks the token: it returns the app it belongs to, or an
// *APIError UNAUTHORIZED.
func (c *Client) GetMe(ctx context.Context) (App, error) {
	var app App
	if err := c.call(ctx, "getMe", struct{}{}, &app); err != nil {
		return App{}, fmt.Errorf("checking the crypto pay token: %w", err)
	}
	return app, nil
}
