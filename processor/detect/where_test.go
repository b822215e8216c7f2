package detect_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/processor/detect"
	sc "github.com/clarion-itdr/clarion/processor/scenario"
)

var (
	usDefault = sc.Place{City: "", State: "", Country: "United States", Lat: 37.751, Lon: -97.822, ASN: 7922, ISP: "Comcast Cable Communications, LLC", IPPrefix: "2601:"}
	auDefault = sc.Place{City: "", State: "", Country: "Australia", Lat: -33.494, Lon: 143.2104, ASN: 1221, ISP: "Telstra Limited", IPPrefix: "2001:"}
	ngDefault = sc.Place{City: "", State: "", Country: "Nigeria", Lat: 10.0, Lon: 8.0, ASN: 29465, ISP: "MTN Nigeria", IPPrefix: "2c0f:"}
	ashburn   = sc.Place{City: "Ashburn", State: "Virginia", Country: "United States", Lat: 39.0438, Lon: -77.4874, ASN: 14618, ISP: "Amazon.com, Inc."}
	sydney    = sc.Place{City: "Sydney", State: "New South Wales", Country: "Australia", Lat: -33.8688, Lon: 151.2093, ASN: 1221, ISP: "Telstra Limited", IPPrefix: "101.160."}
	paris     = sc.Place{City: "Paris", State: "Ile-de-France", Country: "France", Lat: 48.8566, Lon: 2.3522, ASN: 3215, ISP: "Orange S.A.", IPPrefix: "90.12."}
)

func countryFix(user, ts string, p sc.Place) sc.Signin {
	s := at(user, ts, p)
	s.CountryFix, s.IP = true, p.IPPrefix+"db8::"+user[len(user)-2:]
	return s
}

// TestCountryLevelFix: a fix placed only in a country is never a travel
// anchor nor a new place, is never tenant-common by being shared, and a
// country never seen is still unusual.
func TestCountryLevelFix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, u := range []string{"00ucfa", "00ucfb", "00ucfc", "00ucfd", "00ucfe"} {
		history(h, u)
		// Every user's IPv6 address is placed at the US default point.
		for d := 0; d < 5; d++ {
			h.feed(countryFix(u, "2026-02-2"+string(rune('3'+d))+" 20:00", usDefault))
		}
	}
	history(h, "00ucfx")
	cases := []struct {
		s    sc.Signin
		want []string
	}{
		{at("00ucfx", "2026-03-03 14:00", sc.NewYork), nil},
		// 2,000 km from New York 10 minutes later: a country-level fix.
		{countryFix("00ucfx", "2026-03-03 14:10", usDefault), nil},
		// Australia's default point 20 minutes later: not travel, and not a
		// new place at city scale (it is a new country).
		{countryFix("00ucfx", "2026-03-03 14:30", auDefault), []string{detect.TypeUnusualLocation, detect.TypeNewNetwork}},
		// London 40 minutes after New York: travel against the last
		// credible sign-in, skipping the country-level fixes.
		{at("00ucfx", "2026-03-03 14:40", sc.London), []string{detect.TypeImpossibleTravel, detect.TypeNewNetwork, detect.TypeUnusualLocation}},
		{countryFix("00ucfx", "2026-03-05 14:00", ngDefault), []string{detect.TypeNewNetwork, detect.TypeUnusualLocation}},
	}
	for i, c := range cases {
		got := h.feed(c.s)
		var typs []string
		for _, a := range got {
			if a.Type != detect.TypeUnusualTime {
				typs = append(typs, a.Type)
			}
		}
		if !equalSorted(typs, c.want) {
			t.Errorf("case %d (%s): got %v, want %v", i, c.s.Place.Country, typs, c.want)
		}
		if a := find(got, detect.TypeUnusualLocation); a != nil && c.s.CountryFix && a.Evidence.Signins[0].Precision != detect.PrecisionCountry {
			t.Errorf("case %d: precision %q", i, a.Evidence.Signins[0].Precision)
		}
	}
}

