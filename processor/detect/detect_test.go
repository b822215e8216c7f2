package detect_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/detect"
	"github.com/clarion-itdr/clarion/processor/detect/detecttest"
	sc "github.com/clarion-itdr/clarion/processor/scenario"
)

// harness feeds scenario sign-ins through one engine, one state per user.
type harness struct {
	t     *testing.T
	eng   *detect.Engine
	users map[string]*detect.User
	res   detect.Result
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, eng: detect.NewEngine(detect.Params{}), users: map[string]*detect.User{}}
}

func (h *harness) feed(s sc.Signin) []detect.Anomaly {
	h.t.Helper()
	raw, err := json.Marshal(s.Event())
	if err != nil {
		h.t.Fatal(err)
	}
	var ev logevent.Event
	if err := logevent.Parse(raw, &ev); err != nil {
		h.t.Fatal(err)
	}
	u := h.users[ev.UserKey()]
	if u == nil {
		u = &detect.User{}
		h.users[ev.UserKey()] = u
	}
	h.eng.Process("t", u, &ev, &h.res)
	return slices.Clone(h.res.Anomalies)
}

func (h *harness) feedAll(ss []sc.Signin) {
	for _, s := range ss {
		h.feed(s)
	}
}

var (
	ny   = mustZone("America/New_York")
	from = time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
)

func mustZone(n string) *time.Location {
	l, err := time.LoadLocation(n)
	if err != nil {
		panic(err)
	}
	return l
}

// history gives user four weeks of weekday sign-ins in New York.
func history(h *harness, user string) {
	h.feedAll(sc.Workdays(user, user+"@example.com", sc.NewYork, ny, from, to, 9, 11, 14, 16))
}

func at(user, ts string, p sc.Place) sc.Signin {
	t, err := time.Parse("2006-01-02 15:04", ts)
	if err != nil {
		panic(err)
	}
	return sc.Signin{UserID: user, Login: user + "@example.com", At: t, Place: p}
}

func types(as []detect.Anomaly) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Type)
	}
	slices.Sort(out)
	return out
}

func find(as []detect.Anomaly, typ string) *detect.Anomaly {
	for i := range as {
		if as[i].Type == typ {
			return &as[i]
		}
	}
	return nil
}

func TestImpossibleTravel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		second func(u string) sc.Signin
		want   bool
		reduce string // a reason the score is lowered
	}{
		{"moscow 40 min after new york", func(u string) sc.Signin { return at(u, "2026-03-03 14:40", sc.Moscow) }, true, ""},
		{"same ip is never travel", func(u string) sc.Signin {
			s := at(u, "2026-03-03 14:40", sc.Moscow)
			s.IP = ipOf(u, sc.NewYork)
			return s
		}, false, ""},
		{"short metro hop", func(u string) sc.Signin {
			s := at(u, "2026-03-03 14:01", sc.Newark)
			return s
		}, false, ""},
		{"plausible flight to london", func(u string) sc.Signin { return at(u, "2026-03-04 05:00", sc.London) }, false, ""},
		{"vpn egress abroad lowers the score", func(u string) sc.Signin {
			s := at(u, "2026-03-03 14:10", sc.Amsterdam)
			s.Proxy = true
			return s
		}, true, "proxy"},
		{"mobile carrier abroad lowers the score", func(u string) sc.Signin {
			s := at(u, "2026-03-03 14:10", sc.London)
			s.Carrier = true
			return s
		}, true, "mobile_carrier"},
		{"failure never anchors", func(u string) sc.Signin {
			s := at(u, "2026-03-03 14:10", sc.Moscow)
			s.Failure = true
			return s
		}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			u := "00u" + c.name[:5]
			history(h, u)
			h.feed(at(u, "2026-03-03 14:00", sc.NewYork))
			got := h.feed(c.second(u))
			a := find(got, detect.TypeImpossibleTravel)
			if (a != nil) != c.want {
				t.Fatalf("impossible_travel = %v, want %v (got %v)", a != nil, c.want, types(got))
			}
			if a == nil {
				return
			}
			if len(a.Evidence.Signins) != 2 || a.Evidence.SpeedKmh <= 1000 || a.Sentence == "" {
				t.Errorf("thin evidence: %+v", a.Evidence)
			}
			if c.reduce != "" {
				if !slices.Contains(a.Evidence.ReducedBy, c.reduce) || a.Score >= 0.9 {
					t.Errorf("score %.2f reduced by %v, want lowered by %s", a.Score, a.Evidence.ReducedBy, c.reduce)
				}
			} else if a.Score < 0.9 {
				t.Errorf("score %.2f for a clear case", a.Score)
			}
		})
	}
}

