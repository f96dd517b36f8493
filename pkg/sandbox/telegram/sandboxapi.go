package telegram

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// routeSandboxAPI serves the control API for `make run` and curl: fake users
// write and press buttons, join and leave channels, tests read chats, block
// users, inject faults and read counters.
func (s *Server) routeSandboxAPI(mux *http.ServeMux) {
	mux.HandleFunc("PUT /sandbox/users/{id}", s.apiSetUser)
	mux.HandleFunc("POST /sandbox/users/{id}/messages", s.apiSendText)
	mux.HandleFunc("POST /sandbox/users/{id}/photos", s.apiSendPhoto)
	mux.HandleFunc("POST /sandbox/users/{id}/callbacks", s.apiPressButton)
	mux.HandleFunc("POST /sandbox/users/{id}/invoices/{message_id}/pay", s.apiPayInvoice)
	mux.HandleFunc("POST /sandbox/users/{id}/payments/{charge_id}/resend", s.apiResendPayment)
	mux.HandleFunc("POST /sandbox/users/{id}/block", s.apiBlock(true))
	mux.HandleFunc("POST /sandbox/users/{id}/unblock", s.apiBlock(false))
	mux.HandleFunc("GET /sandbox/chats/{id}/messages", s.apiMessages)
	mux.HandleFunc("PUT /sandbox/channels/{chat}/members/{id}", s.apiSetChatMember)
	mux.HandleFunc("POST /sandbox/channels/{chat}/hide-members", s.apiHideMembers(true))
	mux.HandleFunc("POST /sandbox/channels/{chat}/show-members", s.apiHideMembers(false))
	fault.HandleControl(mux, func(f faultJSON) {
		s.Inject(Fault{
			Method: f.Method, ChatID: f.ChatID, Latency: time.Duration(f.Latency), Status: f.Status,
			RetryAfter: f.RetryAfter, Hang: f.Hang, Times: f.Times,
		})
	}, s.ClearFaults)
	mux.HandleFunc("GET /sandbox/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("/sandbox/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such sandbox endpoint"})
	})
}

func apiFail(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}

func pathID(r *http.Request) (int64, error) {
	return pathInt(r, "id")
}

// pathInt reads the path wildcard name as a positive integer.
func pathInt(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive integer", name, r.PathValue(name))
	}
	return id, nil
}

func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("reading JSON body: %w", err)
	}
	return nil
}

func (s *Server) apiSetUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	var u User
	if err := decodeBody(r, &u); err != nil {
		apiFail(w, err)
		return
	}
	u.ID = id
	s.SetUser(u)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiSendText(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := decodeBody(r, &body); err != nil {
		apiFail(w, err)
		return
	}
	if body.Text == "" {
		apiFail(w, errors.New("text is empty"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"update_id": s.SendText(id, body.Text)})
}

func (s *Server) apiPressButton(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	var body struct {
		MessageID int64  `json:"message_id"`
		Data      string `json:"data"`
	}
	if err := decodeBody(r, &body); err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"update_id": s.PressButton(id, body.MessageID, body.Data)})
}

// apiPayInvoice answers once the payment has ended, which takes as long as
// the bot needs to answer the pre-checkout query (at most
// Config.PreCheckoutTimeout).
func (s *Server) apiPayInvoice(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	msgID, err := pathInt(r, "message_id")
	if err != nil {
		apiFail(w, err)
		return
	}
	res, err := s.PayInvoice(id, msgID)
	if err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiResendPayment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	updateID, err := s.ResendSuccessfulPayment(id, r.PathValue("charge_id"))
	if err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"update_id": updateID})
}

func (s *Server) apiBlock(block bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			apiFail(w, err)
			return
		}
		if block {
			s.Block(id)
		} else {
			s.Unblock(id)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// apiSetChatMember takes a ChatMember, e.g. {"status":"member"} or
// {"status":"restricted","is_member":true}.
func (s *Server) apiSetChatMember(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	var m ChatMember
	if err := decodeBody(r, &m); err != nil {
		apiFail(w, err)
		return
	}
	if err := s.SetChatMember(r.PathValue("chat"), id, m); err != nil {
		apiFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiHideMembers(hidden bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.HideMembers(r.PathValue("chat"), hidden)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	msgs := s.Messages(id)
	if msgs == nil {
		msgs = []Message{}
	}
	writeJSON(w, http.StatusOK, msgs)
}

// faultJSON is a Fault as the API takes it.
type faultJSON struct {
	Method     string         `json:"method"`
	ChatID     int64          `json:"chat_id"`
	Latency    fault.Duration `json:"latency"`
	Status     int            `json:"status"`
	RetryAfter int            `json:"retry_after"`
	Hang       bool           `json:"hang"`
	Times      int            `json:"times"`
}
