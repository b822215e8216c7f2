package gateway

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"unsafe"
)

// EnvelopeError says why a delivery body is not an Okta event hook envelope.
// The gateway answers it with 400, which Okta does not retry.
type EnvelopeError struct{ Reason string }

func (e *EnvelopeError) Error() string { return "not an Okta event hook delivery: " + e.Reason }

func envErr(format string, args ...any) error {
	return &EnvelopeError{Reason: fmt.Sprintf(format, args...)}
}

// EventRef is one element of an envelope's data.events: its exact bytes
// (a sub-slice of the body, not a copy) and the fields the gateway keys by.
// The strings alias the body too, unless they held JSON escapes.
type EventRef struct {
	Raw         []byte
	DeliveryID  string // the envelope's eventId, the same for every event of a delivery
	Count       int    // the number of elements in the delivery, rejected ones included
	Index       int    // the element's position in data.events
	UUID        string
	ActorID     string
	AlternateID string
	// Reject says why Clarion cannot key or parse this element (it is not
	// an object, or it has no string uuid, or no actor object); "" for an
	// event it can. RejectCode is the same reason as a short fixed token
	// (RejectNotObject, ...), fit for a metric label.
	Reject     string
	RejectCode string
}

// RejectCode values: why one element of data.events cannot be keyed.
const (
	RejectNotObject   = "not_object"
	RejectNoUUID      = "no_uuid"
	RejectLongUUID    = "uuid_too_long"
	RejectNoActor     = "no_actor"
	RejectLowercased  = "lowercased_keys"
	maxUUIDLen        = 128
	rejectNotObjectTx = "the event is not a JSON object"
)

// Envelope is what the gateway reads of a delivery.
type Envelope struct {
	EventID  string // the delivery's eventId ("" if absent)
	Events   int    // elements of data.events, rejected ones included
	Rejected int    // elements with a Reject reason
}

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 256

// SplitEnvelope validates body as Okta's event hook envelope
// ({"eventType":"com.okta.event_hook", ..., "data":{"events":[...]}}) and
// calls fn for each element of data.events in order, with the element's
// bytes exactly as sent. Nothing is re-encoded.
//
// It reads the body once: one pass validates the JSON (the grammar
// encoding/json accepts, nesting up to 256 levels), finds each event's
// span, and reads each event's uuid and actor. fn is called only after the
// whole body has been validated, so a body that is not an envelope yields
// no event at all. Within a valid envelope, fn sees every element of
// data.events: one that is not an object with a string uuid (at most 128
// bytes) and an actor object comes with EventRef.Reject set, so that the
// caller can set it aside (the gateway dead-letters it) without losing the
// others. An envelope with an empty events array is valid. As with
// encoding/json, the last of duplicate keys wins.
//
// Hazard: EventRef's fields alias body, which must not be modified while
// they are in use; copy them if they must outlive body.
func SplitEnvelope(body []byte, fn func(EventRef) error) (Envelope, error) {
	var env Envelope
	var refsBuf [32]EventRef
	s := scanner{b: body, refs: refsBuf[:0]}
	s.ws()
	if s.i >= len(s.b) {
		return env, envErr("the body is not valid JSON: it is empty")
	}
	if s.b[s.i] != '{' {
		s.value(0)
		s.ws()
		if s.err != nil || s.i != len(s.b) {
			return env, envErr("the body is not valid JSON")
		}
		return env, envErr("the body is not a JSON object")
	}
	s.root()
	if s.err == nil {
		s.ws()
		if s.i != len(s.b) {
			s.fail("data after the JSON object")
		}
	}
	if s.err != nil {
		return env, envErr("the body is not valid JSON: %v", s.err)
	}
	if s.hasType && s.eventType != "com.okta.event_hook" {
		return env, envErr("eventType is %q, want \"com.okta.event_hook\"", truncate(s.eventType, 64))
	}
	if !s.hasData {
		return env, envErr("it has no \"data\" object")
	}
	if !s.hasEvents {
		return env, envErr("it has no \"data.events\" array")
	}
	env.EventID = s.eventID
	env.Events = len(s.refs)
	for i := range s.refs {
		if s.refs[i].Reject != "" {
			env.Rejected++
		}
	}
	for i, r := range s.refs {
		r.DeliveryID, r.Count, r.Index = env.EventID, env.Events, i
		if err := fn(r); err != nil {
			return env, err
		}
	}
	return env, nil
}

