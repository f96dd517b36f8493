package xui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
)

// reply is a route's answer: a status and a JSON body (nil: none).
type reply = fakehttp.Reply

// msg is the panel's answer to every API call (entity.Msg), always 200.
type msg struct {
	Success bool   `json:"success"`
	Msg     string `json:"msg"`
	Obj     any    `json:"obj"`
}

func ok(obj any) reply { return reply{Status: http.StatusOK, Body: msg{Success: true, Obj: obj}} }

func done(text string) reply {
	return reply{Status: http.StatusOK, Body: msg{Success: true, Msg: text}}
}

// failed is jsonMsg with an error: the toast text, then the error in brackets.
func failed(text string, err error) reply {
	return reply{Status: http.StatusOK, Body: msg{Msg: text + " (" + err.Error() + ")"}}
}

// empty is an answer without a body, as gin's AbortWithStatus gives.
func empty(status int) reply { return reply{Status: status} }

// The panel's own error texts (common.NewError and gorm's).
var (
	errRecordNotFound = errors.New("record not found")
	errEmptyClientID  = errors.New("empty client ID")
	errNoClientLeft   = errors.New("no client remained in Inbound")
)

const somethingWentWrong = "Something went wrong"

// writerKey carries the ResponseWriter to the routes that set a cookie,
// which a fakehttp route cannot do through its reply.
type writerKey struct{}

func writerOf(r *http.Request) http.ResponseWriter {
	w, _ := r.Context().Value(writerKey{}).(http.ResponseWriter)
	return w
}

func (s *Server) routeAPI() {
	s.api = fakehttp.NewAPI(s.faults, func(status int, _ bool) reply { return empty(status) })
	s.api.Route("POST /login", s.login)
	if s.line.csrf {
		s.api.Route("GET /csrf-token", s.csrfToken)
	}
	s.route("GET /panel/api/inbounds/list", s.listInbounds)
	s.route("GET /panel/api/inbounds/get/{id}", s.getInbound)
	if s.line.clientsAPI {
		s.route("GET /panel/api/clients/get/{email}", s.getClient)
		s.route("GET /panel/api/clients/traffic/{email}", s.getTraffic)
		s.route("POST /panel/api/clients/add", s.createClient)
		s.route("POST /panel/api/clients/update/{email}", s.updateClientByEmail)
		s.route("POST /panel/api/clients/del/{email}", s.deleteClientByEmail)
	} else {
		s.route("GET /panel/api/inbounds/getClientTraffics/{email}", s.getTraffic)
		s.route("POST /panel/api/inbounds/addClient", s.addClient)
		s.route("POST /panel/api/inbounds/updateClient/{clientId}", s.updateClient)
		s.route("POST /panel/api/inbounds/{id}/delClient/{clientId}", s.delClient)
	}
	// gin's NoRoute: 404 and no body, logged in or not.
	s.api.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
}

// route serves an API pattern behind the panel's checks: a logged-in
// session (else 404, or 401 to an XMLHttpRequest on 3.x, hiding the API
// from strangers) and, on 3.x, the session's CSRF token on unsafe methods
// (else 403).
func (s *Server) route(pattern string, fn func(*http.Request) reply) {
	s.api.Route(pattern, func(r *http.Request) reply {
		sess, in := s.sessionOf(r)
		if !in {
			if s.line.csrf && r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
				return empty(http.StatusUnauthorized)
			}
			return empty(http.StatusNotFound)
		}
		if s.line.csrf && r.Method != http.MethodGet && !s.csrfOK(r, sess) {
			return empty(http.StatusForbidden)
		}
		return fn(r)
	})
}

// csrfToken answers the session's CSRF token, starting a session if the
// request has none.
func (s *Server) csrfToken(r *http.Request) reply {
	sess, _ := s.sessionOf(r)
	if sess == nil {
		sess = s.newSession(writerOf(r))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.csrf == "" {
		sess.csrf = csrfToken()
	}
	return reply{Status: http.StatusOK, Body: map[string]any{"success": true, "obj": sess.csrf}}
}

// loginForm is the login body, as JSON or a form.
type loginForm struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(r *http.Request) reply {
	sess, _ := s.sessionOf(r)
	if s.line.csrf && (sess == nil || !s.csrfOK(r, sess)) {
		return empty(http.StatusForbidden)
	}
	var f loginForm
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
			return reply{Status: http.StatusOK, Body: msg{Msg: "Invalid form data"}}
		}
	} else {
		f.Username, f.Password = r.PostFormValue("username"), r.PostFormValue("password")
	}
	switch {
	case f.Username == "":
		return reply{Status: http.StatusOK, Body: msg{Msg: "Please enter a username"}}
	case f.Password == "":
		return reply{Status: http.StatusOK, Body: msg{Msg: "Please enter a password"}}
	case f.Username != s.cfg.Username || f.Password != s.cfg.Password:
		return reply{Status: http.StatusOK, Body: msg{Msg: "Wrong username or password"}}
	}
	if sess == nil {
		sess = s.newSession(writerOf(r))
	}
	s.mu.Lock()
	sess.loggedIn = true
	s.logins++
	s.mu.Unlock()
	return done("Logged in successfully")
}

