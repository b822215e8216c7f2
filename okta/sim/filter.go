package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// filter is a compiled SCIM filter expression, as the System Log API
// accepts in `filter`: comparisons (eq, ne, co, sw, ew, gt, ge, lt, le),
// presence (pr), and, or, not and parentheses. Attribute names are LogEvent
// JSON paths (eventType, actor.id, outcome.result,
// client.geographicalContext.country, ...); string comparisons are
// case-sensitive for eq/ne and case-insensitive for co/sw/ew, as Okta's.
type filter interface {
	match(v *view) bool
}

// view is one log event as a filter sees it: the fields the fast path
// knows without rendering, and the rendered JSON on demand.
type view struct {
	eventType, actorID, alternateID, outcome string
	raw                                      func() []byte
}

// values returns attr's values in the event: one for a plain path, one per
// element where the path crosses an array (target.id is the id of every
// target, as in Okta's filter), none when absent or null.
func (v *view) values(attr string, buf []string) []string {
	switch attr {
	case "eventType":
		return append(buf, v.eventType)
	case "actor.id":
		if v.actorID == "" {
			return buf
		}
		return append(buf, v.actorID)
	case "actor.alternateId":
		if v.alternateID == "" {
			return buf
		}
		return append(buf, v.alternateID)
	case "outcome.result":
		if v.outcome == "" {
			return buf
		}
		return append(buf, v.outcome)
	}
	return walkPath(gjson.ParseBytes(v.raw()), strings.Split(attr, "."), buf)
}

// walkPath collects the values at path under res, fanning out over arrays.
// Keys match exactly (no gjson path syntax); the last of duplicate keys
// wins, as in encoding/json.
func walkPath(res gjson.Result, path []string, out []string) []string {
	if res.IsArray() {
		res.ForEach(func(_, el gjson.Result) bool {
			out = walkPath(el, path, out)
			return true
		})
		return out
	}
	if len(path) == 0 {
		switch {
		case !res.Exists() || res.Type == gjson.Null:
		case res.Type == gjson.String:
			out = append(out, res.Str)
		default:
			out = append(out, res.Raw)
		}
		return out
	}
	if !res.IsObject() {
		return out
	}
	var next gjson.Result
	res.ForEach(func(k, val gjson.Result) bool {
		if k.Str == path[0] {
			next = val
		}
		return true
	})
	if !next.Exists() {
		return out
	}
	return walkPath(next, path[1:], out)
}

type andF struct{ a, b filter }
type orF struct{ a, b filter }
type notF struct{ a filter }
type cmpF struct {
	attr, op, val string
	num           float64
	isNum         bool
}

func (f andF) match(v *view) bool { return f.a.match(v) && f.b.match(v) }
func (f orF) match(v *view) bool  { return f.a.match(v) || f.b.match(v) }
func (f notF) match(v *view) bool { return !f.a.match(v) }

// match: an attribute with several values (inside an array) matches when
// any value does; ne when none is equal.
func (f cmpF) match(v *view) bool {
	var buf [4]string
	vals := v.values(f.attr, buf[:0])
	switch f.op {
	case "pr":
		return len(vals) > 0
	case "ne":
		for _, got := range vals {
			if got == f.val {
				return false
			}
		}
		return true
	}
	for _, got := range vals {
		if f.matchOne(got) {
			return true
		}
	}
	return false
}

func (f cmpF) matchOne(got string) bool {
	switch f.op {
	case "eq":
		return got == f.val
	case "ne":
		return got != f.val
	case "co":
		return strings.Contains(strings.ToLower(got), strings.ToLower(f.val))
	case "sw":
		return strings.HasPrefix(strings.ToLower(got), strings.ToLower(f.val))
	case "ew":
		return strings.HasSuffix(strings.ToLower(got), strings.ToLower(f.val))
	}
	var c int
	if f.isNum {
		g, err := strconv.ParseFloat(got, 64)
		if err != nil {
			return false
		}
		switch {
		case g < f.num:
			c = -1
		case g > f.num:
			c = 1
		}
	} else {
		c = strings.Compare(got, f.val)
	}
	switch f.op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

var errFilter = errors.New("invalid filter")

// parseFilter compiles a SCIM filter expression.
func parseFilter(s string) (filter, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", errFilter, p.toks[p.i].s)
	}
	return f, nil
}

type tok struct {
	s      string
	quoted bool
}

func lex(s string) ([]tok, error) {
	var out []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			out = append(out, tok{s: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated string", errFilter)
			}
			out = append(out, tok{s: b.String(), quoted: true})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' && s[j] != ')' && s[j] != '"' {
				j++
			}
			out = append(out, tok{s: s[i:j]})
			i = j
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", errFilter)
	}
	return out, nil
}

type parser struct {
	toks  []tok
	i     int
	depth int
}

func (p *parser) peekWord(w string) bool {
	return p.i < len(p.toks) && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].s, w)
}

func (p *parser) or() (filter, error) {
	a, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.i++
		b, err := p.and()
		if err != nil {
			return nil, err
		}
		a = orF{a, b}
	}
	return a, nil
}

func (p *parser) and() (filter, error) {
	a, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.i++
		b, err := p.factor()
		if err != nil {
			return nil, err
		}
		a = andF{a, b}
	}
	return a, nil
}

func (p *parser) factor() (filter, error) {
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected end", errFilter)
	}
	if p.peekWord("not") {
		p.i++
		p.depth++
		if p.depth > 32 {
			return nil, fmt.Errorf("%w: nested too deeply", errFilter)
		}
		a, err := p.factor()
		if err != nil {
			return nil, err
		}
		p.depth--
		return notF{a}, nil
	}
	if t := p.toks[p.i]; !t.quoted && t.s == "(" {
		p.depth++
		if p.depth > 32 {
			return nil, fmt.Errorf("%w: nested too deeply", errFilter)
		}
		p.i++
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.i >= len(p.toks) || p.toks[p.i].s != ")" || p.toks[p.i].quoted {
			return nil, fmt.Errorf("%w: missing )", errFilter)
		}
		p.i++
		p.depth--
		return a, nil
	}
	attr := p.toks[p.i]
	if attr.quoted || !validAttr(attr.s) {
		return nil, fmt.Errorf("%w: bad attribute %q", errFilter, attr.s)
	}
	p.i++
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("%w: missing operator", errFilter)
	}
	op := strings.ToLower(p.toks[p.i].s)
	p.i++
	switch op {
	case "pr":
		return cmpF{attr: attr.s, op: op}, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("%w: unknown operator %q", errFilter, op)
	}
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("%w: missing value", errFilter)
	}
	v := p.toks[p.i]
	p.i++
	f := cmpF{attr: attr.s, op: op, val: v.s}
	if !v.quoted {
		switch {
		case v.s == "true" || v.s == "false" || v.s == "null":
		default:
			n, err := strconv.ParseFloat(v.s, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: value %q must be quoted", errFilter, v.s)
			}
			f.num, f.isNum = n, true
		}
	}
	return f, nil
}

func validAttr(s string) bool {
	if s == "" || s == "(" || s == ")" {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
