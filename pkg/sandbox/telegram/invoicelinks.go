package telegram

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// Invoice links, as createInvoiceLink makes them: the invoice is not a
// message in a chat but a link (https://t.me/$<slug>) a Mini App opens with
// Telegram.WebApp.openInvoice, which Telegram's client turns into the event
// web_app_open_invoice with the slug. Paying runs as for an invoice message:
// the pre-checkout query first, then the successful_payment message in the
// user's chat with the bot. Anyone with the link may pay it, and more than
// once, as in Telegram: the bot must refuse or refund what it cannot honour.

// invoiceLinkPrefix starts every invoice link.
const invoiceLinkPrefix = "https://t.me/$"

// ErrNoSuchInvoiceLink is returned for a slug createInvoiceLink never made.
var ErrNoSuchInvoiceLink = errors.New("no such invoice link")

// invoiceLink is an invoice made with createInvoiceLink.
type invoiceLink struct {
	invoice Invoice
	paying  map[int64]bool // users with a payment of it in progress
}

func (s *Server) createInvoiceLink(r *request) (any, *apiError) {
	inv, e := r.params.invoice()
	if e != nil {
		return nil, e
	}
	slug := strings.ToLower(rand.Text()[:16])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invoiceLinks[slug] = &invoiceLink{invoice: *inv, paying: map[int64]bool{}}
	return invoiceLinkPrefix + slug, nil
}

// InvoiceLinkSlug is the slug of an invoice link, as Telegram's client
// passes it to web_app_open_invoice; ok is false for another URL.
func InvoiceLinkSlug(link string) (slug string, ok bool) {
	slug, ok = strings.CutPrefix(link, invoiceLinkPrefix)
	return slug, ok && slug != ""
}

// InvoiceLink is the invoice of the link with the slug, without its
// payload (which users never see).
func (s *Server) InvoiceLink(slug string) (Invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.invoiceLinks[slug]
	if !ok {
		return Invoice{}, fmt.Errorf("invoice link %q: %w", slug, ErrNoSuchInvoiceLink)
	}
	inv := l.invoice
	inv.Payload = ""
	return inv, nil
}

// PayInvoiceLink makes the user pay the invoice link with the slug, as
// PayInvoice does an invoice message; each payment is a new charge.
func (s *Server) PayInvoiceLink(userID int64, slug string) (PaymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.invoiceLinks[slug]
	switch {
	case !ok:
		return PaymentResult{}, fmt.Errorf("paying invoice link %q: %w", slug, ErrNoSuchInvoiceLink)
	case l.paying[userID]:
		return PaymentResult{}, fmt.Errorf("paying invoice link %q as user %d: a payment of it is in progress", slug, userID)
	}
	l.paying[userID] = true
	res, err := s.payLocked(userID, l.invoice)
	delete(l.paying, userID)
	if err != nil {
		return PaymentResult{}, fmt.Errorf("paying invoice link %q as user %d: %w", slug, userID, err)
	}
	return res, nil
}