// wireStat is a client's traffic row (xray.ClientTraffic).
type wireStat struct {
	ID         int    `json:"id"`
	InboundID  int    `json:"inboundId"`
	Enable     bool   `json:"enable"`
	Email      string `json:"email"`
	UUID       string `json:"uuid"`
	SubID      string `json:"subId"`
	Up         int64  `json:"up"`
	Down       int64  `json:"down"`
	AllTime    int64  `json:"allTime"`
	ExpiryTime int64  `json:"expiryTime"`
	Total      int64  `json:"total"`
	Reset      int    `json:"reset"`
	LastOnline int64  `json:"lastOnline"`
}

func (c *Client) stat(inbound, id int) wireStat {
	return wireStat{
		ID: id, InboundID: inbound, Enable: c.Enable, Email: c.Email, UUID: c.ID, SubID: c.SubID,
		Up: c.Up, Down: c.Down, AllTime: c.Up + c.Down, ExpiryTime: c.ExpiryTime, Total: c.TotalGB, Reset: c.Reset,
	}
}

// wireClient is a client in an inbound's settings (model.Client).
type wireClient struct {
	ID         string `json:"id"`
	Security   string `json:"security"`
	Flow       string `json:"flow"`
	Email      string `json:"email"`
	LimitIP    int    `json:"limitIp"`
	TotalGB    int64  `json:"totalGB"`
	ExpiryTime int64  `json:"expiryTime"`
	Enable     bool   `json:"enable"`
	TgID       int64  `json:"tgId"`
	SubID      string `json:"subId"`
	Comment    string `json:"comment"`
	Reset      int    `json:"reset"`
	CreatedAt  int64  `json:"created_at,omitempty"`
	UpdatedAt  int64  `json:"updated_at,omitempty"`
}

func (c *Client) wire() wireClient {
	return wireClient{
		ID: c.ID, Flow: c.Flow, Email: c.Email, LimitIP: c.LimitIP, TotalGB: c.TotalGB,
		ExpiryTime: c.ExpiryTime, Enable: c.Enable, TgID: c.TgID, SubID: c.SubID, Comment: c.Comment,
		Reset: c.Reset, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// wireInbound is an inbound as the API answers it (model.Inbound). Its
// settings, streamSettings and sniffing are JSON text: strings before 3.1,
// nested objects from 3.1 on.
type wireInbound struct {
	ID             int        `json:"id"`
	Up             int64      `json:"up"`
	Down           int64      `json:"down"`
	Total          int64      `json:"total"`
	Remark         string     `json:"remark"`
	Enable         bool       `json:"enable"`
	ExpiryTime     int64      `json:"expiryTime"`
	ClientStats    []wireStat `json:"clientStats"`
	Listen         string     `json:"listen"`
	Port           int        `json:"port"`
	Protocol       string     `json:"protocol"`
	Settings       any        `json:"settings"`
	StreamSettings any        `json:"streamSettings"`
	Tag            string     `json:"tag"`
	Sniffing       any        `json:"sniffing"`
}

func (s *Server) wireLocked(in *Inbound) wireInbound {
	clients := make([]wireClient, 0, len(in.Clients))
	stats := make([]wireStat, 0, len(in.Clients))
	for i, c := range in.Clients {
		clients = append(clients, c.wire())
		stats = append(stats, c.stat(in.ID, i+1))
	}
	settings := map[string]any{"clients": clients, "decryption": "none", "fallbacks": []any{}}
	stream := map[string]any{"network": "tcp", "security": "none", "tcpSettings": map[string]any{}}
	sniffing := map[string]any{"enabled": false, "destOverride": []string{"http", "tls"}}
	w := wireInbound{
		ID: in.ID, Remark: in.Remark, Enable: in.Enable, ClientStats: stats, Port: in.Port,
		Protocol: in.Protocol, Tag: in.Tag, Settings: settings, StreamSettings: stream, Sniffing: sniffing,
	}
	if !s.line.clientsAPI {
		w.Settings, w.StreamSettings, w.Sniffing = jsonText(settings), jsonText(stream), jsonText(sniffing)
	}
	return w
}

// jsonText is v as the indented JSON text the panel stores.
func jsonText(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ") // maps of plain values always encode
	return string(b)
}

func (s *Server) listInbounds(*http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	out := make([]wireInbound, 0, len(s.inbounds))
	for _, in := range s.inbounds {
		out = append(out, s.wireLocked(in))
	}
	return ok(out)
}

func (s *Server) getInbound(r *http.Request) reply {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return failed("get", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	in := s.inboundLocked(id)
	if in == nil {
		return failed("Failed to obtain", errRecordNotFound)
	}
	return ok(s.wireLocked(in))
}

func (s *Server) getTraffic(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	in, i := s.findLocked(r.PathValue("email"))
	if in == nil {
		return ok(nil)
	}
	return ok(in.Clients[i].stat(in.ID, i+1))
}

// inboundBody is the body of addClient and updateClient: the inbound id
// and a settings JSON text holding the clients.
type inboundBody struct {
	ID       int             `json:"id"`
	Settings json.RawMessage `json:"settings"`
}

// clientsOf reads the clients of a settings value: JSON text in a string
// (as 2.x sends it) or, from 3.1 on, a nested object too.
func clientsOf(raw json.RawMessage) ([]Client, error) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		raw = json.RawMessage(text)
	}
	var settings struct {
		Clients []Client `json:"clients"`
	}
	if err := json.Unmarshal(raw, &settings); err != nil {
		return nil, fmt.Errorf("reading settings: %w", err)
	}
	return settings.Clients, nil
}

func readJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(v)
}

