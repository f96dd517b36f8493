package cryptopay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
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
	mux.HandleFunc("POST /sandbox/faults", s.apiInject)
	mux.HandleFunc("DELETE /sandbox/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
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

// faultJSON is a Fault as the API takes it; latency is a Go duration
// ("250ms", "2s") or a number of milliseconds.
type faultJSON struct {
	Method  string          `json:"method"`
	Latency json.RawMessage `json:"latency"`
	Status  int             `json:"status"`
	Hang    bool            `json:"hang"`
	Times   int             `json:"times"`
}

func parseLatency(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		d, err := time.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("parsing latency: %w", err)
		}
		return d, nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return 0, fmt.Errorf("latency is neither a duration nor milliseconds: %w", err)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

func (s *Server) apiInject(w http.ResponseWriter, r *http.Request) {
	var f faultJSON
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		apiFail(w, http.StatusBadRequest, fmt.Errorf("reading JSON body: %w", err))
		return
	}
	latency, err := parseLatency(f.Latency)
	if err != nil {
		apiFail(w, http.StatusBadRequest, err)
		return
	}
	s.Inject(Fault{Method: f.Method, Latency: latency, Status: f.Status, Hang: f.Hang, Times: f.Times})
	w.WriteHeader(http.StatusNoContent)
}