func ipOf(user string, p sc.Place) string {
	var m map[string]any
	b, _ := json.Marshal(sc.Signin{UserID: user, Place: p, At: from}.Event())
	_ = json.Unmarshal(b, &m)
	return m["client"].(map[string]any)["ipAddress"].(string)
}

// Hopping between two places the user regularly uses is not travel.
func TestTravelBetweenFamiliarPlaces(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00ufam")
	h.feedAll(sc.Workdays("00ufam", "00ufam@example.com", sc.London, ny, from, to, 4))
	h.feed(at("00ufam", "2026-03-03 14:00", sc.NewYork))
	if got := h.feed(at("00ufam", "2026-03-03 14:30", sc.London)); find(got, detect.TypeImpossibleTravel) != nil {
		t.Fatalf("travel between familiar places: %v", types(got))
	}
}

// A late event is compared with its neighbours on both sides, and the
// anomaly belongs to the unfamiliar sign-in; its duplicate is dropped.
func TestLateAndDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00ulate")
	h.feed(at("00ulate", "2026-03-03 14:00", sc.NewYork))
	h.feed(at("00ulate", "2026-03-03 15:00", sc.NewYork))
	late := at("00ulate", "2026-03-03 14:30", sc.Moscow)
	got := h.feed(late)
	a := find(got, detect.TypeImpossibleTravel)
	if a == nil {
		t.Fatalf("late sign-in: %v", types(got))
	}
	if a.Evidence.Signins[1].City != "Moscow" && a.Evidence.Signins[0].City != "Moscow" {
		t.Errorf("evidence does not quote Moscow: %+v", a.Evidence.Signins)
	}
	if again := h.feed(late); len(again) != 0 || !h.res.Duplicate {
		t.Errorf("duplicate gave %v (duplicate=%v)", types(again), h.res.Duplicate)
	}
	// The legitimate sign-in arriving after the attacker's is not blamed;
	// the attacker's sign-in already carries the anomaly.
	h2 := newHarness(t)
	history(h2, "00uord")
	h2.feed(at("00uord", "2026-03-03 14:00", sc.NewYork))
	first := h2.feed(at("00uord", "2026-03-03 14:30", sc.Moscow))
	later := h2.feed(at("00uord", "2026-03-03 14:45", sc.NewYork))
	if find(first, detect.TypeImpossibleTravel) == nil || len(later) != 0 {
		t.Errorf("attacker then user: first %v, later %v", types(first), types(later))
	}
	// Reverse: the attacker's sign-in is delivered first but happened
	// before the next legitimate one; the legitimate one names the attacker's.
	h3 := newHarness(t)
	history(h3, "00urev")
	h3.feed(at("00urev", "2026-03-03 12:00", sc.NewYork))
	m := at("00urev", "2026-03-03 14:30", sc.Moscow)
	m.At = m.At.Add(-2 * time.Hour) // 12:30, 30 min after New York: impossible
	got3 := h3.feed(m)
	if a := find(got3, detect.TypeImpossibleTravel); a == nil {
		t.Fatalf("attacker after user: %v", types(got3))
	}
}

func TestUnusualLocationAndLearning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A brand-new user gets no location verdict.
	h.feed(at("00unew", "2026-03-01 14:00", sc.NewYork))
	if got := h.feed(at("00unew", "2026-03-02 14:00", sc.Tokyo)); len(got) != 0 {
		t.Errorf("learning user: %v", types(got))
	}
	history(h, "00uloc")
	got := h.feed(at("00uloc", "2026-03-03 20:30", sc.Atlanta))
	if find(got, detect.TypeUnusualLocation) == nil || find(got, detect.TypeImpossibleTravel) != nil {
		t.Errorf("business trip: %v, want unusual_location without travel", types(got))
	}
	if again := h.feed(at("00uloc", "2026-03-04 14:00", sc.Atlanta)); find(again, detect.TypeUnusualLocation) != nil {
		t.Errorf("second visit still unusual")
	}
	if near := h.feed(at("00uloc", "2026-03-05 14:00", sc.Newark)); len(near) != 0 {
		t.Errorf("Newark next to New York: %v", types(near))
	}
}

