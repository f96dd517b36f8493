package cryptopay

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// stateFile is the file under Config.StateDir that holds the invoices.
const stateFile = "state.json"

// errStateNotSaved: a change could not be written to Config.StateDir, and
// was undone.
var errStateNotSaved = errors.New("the sandbox could not save its state")

// savedState is what the sandbox keeps across restarts: every invoice, the
// last ids handed out, and the invoice_paid updates Resend sends again.
// Requests, stats, faults and deliveries in flight are not kept.
type savedState struct {
	LastInvoiceID int64          `json:"last_invoice_id"`
	LastUpdateID  int64          `json:"last_update_id"`
	Invoices      []savedInvoice `json:"invoices"`
	// PaidUpdates are kept as strings: Resend must send the same bytes,
	// which an indented file would re-indent as raw JSON.
	PaidUpdates map[int64]string `json:"paid_updates,omitempty"`
}

// invoiceFields is an Invoice without its MarshalJSON, whose times are
// Crypto Pay's strings: savedInvoice keeps them as time.Time beside it.
type invoiceFields Invoice

type savedInvoice struct {
	invoiceFields
	CreatedAt       time.Time `json:"created_at"`
	ExpirationDate  time.Time `json:"expiration_date,omitzero"`
	PaidAt          time.Time `json:"paid_at,omitzero"`
	PaidAnonymously bool      `json:"paid_anonymously,omitempty"`
}

// load restores the state Config.StateDir holds, if any.
func (s *Server) load() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	var st savedState
	found, err := statefile.Read(filepath.Join(s.cfg.StateDir, stateFile), &st)
	if err != nil {
		return fmt.Errorf("restoring the crypto pay sandbox: %w", err)
	}
	if !found {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID, s.lastUpdate = max(s.lastID, st.LastInvoiceID), max(s.lastUpdate, st.LastUpdateID)
	for _, si := range st.Invoices {
		inv := Invoice(si.invoiceFields)
		inv.CreatedAt, inv.ExpirationDate, inv.PaidAt = si.CreatedAt, si.ExpirationDate, si.PaidAt
		inv.PaidAnonymously = si.PaidAnonymously
		s.invoices[inv.InvoiceID] = &inv
		s.byHash[inv.Hash] = inv.InvoiceID
		s.lastID = max(s.lastID, inv.InvoiceID)
	}
	for id, body := range st.PaidUpdates {
		s.paidBodies[id] = []byte(body)
	}
	s.log.Info().Int("invoices", len(st.Invoices)).Int64("last_invoice_id", s.lastID).
		Str("dir", s.cfg.StateDir).Msg("invoices restored")
	return nil
}

// saveLocked writes the whole state to Config.StateDir, if set. Every
// change is saved before it is answered, so an id handed out is on disk
// first and is never handed out again, whatever ends the process.
func (s *Server) saveLocked() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	st := savedState{
		LastInvoiceID: s.lastID,
		LastUpdateID:  s.lastUpdate,
		Invoices:      make([]savedInvoice, 0, len(s.invoices)),
		PaidUpdates:   make(map[int64]string, len(s.paidBodies)),
	}
	for _, inv := range s.invoices {
		st.Invoices = append(st.Invoices, savedInvoice{
			invoiceFields:   invoiceFields(*inv),
			CreatedAt:       inv.CreatedAt,
			ExpirationDate:  inv.ExpirationDate,
			PaidAt:          inv.PaidAt,
			PaidAnonymously: inv.PaidAnonymously,
		})
	}
	slices.SortFunc(st.Invoices, func(a, b savedInvoice) int { return cmp.Compare(a.InvoiceID, b.InvoiceID) })
	for id, body := range s.paidBodies {
		st.PaidUpdates[id] = string(body)
	}
	if err := statefile.Write(filepath.Join(s.cfg.StateDir, stateFile), st); err != nil {
		s.log.Error().Err(err).Msg("saving the invoices failed; the change is refused")
		return fmt.Errorf("%w: %w", errStateNotSaved, err)
	}
	return nil
}
