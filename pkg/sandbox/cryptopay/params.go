package cryptopay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// params are a call's parameters as text, wherever they came from.
type params map[string]string

// parseParams reads the query string and, for a body, JSON or a form, as
// Crypto Pay accepts all three. JSON numbers and booleans become their
// literal text and arrays become comma lists, so methods read one shape.
func parseParams(r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return p, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return p, errors.New("body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return p, fmt.Errorf("reading form: %w", err)
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
		return p, nil
	default:
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return p, fmt.Errorf("reading JSON body: %w", err)
		}
		for k, v := range raw {
			text, err := jsonText(v)
			if err != nil {
				return p, fmt.Errorf("parameter %s: %w", k, err)
			}
			if text != nil {
				p[k] = *text
			}
		}
		return p, nil
	}
}

// jsonText is a JSON value as parameter text; nil for null.
func jsonText(v json.RawMessage) (*string, error) {
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	var text string
	switch x := x.(type) {
	case nil:
		return nil, nil
	case string:
		text = x
	case json.Number:
		text = x.String()
	case bool:
		text = strconv.FormatBool(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			b, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			t, err := jsonText(b)
			if err != nil || t == nil {
				return nil, errors.New("array holds a null or an object")
			}
			parts = append(parts, *t)
		}
		text = strings.Join(parts, ",")
	default:
		return nil, errors.New("objects are not parameters")
	}
	return &text, nil
}

// bool reads a boolean parameter; def when absent.
func (p params) bool(name string, def bool) (bool, *apiError) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badParam(strings.ToUpper(name) + "_INVALID")
	}
	return b, nil
}

// int reads an integer parameter; def when absent.
func (p params) int(name string, def int64) (int64, *apiError) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badParam(strings.ToUpper(name) + "_INVALID")
	}
	return n, nil
}

// list reads a comma list parameter.
func (p params) list(name string) []string {
	var out []string
	for part := range strings.SplitSeq(p[name], ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
