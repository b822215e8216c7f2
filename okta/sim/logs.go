package sim

import (
	"bytes"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

const (
	logsDefaultLimit = 100
	logsMaxLimit     = 1000
	logsDefaultSpan  = 7 * 24 * time.Hour // since defaults to 7 days before until
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// handleLogs is GET /api/v1/logs.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request, t *token) int {
	if !requireScope(w, r, t, "okta.logs.read") {
		return http.StatusForbidden
	}
	q := r.URL.Query()
	bad := func(field, msg string) int {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: "+field, field+": "+msg)
		return http.StatusBadRequest
	}
	limit := logsDefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad("limit", "The limit parameter must be a non-negative integer.")
		}
		if n > 0 {
			limit = min(n, logsMaxLimit)
		}
	}
	desc := false
	switch q.Get("sortOrder") {
	case "", "ASCENDING":
	case "DESCENDING":
		desc = true
	default:
		return bad("sortOrder", "The sortOrder parameter must be ASCENDING or DESCENDING.")
	}
	// With after, the cursor sets where the page starts and since is
	// moot: Okta's SDKs follow a next link by merging it into the first
	// request's query, so they send both.
	after := q.Get("after")
	n := s.advance()
	now := s.SimNow()
	until, hasUntil := now, false
	if v := q.Get("until"); v != "" {
		u, err := parseLogTime(v)
		if err != nil {
			return bad("until", "The until parameter is not a valid ISO 8601 timestamp.")
		}
		until, hasUntil = u, true
	}
	since := until.Add(-logsDefaultSpan)
	if v := q.Get("since"); v != "" {
		u, err := parseLogTime(v)
		if err != nil {
			return bad("since", "The since parameter is not a valid ISO 8601 timestamp.")
		}
		since = u
	}
	if hasUntil && since.After(until) {
		return bad("since", "The since parameter must be earlier than until.")
	}
	var flt filter
	if v := q.Get("filter"); v != "" {
		f, err := parseFilter(v)
		if err != nil {
			return bad("filter", "Invalid filter: "+err.Error())
		}
		flt = f
	}
	var keywords [][]byte
	for _, k := range strings.Fields(q.Get("q")) {
		keywords = append(keywords, bytes.ToLower([]byte(k)))
	}
	if len(keywords) > 10 {
		return bad("q", "At most 10 keywords.")
	}

	s.mu.RLock()
	recs := s.recs[:n]
	own := s.own
	s.mu.RUnlock()
	lower := func(ms int64) int {
		return sort.Search(len(recs), func(i int) bool { return recs[i].Published >= ms })
	}
	lo, hi := lower(since.UnixMilli()), len(recs)
	if hasUntil {
		hi = lower(until.UnixMilli())
	}
	if after != "" {
		c, ok := parseCursor(after, desc)
		if !ok {
			return bad("after", "The after cursor is invalid.")
		}
		if desc {
			hi, lo = min(c.hi, len(recs)), min(c.lo, len(recs))
		} else {
			lo = min(c.lo, len(recs))
		}
	}

	bp := bufPool.Get().(*[]byte)
	out := append((*bp)[:0], '[')
	m := s.model
	var scratch []byte
	count := 0
	more := false
	emit := func(i int) bool { // reports whether the event matched
		rec := &recs[i]
		var raw []byte
		v := view{raw: func() []byte {
			if raw == nil {
				if rec.Kind == kindOwn {
					raw = own[rec.Seq].raw
				} else {
					scratch = m.AppendJSON(scratch[:0], rec)
					raw = scratch
				}
			}
			return raw
		}}
		if rec.Kind == kindOwn {
			e := &own[rec.Seq]
			v.eventType, v.actorID, v.alternateID, v.outcome = e.eventType, e.actorID, e.alternateID, e.outcome
		} else {
			v.eventType, v.actorID, v.alternateID = rec.EventType(), m.ActorID(rec), m.Login(rec)
			v.outcome = rec.Outcome()
		}
		if flt != nil && !flt.match(&v) {
			return false
		}
		if len(keywords) > 0 {
			low := bytes.ToLower(v.raw())
			for _, k := range keywords {
				if !bytes.Contains(low, k) {
					return false
				}
			}
		}
		if count > 0 {
			out = append(out, ',')
		}
		if raw != nil {
			out = append(out, raw...)
		} else if rec.Kind == kindOwn {
			out = append(out, own[rec.Seq].raw...)
		} else {
			out = m.AppendJSON(out, rec)
		}
		count++
		return true
	}
	var next cursor
	if desc {
		i := hi - 1
		for ; i >= lo && count < limit; i-- {
			emit(i)
		}
		more = count == limit && i >= lo
		next = cursor{lo: lo, hi: i + 1}
	} else {
		i := lo
		for ; i < hi && count < limit; i++ {
			emit(i)
		}
		more = count == limit && i < hi
		next = cursor{lo: i}
	}
	out = append(out, ']')

	base := s.orgURL(r)
	h := w.Header()
	h.Add("Link", "<"+base+r.URL.RequestURI()+`>; rel="self"`)
	// Polling requests (ASCENDING without until) always get a next link;
	// bounded ones only while results remain.
	if more || (!desc && !hasUntil) {
		nq := url.Values{}
		nq.Set("limit", strconv.Itoa(limit))
		nq.Set("sortOrder", map[bool]string{false: "ASCENDING", true: "DESCENDING"}[desc])
		for _, k := range []string{"filter", "q", "until"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("after", next.String(desc))
		h.Add("Link", "<"+base+"/api/v1/logs?"+nq.Encode()+`>; rel="next"`)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	*bp = out
	if cap(out) <= 8<<20 {
		bufPool.Put(bp)
	}
	return http.StatusOK
}

// cursor is a position in the System Log: ASCENDING pages continue at lo;
// DESCENDING pages continue below hi, down to lo.
type cursor struct{ lo, hi int }

func (c cursor) String(desc bool) string {
	if desc {
		return strconv.Itoa(c.hi) + "_" + strconv.Itoa(c.lo)
	}
	return strconv.Itoa(c.lo)
}

func parseCursor(s string, desc bool) (cursor, bool) {
	if desc {
		a, b, ok := strings.Cut(s, "_")
		if !ok {
			return cursor{}, false
		}
		hi, err1 := strconv.Atoi(a)
		lo, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || hi < 0 || lo < 0 || lo > hi {
			return cursor{}, false
		}
		return cursor{lo: lo, hi: hi}, true
	}
	lo, err := strconv.Atoi(s)
	if err != nil || lo < 0 {
		return cursor{}, false
	}
	return cursor{lo: lo}, true
}

// parseLogTime parses since/until: ISO 8601 with a zone, fractional
// seconds optional.
func parseLogTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.000-0700", s)
}

