package outline

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// Config sets up a Server. Zero values take the defaults documented on each field.
type Config struct {
	// SecretPath is the API's secret path prefix, without slashes (default:
	// random, as the installer makes it).
	SecretPath string
	// Hostname is the host put in access URLs and in the certificate
	// (default 127.0.0.1).
	Hostname string
	// Port is the port put in access URLs of new keys (default 8388).
	Port int
	// StateDir, when set, is the folder where the server keeps its keys
	// (secrets, limits and traffic included), the next numeric id, its
	// certificate, its secret path (unless SecretPath is set) and the port
	// it listened on, across restarts: New restores them, so a server
	// started again has the API URL and certificate services were
	// configured with, and every key handed out still works. Each change
	// is written before it is answered. Empty keeps everything in memory.
	StateDir string
	// Log receives the server's own logs (failed TLS handshakes and the like).
	Log zerolog.Logger
}

const (
	defaultHostname = "127.0.0.1"
	defaultPort     = 8388
	defaultMethod   = "chacha20-ietf-poly1305"
)

// Key is an access key as the server holds it.
type Key struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Password  string `json:"password"`
	Port      int    `json:"port"`
	Method    string `json:"method"`
	DataLimit *int64 `json:"dataLimitBytes,omitempty"` // nil: no limit
	AccessURL string `json:"accessUrl"`
	// UsedBytes is the traffic the key moved (Transfer): the server blocks
	// the key once it reaches DataLimit, as shadowbox does.
	UsedBytes int64 `json:"usedBytes,omitempty"`
}

// Blocked reports whether the server refuses the key's connections: its
// data limit is reached, a limit of 0 at once.
func (k *Key) Blocked() bool { return k.DataLimit != nil && k.UsedBytes >= *k.DataLimit }

// Server is a fake Outline management API. Create it with New, serve it with
// Start (or mount Handler behind your own TLS) and always Close it.
type Server struct {
	cfg        Config
	log        zerolog.Logger
	prefix     string // "/" + secret path
	cert       tls.Certificate
	certSHA256 string
	api        *fakehttp.API    // routes relative to the prefix
	control    *http.ServeMux   // /sandbox/...
	web        *fakehttp.Server // serves s.serve and counts its requests; locks itself

	// ctx is cancelled by Close; every request served watches it, so Close
	// can release hangs and wait for them.
	ctx    context.Context
	cancel context.CancelFunc

	faults *fault.Injector[struct{}] // locks itself

	mu     sync.Mutex
	client *http.Client
	keys   map[string]*Key
	order  []string // key ids in creation order
	nextID int
	// port is the port Start listened on, kept in Config.StateDir.
	port int
}

// New returns a server for cfg with the state Config.StateDir holds, or a
// fresh self-signed certificate and secret path. It starts nothing until
// Start.
func New(cfg Config) (*Server, error) {
	if cfg.Hostname == "" {
		cfg.Hostname = defaultHostname
	}
	if cfg.Port <= 0 {
		cfg.Port = defaultPort
	}
	cfg.SecretPath = strings.Trim(cfg.SecretPath, "/")
	st, err := readState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.SecretPath == "" {
		cfg.SecretPath = st.SecretPath
	}
	if cfg.SecretPath == "" {
		cfg.SecretPath = randomString(16)
	}
	cert, err := st.certificate(cfg.Hostname)
	if err != nil {
		return nil, err
	}
	if cert == nil {
		c, err := selfSigned(cfg.Hostname)
		if err != nil {
			return nil, fmt.Errorf("making the certificate: %w", err)
		}
		cert = &c
	}
	sum := sha256.Sum256(cert.Certificate[0])
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    cfg.Log.With().Str("component", "sandbox-outline").Logger(),
		prefix: "/" + cfg.SecretPath,
		cert:   *cert,
		// Upper-case hex, as the installer prints certSha256.
		certSHA256: strings.ToUpper(hex.EncodeToString(sum[:])),
		ctx:        ctx,
		cancel:     cancel,
		keys:       map[string]*Key{},
		faults:     fault.New[struct{}](fault.FoldCase),
	}
	s.restore(st)
	s.routeAPI()
	s.routeControl()
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "outline sandbox",
		Handler: http.HandlerFunc(s.serve),
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "server is closed")
		},
		Log: s.log,
	})
	if cfg.StateDir != "" {
		// The certificate and the secret path are on disk before anyone is
		// told them.
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.saveLocked(); err != nil {
			cancel()
			return nil, err
		}
	}
	return s, nil
}

