package outline

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
)

// reply is a route's answer: a status and a JSON body (nil: no body).
type reply = fakehttp.Reply

// restError is restify's error body, which shadowbox answers with.
type restError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func failure(status int, code, message string) reply {
	return reply{Status: status, Body: restError{Code: code, Message: message}}
}

func writeJSON(w http.ResponseWriter, status int, v any) { fakehttp.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, restError{Code: code, Message: message})
}

func (s *Server) routeAPI() {
	s.api = fakehttp.NewAPI(s.faults, func(status int, abandoned bool) reply {
		if abandoned {
			return failure(status, "ServiceUnavailable", "request abandoned")
		}
		return failure(status, strings.ReplaceAll(http.StatusText(status), " ", ""), "injected fault")
	})
	s.api.Route("GET /access-keys", s.listKeys)
	s.api.Route("POST /access-keys", s.createKey)
	s.api.Route("PUT /access-keys/{id}", s.createKeyWithID)
	s.api.Route("GET /access-keys/{id}", s.getKey)
	s.api.Route("DELETE /access-keys/{id}", s.deleteKey)
	s.api.Route("PUT /access-keys/{id}/name", s.renameKey)
	s.api.Route("PUT /access-keys/{id}/data-limit", s.setDataLimit)
	s.api.Route("DELETE /access-keys/{id}/data-limit", s.removeDataLimit)
	s.api.Route("GET /metrics/transfer", s.transferMetrics)
	s.api.Mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "ResourceNotFound", s.prefix+r.URL.Path+" does not exist")
	})
}

// keyParams are the JSON parameters of the creating routes; restify merges
// them from the body.
type keyParams struct {
	Name     *string   `json:"name"`
	Method   string    `json:"method"`
	Password string    `json:"password"`
	Port     int       `json:"port"`
	Limit    *apiLimit `json:"limit"`
}

type apiLimit struct {
	Bytes *float64 `json:"bytes"`
}

// apiKey is a key as the API returns it.
type apiKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Password  string    `json:"password"`
	Port      int       `json:"port"`
	Method    string    `json:"method"`
	DataLimit *apiBytes `json:"dataLimit,omitempty"`
	AccessURL string    `json:"accessUrl"`
}

type apiBytes struct {
	Bytes int64 `json:"bytes"`
}

func (k *Key) api() apiKey {
	out := apiKey{ID: k.ID, Name: k.Name, Password: k.Password, Port: k.Port, Method: k.Method, AccessURL: k.AccessURL}
	if k.DataLimit != nil {
		out.DataLimit = &apiBytes{Bytes: *k.DataLimit}
	}
	return out
}

// readParams decodes the JSON body into v; an empty body is no parameters.
func readParams(r *http.Request, v any) error {
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func invalid(message string) reply {
	return failure(http.StatusBadRequest, "InvalidArgument", message)
}

func notFound(id string) reply {
	return failure(http.StatusNotFound, "NotFound", fmt.Sprintf("Access key %q not found", id))
}

func (s *Server) listKeys(*http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]apiKey, 0, len(s.order))
	for _, id := range s.order {
		keys = append(keys, s.keys[id].api())
	}
	return reply{Status: http.StatusOK, Body: map[string][]apiKey{"accessKeys": keys}}
}

func (s *Server) createKey(r *http.Request) reply {
	var p keyParams
	if err := readParams(r, &p); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeLocked(func() reply {
		// Numeric ids, as shadowbox counts them, skipping any taken by PUT.
		for s.keys[strconv.Itoa(s.nextID)] != nil {
			s.nextID++
		}
		id := strconv.Itoa(s.nextID)
		s.nextID++
		return s.addLocked(id, p)
	})
}

func (s *Server) createKeyWithID(r *http.Request) reply {
	id := r.PathValue("id")
	var p keyParams
	if err := readParams(r, &p); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[id] != nil {
		return failure(http.StatusConflict, "Conflict", fmt.Sprintf("Access key %q conflict", id))
	}
	return s.changeLocked(func() reply { return s.addLocked(id, p) })
}