// addClient is 2.x's POST /panel/api/inbounds/addClient.
func (s *Server) addClient(r *http.Request) reply {
	var body inboundBody
	if err := readJSON(r, &body); err != nil {
		return failed("Inbound updated", err)
	}
	clients, err := clientsOf(body.Settings)
	if err != nil {
		return failed(somethingWentWrong, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range clients {
		if in, _ := s.findLocked(c.Email); in != nil || c.Email != "" && duplicate(clients[:i], c.Email) {
			return failed(somethingWentWrong, fmt.Errorf("Duplicate email: %s", c.Email))
		}
	}
	in := s.inboundLocked(body.ID)
	if in == nil {
		return failed(somethingWentWrong, errRecordNotFound)
	}
	now := time.Now().UnixMilli()
	for _, c := range clients {
		if c.ID == "" {
			return failed(somethingWentWrong, errEmptyClientID)
		}
	}
	for _, c := range clients {
		c.Up, c.Down = 0, 0
		if c.CreatedAt == 0 {
			c.CreatedAt = now
		}
		c.UpdatedAt = now
		in.Clients = append(in.Clients, &c)
	}
	s.changedLocked()
	return done("Client(s) added")
}

func duplicate(clients []Client, email string) bool {
	for _, c := range clients {
		if strings.EqualFold(c.Email, email) {
			return true
		}
	}
	return false
}

// updateClient is 2.x's POST /panel/api/inbounds/updateClient/{clientId}:
// the first client of the settings replaces the one whose id is clientId.
func (s *Server) updateClient(r *http.Request) reply {
	var body inboundBody
	if err := readJSON(r, &body); err != nil {
		return failed("Inbound updated", err)
	}
	clients, err := clientsOf(body.Settings)
	if err != nil || len(clients) == 0 {
		return failed(somethingWentWrong, errors.Join(err, errEmptyClientID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inboundLocked(body.ID)
	if in == nil {
		return failed(somethingWentWrong, errRecordNotFound)
	}
	id := r.PathValue("clientId")
	i := indexOf(in, func(c *Client) bool { return c.ID == id })
	if i < 0 || clients[0].ID == "" {
		return failed(somethingWentWrong, errEmptyClientID)
	}
	if reply, bad := s.replaceLocked(in, i, clients[0]); bad {
		return reply
	}
	return done("Client updated")
}

// replaceLocked puts c in place of in's client i, keeping its traffic and
// creation time; it fails on an email another client has.
func (s *Server) replaceLocked(in *Inbound, i int, c Client) (reply, bool) {
	old := in.Clients[i]
	if c.Email != "" && !strings.EqualFold(c.Email, old.Email) {
		if other, _ := s.findLocked(c.Email); other != nil {
			return failed(somethingWentWrong, fmt.Errorf("Duplicate email: %s", c.Email)), true
		}
	}
	c.Up, c.Down, c.CreatedAt = old.Up, old.Down, old.CreatedAt
	c.UpdatedAt = time.Now().UnixMilli()
	in.Clients[i] = &c
	s.changedLocked()
	return reply{}, false
}

// delClient is 2.x's POST /panel/api/inbounds/{id}/delClient/{clientId}.
// The panel refuses to remove an inbound's last client.
func (s *Server) delClient(r *http.Request) reply {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return failed("Inbound updated", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inboundLocked(id)
	if in == nil {
		return failed(somethingWentWrong, errRecordNotFound)
	}
	clientID := r.PathValue("clientId")
	i := indexOf(in, func(c *Client) bool { return c.ID == clientID })
	switch {
	case i < 0:
		return failed(somethingWentWrong, fmt.Errorf("Client Not Found In Inbound For ID: %s", clientID))
	case len(in.Clients) == 1:
		return failed(somethingWentWrong, errNoClientLeft)
	}
	in.Clients = append(in.Clients[:i:i], in.Clients[i+1:]...)
	s.changedLocked()
	return done("Client deleted")
}

func indexOf(in *Inbound, match func(*Client) bool) int {
	for i, c := range in.Clients {
		if match(c) {
			return i
		}
	}
	return -1
}

// getClient is 3.1's GET /panel/api/clients/get/{email}: the client record
// and the inbounds it is attached to.
func (s *Server) getClient(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	in, i := s.findLocked(r.PathValue("email"))
	if in == nil {
		return failed("get", errRecordNotFound)
	}
	return ok(map[string]any{"client": in.Clients[i].wire(), "inboundIds": []int{in.ID}})
}

// createBody is the body of 3.1's POST /panel/api/clients/add.
type createBody struct {
	Client     Client `json:"client"`
	InboundIDs []int  `json:"inboundIds"`
}

// createClient is 3.1's POST /panel/api/clients/add. The panel makes every
// new client enabled, whatever the body says, and fills in a missing id and
// subId.
func (s *Server) createClient(r *http.Request) reply {
	var body createBody
	if err := readJSON(r, &body); err != nil {
		return failed(somethingWentWrong, err)
	}
	c := body.Client
	switch {
	case strings.TrimSpace(c.Email) == "":
		return failed(somethingWentWrong, errors.New("client email is required"))
	case len(body.InboundIDs) == 0:
		return failed(somethingWentWrong, errors.New("at least one inbound is required"))
	}
	if c.SubID == "" {
		c.SubID = newUUID()
	}
	if c.ID == "" {
		c.ID = newUUID()
	}
	c.Enable = true
	now := time.Now().UnixMilli()
	if c.CreatedAt == 0 {
		c.CreatedAt = now
	}
	c.UpdatedAt, c.Up, c.Down = now, 0, 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, _ := s.findLocked(c.Email); in != nil {
		return failed(somethingWentWrong, fmt.Errorf("email already in use: %s", c.Email))
	}
	for _, in := range s.inbounds {
		if indexOf(in, func(o *Client) bool { return o.SubID == c.SubID }) >= 0 {
			return failed(somethingWentWrong, fmt.Errorf("subId already in use: %s", c.SubID))
		}
	}
	for _, id := range body.InboundIDs {
		if s.inboundLocked(id) == nil {
			return failed(somethingWentWrong, errRecordNotFound)
		}
	}
	for _, id := range body.InboundIDs {
		cc := c
		in := s.inboundLocked(id)
		in.Clients = append(in.Clients, &cc)
	}
	s.changedLocked()
	return done("Client(s) added")
}

// updateClientByEmail is 3.1's POST /panel/api/clients/update/{email}: the
// body replaces the client, keeping its subId when the body has none.
func (s *Server) updateClientByEmail(r *http.Request) reply {
	var c Client
	if err := readJSON(r, &c); err != nil {
		return failed(somethingWentWrong, err)
	}
	email := r.PathValue("email")
	s.mu.Lock()
	defer s.mu.Unlock()
	in, i := s.findLocked(email)
	switch {
	case in == nil:
		return failed(somethingWentWrong, errRecordNotFound)
	case strings.TrimSpace(c.Email) == "":
		return failed(somethingWentWrong, errors.New("client email is required"))
	}
	if c.SubID == "" {
		c.SubID = in.Clients[i].SubID
	}
	if c.ID == "" {
		c.ID = newUUID()
	}
	if reply, bad := s.replaceLocked(in, i, c); bad {
		return reply
	}
	return done("Client updated")
}

// deleteClientByEmail is 3.1's POST /panel/api/clients/del/{email}, which
// may leave an inbound without clients.
func (s *Server) deleteClientByEmail(r *http.Request) reply {
	email := r.PathValue("email")
	s.mu.Lock()
	defer s.mu.Unlock()
	in, i := s.findLocked(email)
	if in == nil {
		return failed(somethingWentWrong, errRecordNotFound)
	}
	in.Clients = append(in.Clients[:i:i], in.Clients[i+1:]...)
	s.changedLocked()
	return done("Client deleted")
}