// scanner is a single-pass JSON validator that understands just enough of
// the envelope to find events and their keys.
type scanner struct {
	b   []byte
	i   int
	err error

	eventType, eventID string
	hasType            bool
	hasData, hasEvents bool
	refs               []EventRef
}

func (s *scanner) fail(format string, args ...any) error {
	if s.err == nil {
		s.err = fmt.Errorf("offset %d: %s", s.i, fmt.Sprintf(format, args...))
	}
	return s.err
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

// object iterates an object's members, calling member with each key (its
// raw bytes between the quotes, and whether it holds escapes) positioned at
// the value, which member must consume.
func (s *scanner) object(depth int, member func(key []byte, escaped bool) error) error {
	if depth > maxDepth {
		return s.fail("nesting deeper than %d", maxDepth)
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("want a string key")
		}
		start := s.i + 1
		escaped, err := s.str()
		if err != nil {
			return err
		}
		key := s.b[start : s.i-1]
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("want ':'")
		}
		s.i++
		s.ws()
		if err := member(key, escaped); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// array iterates an array's elements; elem must consume each.
func (s *scanner) array(depth int, elem func(idx int) error) error {
	if depth > maxDepth {
		return s.fail("nesting deeper than %d", maxDepth)
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		if err := elem(n); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("want ',' or ']'")
		}
	}
}

// keyIs compares a raw key with a plain name; keys with escapes are
// decoded first (rare: the slow path).
func keyIs(key []byte, escaped bool, name string) bool {
	if !escaped {
		return string(key) == name
	}
	var k string
	q := make([]byte, 0, len(key)+2)
	q = append(append(append(q, '"'), key...), '"')
	return json.Unmarshal(q, &k) == nil && k == name
}

// stringValue consumes a value; if it is a string it returns it decoded.
// An unescaped string (all of Okta's ids) aliases the body: no copy.
func (s *scanner) stringValue(depth int) (string, bool, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false, s.value(depth)
	}
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return "", false, err
	}
	if !escaped {
		raw := s.b[start+1 : s.i-1]
		if len(raw) == 0 {
			return "", true, nil
		}
		return unsafe.String(&raw[0], len(raw)), true, nil
	}
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return "", false, s.fail("bad string")
	}
	return v, true, nil
}

func (s *scanner) root() {
	s.object(0, func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "data"):
			if s.i < len(s.b) && s.b[s.i] == '{' {
				s.hasData, s.hasEvents, s.refs = true, false, s.refs[:0]
				return s.data()
			}
			s.hasData, s.hasEvents, s.refs = false, false, s.refs[:0]
			return s.value(1)
		case keyIs(key, esc, "eventType"):
			v, ok, err := s.stringValue(1)
			s.eventType, s.hasType = v, true
			if !ok && err == nil {
				s.eventType = "(not a string)"
			}
			return err
		case keyIs(key, esc, "eventId"):
			v, _, err := s.stringValue(1)
			s.eventID = v
			return err
		}
		return s.value(1)
	})
}

