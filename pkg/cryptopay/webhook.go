package cryptopay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SignatureHeader is the webhook header holding the body's signature.
const SignatureHeader = "crypto-pay-api-signature"

// UpdateInvoicePaid is the update_type of a paid invoice, the only one
// Crypto Pay sends.
const UpdateInvoicePaid = "invoice_paid"

// ErrBadSignature means a webhook's signature is missing, malformed or does
// not match its body: the request did not come from Crypto Pay (or was
// altered) and must be refused.
var ErrBadSignature = errors.New("bad crypto pay webhook signature")

// ErrMalformedUpdate means a correctly signed body is not an update we can read.
var ErrMalformedUpdate = errors.New("malformed crypto pay update")

// Update is one webhook request's body.
type Update struct {
	UpdateID    int64     `json:"update_id"`
	UpdateType  string    `json:"update_type"` // UpdateInvoicePaid
	RequestDate time.Time `json:"request_date"`
	Invoice     Invoice   `json:"payload"`
}

// Sign returns the signature Crypto Pay puts on body: hex of HMAC-SHA256
// keyed by SHA-256 of the token.
func Sign(token string, body []byte) string {
	return hex.EncodeToString(mac(token, body))
}

func mac(token string, body []byte) []byte {
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write(body) // a hash.Hash never fails to write
	return m.Sum(nil)
}

// VerifyWebhook checks that signature (the SignatureHeader value, hex) is
// Crypto Pay's signature of the raw body under token. Any failure, an empty
// token included, is ErrBadSignature; the comparison takes constant time so
// that timing does not reveal how much of a forged signature was right.
func VerifyWebhook(token string, body []byte, signature string) error {
	if token == "" {
		return fmt.Errorf("%w: no API token to check it with", ErrBadSignature)
	}
	if signature == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, SignatureHeader)
	}
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: not %d hex-encoded bytes", ErrBadSignature, sha256.Size)
	}
	if !hmac.Equal(got, mac(token, body)) {
		return fmt.Errorf("%w: does not match the body", ErrBadSignature)
	}
	return nil
}

// ParseUpdate reads a webhook body, which should have been verified first.
// A body that is not an update with an invoice is ErrMalformedUpdate.
func ParseUpdate(body []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(body, &u); err != nil {
		return Update{}, fmt.Errorf("%w: %w", ErrMalformedUpdate, err)
	}
	if u.UpdateType == "" || u.Invoice.InvoiceID <= 0 {
		return Update{}, fmt.Errorf("%w: no update_type or no payload.invoice_id", ErrMalformedUpdate)
	}
	return u, nil
}
