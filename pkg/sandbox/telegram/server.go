package telegram

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// Config sets up a Server. Zero values take the defaults documented on each field.
type Config struct {
	// Token is the one bot token accepted, e.g. "123456:TEST"; the bot's user
	// id is the number before ':'.
	Token string
	// BotUsername is the bot's username in getMe and in sent messages
	// (default "vpnbot_test_bot").
	BotUsername string
	// GlobalRate is the bot-wide limit of sending calls per second
	// (default 30; < 0 means unlimited).
	GlobalRate float64
	// ChatRate is the per-chat limit of sending calls per second
	// (default 1; < 0 means unlimited).
	ChatRate float64
	// ChatBurst is how many sending calls a chat may make at once before
	// ChatRate applies (default 3).
	ChatBurst int
	// PaidRate is the bot-wide limit of sending calls per second with
	// allow_paid_broadcast, which take it instead of GlobalRate (default
	// 1000, Telegram's paid broadcast limit; < 0 means unlimited). The chat's
	// limit applies to them all the same.
	PaidRate float64
	// RetryBase is the delay before the first redelivery of a failed webhook
	// update (default 200ms); it doubles on each failure up to RetryMax.
	RetryBase time.Duration
	// RetryMax caps the webhook redelivery delay (default 10s).
	RetryMax time.Duration
	// WebhookTimeout is how long one webhook delivery may take before it
	// counts as failed (default 30s).
	WebhookTimeout time.Duration
	// FirstUpdateID is the id of the first update (default 1). Telegram's
	// update ids only grow over a bot's life; a sandbox started again over a
	// database that remembers handled updates must continue past them, or
	// the bot takes its new updates for old ones.
	FirstUpdateID int64
	// PreCheckoutTimeout is how long a payment waits for the bot's
	// answerPreCheckoutQuery before it is cancelled (default 10s, as Telegram).
	PreCheckoutTimeout time.Duration
	// StateDir, when set, is the folder where the server keeps its chats,
	// users, pending updates and ids across restarts: Start restores them,
	// a snapshot is written within SaveInterval of a change and at Close.
	// A SIGKILL loses the changes of the last SaveInterval at most, but no
	// id: update and message ids are reserved on disk before they are
	// handed out, and a run after a kill goes on past the reservation.
	// Empty keeps everything in memory.
	StateDir string
	// SaveInterval is how often, at most, the snapshot is written while
	// things change (default 1s).
	SaveInterval time.Duration
	// Log receives the server's own logs (webhook changes, delivery failures).
	Log zerolog.Logger
}

const (
	defaultBotUsername    = "vpnbot_test_bot"
	defaultGlobalRate     = 30
	defaultPaidRate       = 1000
	defaultChatRate       = 1
	defaultChatBurst      = 3
	defaultRetryBase      = 200 * time.Millisecond
	defaultRetryMax       = 10 * time.Second
	defaultWebhookTimeout = 30 * time.Second
	defaultMaxConnections = 40
	defaultPreCheckout    = 10 * time.Second
	botFirstName          = "VPN Bot"
	maxUploadBytes        = 50 << 20 // Telegram's upload limit for bots
)