func (s *scanner) data() error {
	return s.object(1, func(key []byte, esc bool) error {
		if !keyIs(key, esc, "events") {
			return s.value(2)
		}
		s.refs = s.refs[:0]
		if s.i >= len(s.b) || s.b[s.i] != '[' {
			s.hasEvents = false
			return s.value(2)
		}
		s.hasEvents = true
		return s.array(2, func(idx int) error {
			start := s.i
			if s.i >= len(s.b) || s.b[s.i] != '{' {
				if err := s.value(3); err != nil {
					return err
				}
				s.refs = append(s.refs, EventRef{Raw: s.b[start:s.i:s.i], RejectCode: RejectNotObject,
					Reject: fmt.Sprintf("data.events[%d]: %s", idx, rejectNotObjectTx)})
				return nil
			}
			ref, sawUUID, sawActor, lowercased, err := s.event()
			if err != nil {
				return err
			}
			ref.Raw = s.b[start:s.i:s.i]
			switch {
			case !sawUUID || ref.UUID == "":
				ref.RejectCode, ref.Reject = RejectNoUUID, fmt.Sprintf("data.events[%d]: the event has no string \"uuid\"", idx)
			case len(ref.UUID) > maxUUIDLen:
				ref.RejectCode, ref.Reject = RejectLongUUID, fmt.Sprintf("data.events[%d]: the event's uuid is longer than %d bytes", idx, maxUUIDLen)
			case !sawActor:
				ref.RejectCode, ref.Reject = RejectNoActor, fmt.Sprintf("data.events[%d]: the event has no \"actor\" object", idx)
			case lowercased:
				ref.RejectCode, ref.Reject = RejectLowercased, fmt.Sprintf("data.events[%d]: %s", idx, lowercasedReason)
			}
			if ref.RejectCode == RejectLongUUID {
				ref.UUID = ""
			}
			s.refs = append(s.refs, ref)
			return nil
		})
	})
}

// lowercasedReason says why an event with lowercased top-level keys is
// refused; the same words as logevent.ErrLowercased.
const lowercasedReason = "the event's keys are lowercased (\"eventtype\", not \"eventType\"): a normalised export such as Panther's, not a LogEvent as Okta writes it"

func (s *scanner) event() (ref EventRef, sawUUID, sawActor, lowercased bool, err error) {
	var sawType, sawLowerType bool
	err = s.object(3, func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "eventType"):
			sawType = true
		case keyIs(key, esc, "eventtype"):
			sawLowerType = true
		case keyIs(key, esc, "uuid"):
			v, ok, err := s.stringValue(4)
			ref.UUID, sawUUID = v, ok
			return err
		case keyIs(key, esc, "actor"):
			if s.i >= len(s.b) || s.b[s.i] != '{' {
				sawActor, ref.ActorID, ref.AlternateID = false, "", ""
				return s.value(4)
			}
			sawActor, ref.ActorID, ref.AlternateID = true, "", ""
			return s.object(4, func(key []byte, esc bool) error {
				switch {
				case keyIs(key, esc, "id"):
					v, _, err := s.stringValue(5)
					ref.ActorID = v
					return err
				case keyIs(key, esc, "alternateId"):
					v, _, err := s.stringValue(5)
					ref.AlternateID = v
					return err
				}
				return s.value(5)
			})
		}
		return s.value(4)
	})
	return ref, sawUUID, sawActor, sawLowerType && !sawType, err
}

// value validates and consumes any JSON value. Objects and arrays are
// walked by skip, an iterative state machine: no recursion and no closure
// per token, which is where a JSON validator spends its time.
func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return s.fail("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == '{' || c == '[':
		return s.skip(depth)
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return s.fail("unexpected character %q", s.b[s.i])
}

// Container kinds on skip's stack.
const (
	inObject = 1
	inArray  = 2
)

