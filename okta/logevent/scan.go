package logevent

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrMalformed means the input is not well-formed JSON.
var ErrMalformed = errors.New("logevent: malformed JSON")

// scanner is a single-pass JSON reader over one LogEvent. It reads the
// fields Event holds and skips everything else without building values.
// Strings without escapes are substrings of src (one copy of the input per
// event); strings with escapes or invalid UTF-8 are decoded exactly as
// encoding/json decodes them.
type scanner struct {
	src string
	i   int
	err error
}

func (s *scanner) fail() {
	if s.err == nil {
		s.err = ErrMalformed
	}
	s.i = len(s.src)
}

func (s *scanner) ws() {
	for s.i < len(s.src) {
		c := s.src[s.i]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return
		}
		s.i++
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.src) {
		return 0
	}
	return s.src[s.i]
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		s.fail()
		return false
	}
	s.i++
	return true
}

// rawString reads a string token and returns its contents between the
// quotes, and whether it needs decoding (escapes or non-ASCII).
func (s *scanner) rawString() (string, bool) {
	if s.peek() != '"' {
		s.fail()
		return "", false
	}
	s.i++
	start := s.i
	slow := false
	for s.i < len(s.src) {
		// Eight bytes at a time while none is a quote, a backslash, a
		// control character or non-ASCII.
		for s.i+8 <= len(s.src) {
			b := s.src[s.i : s.i+8]
			w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			if special(w) {
				break
			}
			s.i += 8
		}
		if s.i >= len(s.src) {
			break
		}
		c := s.src[s.i]
		switch {
		case c == '"':
			out := s.src[start:s.i]
			s.i++
			return out, slow
		case c == '\\':
			slow = true
			s.i += 2
			continue
		case c < 0x20:
			s.fail()
			return "", false
		case c >= 0x80:
			slow = true
		}
		s.i++
	}
	s.fail()
	return "", false
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// special reports whether any byte of w is '"', '\\', below 0x20 or above 0x7f.
func special(w uint64) bool {
	return (w&hi8)|hasZero(w^(0x22*lo8))|hasZero(w^(0x5c*lo8))|((w-0x20*lo8) & ^w & hi8) != 0
}

func hasZero(v uint64) uint64 { return (v - lo8) & ^v & hi8 }

// skipString skips a string token without examining its contents (the
// closing quote is found with a vectorised search).
func (s *scanner) skipString() {
	if s.peek() != '"' {
		s.fail()
		return
	}
	s.i++
	start := s.i
	for {
		j := strings.IndexByte(s.src[s.i:], '"')
		if j < 0 {
			s.fail()
			return
		}
		end := s.i + j
		n := 0
		for k := end - 1; k >= start && s.src[k] == '\\'; k-- {
			n++
		}
		s.i = end + 1
		if n%2 == 0 {
			return
		}
	}
}

// str reads a string token and returns its decoded value.
func (s *scanner) str() string {
	raw, slow := s.rawString()
	if s.err != nil || !slow {
		return raw
	}
	if strings.IndexByte(raw, '\\') < 0 && utf8.ValidString(raw) {
		return raw
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+raw+`"`), &out); err != nil {
		s.fail()
		return ""
	}
	return out
}

// key reads an object key and the colon after it. Keys are short and the
// ones Parse looks for are ASCII: the raw text is used unless it holds an
// escape (non-ASCII raw text can never equal a key Parse looks for).
func (s *scanner) key() string {
	if s.peek() != '"' {
		s.fail()
		return ""
	}
	j := strings.IndexByte(s.src[s.i+1:], '"')
	if j < 0 {
		s.fail()
		return ""
	}
	k := s.src[s.i+1 : s.i+1+j]
	if strings.IndexByte(k, '\\') >= 0 {
		k = s.str()
	} else {
		s.i += j + 2
	}
	s.expect(':')
	return k
}

// literal reads a number, true, false or null and returns its text.
func (s *scanner) literal() string {
	start := s.i
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.src[start:s.i]
		}
		s.i++
	}
	return s.src[start:s.i]
}

// kind of the next value: 's' string, 'n' number, 't' true, 'f' false,
// 'z' null, '{' object, '[' array, 0 invalid.
func (s *scanner) kind() byte {
	switch c := s.peek(); c {
	case '"':
		return 's'
	case '{', '[':
		return c
	case 't':
		return 't'
	case 'f':
		return 'f'
	case 'n':
		return 'z'
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return 'n'
	}
	return 0
}

// checkLiteral validates a literal token's text.
func (s *scanner) checkLiteral(k byte, lit string) bool {
	switch k {
	case 't':
		return lit == "true"
	case 'f':
		return lit == "false"
	case 'z':
		return lit == "null"
	case 'n':
		return validNumber(lit)
	}
	return false
}

func validNumber(n string) bool {
	i := 0
	if i < len(n) && n[i] == '-' {
		i++
	}
	if i >= len(n) {
		return false
	}
	if n[i] == '0' {
		i++
	} else if n[i] >= '1' && n[i] <= '9' {
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(n) && n[i] == '.' {
		i++
		d := i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			i++
		}
		d := i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(n)
}

// value reads any value. For strings it returns the decoded text, for
// numbers and booleans their literal text ("true"/"false"), and "" for
// null, objects and arrays (which are skipped): the tolerant reading of
// fields Okta usually sends as strings.
func (s *scanner) value() (text string, k byte) {
	k = s.kind()
	switch k {
	case 's':
		return s.str(), k
	case '{', '[':
		s.skip()
		return "", k
	case 0:
		s.fail()
		return "", 0
	}
	lit := s.literal()
	if !s.checkLiteral(k, lit) {
		s.fail()
		return "", 0
	}
	if k == 'z' {
		return "", k
	}
	return lit, k
}

// structural marks the bytes skipComposite stops at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipComposite skips an object or array by matching brackets, jumping over
// strings, without validating what lies between (Parse validates what it
// reads; content it skips is only required to nest properly).
func (s *scanner) skipComposite() {
	depth := 0
	src := s.src
	for i := s.i; i < len(src); i++ {
		c := src[i]
		if !structural[c] {
			continue
		}
		switch c {
		case '"':
			s.i = i
			s.skipString()
			if s.err != nil {
				return
			}
			i = s.i - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i = i + 1
				return
			}
		}
	}
	s.fail()
}

// skip skips one value of any kind. Scalars are validated; objects and
// arrays only for nesting.
func (s *scanner) skip() {
	switch k := s.kind(); k {
	case 's':
		s.skipString()
	case '{', '[':
		s.skipComposite()
	case 0:
		s.fail()
	default:
		if !s.checkLiteral(k, s.literal()) {
			s.fail()
		}
	}
}

// object calls fn for each key of the object at the cursor; fn must
// consume the value. A non-object value is skipped and fn is not called;
// object reports whether the value was an object.
func (s *scanner) object(fn func(k string)) bool {
	if s.kind() != '{' {
		s.skip()
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for s.err == nil {
		fn(s.key())
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			s.fail()
		}
	}
	return true
}

// array calls fn for each element of the array at the cursor, with its
// index; fn must consume the element. A non-array value is skipped and fn
// is not called.
func (s *scanner) array(fn func(i int)) {
	if s.kind() != '[' {
		s.skip()
		return
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return
	}
	for i := 0; s.err == nil; i++ {
		fn(i)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// number reads a value and returns it as a float when it is a JSON number.
func (s *scanner) number() (float64, bool) {
	t, k := s.value()
	if k != 'n' {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	return f, err == nil
}
