package vpn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OutlineConfig sets up an Outline adapter from the server's management
// config, as the installer prints it: {"apiUrl": ..., "certSha256": ...}.
type OutlineConfig struct {
	// APIURL is the management API URL with its secret path,
	// e.g. https://203.0.113.5:41234/Xu8dF3k_aPqz. The path is a credential.
	APIURL string
	// CertSHA256 is the hex SHA-256 of the server's DER certificate (colons
	// and case ignored). Empty means the certificate must verify against the
	// system roots instead.
	CertSHA256 string
	// Timeout bounds each HTTP request (default DefaultTimeout).
	Timeout time.Duration
	// NamePrefix starts every key id this bot makes (default DefaultNamePrefix).
	NamePrefix string
	// PageSize, when positive, is how many accounts Accounts returns a
	// page. The server lists every key at once and each page is cut from
	// the whole list read again, so the default is one page of them all:
	// with pages of 500, a reconciliation of 100,000 keys read the list
	// 200 times and took 67 s instead of 0.9 s (expiry-cleanup's
	// BenchmarkReconcile, 20 ms a call).
	PageSize int
}

// Outline keeps users' accounts as access keys on an Outline server
// (shadowbox). A user's account is the key whose id and name are
// AccountName(prefix, user id) ("vpnbot_u42"), chosen by us through PUT
// /access-keys/{id}, so a repeated CreateAccount finds the key instead of
// making a second one. Outline keys do not expire: the bot disables or
// deletes them when they should.
type Outline struct {
	api      *apiClient
	prefix   string
	pageSize int    // 0: one page
	secret   string // the API URL's path, replaced in any text the server echoes
}

var _ Panel = (*Outline)(nil)

// NewOutline returns an adapter for cfg. It makes no request.
func NewOutline(cfg OutlineConfig) (*Outline, error) {
	u, err := url.Parse(cfg.APIURL)
	if err != nil {
		// url.Parse's error quotes the URL, secret path included.
		return nil, errors.New("outline APIURL is not a URL")
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("outline APIURL must be an https:// URL with a host")
	}
	prefix, err := accountPrefix(cfg.NamePrefix, outlineMaxID)
	if err != nil {
		return nil, fmt.Errorf("outline: %w", err)
	}
	var tlsConfig *tls.Config
	if cfg.CertSHA256 != "" {
		pin, err := parseCertSHA256(cfg.CertSHA256)
		if err != nil {
			return nil, fmt.Errorf("outline CertSHA256: %w", err)
		}
		tlsConfig = pinnedTLS(pin)
	}
	return &Outline{
		api:      newAPIClient(KindOutline, u.String(), nil, tlsConfig, cfg.Timeout),
		prefix:   prefix,
		pageSize: max(cfg.PageSize, 0),
		secret:   strings.TrimSuffix(u.EscapedPath(), "/"),
	}, nil
}

func parseCertSHA256(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	pin, err := hex.DecodeString(clean)
	if err != nil || len(pin) != sha256.Size {
		return nil, errors.New("want the 64 hex digits of a SHA-256")
	}
	return pin, nil
}

// pinnedTLS trusts exactly the certificate whose DER hashes to pin, the way
// the Outline Manager trusts shadowbox: its certificate is self-signed for an
// IP address, so chains and names prove nothing and the pin is the identity.
func pinnedTLS(pin []byte) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Chain and name checks are replaced by the pin check below, which
		// runs on every handshake: no session cache is set, so no handshake
		// is resumed without it.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return fmt.Errorf("%w: the server sent no certificate", ErrUntrustedCertificate)
			}
			sum := sha256.Sum256(rawCerts[0])
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return fmt.Errorf("%w: its SHA-256 is %X, not the configured CertSHA256",
					ErrUntrustedCertificate, sum[:])
			}
			return nil
		},
	}
}

// Close releases idle connections to the server.
func (o *Outline) Close() error {
	o.api.Close()
	return nil
}

// outlineKey is an access key as the management API returns it.
type outlineKey struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Password  string            `json:"password"`
	Port      int               `json:"port"`
	Method    string            `json:"method"`
	DataLimit *outlineDataLimit `json:"dataLimit,omitempty"`
	AccessURL string            `json:"accessUrl"`
}

type outlineDataLimit struct {
	Bytes int64 `json:"bytes"`
}

// outlineError is shadowbox's (restify's) error body.
type outlineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func keyPath(id string) string { return "/access-keys/" + url.PathEscape(id) }

// listKeys reads every key on the server.
func (o *Outline) listKeys(ctx context.Context) ([]outlineKey, error) {
	const path = "/access-keys"
	op := http.MethodGet + " " + path
	a, err := o.api.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, o.statusError(op, a)
	}
	var list struct {
		AccessKeys []outlineKey `json:"accessKeys"`
	}
	if err := o.api.decode(op, a, &list); err != nil {
		return nil, err
	}
	return list.AccessKeys, nil
}

// get reads one key; a key that does not exist is ErrNotFound.
func (o *Outline) get(ctx context.Context, id string) (outlineKey, error) {
	path := keyPath(id)
	op := http.MethodGet + " " + path
	a, err := o.api.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return outlineKey{}, err
	}
	switch {
	case a.status == http.StatusOK:
		var k outlineKey
		if err := o.api.decode(op, a, &k); err != nil {
			return outlineKey{}, err
		}
		return k, nil
	case o.keyMissing(a):
		return outlineKey{}, fmt.Errorf("outline key %s: %w", id, ErrNotFound)
	default:
		return outlineKey{}, o.statusError(op, a)
	}
}

// keyMissing tells "no such key" from "no such route": shadowbox answers 404
// to both, but a request outside the secret path, or to an endpoint the
// server lacks, is restify's ResourceNotFound, and taking that for a missing
// key would make DeleteAccount report success against a misconfigured server.
func (o *Outline) keyMissing(a answer) bool {
	if a.status != http.StatusNotFound {
		return false
	}
	var e outlineError
	if json.Unmarshal(a.body, &e) != nil {
		return false
	}
	return e.Code == "NotFound" || e.Code == "NotFoundError"
}

func (o *Outline) statusError(op string, a answer) error {
	var e outlineError
	_ = json.Unmarshal(a.body, &e) // a body that is not restify's leaves no detail
	detail := o.redact(strings.TrimSpace(e.Code + " " + e.Message))
	if a.status == http.StatusNotFound {
		return fmt.Errorf("outline %s: %w: the server does not know this path: "+
			"a wrong secret in the API URL, or a shadowbox without this endpoint (%s)", op, ErrUnauthorized, detail)
	}
	return o.api.statusError(op, a, detail)
}

// redact removes the secret path from text the server echoes back.
func (o *Outline) redact(s string) string {
	if o.secret == "" || o.secret == "/" {
		return s
	}
	s = strings.ReplaceAll(s, o.secret, "/<secret>")
	if raw, err := url.PathUnescape(o.secret); err == nil && raw != o.secret {
		s = strings.ReplaceAll(s, raw, "/<secret>")
	}
	return s
}
