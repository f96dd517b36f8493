package outline

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// stateFile is the file under Config.StateDir that holds the server's state.
const stateFile = "state.json"

// savedState is what the server keeps across restarts: what shadowbox keeps
// in its config files (the keys, the next id) and what its installer made
// once (the certificate, the secret path, the API port). Faults and request
// counts are not kept.
type savedState struct {
	SecretPath string `json:"secret_path"`
	// Hostname is the one the certificate was made for; a server started
	// for another makes a new certificate.
	Hostname string `json:"hostname"`
	CertPEM  string `json:"cert_pem"`
	KeyPEM   string `json:"key_pem"`
	APIPort  int    `json:"api_port,omitempty"`
	NextID   int    `json:"next_id"`
	// Keys are in creation order, secrets included.
	Keys []Key `json:"keys"`
}

// readState reads the state dir holds; none without dir or a file.
func readState(dir string) (savedState, error) {
	var st savedState
	if dir == "" {
		return st, nil
	}
	if _, err := statefile.Read(filepath.Join(dir, stateFile), &st); err != nil {
		return savedState{}, fmt.Errorf("restoring the outline sandbox: %w", err)
	}
	return st, nil
}

// certificate is the kept certificate if it was made for hostname, nil
// when there is none to keep.
func (st savedState) certificate(hostname string) (*tls.Certificate, error) {
	if st.CertPEM == "" || st.Hostname != hostname {
		return nil, nil
	}
	cert, err := tls.X509KeyPair([]byte(st.CertPEM), []byte(st.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("restoring the outline sandbox's certificate (move %s away to start afresh): %w", stateFile, err)
	}
	return &cert, nil
}

// restore puts st's keys, next id and port in place, before the server is
// shared.
func (s *Server) restore(st savedState) {
	s.nextID, s.port = st.NextID, st.APIPort
	for _, k := range st.Keys {
		c := k.clone()
		s.keys[k.ID] = &c
		s.order = append(s.order, k.ID)
	}
	if len(st.Keys) > 0 {
		s.log.Info().Int("keys", len(st.Keys)).Str("dir", s.cfg.StateDir).Msg("access keys restored")
	}
}

// saveLocked writes the whole state to Config.StateDir, if set.
func (s *Server) saveLocked() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(s.cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("saving the outline sandbox's state: encoding the certificate's key: %w", err)
	}
	st := savedState{
		SecretPath: s.cfg.SecretPath,
		Hostname:   s.cfg.Hostname,
		CertPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Certificate[0]})),
		KeyPEM:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		APIPort:    s.port,
		NextID:     s.nextID,
		Keys:       make([]Key, 0, len(s.order)),
	}
	for _, id := range s.order {
		st.Keys = append(st.Keys, s.keys[id].clone())
	}
	if err := statefile.Write(filepath.Join(s.cfg.StateDir, stateFile), st); err != nil {
		s.log.Error().Err(err).Msg("saving the access keys failed; the change is refused")
		return fmt.Errorf("saving the outline sandbox's state: %w", err)
	}
	return nil
}

// changeLocked runs fn, which changes the keys and answers, and saves the
// result before it is answered, so a key handed out is on disk first. A
// change that cannot be saved is undone and answered 500, as shadowbox
// answers a config file it cannot write. An answer of fn that is not a
// success changed nothing and is returned as it is.
func (s *Server) changeLocked(fn func() reply) reply {
	if s.cfg.StateDir == "" {
		return fn()
	}
	keys, order, nextID := make(map[string]*Key, len(s.keys)), append([]string(nil), s.order...), s.nextID
	for id, k := range s.keys {
		c := k.clone()
		keys[id] = &c
	}
	rp := fn()
	if rp.Status >= 300 {
		return rp
	}
	if err := s.saveLocked(); err != nil {
		s.keys, s.order, s.nextID = keys, order, nextID
		return failure(http.StatusInternalServerError, "InternalServer", "the server could not save its access keys")
	}
	return rp
}
