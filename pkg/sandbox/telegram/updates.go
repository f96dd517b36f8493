package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// updateQueue holds the updates not yet delivered (webhook) or confirmed
// (getUpdates), and the webhook registration.
type updateQueue struct {
	lastID  int64
	lastSeq uint64
	pending []*pendingUpdate // in the order they were written
	// allowed is the allowed_updates setting; nil means Telegram's default.
	allowed []string
	hook    webhook

	delivery    map[int64]*chatDelivery
	inflight    int
	dispatching bool
	wake        chan struct{} // capacity 1: "look at the queue again"
}

func newUpdateQueue() updateQueue {
	return updateQueue{delivery: map[int64]*chatDelivery{}, wake: make(chan struct{}, 1)}
}

type pendingUpdate struct {
	seq    uint64 // our own identity: update_id may repeat (Enqueue)
	id     int64
	chatID int64
	body   json.RawMessage
}

type webhook struct {
	url            string
	secret         string
	maxConnections int
	lastErrorDate  time.Time
	lastErrorMsg   string
}

// chatDelivery is the webhook delivery state of one chat's queue.
type chatDelivery struct {
	busy     bool
	attempts int // consecutive failures of the chat's head update
	retryAt  time.Time
}

// defaultExcluded are the update types Telegram sends only when asked for.
var defaultExcluded = []string{"chat_member", "message_reaction", "message_reaction_count"}

func (s *Server) nextUpdateIDLocked() int64 {
	s.updates.lastID++
	s.reserveLocked()
	return s.updates.lastID
}

// pushLocked queues an update for the chat, unless allowed_updates filters
// its type out (Telegram does not create such updates at all).
func (s *Server) pushLocked(chatID, updateID int64, kind string, body json.RawMessage) {
	q := &s.updates
	if (q.allowed == nil && slices.Contains(defaultExcluded, kind)) || (q.allowed != nil && !slices.Contains(q.allowed, kind)) {
		s.log.Debug().Int64("update_id", updateID).Str("type", kind).Msg("update type not allowed, dropped")
		return
	}
	q.lastSeq++
	q.pending = append(q.pending, &pendingUpdate{seq: q.lastSeq, id: updateID, chatID: chatID, body: body})
	s.broadcastLocked()
	s.pokeDispatcherLocked()
}

func (s *Server) pokeDispatcherLocked() {
	select {
	case s.updates.wake <- struct{}{}:
	default:
	}
}

type apiUpdate struct {
	UpdateID         int64                `json:"update_id"`
	Message          *apiMessage          `json:"message,omitempty"`
	CallbackQuery    *apiCallbackQuery    `json:"callback_query,omitempty"`
	PreCheckoutQuery *apiPreCheckoutQuery `json:"pre_checkout_query,omitempty"`
}

type apiCallbackQuery struct {
	ID           string      `json:"id"`
	From         *apiUser    `json:"from"`
	Message      *apiMessage `json:"message"`
	ChatInstance string      `json:"chat_instance"`
	Data         string      `json:"data,omitempty"`
}

// SendText makes the user write text in their private chat with the bot
// (chat id = user id) and returns the update's update_id. A leading /command
// gets a bot_command entity, as in Telegram. It returns once the update is
// queued, not delivered.
func (s *Server) SendText(userID int64, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &storedMessage{
		Message:  Message{ChatID: userID, Text: text, Plain: text, Date: time.Now()},
		entities: commandEntities(text),
	}
	s.addLocked(m)
	id := s.nextUpdateIDLocked()
	m.updateID = id
	body, err := json.Marshal(apiUpdate{UpdateID: id, Message: s.apiMessageLocked(m, true)})
	if err != nil {
		s.log.Error().Err(err).Msg("encoding message update")
		return id
	}
	s.pushLocked(userID, id, "message", body)
	return id
}

// commandEntities marks a leading /command (with an optional @botname).
func commandEntities(text string) []apiEntity {
	if !strings.HasPrefix(text, "/") {
		return nil
	}
	end := strings.IndexFunc(text, unicode.IsSpace)
	if end < 0 {
		end = len(text)
	}
	cmd := text[:end]
	valid := len(cmd) > 1 && strings.IndexFunc(cmd[1:], func(r rune) bool {
		return !(r == '_' || r == '@' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	}) < 0
	if !valid {
		return nil
	}
	return []apiEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(cmd)}}
}

