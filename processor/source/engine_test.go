package source

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
)

var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC).UnixMilli()

type step struct {
	sec     int64
	user    string
	fail    bool
	unknown bool
	ip      string
}

// run feeds the steps through Attempts' keys (IP and one fingerprint) and
// returns the anomalies by id, latest version.
func run(t *testing.T, p Params, steps []step) map[string]*Anomaly {
	t.Helper()
	e := NewEngine(p)
	srcs := map[string]*Source{}
	out := map[string]*Anomaly{}
	for i, s := range steps {
		a := Attempt{T: t0 + s.sec*1000, UUID: fmt.Sprintf("u%d", i), User: s.user, Login: s.user + "@x", IP: s.ip}
		if s.ip == "" {
			a.IP = "192.0.2.1"
		}
		a.Flags = FlagSuccess
		if s.fail {
			a.Flags = FlagFailure
		}
		if s.unknown {
			a.Flags |= FlagUnknownActor
		}
		a.FP = 7
		for _, key := range []string{"ip:" + a.IP, "fp:64500:abc"} {
			b := a
			b.Subject = key
			st := srcs[key]
			if st == nil {
				st = &Source{}
				srcs[key] = st
			}
			if an := e.Process("t", st, &b); an != nil {
				out[an.ID] = an
			}
			if i%5 != 0 {
				continue
			}
			// The state survives its changelog encoding.
			enc, err := st.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			var back Source
			if err := back.UnmarshalBinary(enc); err != nil {
				t.Fatal(err)
			}
			enc2, _ := back.AppendBinary(nil)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("state does not round-trip")
			}
			srcs[key] = &back
		}
	}
	return out
}

func spray(n int, gap int64) []step {
	var s []step
	for i := 0; i < n; i++ {
		s = append(s, step{sec: int64(i) * gap, user: fmt.Sprintf("v%d", i), fail: true})
	}
	return s
}

func TestEngine(t *testing.T) {
	t.Parallel()
	nat := func() []step { // 100 users through one NAT, sporadic failures, mostly resolved
		var s []step
		for d := int64(0); d < 2; d++ {
			for i := 0; i < 100; i++ {
				at := d*86400 + int64(i)*9
				u := fmt.Sprintf("n%d", i)
				if i%7 == 0 {
					s = append(s, step{sec: at, user: u, fail: true})
					at += 20
				}
				s = append(s, step{sec: at + 1, user: u})
			}
		}
		return s
	}
	tests := []struct {
		name      string
		steps     []step
		wantType  string // "" for none
		wantUsers int
		wantSev   string
	}{
		{"spray of 8 users", spray(8, 10), TypePasswordSpray, 8, record.SeverityHigh},
		{"spray then a success", append(spray(8, 10), step{sec: 3600, user: "v3"}), TypePasswordSpray, 8, record.SeverityCritical},
		{"5 users: below the bar", spray(5, 10), "", 0, ""},
		{"slow: one user per 4 minutes", spray(12, 240), "", 0, ""},
		{"stuffing: a third unknown", func() []step {
			s := spray(8, 5)
			for i := range s {
				s[i].unknown = i%3 == 1
			}
			return s
		}(), TypeCredentialStuffing, 8, record.SeverityHigh},
		{"corporate NAT", nat(), "", 0, ""},
		{"help desk: 4 users, failures and successes", []step{
			{sec: 0, user: "a", fail: true}, {sec: 30, user: "a"}, {sec: 60, user: "b", fail: true}, {sec: 90, user: "c", fail: true},
			{sec: 100, user: "c"}, {sec: 200, user: "d", fail: true}, {sec: 210, user: "d", fail: true},
		}, "", 0, ""},
		{"mistyper: four failures then a success", []step{
			{sec: 0, user: "m", fail: true}, {sec: 10, user: "m", fail: true}, {sec: 20, user: "m", fail: true}, {sec: 30, user: "m", fail: true}, {sec: 40, user: "m"},
		}, "", 0, ""},
		{"brute force of two users is not a spray", func() []step {
			var s []step
			for i := 0; i < 30; i++ {
				s = append(s, step{sec: int64(i), user: fmt.Sprintf("b%d", i%2), fail: true})
			}
			return s
		}(), "", 0, ""},
		{"NAT whose users are known: their failures do not count", func() []step {
			var s []step
			for i := 0; i < 20; i++ {
				s = append(s, step{sec: int64(i), user: fmt.Sprintf("k%d", i)})
			}
			for i := 0; i < 20; i++ {
				s = append(s, step{sec: 7200 + int64(i)*5, user: fmt.Sprintf("k%d", i), fail: true})
			}
			return s
		}(), "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, Params{}, tc.steps)
			if tc.wantType == "" {
				for _, a := range got {
					t.Errorf("unexpected %s: %s", a.Type, a.Sentence)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d anomalies, want 1: %v", len(got), got)
			}
			for _, a := range got {
				if a.Type != tc.wantType || a.Evidence.UserCount != tc.wantUsers || a.Severity != tc.wantSev {
					t.Errorf("got %s users=%d severity=%s, want %s %d %s (%s)", a.Type, a.Evidence.UserCount, a.Severity, tc.wantType, tc.wantUsers, tc.wantSev, a.Sentence)
				}
				if a.Subject.Kind != record.SubjectSource || a.Subject.Source == nil || a.User.ID != a.Subject.Source.Key {
					t.Errorf("subject %+v user %+v", a.Subject, a.User)
				}
				if len(a.Evidence.EventUUIDs) < tc.wantUsers || a.Sentence == "" {
					t.Errorf("evidence %+v", a.Evidence)
				}
			}
		})
	}
}