func equalSorted(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// vpnUsers gives users living far apart a habit of the corporate VPN in
// Ashburn, minutes after each sign-in from home, over four weeks.
func vpnUsers(h *harness, homes map[string]sc.Place) {
	for u, p := range homes {
		for _, s := range sc.Workdays(u, u+"@example.com", p, time.UTC, from, to, 9, 14) {
			h.feed(s)
			v := s
			v.At, v.Place, v.IP = s.At.Add(5*time.Minute), ashburn, "52.4.117.20"
			h.feed(v)
		}
	}
}

// TestLearnedEgress: an ASN + city that users from far-apart homes use
// every day is an egress point: a traveller toggling between a hotel
// abroad and it is not impossible travel, and time there is judged where
// the hotel is.
func TestLearnedEgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	vpnUsers(h, map[string]sc.Place{"00uega": sc.London, "00uegb": sc.Tokyo, "00uegc": sydney, "00uegd": sc.Chicago})
	history(h, "00uegx")
	h.feed(at("00uegx", "2026-03-02 14:00", sc.NewYork))
	// Tokyo after a flight: a new place, not travel. 10:00 in Tokyo.
	got := h.feed(at("00uegx", "2026-03-04 01:00", sc.Tokyo))
	if find(got, detect.TypeUnusualLocation) == nil || find(got, detect.TypeImpossibleTravel) != nil || find(got, detect.TypeUnusualTime) != nil {
		t.Errorf("hotel in Tokyo: %v, want unusual_location only of the three", types(got))
	}
	v := at("00uegx", "2026-03-04 01:07", ashburn)
	v.IP = "52.4.117.21"
	got = h.feed(v)
	for _, typ := range []string{detect.TypeImpossibleTravel, detect.TypeUnusualLocation, detect.TypeUnusualTime} {
		if a := find(got, typ); a != nil {
			t.Errorf("VPN 7 minutes after Tokyo: %s (%s)", typ, a.Sentence)
		}
	}
	// Back at the hotel: the VPN is no anchor either.
	got = h.feed(at("00uegx", "2026-03-04 01:30", sc.Tokyo))
	if a := find(got, detect.TypeImpossibleTravel); a != nil {
		t.Errorf("hotel after VPN: %s", a.Sentence)
	}
	// A stolen session in Moscow between hotel sign-ins is still travel.
	got = h.feed(at("00uegx", "2026-03-04 02:00", sc.Moscow))
	if find(got, detect.TypeImpossibleTravel) == nil {
		t.Errorf("Moscow 30 minutes after Tokyo: %v", types(got))
	}
}

// TestDeclaredEgress: a sign-in from a declared egress network says
// nothing about where the user is.
func TestDeclaredEgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.eng = detect.NewEngine(detect.Params{EgressNetworks: map[string][]netip.Prefix{"t": {netip.MustParsePrefix("185.65.0.0/16")}}})
	history(h, "00udec")
	h.feed(at("00udec", "2026-03-03 14:00", sc.NewYork))
	s := at("00udec", "2026-03-03 14:05", paris)
	s.IP = "185.65.10.1"
	got := h.feed(s)
	if find(got, detect.TypeImpossibleTravel) != nil || find(got, detect.TypeUnusualLocation) != nil {
		t.Errorf("declared egress: %v", types(got))
	}
	// The same place outside the declared network is travel.
	got = h.feed(at("00udec", "2026-03-03 14:20", paris))
	if find(got, detect.TypeImpossibleTravel) == nil {
		t.Errorf("Paris outside the egress network: %v", types(got))
	}
}

// TestOnCallNights: a history with night sign-ins makes nights usual.
func TestOnCallNights(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00uday")
	history(h, "00unight")
	for _, d := range []string{"2026-02-03", "2026-02-10", "2026-02-14", "2026-02-19", "2026-02-25"} {
		tm, _ := time.ParseInLocation("2006-01-02 15:04", d+" 02:30", ny)
		h.feed(sc.Signin{UserID: "00unight", Login: "00unight@example.com", At: tm, Place: sc.NewYork})
	}
	night, _ := time.ParseInLocation("2006-01-02 15:04", "2026-03-04 04:40", ny)
	for user, want := range map[string]bool{"00uday": true, "00unight": false} {
		got := h.feed(sc.Signin{UserID: user, Login: user + "@example.com", At: night, Place: sc.NewYork})
		if (find(got, detect.TypeUnusualTime) != nil) != want {
			t.Errorf("%s at 04:40: %v, want unusual_time %v", user, types(got), want)
		}
	}
}

// TestTimeWhereTheUserIs: a traveller working at 09:00 in Tokyo is not
// signing in at 19:00 (the day before) at home.
func TestTimeWhereTheUserIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	history(h, "00utz")
	got := h.feed(at("00utz", "2026-03-04 00:10", sc.Tokyo)) // 09:10 Wednesday in Tokyo, 19:10 Tuesday in New York
	if a := find(got, detect.TypeUnusualTime); a != nil {
		t.Errorf("09:10 in Tokyo: %s", a.Sentence)
	}
	// 03:00 in Tokyo is unusual there.
	got = h.feed(at("00utz", "2026-03-04 18:00", sc.Tokyo))
	a := find(got, detect.TypeUnusualTime)
	if a == nil || a.Evidence.TimeZone != "Asia/Tokyo" || a.Evidence.ZoneFrom != detect.ZoneSignin {
		t.Fatalf("03:00 in Tokyo: %v", got)
	}
}