// Server is a fake Telegram Bot API. Create it with New, serve it with Start
// (or mount Handler yourself) and always Close it.
type Server struct {
	cfg    Config
	botID  int64
	log    zerolog.Logger
	mux    *http.ServeMux
	client *http.Client // webhook deliveries

	web *fakehttp.Server // serves mux and counts its requests; locks itself

	// ctx is cancelled by Close; every request served and every goroutine the
	// server starts watches it, and the goroutines are counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	faults *fault.Injector[chatFault] // locks itself

	// saver writes the state to Config.StateDir (nil without one);
	// reserved is the reservation on disk there.
	saver    *statefile.Saver
	reserved reservation

	mu     sync.Mutex
	closed bool // no new webhook goroutine once set

	users   map[int64]User
	blocked map[int64]bool
	chats   map[int64]*chat
	// maxMessageID is the highest message id of any chat; messageFloor
	// is where a new chat's ids start after (0, or past a killed run's
	// reservation).
	maxMessageID int64
	messageFloor int64
	files        map[string][]byte // file_id → bytes of photos the bot uploaded
	nextFile     int64
	callbacks    map[string]*callbackState
	commands     map[string]json.RawMessage // scope|language → commands as set
	channels     map[string]*channel        // channelKey → the channel getChatMember looks into
	menuButton   MenuButton                 // the bot's default menu button (setChatMenuButton)

	preCheckouts map[string]*preCheckout   // pre_checkout_query id → the bot's answer
	payments     map[string]*storedMessage // telegram_payment_charge_id → the successful_payment message
	refunded     map[string]bool           // telegram_payment_charge_id of each refunded payment
	invoiceLinks map[string]*invoiceLink   // slug → the invoice of a createInvoiceLink link
	// checkouts maps every pre_checkout_query id to its update, for
	// Answers: a query outlives its wait in preCheckouts.
	checkouts map[string]int64
	// answers holds, by update_id, when the bot answered the update (see
	// Answers).
	answers map[int64][]time.Time

	requests     map[string]int
	tooMany      int
	flooded      int
	floods       []Flood // the latest maxFloods
	forbidden    int
	deliveries   int
	deliveryFail int

	global *rate.Limiter // nil when unlimited
	// paidGlobal is the bot-wide limit of paid broadcasts (nil when
	// unlimited), and paidBroadcasts counts the paid messages sent.
	paidGlobal     *rate.Limiter
	paidBroadcasts int
	chatLimit      map[int64]*rate.Limiter

	// changed is closed (and replaced) whenever updates or messages change, to
	// wake long polls and WaitMessages.
	changed chan struct{}

	updates updateQueue
}

// New returns a server for cfg. It starts no goroutine until Start or a
// webhook is registered.
func New(cfg Config) *Server {
	if cfg.BotUsername == "" {
		cfg.BotUsername = defaultBotUsername
	}
	if cfg.GlobalRate == 0 {
		cfg.GlobalRate = defaultGlobalRate
	}
	if cfg.PaidRate == 0 {
		cfg.PaidRate = defaultPaidRate
	}
	if cfg.ChatRate == 0 {
		cfg.ChatRate = defaultChatRate
	}
	if cfg.ChatBurst <= 0 {
		cfg.ChatBurst = defaultChatBurst
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = defaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = defaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = defaultWebhookTimeout
	}
	if cfg.PreCheckoutTimeout <= 0 {
		cfg.PreCheckoutTimeout = defaultPreCheckout
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = defaultSaveInterval
	}
	botID, _ := strconv.ParseInt(strings.SplitN(cfg.Token, ":", 2)[0], 10, 64)

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:          cfg,
		botID:        botID,
		log:          cfg.Log.With().Str("component", "sandbox-telegram").Logger(),
		client:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
		ctx:          ctx,
		cancel:       cancel,
		users:        map[int64]User{},
		blocked:      map[int64]bool{},
		chats:        map[int64]*chat{},
		files:        map[string][]byte{},
		callbacks:    map[string]*callbackState{},
		commands:     map[string]json.RawMessage{},
		preCheckouts: map[string]*preCheckout{},
		payments:     map[string]*storedMessage{},
		refunded:     map[string]bool{},
		invoiceLinks: map[string]*invoiceLink{},
		checkouts:    map[string]int64{},
		answers:      map[int64][]time.Time{},
		faults:       fault.New[chatFault](fault.FoldCase),
		requests:     map[string]int{},
		chatLimit:    map[int64]*rate.Limiter{},
		changed:      make(chan struct{}),
		updates:      newUpdateQueue(),
	}
	if cfg.FirstUpdateID > 0 {
		s.updates.lastID = cfg.FirstUpdateID - 1
	}
	if cfg.GlobalRate > 0 {
		s.global = rate.NewLimiter(rate.Limit(cfg.GlobalRate), max(1, int(cfg.GlobalRate)))
	}
	if cfg.PaidRate > 0 {
		s.paidGlobal = rate.NewLimiter(rate.Limit(cfg.PaidRate), max(1, int(cfg.PaidRate)))
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/", s.serveBotAPI)
	s.routeSandboxAPI(s.mux)
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "telegram sandbox",
		Handler: s.mux,
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, &apiError{code: http.StatusServiceUnavailable, desc: "Service Unavailable"})
		},
		Log: s.log,
	})
	return s
}

