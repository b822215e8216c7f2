package detect

import (
	"math"
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Where a sign-in was: the precision of its fix, whether it came through
// one of the tenant's egress points, and so whether it says where the user
// is (DESIGN.md "Real-world location artefacts").

// Precisions of a fix, as evidence names them.
const (
	PrecisionCity    = "city"
	PrecisionRegion  = "region"  // city unknown, state known: a state-sized error
	PrecisionCountry = "country" // the geo database's default point of the country
	PrecisionNone    = "none"    // no geolocation
)

// Egress decisions, as evidence names them.
const (
	EgressLearned  = "learned"  // an ASN + city the tenant's far-apart users share
	EgressDeclared = "declared" // inside Params.EgressNetworks
)

// countryDefaults are the points IP geolocation databases (MaxMind GeoLite2
// and those built on it) return for an address known only to its country.
// A fix without a city at one of them is country-level even when the event
// names a state.
var countryDefaults = [...][2]float32{
	{37.751, -97.822},    // United States
	{43.6319, -79.3716},  // Canada
	{19.4326, -99.1332},  // Mexico
	{51.4964, -0.1224},   // United Kingdom
	{48.8582, 2.3387},    // France
	{51.2993, 9.491},     // Germany
	{40.4172, -3.684},    // Spain
	{52.3824, 4.8995},    // Netherlands
	{59.3247, 18.056},    // Sweden
	{52.2394, 21.0362},   // Poland
	{53.3472, -6.2439},   // Ireland
	{43.1479, 12.1097},   // Italy
	{21.0, 78.0},         // India
	{1.3667, 103.8},      // Singapore
	{35.69, 139.69},      // Japan
	{37.5112, 126.9741},  // South Korea
	{22.2578, 114.1657},  // Hong Kong
	{34.7725, 113.7266},  // China
	{-33.494, 143.2104},  // Australia
	{-41.0, 174.0},       // New Zealand
	{-22.8305, -43.2192}, // Brazil
	{-34.6022, -58.3845}, // Argentina
	{-29.0, 24.0},        // South Africa
	{55.7386, 37.6068},   // Russia
}

// atCountryDefault reports whether lat/lon is (within about a kilometre)
// a country default point.
func atCountryDefault(lat, lon float32) bool {
	for _, p := range countryDefaults {
		if math.Abs(float64(lat-p[0])) < 0.01 && math.Abs(float64(lon-p[1])) < 0.01 {
			return true
		}
	}
	return false
}

// precisionFlags classifies ev's fix: a fix with no city is country-level
// when state and postal code are missing too or it sits on a country
// default point, region-level otherwise.
func precisionFlags(ev *logevent.Event, lat, lon float32) uint8 {
	if ev.City != "" {
		return 0
	}
	if ev.State == "" && ev.PostalCode == "" || atCountryDefault(lat, lon) {
		return sfCountry
	}
	return sfRegion
}

// Precision names the precision of ev's fix (PrecisionCity, ...).
func Precision(ev *logevent.Event) string {
	if !ev.HasGeo || !geo.ValidLatLon(ev.Lat, ev.Lon) {
		return PrecisionNone
	}
	s := Signin{Flags: sfGeo | precisionFlags(ev, float32(ev.Lat), float32(ev.Lon))}
	return s.precision()
}

// precision names s's precision.
func (s *Signin) precision() string {
	switch {
	case !s.hasGeo():
		return PrecisionNone
	case s.Flags&sfCountry != 0:
		return PrecisionCountry
	case s.Flags&sfRegion != 0:
		return PrecisionRegion
	}
	return PrecisionCity
}

// cityLevel: a fix to city scale.
func (s *Signin) cityLevel() bool { return s.hasGeo() && s.Flags&(sfCountry|sfRegion) == 0 }

// egressKey names an ASN + place for egress counts.
func egressKey(place uint64, asn uint32) uint64 {
	return place ^ uint64(asn)*0x9E3779B97F4A7C15
}

// egressCount is how many of the tenant's users have an ASN + place in
// their baseline, by whether they use it habitually from a home far away.
type egressCount struct{ near, far int32 }

// egressOf reports whether s came through one of the tenant's egress points.
func (e *Engine) egressOf(t *tenant, integ string, s *Signin) string {
	if len(e.p.EgressNetworks) > 0 && s.Flags&(sfIP4|sfIP6) != 0 {
		ip := s.ip()
		for _, k := range [2]string{integ, "*"} {
			for _, p := range e.p.EgressNetworks[k] {
				if p.Contains(ip) {
					return EgressDeclared
				}
			}
		}
	}
	if t.known == 0 || !s.cityLevel() {
		return ""
	}
	if e.egressKnown(t, egressKey(s.placeKey(), s.ASN)) {
		return EgressLearned
	}
	return ""
}

func (e *Engine) egressKnown(t *tenant, k uint64) bool {
	if t.known == 0 {
		return false
	}
	if len(t.knownKeys) <= 16 {
		for _, x := range t.knownKeys {
			if x == k {
				return true
			}
		}
		return false
	}
	c, ok := t.egress[k]
	return ok && e.countKnown(c)
}

func (e *Engine) countKnown(c egressCount) bool {
	return c.far >= e.p.EgressMinUsers && c.far >= c.near
}

// entryEgress reports whether a baseline place is one of the tenant's
// learned egress points.
func (e *Engine) entryEgress(t *tenant, c *cellStat) bool {
	return t.known > 0 && e.egressKnown(t, egressKey(c.Place, c.ASN))
}

// egressRole is a baseline place's part in egress counts: near (the user
// lives within EgressFarKm), far (lives farther and has used it for at
// least EgressSpan: a habit, not a trip), or none.
func (e *Engine) egressRole(homeLat, homeLon float64, c *cellStat) int {
	if c.Cell == 0 {
		return 0
	}
	if geo.DistanceKm(homeLat, homeLon, float64(c.Lat), float64(c.Lon)) <= e.p.EgressFarKm {
		return 1
	}
	if float64(c.Last-c.First) >= e.p.EgressSpan.Hours() {
		return 2
	}
	return 0
}

// accountEgress adds d times the egress counts of a baseline (cities, with
// home region zc) to t: each ASN + place once, by its first entry.
func (e *Engine) accountEgress(t *tenant, cs []cellStat, zc geo.Cell, d int32) {
	if zc == 0 || len(cs) == 0 {
		return
	}
	hl, ho := zc.Center()
	for i := range cs {
		c := &cs[i]
		if c.Cell == 0 {
			continue
		}
		k := egressKey(c.Place, c.ASN)
		dup := false
		for j := 0; j < i; j++ {
			if cs[j].Cell != 0 && egressKey(cs[j].Place, cs[j].ASN) == k {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		role := e.egressRole(hl, ho, c)
		if role == 0 {
			continue
		}
		n := t.egress[k]
		was := e.countKnown(n)
		if role == 1 {
			n.near += d
		} else {
			n.far += d
		}
		if now := e.countKnown(n); now != was {
			if now {
				t.known++
				t.knownKeys = append(t.knownKeys, k)
			} else {
				t.known--
				for j, x := range t.knownKeys {
					if x == k {
						t.knownKeys = append(t.knownKeys[:j], t.knownKeys[j+1:]...)
						break
					}
				}
			}
		}
		if n.near <= 0 && n.far <= 0 {
			delete(t.egress, k)
		} else {
			t.egress[k] = n
		}
	}
}

// change records one update of u.Cities (at most one entry merged, added
// or replaced) and the home region before it, so that the egress counts
// can be moved from the old baseline to the new one without copying it on
// every sign-in.
type change struct {
	idx         int // the entry touched, -1 none
	appended    bool
	evicted     cellStat // the entry replaced (when not appended, and not merged)
	first, last uint32   // the merged entry's span before the merge
	merged      bool
	zone        geo.Cell
}

func (e *Engine) preChange(u *User) change { return change{idx: -1, zone: u.ZoneCell} }

// postChange moves u's egress counts to its current baseline when anything
// they depend on changed: a place added or replaced, a place's use
// becoming a habit (its span reaching EgressSpan), the home region.
func (e *Engine) postChange(t *tenant, u *User, ch *change) {
	span := e.p.EgressSpan.Hours()
	ch.merged = ch.idx >= 0 && !ch.appended && ch.evicted == (cellStat{})
	changed := ch.zone != u.ZoneCell || (ch.idx >= 0 && !ch.merged)
	if ch.merged {
		c := &u.Cities[ch.idx]
		changed = changed || (float64(ch.last-ch.first) >= span) != (float64(c.Last-c.First) >= span)
	}
	if !changed {
		return
	}
	old := u.Cities
	n := u.NCities
	switch {
	case ch.appended:
		n--
	case ch.merged:
		old[ch.idx].First, old[ch.idx].Last = ch.first, ch.last
	case ch.idx >= 0:
		old[ch.idx] = ch.evicted
	}
	e.accountEgress(t, old[:n], ch.zone, -1)
	e.accountEgress(t, u.Cities[:u.NCities], u.ZoneCell, 1)
}

// whereabouts is what the engine concluded about where a sign-in was.
type whereabouts struct {
	egress   string  // "", EgressLearned or EgressDeclared
	credible bool    // a city-level fix, not an egress point: where the user is
	prev     *Signin // nearest credible successful sign-ins before and after (in u.Recent)
	next     *Signin
	// judge is the time zone the sign-in is judged in, zoneFrom why.
	judge    *time.Location
	zoneFrom string
	// learnZone is the zone its hour is learned in; region says whether it
	// may count towards the user's home region.
	learnZone *time.Location
	region    bool
}

// Zone sources, as evidence names them.
const (
	ZoneSignin = "sign-in place"         // the sign-in's own credible place
	ZoneRecent = "recent credible place" // the user's credible sign-in within Params.ZoneWindow
	ZoneHome   = "home"                  // the user's inferred home zone
)

// credible reports whether a remembered sign-in says where the user was.
func (e *Engine) credible(t *tenant, integ string, r *Signin) bool {
	return r.success() && r.cityLevel() && e.egressOf(t, integ, r) == ""
}

// locate fills w for s, before s is folded into u.
func (e *Engine) locate(integ string, u *User, s *Signin, w *whereabouts) {
	t := e.tenant(integ)
	*w = whereabouts{egress: e.egressOf(t, integ, s)}
	w.credible = s.cityLevel() && w.egress == ""
	// Nearest credible neighbours: u.Recent is in event-time order.
	pos := int(u.NRecent)
	for i := 0; i < int(u.NRecent); i++ {
		if u.Recent[i].T > s.T {
			pos = i
			break
		}
	}
	for i := pos - 1; i >= 0; i-- {
		if r := &u.Recent[i]; r.ID != s.ID && e.credible(t, integ, r) {
			w.prev = r
			break
		}
	}
	for i := pos; i < int(u.NRecent); i++ {
		if r := &u.Recent[i]; r.ID != s.ID && e.credible(t, integ, r) {
			w.next = r
			break
		}
	}
	home := e.zoneOf(u.zone())
	hr := u.homeRegion()
	zoneAt := func(lat, lon float32) *time.Location {
		if hr != nil && geo.DistanceKm(float64(lat), float64(lon), float64(hr.Lat), float64(hr.Lon)) <= e.p.HomeZoneKm {
			return home
		}
		if l := e.zoneNear(lat, lon); l != nil {
			return l
		}
		return home
	}
	w.judge, w.zoneFrom = home, ZoneHome
	w.learnZone, w.region = home, false
	// An anonymising proxy's exit (isProxy) can be impossible travel, but
	// its place is not where the user is: no time-zone evidence.
	if w.credible && s.Flags&sfProxy == 0 {
		w.judge, w.zoneFrom = zoneAt(s.Lat, s.Lon), ZoneSignin
		w.learnZone, w.region = w.judge, true
		// A place an impossible hop from the user's credible sign-in just
		// before or after (an egress not learned yet, a stolen session)
		// is not where the user lives: its hour is learned where the
		// neighbour was, and it never moves the home region.
		away := hr == nil || geo.DistanceKm(float64(s.Lat), float64(s.Lon), float64(hr.Lat), float64(hr.Lon)) > e.p.HomeZoneKm
		for _, n := range [2]*Signin{w.prev, w.next} {
			if away && n != nil && abs64(s.T-n.T) <= e.p.ZoneWindow.Milliseconds() && e.impossible(s, n) {
				w.learnZone, w.region = zoneAt(n.Lat, n.Lon), false
				break
			}
		}
		return
	}
	// Not credible: where the user was at their nearest credible sign-in
	// in time, if recent enough.
	w.region = false
	var near *Signin
	best := e.p.ZoneWindow.Milliseconds()
	for _, n := range [2]*Signin{w.prev, w.next} {
		if n != nil {
			if d := abs64(s.T - n.T); d <= best {
				near, best = n, d
			}
		}
	}
	if near != nil && w.egress == "" && s.hasGeo() && near.ctx().Country != s.ctx().Country {
		near = nil // the fix names another country than the user's last city
	}
	if near != nil && hr != nil && geo.DistanceKm(float64(near.Lat), float64(near.Lon), float64(hr.Lat), float64(hr.Lon)) > e.p.HomeZoneKm &&
		!e.consistent(t, integ, u, near, s) {
		near = nil // away from home and an impossible hop from its own neighbour
	}
	if near != nil {
		w.judge, w.zoneFrom = zoneAt(near.Lat, near.Lon), ZoneRecent
		w.learnZone = w.judge
	}
}

// consistent reports whether the remembered credible sign-in n is a
// possible hop from its own nearest credible neighbours (other than s)
// within ZoneWindow.
func (e *Engine) consistent(t *tenant, integ string, u *User, n, s *Signin) bool {
	for i := 0; i < int(u.NRecent); i++ {
		r := &u.Recent[i]
		if r == n || r.ID == s.ID || abs64(r.T-n.T) > e.p.ZoneWindow.Milliseconds() || !e.credible(t, integ, r) {
			continue
		}
		if e.impossible(n, r) {
			return false
		}
	}
	return true
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// impossible reports whether going between s and n needs more than
// MaxSpeedKmh after the geolocation allowance.
func (e *Engine) impossible(s, n *Signin) bool {
	if s.sameIP(n) {
		return false
	}
	d := geo.DistanceKm(float64(s.Lat), float64(s.Lon), float64(n.Lat), float64(n.Lon)) - e.p.GeoErrorKm
	dt := math.Abs(float64(s.T-n.T)) / 3_600_000
	return d > 0 && dt*e.p.MaxSpeedKmh < d
}

// homeRegion returns the baseline region the user's zone was inferred from.
func (u *User) homeRegion() *cellStat {
	if u.ZoneCell == 0 {
		return nil
	}
	for i := 0; i < int(u.NRegions); i++ {
		if u.Regions[i].Cell == u.ZoneCell {
			return &u.Regions[i]
		}
	}
	return nil
}

// zoneNear returns the time zone at the centre of lat/lon's cell of a
// 0.05° grid (about 5 km), memoised: a pure function of the cell, so
// output never depends on what the cache holds.
func (e *Engine) zoneNear(lat, lon float32) *time.Location {
	qa, qo := int32(math.Round(float64(lat)*20)), int32(math.Round(float64(lon)*20))
	k := uint32(qa+2000)<<16 | uint32(qo+4000)
	if l, ok := e.zones[k]; ok {
		return l
	}
	l := geo.LoadZone(geo.ZoneName(float64(qa)/20, float64(qo)/20))
	if len(e.zones) >= 4096 {
		clear(e.zones)
	}
	e.zones[k] = l
	return l
}

// countryKey names a country for the baseline's country-level entries;
// placeKey's low half is the same value, so a place's country is known.
func countryKey(country string) uint64 { return uint64(fnv32(country) | 1) }

// countryKnown reports whether u has a sign-in in country in its baseline
// (places, country-level entries) or its recent sign-ins. Baselines from
// before place keys named their country count as knowing every country.
func (u *User) countryKnown(country string) bool {
	ck := uint32(countryKey(country))
	for i := 0; i < int(u.NCities); i++ {
		if low := uint32(u.Cities[i].Place); low == ck || low == 1 {
			return true
		}
	}
	for i := 0; i < int(u.NRecent); i++ {
		if r := &u.Recent[i]; r.success() && r.hasGeo() && r.ctx().Country == country {
			return true
		}
	}
	return false
}