// PressButton makes the user press an inline button with callback data on
// the bot's message messageID in their chat, and returns the update_id of
// the callback_query. The bot's answer is visible with CallbackAnswer.
func (s *Server) PressButton(userID, messageID int64, data string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextUpdateIDLocked()
	cbID := strconv.FormatInt(s.botID, 10) + strconv.FormatInt(id, 10)
	s.callbacks[cbID] = &callbackState{updateID: id}

	msg := &apiMessage{MessageID: messageID, Chat: s.privateChat(userID)} // date 0: inaccessible, as Telegram marks it
	if target := s.chatLocked(userID).find(messageID); target != nil {
		msg = s.apiMessageLocked(target, true)
	}
	body, err := json.Marshal(apiUpdate{UpdateID: id, CallbackQuery: &apiCallbackQuery{
		ID:           cbID,
		From:         fromUser(s.userLocked(userID)),
		Message:      msg,
		ChatInstance: strconv.FormatInt(8_000_000_000_000_000_000+userID, 10),
		Data:         data,
	}})
	if err != nil {
		s.log.Error().Err(err).Msg("encoding callback update")
		return id
	}
	s.pushLocked(userID, id, "callback_query", body)
	return id
}

// Enqueue queues a raw update for a chat as it is, e.g. the same update_id
// twice to test duplicate handling. An update without update_id gets the
// next one. A message in it joins the chat, so the bot can reply to it.
func (s *Server) Enqueue(chatID int64, update json.RawMessage) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(update, &fields); err != nil {
		s.log.Error().Err(err).Msg("enqueueing an update that is not a JSON object; dropped")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id int64
	if raw, ok := fields["update_id"]; ok {
		_ = json.Unmarshal(raw, &id) // a non-number reads as missing
	}
	body := slices.Clone(update)
	if id <= 0 {
		id = s.nextUpdateIDLocked()
		fields["update_id"] = json.RawMessage(strconv.FormatInt(id, 10))
		var err error
		if body, err = json.Marshal(fields); err != nil {
			s.log.Error().Err(err).Msg("encoding enqueued update; dropped")
			return
		}
	} else if id > s.updates.lastID {
		s.updates.lastID = id
		s.reserveLocked()
	}
	kind := ""
	for k := range fields {
		if k != "update_id" {
			kind = k
		}
	}
	if kind == "message" {
		s.recordUserMessageLocked(chatID, id, fields["message"])
	}
	s.pushLocked(chatID, id, kind, body)
}

func (s *Server) recordUserMessageLocked(chatID, updateID int64, raw json.RawMessage) {
	var m struct {
		MessageID int64  `json:"message_id"`
		Date      int64  `json:"date"`
		Text      string `json:"text"`
	}
	if json.Unmarshal(raw, &m) != nil || m.MessageID <= 0 {
		return
	}
	c := s.chatLocked(chatID)
	if c.find(m.MessageID) != nil {
		return
	}
	c.messages = append(c.messages, &storedMessage{Message: Message{
		ID: m.MessageID, ChatID: chatID, Text: m.Text, Plain: m.Text, Date: time.Unix(m.Date, 0),
	}, updateID: updateID})
	c.lastID = max(c.lastID, m.MessageID)
	s.maxMessageID = max(s.maxMessageID, m.MessageID)
	s.reserveLocked()
}

var errConflict = &apiError{
	code: http.StatusConflict,
	desc: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
}

