package console

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Telegram is what the chat and the Telegram switch need of the sandbox
// Telegram (*sandboxtg.Server).
type Telegram interface {
	SetUser(u sandboxtg.User)
	SendText(userID int64, text string) int64
	PressButton(userID, messageID int64, data string) int64
	PayInvoice(userID, messageID int64) (sandboxtg.PaymentResult, error)
	// InvoiceLink and PayInvoiceLink run a Mini App's openInvoice.
	InvoiceLink(slug string) (sandboxtg.Invoice, error)
	PayInvoiceLink(userID int64, slug string) (sandboxtg.PaymentResult, error)
	History(chatID int64) []sandboxtg.Message
	Chats() []int64
	Stats() sandboxtg.Stats
	// MenuButton and WebAppInitData open the bot's Mini App as Telegram's
	// client does.
	MenuButton() sandboxtg.MenuButton
	WebAppInitData(userID int64) string
	Faults[sandboxtg.Fault]
}

// Faults is a sandbox that takes injected faults of type F.
type Faults[F any] interface {
	Inject(f F)
	ClearFaults()
}

// Control is what the status page and the kill switches need of the running
// system; *localstack.Stack satisfies it.
type Control interface {
	Services() []localstack.ServiceID
	Kill(service string, replica int) error
	Start(service string, replica int) error
	Running(service string, replica int) bool
	OpsURL(service string, replica int) string
}

// SandboxPanel is what a panel's switches and its row on the status page
// need of a sandbox VPN panel (*sandboxoutline.Server).
type SandboxPanel interface {
	Faults[sandboxoutline.Fault]
	Keys() []sandboxoutline.Key
}

// Panel is a sandbox VPN panel of the fleet the workers use.
type Panel struct {
	// Name is the panel's name in VPN_PANELS, which its metrics are
	// labelled with.
	Name     string
	Kind     string
	Location string
	Sandbox  SandboxPanel
}

// Panels are the sandbox panels of a local stack, for Config.Panels.
func Panels(st *localstack.Stack) []Panel {
	var out []Panel
	for _, p := range st.Panels {
		out = append(out, Panel{Name: p.Name, Kind: vpn.KindOutline, Location: p.Location, Sandbox: p.Server})
	}
	return out
}

// Config sets up a Server. Telegram is required; without CryptoPay, Panels,
// Control or JetStream their switches and the status page's services,
// panels or streams are left out.
type Config struct {
	Telegram  Telegram
	CryptoPay Faults[sandboxcp.Fault]
	// Panels are the sandbox VPN panels, each with its switches and its row
	// of the status page; a panel that only the services' metrics name (a
	// real one) gets a row too.
	Panels  []Panel
	Control Control
	// JetStream is the broker the status page reads the streams and their
	// consumers from.
	JetStream jetstream.JetStream
	// SandboxAPI, when set, serves /sandbox/... (the sandbox Telegram's
	// control API, its Handler) beside the web app.
	SandboxAPI http.Handler
	// Traces are the latest traces the services exported (localstack's
	// receiver); nil shows none, and the status page says tracing is off.
	Traces *traces.Store
	// ProbeTimeout bounds each scrape of a service's /livez, /readyz and
	// /metrics, and the reading of the streams (default 2s).
	ProbeTimeout time.Duration
	Log          zerolog.Logger
}

const defaultProbeTimeout = 2 * time.Second

//go:embed static
var static embed.FS

// Server is the web app. Create it with New, serve Handler, and Close it to
// wait for the service starts it began.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	http     *http.Client
	switches *Switchboard
	mux      *http.ServeMux

	// starts counts the service starts in flight (Control.Start waits until
	// the service is ready, longer than a request should take).
	starts sync.WaitGroup
	mu     sync.Mutex
	// starting holds the labels of services being started and startErrors
	// why the last start of a service failed, for the status page; closed
	// refuses new starts once Close began.
	starting    map[string]bool
	startErrors map[string]string
	closed      bool
}

// New returns the web app for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Telegram == nil {
		return nil, errors.New("console: Config.Telegram is required")
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = defaultProbeTimeout
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Log.With().Str("component", "console").Logger(),
		http:        &http.Client{Timeout: cfg.ProbeTimeout, Transport: &http.Transport{}},
		switches:    NewSwitchboard(cfg),
		starting:    map[string]bool{},
		startErrors: map[string]string{},
	}
	pages, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("console: the embedded pages: %w", err)
	}
	s.mux = http.NewServeMux()
	s.routeChat(s.mux)
	s.routeStatus(s.mux)
	s.routeTraces(s.mux)
	files := http.FileServerFS(pages)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /{$}", servePage(pages, "chat.html"))
	s.mux.HandleFunc("GET /status", servePage(pages, "status.html"))
	if cfg.SandboxAPI != nil {
		s.mux.Handle("/sandbox/", cfg.SandboxAPI)
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such API endpoint"})
	})
	return s, nil
}

// Handler serves the pages, their API and (with Config.SandboxAPI) the
// sandbox Telegram's control API.
func (s *Server) Handler() http.Handler { return jsonOnly(s.mux) }

// jsonOnly refuses API calls that change something unless their body is
// declared JSON. A browser sends such a call from another site only after a
// CORS preflight, which this server never grants, so a page elsewhere cannot
// kill services or flip switches through the browser of whoever runs the
// sandbox. Reads, the pages and the curl-facing /sandbox/ API are let
// through.
func jsonOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") && r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{"send Content-Type: application/json"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Close waits for the service starts in flight and releases idle
// connections. The Server answers no further starts.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.starts.Wait()
	s.http.CloseIdleConnections()
}

func servePage(pages fs.FS, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The pages change with the binary, not while it runs; revalidate so
		// a rebuilt devstack never shows a stale one.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, pages, name)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not our error
}

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody{err.Error()})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("reading JSON body: %w", err)
	}
	return nil
}

// pathInt reads the path wildcard name as a positive integer.
func pathInt(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive integer", name, r.PathValue(name))
	}
	return v, nil
}
