package fakehttp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config sets up a Server. Every field is required.
type Config struct {
	// Name is the fake as its errors and logs call it, e.g. "telegram
	// sandbox": "starting telegram sandbox: ...", "telegram sandbox listening".
	Name string
	// Handler serves the fake's routes.
	Handler http.Handler
	// UnavailableFunc answers a request that arrives after Close, in the
	// fake's protocol (e.g. a 503 in its error envelope).
	UnavailableFunc http.HandlerFunc
	// Log receives the listening and serving logs.
	Log zerolog.Logger
}

// Server serves one fake's Handler. Create it with New and always Close it.
type Server struct {
	cfg Config

	// inFlight counts the requests Handler is serving; Add happens under mu
	// only while open, so Close's Wait never races a new request.
	inFlight sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	srv       *http.Server
	serveDone chan struct{}
	url       string
}

// New returns a server for cfg. It starts nothing until Start or StartTLS.
func New(cfg Config) *Server {
	return &Server{cfg: cfg}
}

// Handler serves cfg.Handler until Close and cfg.UnavailableFunc after it.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.cfg.UnavailableFunc(w, r)
			return
		}
		s.inFlight.Add(1)
		s.mu.Unlock()
		defer s.inFlight.Done()
		s.cfg.Handler.ServeHTTP(w, r)
	})
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves Handler over plain
// HTTP in the background until Close. It logs the URL.
func (s *Server) Start(addr string) error {
	return s.start(addr, nil)
}

// StartTLS listens on addr and serves Handler over TLS with cert in the
// background until Close. It logs the address.
func (s *Server) StartTLS(addr string, cert tls.Certificate) error {
	return s.start(addr, &cert)
}

func (s *Server) start(addr string, cert *tls.Certificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("starting %s: server is closed", s.cfg.Name)
	}
	if s.srv != nil {
		return fmt.Errorf("starting %s: already started", s.cfg.Name)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.cfg.Name, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if cert != nil {
		scheme = "https"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		// Clients that reject the certificate (the point of some tests) make
		// the server log a handshake error; that belongs in our debug log.
		srv.ErrorLog = log.New(debugWriter{s.cfg.Log}, "", 0)
	}
	done := make(chan struct{})
	s.srv, s.serveDone = srv, done
	s.url = scheme + "://" + ln.Addr().String()
	go func() {
		defer close(done)
		var err error
		if cert != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error().Err(err).Msg(s.cfg.Name + " stopped serving")
		}
	}()
	if cert != nil {
		s.cfg.Log.Info().Str("addr", ln.Addr().String()).Msg(s.cfg.Name + " listening")
	} else {
		s.cfg.Log.Info().Str("url", s.url).Msg(s.cfg.Name + " listening")
	}
	return nil
}

type debugWriter struct{ log zerolog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// URL is where Start or StartTLS listens, e.g. http://127.0.0.1:PORT or
// https://127.0.0.1:PORT; empty before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close refuses new requests, calls release (if not nil) so the handlers
// blocked on the fake's state return, stops serving and waits for every
// request in flight. Only the first call does anything.
func (s *Server) Close(release func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	srv, done := s.srv, s.serveDone
	s.mu.Unlock()

	if release != nil {
		release()
	}
	if srv != nil {
		_ = srv.Close() // closing the listener and connections is all we want
		<-done
	}
	s.inFlight.Wait()
}