func (s *Server) getUpdates(r *request) (any, *apiError) {
	p := r.params
	offset, e := p.int64("offset")
	if e != nil {
		return nil, e
	}
	limit, e := p.int64("limit")
	if e != nil {
		return nil, e
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, e := p.int64("timeout")
	if e != nil {
		return nil, e
	}
	var allowed []string
	allowedSet, e := p.decode("allowed_updates", &allowed)
	if e != nil {
		return nil, e
	}

	wait := time.NewTimer(time.Duration(max(timeout, 0)) * time.Second)
	defer wait.Stop()
	for {
		s.mu.Lock()
		if s.updates.hook.url != "" {
			s.mu.Unlock()
			return nil, errConflict
		}
		if allowedSet {
			s.setAllowedLocked(allowed)
		}
		batch := s.confirmAndCollectLocked(offset, int(limit))
		changed := s.changed
		s.mu.Unlock()
		if len(batch) > 0 || timeout <= 0 {
			return batch, nil
		}
		select {
		case <-changed:
		case <-wait.C:
			timeout = 0 // one last look, then answer
		case <-r.ctx.Done():
			return []json.RawMessage{}, nil
		case <-s.ctx.Done():
			return []json.RawMessage{}, nil
		}
	}
}

func (s *Server) setAllowedLocked(allowed []string) {
	if len(allowed) == 0 {
		s.updates.allowed = nil
		return
	}
	s.updates.allowed = allowed
}

// confirmAndCollectLocked forgets the updates getUpdates' offset confirms and
// returns up to limit of the rest.
func (s *Server) confirmAndCollectLocked(offset int64, limit int) []json.RawMessage {
	q := &s.updates
	before := len(q.pending)
	switch {
	case offset > 0:
		q.pending = slices.DeleteFunc(q.pending, func(u *pendingUpdate) bool { return u.id < offset })
	case offset < 0:
		// Telegram: a negative offset returns updates from the end of the
		// queue and forgets all previous ones.
		if n := int(-offset); n < len(q.pending) {
			q.pending = slices.Delete(q.pending, 0, len(q.pending)-n)
		}
	}
	if len(q.pending) < before {
		s.changedLocked()
	}
	out := []json.RawMessage{}
	for _, u := range q.pending {
		if len(out) == limit {
			break
		}
		if offset <= 0 || u.id >= offset {
			out = append(out, u.body)
		}
	}
	return out
}

func (s *Server) setWebhook(r *request) (any, *apiError) {
	p := r.params
	url := p.str("url")
	drop := p.bool("drop_pending_updates")
	if url == "" {
		return s.removeWebhook(drop), nil
	}
	if u, err := neturl.Parse(url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badRequest("bad webhook: invalid webhook URL specified")
	}
	secret := p.str("secret_token")
	if !validSecret(secret) {
		return nil, badRequest("secret token contains unallowed characters")
	}
	maxConn, e := p.int64("max_connections")
	if e != nil {
		return nil, e
	}
	if maxConn <= 0 {
		maxConn = defaultMaxConnections
	}
	maxConn = min(maxConn, 100)
	var allowed []string
	allowedSet, e := p.decode("allowed_updates", &allowed)
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.updates
	same := q.hook.url == url && q.hook.secret == secret && q.hook.maxConnections == int(maxConn)
	q.hook.url, q.hook.secret, q.hook.maxConnections = url, secret, int(maxConn)
	if allowedSet {
		s.setAllowedLocked(allowed)
	}
	if drop {
		q.pending = nil
	}
	// A new registration is tried at once, not after the old one's backoff.
	for _, d := range q.delivery {
		d.attempts, d.retryAt = 0, time.Time{}
	}
	if !q.dispatching && !s.closed {
		q.dispatching = true
		s.wg.Add(1)
		go s.dispatch()
	}
	s.pokeDispatcherLocked()
	s.broadcastLocked() // long polls now answer 409
	s.log.Info().Str("url", url).Bool("secret", secret != "").Int64("max_connections", maxConn).Msg("webhook set")
	if same {
		return described{result: true, desc: "Webhook is already set"}, nil
	}
	return described{result: true, desc: "Webhook was set"}, nil
}

// validSecret: 0-256 characters of A-Z, a-z, 0-9, _ and -.
func validSecret(secret string) bool {
	if len(secret) > 256 {
		return false
	}
	for _, r := range secret {
		if !(r == '_' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			return false
		}
	}
	return true
}

func (s *Server) deleteWebhook(r *request) (any, *apiError) {
	return s.removeWebhook(r.params.bool("drop_pending_updates")), nil
}

func (s *Server) removeWebhook(drop bool) described {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.updates
	wasSet := q.hook.url != ""
	q.hook.url, q.hook.secret, q.hook.maxConnections = "", "", 0
	if drop {
		q.pending = nil
		s.broadcastLocked()
	}
	if !wasSet {
		return described{result: true, desc: "Webhook is already deleted"}
	}
	s.log.Info().Msg("webhook deleted")
	return described{result: true, desc: "Webhook was deleted"}
}

type webhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
}

