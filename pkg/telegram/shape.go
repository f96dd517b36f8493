package telegram

import (
	"bytes"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// manyKeys is how many keys an object may have before its keys are checked
// for duplicates through a map rather than against each other: Telegram's
// objects have a dozen keys, a hostile body may have a hundred thousand.
const manyKeys = 16

// maxPooledKeys bounds the key buffer a scanner keeps for the next update.
const maxPooledKeys = 64 << 10

// checkShape checks, in one pass over raw (valid UTF-8), what
// encoding/json lets through but an update may not have: raw must be one
// JSON object, nest no deeper than MaxUpdateDepth, and have no object with a
// duplicated key. It checks the JSON grammar as well, so that each refusal
// names its real reason.
func checkShape(raw []byte) error {
	s := scanners.Get().(*shapeScanner)
	defer func() {
		// The buffers a hostile body grew are not kept.
		if cap(s.keys) <= maxPooledKeys {
			*s = shapeScanner{keys: s.keys[:0], ends: s.ends[:0]}
			scanners.Put(s)
		}
	}()
	s.raw = raw
	if s.next() != '{' {
		return fmt.Errorf("%w: does not start with {", ErrNotJSON)
	}
	if err := s.object(1); err != nil {
		return err
	}
	if s.space(); s.pos != len(raw) {
		return s.syntax("data after the object")
	}
	return nil
}

// scanners keep the scanners' key buffers from one update to the next: the
// gateway checks every update it receives.
var scanners = sync.Pool{New: func() any {
	return &shapeScanner{keys: make([]byte, 0, 512), ends: make([]int, 0, 64)}
}}

// shapeScanner is checkShape's state: the position in raw, and the
// case-folded keys of the objects open around it, one after the other in
// keys, each ending at its offset in ends.
type shapeScanner struct {
	raw  []byte
	pos  int
	keys []byte
	ends []int
}

func (s *shapeScanner) syntax(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrNotJSON, what, s.pos)
}

