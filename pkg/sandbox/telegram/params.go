package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// params are a Bot API call's parameters with every value as text, whichever
// way it came: telebot sends JSON objects whose values are all strings (nested
// objects such as reply_markup as JSON text), other clients send typed JSON,
// form fields or multipart parts. Normalising to text lets each method read a
// field one way.
type params struct {
	values map[string]string
	files  map[string][]byte // multipart file parts by field name
}

// request is one Bot API call as the methods see it.
type request struct {
	ctx    context.Context
	params params
}

func parseParams(r *http.Request) (params, error) {
	p := params{values: map[string]string{}, files: map[string][]byte{}}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p.values[k] = vs[0]
		}
	}
	if r.Method == http.MethodGet || r.Body == nil {
		return p, nil
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mediaType = "" // Telegram accepts a body without a content type as "no parameters"
	}
	switch mediaType {
	case "application/json":
		return p, p.readJSON(r.Body)
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return p, fmt.Errorf("can't parse form: %w", err)
		}
		for k, vs := range r.PostForm {
			if len(vs) > 0 {
				p.values[k] = vs[0]
			}
		}
	case "multipart/form-data":
		return p, p.readMultipart(r)
	}
	return p, nil
}

// readMultipart reads parts itself rather than with ParseMultipartForm:
// telebot uploads readers with an empty filename, which the standard parser
// would take for a text field.
func (p params) readMultipart(r *http.Request) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return fmt.Errorf("can't parse multipart form: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("can't parse multipart form: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(part, maxUploadBytes))
		if err != nil {
			return fmt.Errorf("can't read part %q: %w", part.FormName(), err)
		}
		_, disposition, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if _, isFile := disposition["filename"]; isFile {
			p.files[part.FormName()] = data
		} else {
			p.values[part.FormName()] = string(data)
		}
	}
}

func (p params) readJSON(body io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(body, maxUploadBytes))
	if err != nil {
		return fmt.Errorf("can't read body: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" { // telebot sends "null" for calls without parameters
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("can't parse JSON object: %w", err)
	}
	for k, raw := range fields {
		switch {
		case string(raw) == "null":
		case len(raw) > 0 && raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("can't parse field %q: %w", k, err)
			}
			p.values[k] = s
		default:
			p.values[k] = string(raw)
		}
	}
	return nil
}

func (p params) str(key string) string { return p.values[key] }

// int64 reads an integer field; a missing field is 0, not an error.
func (p params) int64(key string) (int64, *apiError) {
	v, ok := p.values[key]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("invalid %s specified", key))
	}
	return n, nil
}

func (p params) bool(key string) bool {
	b, _ := strconv.ParseBool(strings.TrimSpace(p.values[key]))
	return b
}

// decode unmarshals a field holding a JSON value (an object or array, sent as
// such or as JSON text inside a string); it reports whether the field was set.
func (p params) decode(key string, v any) (bool, *apiError) {
	raw, ok := p.values[key]
	if !ok || raw == "" || raw == "null" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return true, badRequest(fmt.Sprintf("can't parse %s JSON object", key))
	}
	return true, nil
}