// Handler serves the Bot API (/bot<token>/<method>) and the sandbox control
// API (/sandbox/...).
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// Start restores the state of Config.StateDir, then listens on addr (e.g.
// "127.0.0.1:0") and serves Handler in the background until Close.
func (s *Server) Start(addr string) error {
	if err := s.restore(); err != nil {
		return err
	}
	if err := s.web.Start(addr); err != nil {
		s.closeState()
		return err
	}
	return nil
}

// URL is the base URL to give telebot as Settings.URL, e.g.
// http://127.0.0.1:PORT; empty before Start.
func (s *Server) URL() string { return s.web.URL() }

// Close stops serving, releases hung and long-polling requests, stops webhook
// delivery and waits for all of it, then writes the state to
// Config.StateDir. It is safe to call more than once.
func (s *Server) Close() {
	s.web.Close(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		// Hung and long-polling handlers return once the context is
		// cancelled and the faults are closed; the server waits for them.
		s.cancel()
		s.faults.Close()
	})
	s.wg.Wait()
	s.client.CloseIdleConnections()
	s.closeState()
}

// broadcastLocked wakes everyone waiting for updates or messages to change.
func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.changedLocked()
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func badRequest(desc string) *apiError {
	return &apiError{code: http.StatusBadRequest, desc: "Bad Request: " + desc}
}

func floodError(retryAfter int) *apiError {
	return &apiError{
		code:       http.StatusTooManyRequests,
		desc:       "Too Many Requests: retry after " + strconv.Itoa(retryAfter),
		retryAfter: retryAfter,
	}
}

var errBlocked = &apiError{code: http.StatusForbidden, desc: "Forbidden: bot was blocked by the user"}

type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      any             `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  *responseParams `json:"parameters,omitempty"`
}

type responseParams struct {
	RetryAfter int `json:"retry_after,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not our error
}

func writeError(w http.ResponseWriter, e *apiError) {
	resp := apiResponse{ErrorCode: e.code, Description: e.desc}
	if e.retryAfter > 0 {
		resp.Parameters = &responseParams{RetryAfter: e.retryAfter}
	}
	writeJSON(w, e.code, resp)
}

// serveBotAPI answers /bot<token>/<method> the way api.telegram.org does.
func (s *Server) serveBotAPI(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found"})
		return
	}
	token, name, _ := strings.Cut(rest, "/")
	if token != s.cfg.Token || s.cfg.Token == "" {
		writeError(w, &apiError{code: http.StatusUnauthorized, desc: "Unauthorized"})
		return
	}
	// Telegram matches method names case-insensitively.
	m, ok := methods[strings.ToLower(name)]
	if !ok {
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found"})
		return
	}
	s.mu.Lock()
	s.requests[m.name]++
	s.mu.Unlock()

	p, err := parseParams(r)
	if err != nil {
		s.log.Debug().Err(err).Str("method", m.name).Msg("unreadable request")
		s.answer(w, m.name, nil, badRequest(err.Error()))
		return
	}
	req := &request{ctx: r.Context(), params: p}
	chatID, _ := p.int64("chat_id")

	if e := s.applyFault(r.Context(), m.name, chatID); e != nil {
		s.answer(w, m.name, nil, e)
		return
	}
	paid := m.sends && p.bool(paramPaidBroadcast)
	if m.sends {
		if e := s.admitSend(m.name, chatID, paid); e != nil {
			s.answer(w, m.name, nil, e)
			return
		}
	}
	result, e := m.handleFunc(s, req)
	if paid && e == nil {
		s.mu.Lock()
		s.paidBroadcasts++
		s.mu.Unlock()
	}
	s.answer(w, m.name, result, e)
}

// answer writes a method's result or error and counts refusals for Stats.
func (s *Server) answer(w http.ResponseWriter, method string, result any, e *apiError) {
	if e == nil {
		if d, ok := result.(described); ok {
			writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: d.result, Description: d.desc})
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: result})
		return
	}
	s.mu.Lock()
	switch e.code {
	case http.StatusTooManyRequests:
		s.tooMany++
	case http.StatusForbidden:
		s.forbidden++
	}
	s.mu.Unlock()
	s.log.Debug().Str("method", method).Int("code", e.code).Str("description", e.desc).Msg("bot api call refused")
	writeError(w, e)
}

// described is a result that Telegram answers with a description too
// ("Webhook was set").
type described struct {
	result any
	desc   string
}