func (s *Server) getWebhookInfo(*request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.updates
	info := webhookInfo{URL: q.hook.url, PendingUpdateCount: len(q.pending)}
	if q.hook.url != "" {
		info.MaxConnections = q.hook.maxConnections
		info.AllowedUpdates = slices.Clone(q.allowed)
		info.LastErrorMessage = q.hook.lastErrorMsg
		if !q.hook.lastErrorDate.IsZero() {
			info.LastErrorDate = q.hook.lastErrorDate.Unix()
		}
	}
	return info, nil
}

// dispatch starts webhook deliveries: each chat's oldest update, one at a
// time per chat, at most max_connections at once, and failed ones again
// after their backoff.
func (s *Server) dispatch() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.startDeliveries()
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.updates.wake:
		case <-timer.C:
		}
	}
}

// startDeliveries starts what may be delivered now and returns when the
// earliest backed-off chat may be tried again (zero if none).
func (s *Server) startDeliveries() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.updates
	if q.hook.url == "" || s.ctx.Err() != nil {
		return time.Time{}
	}
	now := time.Now()
	var next time.Time
	heads := map[int64]bool{}
	for _, u := range q.pending {
		if heads[u.chatID] {
			continue // only a chat's oldest update may be in flight
		}
		heads[u.chatID] = true
		d, ok := q.delivery[u.chatID]
		if !ok {
			d = &chatDelivery{}
			q.delivery[u.chatID] = d
		}
		if d.busy {
			continue
		}
		if now.Before(d.retryAt) {
			if next.IsZero() || d.retryAt.Before(next) {
				next = d.retryAt
			}
			continue
		}
		if q.inflight >= q.hook.maxConnections {
			break // a finishing delivery pokes us again
		}
		d.busy = true
		q.inflight++
		s.wg.Add(1)
		go s.deliver(q.hook.url, q.hook.secret, u)
	}
	return next
}

// deliver POSTs one update to the webhook and records the outcome.
func (s *Server) deliver(url, secret string, u *pendingUpdate) {
	defer s.wg.Done()
	failure := s.post(url, secret, u.body)

	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.updates
	d := q.delivery[u.chatID]
	d.busy = false
	q.inflight--
	if s.ctx.Err() != nil {
		return // closing: the attempt was cut short, not failed
	}
	if failure == "" {
		q.pending = slices.DeleteFunc(q.pending, func(p *pendingUpdate) bool { return p.seq == u.seq })
		d.attempts, d.retryAt = 0, time.Time{}
		s.deliveries++
		s.broadcastLocked()
	} else {
		d.attempts++
		delay := s.cfg.RetryBase << min(d.attempts-1, 30)
		if delay <= 0 || delay > s.cfg.RetryMax {
			delay = s.cfg.RetryMax
		}
		d.retryAt = time.Now().Add(delay)
		s.deliveryFail++
		q.hook.lastErrorDate, q.hook.lastErrorMsg = time.Now(), failure
		s.log.Warn().Int64("update_id", u.id).Int64("chat_id", u.chatID).Int("attempt", d.attempts).
			Dur("retry_in", delay).Str("error", failure).Msg("webhook delivery failed")
	}
	s.pokeDispatcherLocked()
}

// post sends one update and describes a failure the way getWebhookInfo's
// last_error_message does; "" means delivered.
func (s *Server) post(url, secret string, body []byte) string {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("Bad webhook URL: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.client.Do(req)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "Read timeout expired"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Connection refused"
	case err != nil:
		return err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drained so the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "Wrong response from the webhook: " + resp.Status
	}
	return ""
}