// A place half the tenant signs in from is not unusual for anyone.
func TestTenantCommonPlace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := 0; i < 10; i++ {
		u := "00uco" + string(rune('a'+i))
		history(h, u)
		if i < 5 {
			h.feedAll(sc.Workdays(u, u+"@example.com", sc.Chicago, ny, from, to, 12))
		}
	}
	history(h, "00uhire")
	if got := h.feed(at("00uhire", "2026-03-03 18:00", sc.Chicago)); find(got, detect.TypeUnusualLocation) != nil {
		t.Errorf("head-office city flagged: %v", types(got))
	}
}

func TestUnusualTimeAcrossDST(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := "00udst"
	var all []sc.Signin
	all = append(all, sc.Workdays(u, u+"@example.com", sc.NewYork, ny, from, time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), 9, 11, 14, 16)...)
	for _, s := range all {
		if got := h.feed(s); find(got, detect.TypeUnusualTime) != nil {
			t.Fatalf("%v local (%v UTC) flagged across DST", s.At.In(ny), s.At.UTC())
		}
	}
	night := sc.Signin{UserID: u, Login: u + "@example.com", At: time.Date(2026, 3, 31, 3, 12, 0, 0, ny), Place: sc.NewYork}
	got := h.feed(night)
	a := find(got, detect.TypeUnusualTime)
	if a == nil {
		t.Fatalf("03:12 local: %v", types(got))
	}
	if a.Evidence.TimeZone != "America/New_York" {
		t.Errorf("zone %q", a.Evidence.TimeZone)
	}
}

func TestDeviceNetworkProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00udev")
	s := at("00udev", "2026-03-03 14:00", sc.NewYork)
	s.Browser, s.OS = "FIREFOX", "Linux"
	if got := types(h.feed(s)); !slices.Equal(got, []string{detect.TypeNewDevice}) {
		t.Errorf("new browser: %v", got)
	}
	p := at("00udev", "2026-03-03 15:00", sc.NewYork)
	p.Proxy = true
	got := types(h.feed(p))
	if !slices.Contains(got, detect.TypeAnonymizingProxy) || !slices.Contains(got, detect.TypeNewNetwork) {
		t.Errorf("proxy: %v", got)
	}
	th := at("00udev", "2026-03-03 15:30", sc.NewYork)
	th.Threat = true
	if got := types(h.feed(th)); !slices.Contains(got, detect.TypeAnonymizingProxy) {
		t.Errorf("threatSuspected: %v", got)
	}
}

func TestNoGeolocation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, s := range sc.Workdays("00unogeo", "n@example.com", sc.NewYork, ny, from, to, 9, 14) {
		s.NoGeo = true
		h.feed(s)
	}
	s := at("00unogeo", "2026-03-03 14:00", sc.NewYork)
	s.NoGeo, s.Browser = true, "EDGE"
	if got := types(h.feed(s)); !slices.Equal(got, []string{detect.TypeNewDevice}) {
		t.Errorf("no-geo user: %v", got)
	}
	// A located sign-in right after is not compared with unlocated ones.
	if got := h.feed(at("00unogeo", "2026-03-03 14:05", sc.London)); find(got, detect.TypeImpossibleTravel) != nil {
		t.Errorf("travel against a sign-in without geolocation: %v", types(got))
	}
}