// skip validates one JSON value at s.i and advances past it. depth is the
// nesting of the value's container, so the maxDepth bound is global. It is
// a state machine written with gotos (value, key, after), with no recursion
// and no call per token but for strings' bodies: this is where a JSON
// validator spends its time, and Okta's compact JSON takes the fast paths.
func (s *scanner) skip(depth int) error {
	b := s.b
	i := s.i
	var stack [maxDepth + 1]byte
	top := 0 // containers open inside this value
	var (
		c   byte
		end int
		why string
	)

value: // at a value, maybe after whitespace
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		goto unexpectedEnd
	}
	c = b[i]
	switch {
	case c == '"':
		if end, _, why = scanString(b, i); why != "" {
			s.i = end
			return s.fail("%s", why)
		}
		i = end
		goto after
	case c == '{' || c == '[':
		if depth+top >= maxDepth {
			s.i = i
			return s.fail("nesting deeper than %d", maxDepth)
		}
		i++
		for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			goto unexpectedEnd
		}
		if c == '{' {
			if b[i] == '}' {
				i++
				goto after
			}
			stack[top] = inObject
			top++
			goto key
		}
		if b[i] == ']' {
			i++
			goto after
		}
		stack[top] = inArray
		top++
		goto value
	case c == '-' || (c >= '0' && c <= '9'):
		s.i = i
		if err := s.number(); err != nil {
			return err
		}
		i = s.i
		goto after
	case c == 't' || c == 'f' || c == 'n':
		w := "null"
		if c == 't' {
			w = "true"
		} else if c == 'f' {
			w = "false"
		}
		if len(b)-i < len(w) || string(b[i:i+len(w)]) != w {
			s.i = i
			return s.fail("bad literal")
		}
		i += len(w)
		goto after
	}
	s.i = i
	return s.fail("unexpected character %q", c)

key: // at an object key, maybe after whitespace
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		goto unexpectedEnd
	}
	if b[i] != '"' {
		s.i = i
		return s.fail("want a string key")
	}
	if end, _, why = scanString(b, i); why != "" {
		s.i = end
		return s.fail("%s", why)
	}
	i = end
	if i < len(b) && b[i] == ':' { // compact JSON
		i++
		goto value
	}
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		s.i = i
		return s.fail("want ':'")
	}
	i++
	goto value

after: // after a value
	if top == 0 {
		s.i = i
		return nil
	}
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		goto unexpectedEnd
	}
	switch c = b[i]; {
	case c == ',':
		i++
		if stack[top-1] == inObject {
			goto key
		}
		goto value
	case c == '}' && stack[top-1] == inObject, c == ']' && stack[top-1] == inArray:
		i++
		top--
		goto after
	}
	s.i = i
	return s.fail("want ',' or the end of the container")

unexpectedEnd:
	s.i = i
	return s.fail("unexpected end")
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.fail("bad literal")
	}
	s.i += len(w)
	return nil
}

// str consumes a string starting at '"', validating escapes and rejecting
// control characters, and reports whether it holds escapes.
func (s *scanner) str() (escaped bool, err error) {
	end, escaped, why := scanString(s.b, s.i)
	s.i = end
	if why != "" {
		return escaped, s.fail("%s", why)
	}
	return escaped, nil
}

// scanString scans the string whose opening quote is at b[i]. It returns
// the index after the closing quote, whether the string holds escapes, and
// why it is invalid ("" when valid; end is then the offending position).
func scanString(b []byte, i int) (end int, escaped bool, why string) {
	i++
	for {
		// Skip plain bytes (no '"', no '\\', no control byte) 8 at a time,
		// landing exactly on the first special byte of a word; byte by byte
		// only in the last 7 bytes of the body.
		for i+8 <= len(b) {
			if m := specialMask8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i+8 > len(b) {
			for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
				i++
			}
		}
		if i >= len(b) {
			return i, escaped, "unterminated string"
		}
		switch b[i] {
		case '"':
			return i + 1, escaped, ""
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, "unterminated escape"
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, escaped, "bad \\u escape"
				}
				i += 6
			default:
				return i, escaped, "bad escape"
			}
		default:
			return i, escaped, "control character in string"
		}
	}
}

// specialMask8 marks, with the high bit of each byte, the bytes of x
// (little-endian) that are '"', '\\' or below 0x20, using the classic "has
// zero byte" and "has less than" bit tricks. Borrows can only mark bytes
// above a true match, so the lowest mark is exact: it is the first special
// byte (TestSpecialMask8 checks this against a byte loop).
func specialMask8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (lo * '"')
	bslash := x ^ (lo * '\\')
	return ((quote-lo)&^quote | (bslash-lo)&^bslash | (x-lo*0x20)&^x) & hi
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (s *scanner) number() error {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.fail("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return s.fail("bad number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return s.fail("bad number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