func (s *shapeScanner) space() {
	for s.pos < len(s.raw) {
		switch s.raw[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// next is the byte at the position after spaces, or 0 at the end.
func (s *shapeScanner) next() byte {
	if s.space(); s.pos < len(s.raw) {
		return s.raw[s.pos]
	}
	return 0
}

func (s *shapeScanner) value(depth int) error {
	switch c := s.next(); {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, err := s.string()
		return err
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == 0 && s.pos == len(s.raw):
		return s.syntax("unexpected end")
	default:
		return s.syntax("unexpected character")
	}
}

// object reads the object at the position, which is at depth.
func (s *shapeScanner) object(depth int) error {
	o := openObject{first: len(s.ends), base: len(s.keys)}
	more, err := s.open(depth, '}')
	for more && err == nil {
		if err = s.member(depth, &o); err == nil {
			more, err = s.after('}')
		}
	}
	s.ends, s.keys = s.ends[:o.first], s.keys[:o.base]
	return err
}

func (s *shapeScanner) array(depth int) error {
	more, err := s.open(depth, ']')
	for more && err == nil {
		if err = s.value(depth); err == nil {
			more, err = s.after(']')
		}
	}
	return err
}

// open steps into the object or array at the position, which is at depth
// and ends with end; false when it is empty.
func (s *shapeScanner) open(depth int, end byte) (bool, error) {
	if depth > MaxUpdateDepth {
		return false, fmt.Errorf("%w: deeper than %d at byte %d", ErrTooDeep, MaxUpdateDepth, s.pos)
	}
	s.pos++ // { or [
	if s.next() == end {
		s.pos++
		return false, nil
	}
	return true, nil
}

// after steps over what follows a member of an object or array that ends
// with end; true when another member follows.
func (s *shapeScanner) after(end byte) (bool, error) {
	switch s.next() {
	case ',':
		s.pos++
		return true, nil
	case end:
		s.pos++
		return false, nil
	default:
		return false, s.syntax("expected , or " + string(end))
	}
}

// member reads a key, checked against the other keys of o, and its value.
func (s *shapeScanner) member(depth int, o *openObject) error {
	if s.next() != '"' {
		return s.syntax("expected a key")
	}
	at := s.pos
	key, err := s.string()
	if err != nil {
		return err
	}
	if err := s.addKey(o, key); err != nil {
		return fmt.Errorf("%w: at byte %d", err, at)
	}
	if s.next() != ':' {
		return s.syntax("expected :")
	}
	s.pos++
	return s.value(depth)
}

// openObject is where an open object's keys are: folded, from keys[base]
// on, each ending at one of ends[first:] — and in seen instead, once the
// object has too many to compare one by one.
type openObject struct {
	first, base int
	seen        map[string]struct{}
}

// addKey records key, quoted as in raw, among o's keys; ErrDuplicateKey
// when it names the same field as one of them.
func (s *shapeScanner) addKey(o *openObject, key []byte) error {
	start := len(s.keys)
	s.keys = appendFolded(s.keys, key)
	folded := s.keys[start:]
	if o.seen == nil && len(s.ends)-o.first < manyKeys {
		from := o.base
		for _, end := range s.ends[o.first:] {
			if bytes.Equal(s.keys[from:end], folded) {
				return ErrDuplicateKey
			}
			from = end
		}
		s.ends = append(s.ends, len(s.keys))
		return nil
	}
	if o.seen == nil {
		o.seen = make(map[string]struct{}, 2*manyKeys)
		from := o.base
		for _, end := range s.ends[o.first:] {
			o.seen[string(s.keys[from:end])] = struct{}{}
			from = end
		}
	}
	if _, dup := o.seen[string(folded)]; dup {
		return ErrDuplicateKey
	}
	o.seen[string(folded)] = struct{}{}
	s.keys = s.keys[:start]
	return nil
}

// string reads the string at the position and returns it as in raw, quotes
// included.
func (s *shapeScanner) string() ([]byte, error) {
	start := s.pos
	s.pos++ // "
	for {
		rest := s.raw[s.pos:]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return nil, s.syntax("unterminated string")
		}
		escape := bytes.IndexByte(rest[:end], '\\')
		if escape >= 0 {
			end = escape
		}
		for i, c := range rest[:end] {
			if c < 0x20 {
				s.pos += i
				return nil, s.syntax("control character in a string")
			}
		}
		s.pos += end
		if escape < 0 {
			s.pos++
			return s.raw[start:s.pos], nil
		}
		if err := s.escape(); err != nil {
			return nil, err
		}
	}
}

func (s *shapeScanner) escape() error {
	s.pos++ // \
	if s.pos == len(s.raw) {
		return s.syntax("unterminated string")
	}
	switch s.raw[s.pos] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return nil
	case 'u':
		s.pos++
		for range 4 {
			if s.pos == len(s.raw) || !isHex(s.raw[s.pos]) {
				return s.syntax("bad \\u escape")
			}
			s.pos++
		}
		return nil
	default:
		return s.syntax("bad escape")
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number reads a number as JSON spells it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *shapeScanner) number() error {
	if s.raw[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.raw) && s.raw[s.pos] == '0':
		s.pos++
	case !s.digits():
		return s.syntax("bad number")
	}
	if s.pos < len(s.raw) && s.raw[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			return s.syntax("bad number")
		}
	}
	if s.pos < len(s.raw) && (s.raw[s.pos] == 'e' || s.raw[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.raw) && (s.raw[s.pos] == '+' || s.raw[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return s.syntax("bad number")
		}
	}
	return nil
}

// digits reads one or more digits; false when there is none.
func (s *shapeScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.raw) && '0' <= s.raw[s.pos] && s.raw[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

func (s *shapeScanner) literal(word string) error {
	if !bytes.HasPrefix(s.raw[s.pos:], []byte(word)) {
		return s.syntax("unexpected character")
	}
	s.pos += len(word)
	return nil
}

// appendFolded appends key (quoted, as in raw) to dst unescaped and folded
// as encoding/json folds a key to match it to a field, case-insensitively:
// two keys fold alike exactly when they can name the same field.
func appendFolded(dst, key []byte) []byte {
	name := key[1 : len(key)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		var unescaped string
		// key was scanned as a string: the decoder unescapes it as it
		// would when decoding, lone surrogates and all.
		_ = json.Unmarshal(key, &unescaped)
		name = []byte(unescaped)
	}
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

// foldRune is the smallest rune of r's case-folding orbit, as encoding/json
// folds it (so the Kelvin sign folds as K, the long s as S).
func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
