package scenario

import "time"

// Anomaly type names, as in processor/detect (kept here to avoid an import cycle in tests).
const (
	travel   = "impossible_travel"
	location = "unusual_location"
	hour     = "unusual_time"
	device   = "new_device"
	network  = "new_network"
	proxy    = "anonymizing_proxy"
)

func exp(t ...string) []string { return t }

func zone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// Edges returns the hand-written edge-case scenarios by file name. Every
// user first builds weeks of ordinary history; the expectations on the
// interesting lines follow DESIGN.md "What each detector means".
func Edges() map[string][]Signin {
	ny, chi, den, akl := zone("America/New_York"), zone("America/Chicago"), zone("America/Denver"), zone("Pacific/Auckland")
	from, to := utc("2026-02-16 00:00"), utc("2026-03-07 00:00") // three weeks, Monday to Friday
	hist := func(id string, p Place, loc *time.Location) []Signin {
		return Workdays(id, id+"@example.com", p, loc, from, to, 9, 11, 14, 16)
	}
	s := func(id string, at string, p Place, e ...string) Signin {
		return Signin{UserID: id, Login: id + "@example.com", At: utc(at), Place: p, Expect: e}
	}
	out := map[string][]Signin{}

	// Flights: a plausible business trip is unusual_location; a sign-in from
	// Moscow 40 minutes after New York is impossible travel.
	var f []Signin
	f = append(f, hist("00ualice", NewYork, ny)...)
	f = append(f,
		s("00ualice", "2026-03-09 13:07", NewYork),
		s("00ualice", "2026-03-10 08:05", London, location, network), // 19 h later, after a flight; 08:05 where she is (04:05 at home)
		s("00ualice", "2026-03-10 13:00", London),
		s("00ualice", "2026-03-11 09:00", London),
	)
	f = append(f, hist("00ubob", NewYork, ny)...)
	moscow := s("00ubob", "2026-03-10 14:40", Moscow, travel, location, network, device)
	moscow.Browser, moscow.OS = "FIREFOX", "Windows"
	f = append(f,
		s("00ubob", "2026-03-10 14:00", NewYork),
		moscow,
		s("00ubob", "2026-03-10 15:00", NewYork),
	)
	out["edge-flights.jsonl"] = f

	// VPN hops: a first hop through an anonymising VPN exit abroad is
	// impossible travel (with a lower score), proxy, new place, new network.
	// A user who goes through the same exit every day has two familiar places.
	var v []Signin
	v = append(v, hist("00udave", Chicago, chi)...)
	hop := s("00udave", "2026-03-10 15:10", Amsterdam, travel, proxy, location, network)
	hop.Proxy = true
	v = append(v, s("00udave", "2026-03-10 15:00", Chicago), hop)
	for d := from; d.Before(utc("2026-03-14 00:00")); d = d.AddDate(0, 0, 1) {
		day := d.In(chi)
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		at := time.Date(day.Year(), day.Month(), day.Day(), 9, 3, 0, 0, chi)
		v = append(v, Signin{UserID: "00uerin", Login: "erin@example.com", At: at, Place: Chicago})
		vp := Signin{UserID: "00uerin", Login: "erin@example.com", At: at.Add(50 * time.Minute), Place: Amsterdam, Proxy: true, Expect: exp(proxy)}
		v = append(v, vp)
	}
	out["edge-vpn.jsonl"] = v

	// Mobile carriers: the carrier's gateway geolocates hundreds of km away.
	// New York 15 minutes after Boston (300 km) is a new place, not travel
	// (the baselines call it travel); an ocean away it is still travel.
	var c []Signin
	c = append(c, hist("00ufrank", Boston, ny)...)
	mob := s("00ufrank", "2026-03-10 14:15", NewYork, location, network, device)
	mob.Carrier, mob.Browser, mob.OS, mob.Device = true, "SAFARI", "iOS", "Mobile"
	c = append(c, s("00ufrank", "2026-03-10 14:00", Boston), mob, s("00ufrank", "2026-03-10 14:40", Boston))
	c = append(c, hist("00ugina", Boston, ny)...)
	far := s("00ugina", "2026-03-10 14:30", London, travel, location, network)
	far.Carrier = true
	c = append(c, s("00ugina", "2026-03-10 14:00", Boston), far)
	// IP geolocation jitter inside one metro: 40 s apart, New York then Newark.
	c = append(c, hist("00uhank", NewYork, ny)...)
	c = append(c, s("00uhank", "2026-03-10 14:00", NewYork))
	j := s("00uhank", "2026-03-10 14:00", Newark)
	j.At = j.At.Add(40 * time.Second)
	c = append(c, j)
	out["edge-carriers.jsonl"] = c

	// DST: a user who always signs in at 09:xx and 13:xx New York time across
	// the 8 March 2026 change; then once at 03:12 local on a Tuesday.
	d := Workdays("00uivy", "ivy@example.com", NewYork, ny, utc("2026-02-02 00:00"), utc("2026-03-28 00:00"), 9, 13)
	d = append(d, Signin{UserID: "00uivy", Login: "ivy@example.com", At: time.Date(2026, 3, 31, 3, 12, 0, 0, ny), Place: NewYork, Expect: exp(hour)})
	out["edge-dst.jsonl"] = d

	// Date line: Auckland history; a trip to Suva, then Apia 50 minutes
	// later across the antimeridian (about 1,150 km); and Honolulu by plane.
	var dl []Signin
	dl = append(dl, hist("00ujack", Auckland, akl)...)
	dl = append(dl,
		s("00ujack", "2026-03-09 20:00", Auckland),
		s("00ujack", "2026-03-10 22:00", Suva, travel, location, network), // both ends unfamiliar: both are travel
		s("00ujack", "2026-03-10 22:50", Apia, travel, location, network),
	)
	dl = append(dl, hist("00ukiri", Auckland, akl)...)
	dl = append(dl,
		s("00ukiri", "2026-03-09 20:00", Auckland),
		s("00ukiri", "2026-03-10 19:30", Honolulu, location, network),
	)
	out["edge-dateline.jsonl"] = dl

	// Missing geolocation: no place, no travel anchor, no location verdict.
	var g []Signin
	g = append(g, hist("00ukate", NewYork, ny)...)
	nog := s("00ukate", "2026-03-10 14:10", NewYork)
	nog.NoGeo = true
	g = append(g, s("00ukate", "2026-03-10 14:00", NewYork), nog, s("00ukate", "2026-03-10 14:30", London, travel, location, network))
	for _, x := range hist("00uliam", NewYork, ny) {
		x.NoGeo = true
		g = append(g, x)
	}
	nd := s("00uliam", "2026-03-10 14:00", NewYork, device)
	nd.NoGeo, nd.Browser, nd.OS = true, "FIREFOX", "Linux"
	g = append(g, nd)
	out["edge-nogeo.jsonl"] = g

	// A city never used, after five weeks of history.
	nc := Workdays("00umia", "mia@example.com", Denver, den, utc("2026-02-02 00:00"), to, 9, 11, 14, 16)
	nc = append(nc,
		s("00umia", "2026-03-09 16:00", Denver),
		s("00umia", "2026-03-09 20:30", Atlanta, location, network),
		s("00umia", "2026-03-10 14:00", Atlanta),
	)
	out["edge-newcity.jsonl"] = nc

	// Delivery: late and duplicate events, a failure burst before a success
	// from a new country, and a placeholder published time.
	var dv []Signin
	dv = append(dv, hist("00unoah", NewYork, ny)...)
	n1, n2 := s("00unoah", "2026-03-10 14:00", NewYork), s("00unoah", "2026-03-10 15:00", NewYork)
	late := s("00unoah", "2026-03-10 14:30", Moscow, travel, location, network)
	dup := n2
	dup.Expect = nil
	lateDup := late
	dv = append(dv, n1, n2, late, dup, lateDup)
	dv = append(dv, hist("00uolivia", NewYork, ny)...)
	for i := 0; i < 5; i++ {
		fl := s("00uolivia", "2026-03-10 02:00", Lagos)
		fl.At = fl.At.Add(time.Duration(i) * time.Minute)
		fl.Failure = true
		dv = append(dv, fl)
	}
	dv = append(dv, s("00uolivia", "2026-03-10 02:06", Lagos, location, network, hour))
	ph := s("00uolivia", "2026-03-10 02:07", Lagos)
	ph.PublishedRaw = "<published>"
	dv = append(dv, ph)
	out["edge-delivery.jsonl"] = dv
	return out
}