// ownEvent is an event the simulator logs itself: admin actions through
// the Users API and failed event hook deliveries.
type ownEvent struct {
	published   int64
	eventType   string
	display     string
	actorID     string // the acting app (client id) or "unknown"
	alternateID string
	actorName   string
	actorType   string
	outcome     string // SUCCESS, FAILURE
	reason      string
	ip          string
	target      *traffic.User
	targetType  string
	targetID    string
	targetName  string
	raw         []byte
}

func (e *ownEvent) render(s *Server, now int64) []byte {
	b := []byte(`{"uuid":"`)
	b = append(b, newUUIDv4()...)
	b = append(b, `","published":"`...)
	b = traffic.AppendTime(b, now)
	b = append(b, `","eventType":`...)
	b = traffic.AppendJSONString(b, e.eventType)
	b = append(b, `,"version":"0","displayMessage":`...)
	b = traffic.AppendJSONString(b, e.display)
	sev := "INFO"
	if e.outcome == "FAILURE" {
		sev = "WARN"
	}
	b = append(b, `,"severity":"`+sev+`","client":{"userAgent":{"rawUserAgent":"clarion","os":"Unknown","browser":"UNKNOWN"},"zone":"null","device":"Unknown","id":null,"ipAddress":`...)
	if e.ip == "" {
		b = append(b, "null"...)
	} else {
		b = traffic.AppendJSONString(b, e.ip)
	}
	b = append(b, `,"geographicalContext":null},"device":null,"actor":{"id":`...)
	b = traffic.AppendJSONString(b, e.actorID)
	b = append(b, `,"type":`...)
	b = traffic.AppendJSONString(b, e.actorType)
	b = append(b, `,"alternateId":`...)
	b = traffic.AppendJSONString(b, e.alternateID)
	b = append(b, `,"displayName":`...)
	b = traffic.AppendJSONString(b, e.actorName)
	b = append(b, `,"detailEntry":null},"outcome":{"result":`...)
	b = traffic.AppendJSONString(b, e.outcome)
	b = append(b, `,"reason":`...)
	if e.reason == "" {
		b = append(b, "null"...)
	} else {
		b = traffic.AppendJSONString(b, e.reason)
	}
	b = append(b, `},"target":`...)
	switch {
	case e.target != nil:
		b = append(b, `[{"id":`...)
		b = traffic.AppendJSONString(b, e.target.ID)
		b = append(b, `,"type":"User","alternateId":`...)
		b = traffic.AppendJSONString(b, e.target.Login)
		b = append(b, `,"displayName":`...)
		b = traffic.AppendJSONString(b, e.target.FirstName+" "+e.target.LastName)
		b = append(b, `,"detailEntry":null}]`...)
	case e.targetType != "":
		b = append(b, `[{"id":`...)
		b = traffic.AppendJSONString(b, e.targetID)
		b = append(b, `,"type":`...)
		b = traffic.AppendJSONString(b, e.targetType)
		b = append(b, `,"alternateId":`...)
		b = traffic.AppendJSONString(b, e.targetName)
		b = append(b, `,"displayName":`...)
		b = traffic.AppendJSONString(b, e.targetName)
		b = append(b, `,"detailEntry":null}]`...)
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"transaction":{"type":"JOB","id":"`...)
	b = append(b, randID("", 27)...)
	b = append(b, `","detail":{}},"debugContext":{"debugData":{}},"authenticationContext":{"authenticationProvider":null,"credentialProvider":null,"credentialType":null,"issuer":null,"authenticationStep":0,"externalSessionId":"unknown","interface":null},"securityContext":{"asNumber":null,"asOrg":null,"isp":null,"domain":null,"isProxy":null},"insertionTimestamp":null}`...)
	return b
}
