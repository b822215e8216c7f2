package poller

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

// maxDepth bounds JSON nesting, so a hostile page cannot exhaust the stack.
const maxDepth = 256

var errSyntax = errors.New("invalid JSON")

// element is one element of a System Log page with the fields the poller
// needs. The strings alias the page body.
type element struct {
	raw        []byte // the element's bytes exactly as sent
	object     bool
	uuid       string
	uuidOK     bool // uuid was present as a JSON string
	published  string
	actorID    string
	actorLogin string
}

// scanPage validates body as a JSON array (RFC 8259 grammar, as
// encoding/json.Valid accepts it) and calls fn for each element, in one
// pass: the same pass that validates also finds each element's bounds and
// its uuid, published, actor.id and actor.alternateId. Strings with
// escapes are decoded with gjson. Nothing is copied.
func scanPage(body []byte, fn func(e *element)) error {
	s := scanner{b: body}
	s.ws()
	if !s.eat('[') {
		return fmt.Errorf("%w: not an array", ErrPage)
	}
	s.ws()
	var e element
	if !s.eat(']') {
		for {
			e = element{}
			start := s.i
			if s.peek() == '{' {
				e.object = true
				if err := s.object(1, &e, 0); err != nil {
					return err
				}
			} else if err := s.value(1); err != nil {
				return err
			}
			e.raw = body[start:s.i:s.i]
			fn(&e)
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			if s.eat(']') {
				break
			}
			return s.fail("expected , or ] after an array element")
		}
	}
	s.ws()
	if s.i != len(body) {
		return s.fail("data after the array")
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("%w: %w at offset %d: %s", ErrPage, errSyntax, s.i, what)
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Field capture targets inside an element.
const (
	capNone = iota
	capUUID
	capPublished
	capActor
	capActorID
	capActorLogin
)

// object scans an object at depth. level is 0 for a page element (whose
// uuid, published and actor are captured), 1 for its actor object.
func (s *scanner) object(depth int, e *element, level int) error {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	s.i++ // '{'
	s.ws()
	if s.eat('}') {
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("expected a string key")
		}
		key, esc, err := s.str()
		if err != nil {
			return err
		}
		target := capNone
		if e != nil && !esc {
			switch {
			case level == 0 && string(key) == "uuid":
				target = capUUID
			case level == 0 && string(key) == "published":
				target = capPublished
			case level == 0 && string(key) == "actor":
				target = capActor
			case level == 1 && string(key) == "id":
				target = capActorID
			case level == 1 && string(key) == "alternateId":
				target = capActorLogin
			}
		}
		s.ws()
		if !s.eat(':') {
			return s.fail("expected :")
		}
		s.ws()
		switch {
		case target == capActor && s.peek() == '{':
			if err := s.object(depth+1, e, 1); err != nil {
				return err
			}
		case target != capNone && target != capActor && s.peek() == '"':
			start := s.i
			v, esc, err := s.str()
			if err != nil {
				return err
			}
			str := bytesString(v)
			if esc {
				str = gjson.ParseBytes(s.b[start:s.i]).String()
			}
			switch target {
			case capUUID:
				e.uuid, e.uuidOK = str, true
			case capPublished:
				e.published = str
			case capActorID:
				e.actorID = str
			case capActorLogin:
				e.actorLogin = str
			}
		default:
			if err := s.value(depth + 1); err != nil {
				return err
			}
		}
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		if s.eat('}') {
			return nil
		}
		return s.fail("expected , or } in an object")
	}
}

func (s *scanner) array(depth int) error {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	s.i++ // '['
	s.ws()
	if s.eat(']') {
		return nil
	}
	for {
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		if s.eat(']') {
			return nil
		}
		return s.fail("expected , or ] in an array")
	}
}

func (s *scanner) value(depth int) error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth, nil, -1)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return s.fail("expected a value")
}

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return nil
	}
	return s.fail("bad literal")
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.peek() >= '1' && s.peek() <= '9':
		s.digits()
	default:
		return s.fail("bad number")
	}
	if s.eat('.') && s.digits() == 0 {
		return s.fail("bad fraction")
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("bad exponent")
		}
	}
	return nil
}

// str scans a string and returns its content between the quotes and
// whether it holds escapes. Control characters are refused; like
// encoding/json.Valid, invalid UTF-8 is not.
func (s *scanner) str() ([]byte, bool, error) {
	s.i++ // '"'
	start := s.i
	esc := false
	b := s.b
	for i := s.i; i < len(b); i++ {
		// Skip eight plain bytes at a time (no quote, backslash or
		// control character): most of an event's bytes are string content.
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				s.i = i
				return nil, false, s.fail("unterminated escape")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					s.i = i
					return nil, false, s.fail("bad \\u escape")
				}
				i += 4
			default:
				s.i = i
				return nil, false, s.fail("bad escape")
			}
		case c < 0x20:
			s.i = i
			return nil, false, s.fail("control character in a string")
		}
	}
	s.i = len(b)
	return nil, false, s.fail("unterminated string")
}

// plain8 reports whether none of the eight bytes in w is '"', '\\' or a
// control character (< 0x20), with the classic SWAR zero-byte tests.
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (0x22 * ones)  // zero bytes where w has '"'
	bs := w ^ (0x5C * ones) // zero bytes where w has '\\'
	return ((q-ones)&^q|(bs-ones)&^bs|(w-0x20*ones)&^w)&highs == 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// bytesString returns b as a string; callers keep it only while the page
// body lives, or clone it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafeString(b)
}