func (s *Server) addLocked(id string, p keyParams) reply {
	k := &Key{ID: id, Method: p.Method, Password: p.Password, Port: p.Port}
	if p.Name != nil {
		k.Name = *p.Name
	}
	if k.Method == "" {
		k.Method = defaultMethod
	}
	if k.Password == "" {
		k.Password = randomString(16)
	}
	if k.Port == 0 {
		k.Port = s.cfg.Port
	}
	if k.Port < 1 || k.Port > 65535 {
		return invalid(fmt.Sprintf("Port %d is not valid", k.Port))
	}
	if p.Limit != nil {
		n, rp := limitBytes(p.Limit)
		if rp != nil {
			return *rp
		}
		k.DataLimit = &n
	}
	// SIP002: ss://base64url(method:password)@host:port/?outline=1
	userInfo := base64.RawURLEncoding.EncodeToString([]byte(k.Method + ":" + k.Password))
	k.AccessURL = fmt.Sprintf("ss://%s@%s:%d/?outline=1", userInfo, s.cfg.Hostname, k.Port)
	s.keys[id] = k
	s.order = append(s.order, id)
	return reply{Status: http.StatusCreated, Body: k.api()}
}

func limitBytes(l *apiLimit) (int64, *reply) {
	if l.Bytes == nil || *l.Bytes < 0 || *l.Bytes != float64(int64(*l.Bytes)) {
		rp := invalid("`limit.bytes` must be an non-negative integer")
		return 0, &rp
	}
	return int64(*l.Bytes), nil
}

func (s *Server) getKey(r *http.Request) reply {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		return notFound(id)
	}
	return reply{Status: http.StatusOK, Body: k.api()}
}

func (s *Server) deleteKey(r *http.Request) reply {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[id] == nil {
		return notFound(id)
	}
	return s.changeLocked(func() reply {
		s.deleteLocked(id)
		return reply{Status: http.StatusNoContent}
	})
}

// deleteLocked removes the key id, which exists.
func (s *Server) deleteLocked(id string) {
	delete(s.keys, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
}

func (s *Server) renameKey(r *http.Request) reply {
	id := r.PathValue("id")
	var p struct {
		Name *string `json:"name"`
	}
	if err := readParams(r, &p); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	if p.Name == nil || *p.Name == "" {
		return failure(http.StatusBadRequest, "MissingParameter", "Parameter `name` is missing")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		return notFound(id)
	}
	return s.changeLocked(func() reply {
		k.Name = *p.Name
		return reply{Status: http.StatusNoContent}
	})
}

func (s *Server) setDataLimit(r *http.Request) reply {
	id := r.PathValue("id")
	var p struct {
		Limit *apiLimit `json:"limit"`
	}
	if err := readParams(r, &p); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	if p.Limit == nil {
		return failure(http.StatusBadRequest, "MissingParameter", "Missing `limit` parameter")
	}
	n, rp := limitBytes(p.Limit)
	if rp != nil {
		return *rp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		return notFound(id)
	}
	return s.changeLocked(func() reply {
		k.DataLimit = &n
		return reply{Status: http.StatusNoContent}
	})
}

func (s *Server) removeDataLimit(r *http.Request) reply {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		return notFound(id)
	}
	return s.changeLocked(func() reply {
		k.DataLimit = nil
		return reply{Status: http.StatusNoContent}
	})
}

// transferMetrics is the traffic of each key that moved any, by key id.
func (s *Server) transferMetrics(*http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	used := map[string]int64{}
	for id, k := range s.keys {
		if k.UsedBytes > 0 {
			used[id] = k.UsedBytes
		}
	}
	return reply{Status: http.StatusOK, Body: map[string]map[string]int64{"bytesTransferredByUserId": used}}
}