// selfSigned makes a certificate like shadowbox's: self-signed, for the
// server's address, trusted only through its pinned SHA-256.
func selfSigned(hostname string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(hostname); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else {
		tmpl.DNSNames = append(tmpl.DNSNames, hostname)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Handler serves the management API under the secret path and the sandbox
// control API under /sandbox/. It expects TLS in front of it.
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// serve sends a request to the control API or, past the secret path, to the
// management API.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sandbox/") {
		s.control.ServeHTTP(w, r)
		return
	}
	rest, ok := s.cutPrefix(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFound", r.URL.Path+" does not exist")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = rest, ""
	s.api.Mux.ServeHTTP(w, r2)
}

// cutPrefix strips the secret path, comparing it in constant time as
// shadowbox does, so its length and bytes cannot be probed by timing.
func (s *Server) cutPrefix(path string) (string, bool) {
	n := min(len(path), len(s.prefix))
	match := subtle.ConstantTimeCompare([]byte(path[:n]), []byte(s.prefix[:n])) == 1
	if !match || len(path) < len(s.prefix) {
		return "", false
	}
	rest := path[len(s.prefix):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves Handler over TLS in
// the background until Close. With Config.StateDir, an addr of port 0
// takes the port an earlier run listened on, so the API URL stays the
// same; a new port only if another process holds that one.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	kept := s.port
	s.mu.Unlock()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("starting the outline sandbox on %q: %w", addr, err)
	}
	started := false
	if port == "0" && kept != 0 {
		err := s.web.StartTLS(net.JoinHostPort(host, strconv.Itoa(kept)), s.cert)
		if err != nil {
			s.log.Warn().Err(err).Int("port", kept).Msg("the port of the last run is taken: the API URL changes")
		}
		started = err == nil
	}
	if !started {
		if err := s.web.StartTLS(addr, s.cert); err != nil {
			return err
		}
	}
	u, err := url.Parse(s.web.URL())
	if err != nil {
		return fmt.Errorf("starting the outline sandbox: %w", err)
	}
	listened, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("starting the outline sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if listened == s.port {
		return nil
	}
	s.port = listened
	return s.saveLocked()
}

// APIURL is the management API URL with its secret path, as the installer
// prints it for the Outline Manager; empty before Start.
func (s *Server) APIURL() string {
	base := s.web.URL()
	if base == "" {
		return ""
	}
	return base + s.prefix
}

// CertSHA256 is the upper-case hex SHA-256 of the server's DER certificate,
// the certSha256 clients pin.
func (s *Server) CertSHA256() string { return s.certSHA256 }

// ManagerConfig is the line the installer prints for the Outline Manager:
// {"apiUrl":"...","certSha256":"..."}.
func (s *Server) ManagerConfig() string {
	data, _ := json.Marshal(map[string]string{"apiUrl": s.APIURL(), "certSha256": s.certSHA256}) // strings always marshal
	return string(data)
}

// Client returns an HTTP client that trusts the server's certificate, for
// tests that call the API directly. Close closes its idle connections.
func (s *Server) Client() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		pool := x509.NewCertPool()
		leaf, err := x509.ParseCertificate(s.cert.Certificate[0])
		if err == nil { // it was made by New, so it parses
			pool.AddCert(leaf)
		}
		s.client = &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}}
	}
	return s.client
}

// Close stops serving, releases hanging requests and waits for all of them.
// It is safe to call more than once.
func (s *Server) Close() {
	// Hung handlers return once the context is cancelled and the faults are
	// closed; the server waits for them.
	s.web.Close(func() {
		s.cancel()
		s.faults.Close()
	})
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client != nil {
		client.CloseIdleConnections()
	}
}

// Keys returns the keys in creation order.
func (s *Server) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Key, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.keys[id].clone())
	}
	return out
}

// Key returns the key with id, if it exists.
func (s *Server) Key(id string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return Key{}, false
	}
	return k.clone(), true
}

// Requests counts the calls a route received (as named in the package doc,
// e.g. "PUT /access-keys/{id}"), failed ones included; "" counts all.
func (s *Server) Requests(route string) int { return s.api.Requests(route) }

func (k *Key) clone() Key {
	c := *k
	if k.DataLimit != nil {
		v := *k.DataLimit
		c.DataLimit = &v
	}
	return c
}
