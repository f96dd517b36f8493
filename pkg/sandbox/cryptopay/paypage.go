package cryptopay

import (
	"errors"
	"html/template"
	"net/http"
)

// payPage is the page bot_invoice_url opens: the price, and while the
// invoice is active a form that pays it. The button has id "pay" for
// headless browsers.
var payPage = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Crypto Pay sandbox — {{.Price}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }
.card { border: 1px solid #ccc; border-radius: .75rem; padding: 1.5rem; }
.price { font-size: 2rem; margin: .5rem 0; }
button { font-size: 1.1rem; padding: .6rem 1.2rem; border-radius: .5rem; border: 0; background: #2481cc; color: #fff; cursor: pointer; }
select { font-size: 1rem; padding: .3rem; margin-right: .5rem; }
.status { font-weight: bold; }
.muted { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<div class="card">
<p class="muted">Crypto Pay sandbox · invoice #{{.Invoice.InvoiceID}}</p>
<div class="price">{{.Price}}</div>
{{with .Invoice.Description}}<p>{{.}}</p>{{end}}
{{if .Error}}<p class="status" id="error">{{.Error}}</p>{{end}}
{{if eq .Invoice.Status "active"}}
<form method="post" action="">
{{if .Assets}}<label>Pay with <select name="asset" id="asset">{{range .Assets}}<option value="{{.}}">{{.}}</option>{{end}}</select></label>{{end}}
<button type="submit" id="pay">Pay {{.Price}}</button>
</form>
{{else if eq .Invoice.Status "paid"}}
<p class="status" id="status">Paid: {{.Invoice.PaidAmount}} {{.Invoice.PaidAsset}}</p>
{{else}}
<p class="status" id="status">This invoice has expired.</p>
{{end}}
</div>
</body>
</html>
`))

type payPageData struct {
	Invoice Invoice
	Price   string
	Assets  []string
	Error   string
}

func price(inv Invoice) string {
	switch {
	case inv.CurrencyType == "crypto":
		return inv.Amount + " " + inv.Asset
	case inv.Fiat == "USD":
		return "$" + inv.Amount
	default:
		return inv.Amount + " " + inv.Fiat
	}
}

func (s *Server) renderPayPage(w http.ResponseWriter, status int, inv Invoice, errText string) {
	data := payPageData{Invoice: inv, Price: price(inv), Assets: inv.AcceptedAssets, Error: errText}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := payPage.Execute(w, data); err != nil {
		s.log.Debug().Err(err).Msg("writing the pay page")
	}
}

// invoiceByHash returns a copy of the invoice with that hash, refreshed.
func (s *Server) invoiceByHash(hash string) (Invoice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[s.byHash[hash]]
	if !ok {
		return Invoice{}, false
	}
	s.refreshLocked(inv)
	return *inv, true
}

func (s *Server) servePayPage(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.invoiceByHash(r.PathValue("hash"))
	if !ok {
		http.Error(w, "no such invoice", http.StatusNotFound)
		return
	}
	s.renderPayPage(w, http.StatusOK, inv, "")
}

// servePay pays the invoice and shows the page again (303, so a reload does
// not post twice). Paying a paid invoice changes nothing.
func (s *Server) servePay(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	asset := r.PostFormValue("asset")
	s.mu.Lock()
	inv, ok := s.invoices[s.byHash[hash]]
	if !ok {
		s.mu.Unlock()
		http.Error(w, "no such invoice", http.StatusNotFound)
		return
	}
	err := s.payLocked(inv, asset, true)
	snapshot := *inv
	s.mu.Unlock()

	switch {
	case err == nil, snapshot.Status == StatusPaid:
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
	case errors.Is(err, ErrNotActive):
		s.renderPayPage(w, http.StatusGone, snapshot, "This invoice can no longer be paid.")
	case errors.Is(err, errStateNotSaved):
		s.renderPayPage(w, http.StatusInternalServerError, snapshot, "The sandbox could not save the payment; try again.")
	default:
		s.renderPayPage(w, http.StatusBadRequest, snapshot, err.Error())
	}
}
