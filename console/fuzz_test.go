package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
)

// FuzzSessionCookie: no input panics the parser, and only the exact value
// issued is accepted.
func FuzzSessionCookie(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := newSessions("token", time.Hour, func() time.Time { return now })
	good, err := s.encode(session{id: []byte("0123456789abcdef"), expiry: now.Add(time.Minute), who: api.Principal{ID: "okta#00u1", Name: "Ada", Role: api.RoleApprover}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("v2..")
	f.Add("v2.AAAA.BBBB")
	f.Add(strings.Repeat(".", 100))
	// The MAC's last character carries 2 unused bits: another spelling of it.
	last := good[len(good)-1]
	alt := good[:len(good)-1] + string(map[bool]byte{true: 'B', false: 'A'}[last == 'A'])
	f.Add(alt)
	f.Fuzz(func(t *testing.T, v string) {
		_, ok := s.parse(v)
		if ok && v != good {
			t.Fatalf("accepted %q", v)
		}
	})
}

// FuzzParseFilter: no query panics the parser; a valid filter's limit is in range.
func FuzzParseFilter(f *testing.F) {
	for _, q := range []string{"", "status=New,Closed&severity=High", "since=2026-01-01&until=2026-01-02T10:00", "limit=1000", "since=2026-01-01T00:00:00Z", "user=%00"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := parseFilter(q)
		if err == nil && (fl.Limit < 1 || fl.Limit > maxListLimit) {
			t.Fatalf("limit %d", fl.Limit)
		}
	})
}
