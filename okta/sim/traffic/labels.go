package traffic

import (
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
)

// oracle is what a correct detector knows about one user when it judges a
// sign-in: the user's earlier successful sign-ins.
type oracle struct {
	n        int
	first    int64
	visited  uint64     // cities with a successful sign-in (bit per city)
	hours    [48]uint16 // hour of day where the user was (zoneAt), weekdays then weekends
	nights   int        // sign-ins at night (NightFromHour to NightToHour, zoneAt)
	devs     []int32
	asns     []int32
	has      bool
	prev     Record // the previous successful sign-in
	country  [10]int16
	nCountry int
	geo      [20][2]float64
	nGeo     int
	ips      [64]uint32
	nIPs     int
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// impossible reports whether two sign-ins are too far apart for the time
// between them: different IPs and a distance beyond GeoAllowanceKm plus
// MaxTravelKmh for every hour between them.
func impossible(a, b *Record) bool {
	if a.IP == b.IP {
		return false
	}
	d := geo.DistanceKm(a.Lat, a.Lon, b.Lat, b.Lon)
	dt := b.Published - a.Published
	if dt < 0 {
		dt = -dt
	}
	return d > GeoAllowanceKm+MaxTravelKmh*float64(dt)/float64(hourMs)
}

func (m *Model) familiar(o *oracle, city int) bool {
	if o.visited&(1<<uint(city)) != 0 {
		return true
	}
	for c := 0; c < len(cities); c++ {
		if o.visited&(1<<uint(c)) != 0 && m.dist[c][city] <= FamiliarKm {
			return true
		}
	}
	return false
}

// label sets r's Okta behaviours and, for successful sign-ins, its expected
// anomalies; then it adds a successful sign-in to the user's history. The
// user's next successful sign-in (if any) is already in u.buf.
func (m *Model) label(u *user, r *Record) {
	o := &u.o
	c := &cities[r.City]
	net := networks[r.Net]
	// Okta's own behaviour flags (debugData.behaviors).
	var beh uint8
	if o.has {
		if o.visited&(1<<uint(r.City)) == 0 {
			beh |= behNewCity
			beh |= behNewState
			for k := range cities {
				if o.visited&(1<<uint(k)) != 0 && cities[k].State == c.State && cities[k].Country == c.Country {
					beh &^= behNewState
				}
			}
		}
		beh |= behNewCountry
		for i := 0; i < min(o.nCountry, 10); i++ {
			if cities[o.country[i]].Country == c.Country {
				beh &^= behNewCountry
				break
			}
		}
		beh |= behNewGeo
		for i := 0; i < min(o.nGeo, 20); i++ {
			if geo.DistanceKm(o.geo[i][0], o.geo[i][1], r.Lat, r.Lon) <= 20 {
				beh &^= behNewGeo
				break
			}
		}
		if !contains(o.devs, r.Dev) {
			beh |= behNewDevice
		}
		beh |= behNewIP
		for i := 0; i < min(o.nIPs, 64); i++ {
			if o.ips[i] == r.IP {
				beh &^= behNewIP
				break
			}
		}
		if dt := r.Published - o.prev.Published; o.prev.IP != r.IP {
			d := geo.DistanceKm(o.prev.Lat, o.prev.Lon, r.Lat, r.Lon)
			if d > 0 && (dt <= 0 || d/(float64(dt)/float64(hourMs)) > 805) {
				beh |= behVelocity
			}
		}
	} else {
		r.Flags |= flagBehaviorsUnknown
	}
	r.Behaviors = beh
	if r.Result != resSuccess {
		return
	}

	var exp uint8
	learn := o.n >= LearningSignIns && r.Published-o.first >= LearningDays*dayMs
	if learn {
		unfamiliar := !m.familiar(o, int(r.City)) && m.tenant[r.City] < m.common
		if unfamiliar {
			exp |= bitUnusualLocation
			next := u.nextSuccess()
			if (o.has && impossible(&o.prev, r)) || (next != nil && impossible(r, next)) {
				exp |= bitImpossibleTravel
			}
		}
		if !contains(o.devs, r.Dev) {
			exp |= bitNewDevice
		}
		if !contains(o.asns, int32(net.ASN)) {
			exp |= bitNewNetwork
		}
	}
	hod, weekend := localHour(r.Published, m.zoneAt(u, r))
	if o.n >= LearningSignIns && r.Published-o.first >= TimeLearningDays*dayMs {
		empty := true
		for k := -TimeWindowHours; k <= TimeWindowHours; k++ {
			if o.hours[hourBin((hod+k+24)%24, weekend)] != 0 {
				empty = false
				break
			}
		}
		if empty && !(isNight(hod) && o.nights >= OnCallNights) {
			exp |= bitUnusualTime
		}
	}
	if r.Flags&(flagProxy|flagThreat) != 0 { // isProxy, or Okta's threatSuspected
		exp |= bitAnonymizingProxy
	}
	r.Expect = exp

	// Add to history.
	if o.n == 0 {
		o.first = r.Published
	}
	o.n++
	if o.visited&(1<<uint(r.City)) == 0 {
		o.visited |= 1 << uint(r.City)
		m.tenant[r.City]++
	}
	o.hours[hourBin(hod, weekend)]++
	if isNight(hod) {
		o.nights++
	}
	if !contains(o.devs, r.Dev) {
		o.devs = append(o.devs, r.Dev)
	}
	if !contains(o.asns, int32(net.ASN)) {
		o.asns = append(o.asns, int32(net.ASN))
	}
	o.has = true
	o.prev = *r
	o.country[o.nCountry%10] = r.City
	o.nCountry++
	o.geo[o.nGeo%20] = [2]float64{r.Lat, r.Lon}
	o.nGeo++
	o.ips[o.nIPs%64] = r.IP
	o.nIPs++
}

// zoneAt is the time zone where the user is at r (DESIGN.md: unusual_time
// is judged in the local time where the user is). Every place in the model
// is a city-level fix; it says where the user is unless it is a gateway (the
// tenant's VPN egress at the head office, or the phone carrier's gateway
// city), and the model only routes sign-ins through a gateway while the user
// is at home, or an anonymising exit (isProxy: a commercial VPN or Tor exit
// says nothing about where the one signing in is). So: the zone of r's city
// (on a trip the destination's, for an attacker the attacker's), the home
// zone for a gateway or an anonymising exit.
func (m *Model) zoneAt(u *user, r *Record) *time.Location {
	if r.Flags&(flagGateway|flagProxy) != 0 {
		return u.loc
	}
	return m.locs[r.City]
}

// isNight reports whether a local hour of day is at night (NightFromHour
// to NightToHour).
func isNight(h int) bool { return h >= NightFromHour && h < NightToHour }

// localHour is the local hour of day of ms in loc, and whether that local
// day is a Saturday or Sunday.
func localHour(ms int64, loc *time.Location) (int, bool) {
	t := time.UnixMilli(ms).In(loc)
	wd := t.Weekday()
	return t.Hour(), wd == time.Saturday || wd == time.Sunday
}

func hourBin(h int, weekend bool) int {
	if weekend {
		return 24 + h
	}
	return h
}