// A source that routinely sees failing users raises its own bar.
func TestBaselineAdapts(t *testing.T) {
	t.Parallel()
	var s []step
	for w := int64(0); w < 60; w++ { // 60 windows with 4 failing users each
		for i := 0; i < 4; i++ {
			s = append(s, step{sec: w*900 + int64(i)*10, user: fmt.Sprintf("w%d-%d", w, i), fail: true})
		}
	}
	base := int64(60 * 900)
	for i := 0; i < 7; i++ {
		s = append(s, step{sec: base + int64(i)*5, user: fmt.Sprintf("x%d", i), fail: true})
	}
	for _, a := range run(t, Params{}, s) {
		t.Errorf("unexpected %s at a source with a routine of failures: %s", a.Type, a.Sentence)
	}
	if got := run(t, Params{}, spray(7, 5)); len(got) != 1 {
		t.Errorf("the same burst at a fresh source: %d anomalies, want 1", len(got))
	}
}

func TestDuplicateAndBounds(t *testing.T) {
	t.Parallel()
	e := NewEngine(Params{})
	s := &Source{}
	a := Attempt{T: t0, UUID: "same", User: "u", Flags: FlagFailure, Subject: "ip:1"}
	e.Process("t", s, &a)
	e.Process("t", s, &a)
	if len(s.Attempts) != 1 {
		t.Fatalf("duplicate counted: %d attempts", len(s.Attempts))
	}
	for i := 0; i < 500; i++ {
		b := Attempt{T: t0 + int64(i), UUID: fmt.Sprint(i), User: "u", Flags: FlagSuccess, Subject: "ip:1"}
		e.Process("t", s, &b)
	}
	if len(s.Attempts) > e.Params().MaxAttempts || len(s.Known) > e.Params().MaxKnown {
		t.Fatalf("state unbounded: %d attempts, %d known", len(s.Attempts), len(s.Known))
	}
	if !e.Expired(s, t0+e.Params().IdleTTL.Milliseconds()+1000) || e.Expired(s, t0+1000) {
		t.Fatal("expiry")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	t.Parallel()
	var s Source
	for _, b := range [][]byte{nil, {9, '{', '}'}, {stateVersion, 'x'}} {
		if err := s.UnmarshalBinary(b); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
}

func TestAttemptCodec(t *testing.T) {
	t.Parallel()
	a := Attempt{T: t0, UUID: "u", User: "00u1", Login: "a@x", IP: "192.0.2.1", Flags: FlagFailure | FlagUnknownActor, Subject: "fp:1:ab", ASN: 64500, UA: "curl", DTHash: "dt", FP: 99}
	b := a.AppendBinary(nil)
	var got Attempt
	if err := got.UnmarshalBinary(b); err != nil || got != a {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := 0; i < len(b); i++ {
		if err := got.UnmarshalBinary(b[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}