func TestAlertGrouping(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00ualrt")
	h.feed(at("00ualrt", "2026-03-03 14:00", sc.NewYork))
	m := at("00ualrt", "2026-03-03 14:20", sc.Amsterdam)
	m.Proxy = true
	h.feed(m)
	a1 := *h.res.Alert
	if a1.Severity != detect.SeverityCritical || a1.Status != detect.StatusNew || a1.Version != 1 {
		t.Errorf("travel + proxy + new network + new place: severity %s status %s version %d", a1.Severity, a1.Status, a1.Version)
	}
	if a1.ID == "" || a1.DedupKey == "" || len(a1.Anomalies) < 3 {
		t.Errorf("alert %+v", a1)
	}
	d := at("00ualrt", "2026-03-03 18:00", sc.NewYork)
	d.Browser = "SAFARI"
	h.feed(d)
	a2 := *h.res.Alert
	if a2.ID != a1.ID || a2.Version != 2 || len(a2.Anomalies) != len(a1.Anomalies)+1 {
		t.Errorf("later anomaly did not update the open alert: %s v%d vs %s v%d", a2.ID, a2.Version, a1.ID, a1.Version)
	}
	e := at("00ualrt", "2026-03-06 18:00", sc.NewYork)
	e.Browser = "OPERA"
	h.feed(e)
	if a3 := h.res.Alert; a3.ID == a1.ID || a3.Version != 1 || a3.Severity != detect.SeverityLow {
		t.Errorf("anomaly days later: alert %s v%d %s, want a new Low alert", a3.ID, a3.Version, a3.Severity)
	}
}

// The binary state round-trips and the decoded state judges the next
// event exactly as the original does.
func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00ucod")
	h.feed(at("00ucod", "2026-03-03 14:00", sc.London))
	u := h.users["00ucod"]
	b := u.AppendBinary(nil)
	var v detect.User
	if err := v.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if b2 := v.AppendBinary(nil); string(b2) != string(b) {
		t.Fatal("re-encoding differs")
	}
	next := at("00ucod", "2026-03-03 14:30", sc.Moscow)
	want := h.feed(next)
	h.users["00ucod"] = &v
	h.eng = detect.NewEngine(detect.Params{})
	h.eng.Attach("t", &v)
	delete(h.users, "x")
	// The dedup window survives the round trip too.
	h.feed(sc.Signin{UserID: "00ucod", Login: "00ucod@example.com", At: next.At, Place: sc.Moscow, UUID: "unused-" + next.At.String()})
	h2 := newHarness(t)
	var w detect.User
	_ = w.UnmarshalBinary(b)
	h2.users["00ucod"] = &w
	h2.eng.Attach("t", &w)
	got := h2.feed(next)
	if !slices.Equal(types(got), types(want)) {
		t.Errorf("decoded state judges %v, original %v", types(got), types(want))
	}
}

func TestCodecCorrupt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00ucor")
	good := h.users["00ucor"].AppendBinary(nil)
	for i := 0; i < len(good); i++ {
		var u detect.User
		if err := u.UnmarshalBinary(good[:i]); !errors.Is(err, detect.ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("xx"), {0xC1, 9}, append(append([]byte{}, good...), 0)} {
		var u detect.User
		if err := u.UnmarshalBinary(bad); !errors.Is(err, detect.ErrCorrupt) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	h := newHarness(&testing.T{})
	history(h, "00ufz")
	f.Add(h.users["00ufz"].AppendBinary(nil))
	f.Add([]byte{0xC1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var u detect.User
		if err := u.UnmarshalBinary(b); err != nil {
			return
		}
		// A state that decodes re-encodes to something that decodes.
		var v detect.User
		if err := v.UnmarshalBinary(u.AppendBinary(nil)); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
	})
}

// TestStateBound: a user at steady state (months of sign-ins from many
// places, devices and networks, an open alert) stays under 2 KiB, both
// encoded and in memory.
func TestStateBound(t *testing.T) {
	t.Parallel()
	u := detecttest.SteadyUser(t)
	if n := len(u.AppendBinary(nil)); n > 2048 {
		t.Errorf("encoded state %d bytes > 2 KiB", n)
	}
	if n := unsafe.Sizeof(*u); n > 2048 {
		t.Errorf("in-memory state %d bytes > 2 KiB", n)
	}
	t.Logf("encoded %d bytes, struct %d bytes", len(u.AppendBinary(nil)), unsafe.Sizeof(*u))
}

// A sign-in older than every remembered one is still deduplicated.
func TestVeryLateDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00uold")
	old := at("00uold", "2026-02-01 10:00", sc.NewYork)
	h.feed(old)
	h.feed(old)
	if !h.res.Duplicate {
		t.Error("a very late event delivered twice was processed twice")
	}
}
