package cryptopay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// routeSandboxAPI serves the control API for `make run` and curl: list
// invoices, pay or expire them, resend a webhook, set the webhook URL,
// inject faults and read counters.
func (s *Server) routeSandboxAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /sandbox/invoices", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Invoices())
	})
	mux.HandleFunc("POST /sandbox/invoices/{id}/paid", s.apiInvoice(s.MarkPaid))
	mux.HandleFunc("POST /sandbox/invoices/{id}/expired", s.apiInvoice(s.Expire))
	mux.HandleFunc("POST /sandbox/invoices/{id}/resend", s.apiInvoice(func(id int64) (Invoice, error) {
		if err := s.Resend(id); err != nil {
			return Invoice{}, err
		}
		return s.Invoice(id)
	}))
	mux.HandleFunc("PUT /sandbox/webhook", s.apiSetWebhook)
	fault.HandleControl(mux, func(f faultJSON) {
		s.Inject(Fault{Method: f.Method, Latency: time.Duration(f.Latency), Status: f.Status, Hang: f.Hang, Times: f.Times})
	}, s.ClearFaults)
	mux.HandleFunc("GET /sandbox/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("/sandbox/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such sandbox endpoint"})
	})
}

func apiFail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// apiInvoice answers an operation on /sandbox/invoices/{id}/... with the
// invoice after it: 404 for an unknown invoice, 409 for one in the wrong state.
func (s *Server) apiInvoice(op func(int64) (Invoice, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			apiFail(w, http.StatusBadRequest, fmt.Errorf("id %q is not a positive integer", r.PathValue("id")))
			return
		}
		inv, err := op(id)
		switch {
		case errors.Is(err, ErrNotFound):
			apiFail(w, http.StatusNotFound, err)
		case errors.Is(err, ErrNotActive), errors.Is(err, ErrNotPaid):
			apiFail(w, http.StatusConflict, err)
		case err != nil:
			apiFail(w, http.StatusInternalServerError, err)
		default:
			writeJSON(w, http.StatusOK, inv)
		}
	}
}

func (s *Server) apiSetWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		apiFail(w, http.StatusBadRequest, fmt.Errorf("reading JSON body: %w", err))
		return
	}
	s.SetWebhook(body.URL)
	w.WriteHeader(http.StatusNoContent)
}

// faultJSON is a Fault as the API takes it.
type faultJSON struct {
	Method  string         `json:"method"`
	Latency fault.Duration `json:"latency"`
	Status  int            `json:"status"`
	Hang    bool           `json:"hang"`
	Times   int            `json:"times"`
}
