// Package detect is Clarion's detection core: per-user state (recent
// sign-ins, H3 location baselines, hour-of-week profile, known networks and
// devices), the anomaly detectors and alert grouping. It knows nothing of
// Kafka: the processor and `clarion eval` both drive it, so what eval scores
// is exactly what production runs.
//
// An Engine is not safe for concurrent use; give each goroutine its own, or
// serialise calls.
package detect

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
	"unique"

	_ "time/tzdata" // zone rules for users' local time, independent of the host

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Params tunes the detectors. Zero fields take the defaults of DefaultParams.
type Params struct {
	// MaxSpeedKmh is the fastest plausible travel (a long-haul flight's
	// ground speed with tail wind). Default 1000.
	MaxSpeedKmh float64
	// GeoErrorKm is subtracted from every travel distance: the IP
	// geolocation of the two ends can be this far off in total. Hops
	// shorter than this (one metro area) are never travel. Default 100.
	GeoErrorKm float64
	// FamiliarKm: a place within this distance of a place in the user's
	// history is familiar; farther than it from all of them, it is "well
	// away" (city scale). Default 100.
	FamiliarKm float64
	// FamiliarWeight is the decayed visit weight near a place that makes it
	// familiar. Default 0.25 (one visit, for two half-lives).
	FamiliarWeight float64
	// MergeKm: a sign-in this close to a baseline place counts as a visit to
	// it rather than a new place (street-scale jitter). Default 15.
	MergeKm float64
	// HalfLife of baseline weights. Default 60 days.
	HalfLife time.Duration
	// LearnSignins and LearnSpan are the learning period for location,
	// travel, device and network verdicts: at least LearnSignins earlier
	// successful sign-ins, the first at least LearnSpan old. Defaults 10, 7 days.
	LearnSignins uint32
	LearnSpan    time.Duration
	// TimeLearnSpan: the history unusual_time needs. Default 14 days.
	TimeLearnSpan time.Duration
	// TimeWindowHours: unusual_time when no earlier sign-in on the same kind
	// of day (weekday, weekend) falls within this many hours of the local
	// hour. Default 2.
	TimeWindowHours int
	// TenantCommonShare and TenantCommonMin: a place where at least this
	// share of the tenant's users, and at least TenantCommonMin users, have
	// signed in is common in the tenant and never unusual. Defaults 0.1, 3.
	TenantCommonShare float64
	TenantCommonMin   int32
	// BurstGap separates failure bursts; BurstMin failures make a burst. Defaults 30 min, 3.
	BurstGap time.Duration
	BurstMin uint16
	// AlertWindow groups a user's anomalies into one alert. Default 24 h.
	AlertWindow time.Duration
	// IdleTTL: users idle this long (event time) expire. Default 90 days.
	IdleTTL time.Duration

	// EgressNetworks are declared egress points (corporate VPN
	// concentrators, security proxies) by integration id; "*" applies to
	// every integration. A sign-in from inside one says nothing about where
	// the user is.
	EgressNetworks map[string][]netip.Prefix
	// An ASN + city is a learned egress point when at least EgressMinUsers
	// of the tenant's users whose homes are farther than EgressFarKm from
	// it have used it for at least EgressSpan (a habit, not a trip), and
	// they are at least as many as the users living near it.
	// Defaults 3, 300 km, 7 days.
	EgressMinUsers int32
	EgressFarKm    float64
	EgressSpan     time.Duration
	// HomeZoneKm: a credible sign-in this close to the home region is in
	// the home time zone (no zone lookup). Default 300.
	HomeZoneKm float64
	// ZoneWindow: a sign-in that does not say where the user is (egress,
	// country-level, none) is judged in the zone of the user's credible
	// sign-in at most this far away in time, else in the home zone.
	// Default 12 h.
	ZoneWindow time.Duration
	// NightMin: a history with at least this many sign-ins at night
	// (22:00 to 05:59 local) makes night sign-ins usual (on-call). Default 3.
	NightMin int
}

// DefaultParams are the defaults documented on Params.
func DefaultParams() Params {
	return Params{
		MaxSpeedKmh: 1000, GeoErrorKm: 100, FamiliarKm: 100, FamiliarWeight: 0.25, MergeKm: 15,
		HalfLife: 60 * 24 * time.Hour, LearnSignins: 10, LearnSpan: 7 * 24 * time.Hour,
		TimeLearnSpan: 14 * 24 * time.Hour, TimeWindowHours: 2,
		TenantCommonShare: 0.1, TenantCommonMin: 3,
		BurstGap: 30 * time.Minute, BurstMin: 3,
		AlertWindow: 24 * time.Hour, IdleTTL: 90 * 24 * time.Hour,
		EgressMinUsers: 3, EgressFarKm: 300, EgressSpan: 7 * 24 * time.Hour,
		HomeZoneKm: 300, ZoneWindow: 12 * time.Hour, NightMin: 3,
	}
}

func (p *Params) fill() {
	d := DefaultParams()
	setF := func(v *float64, dv float64) {
		if *v == 0 {
			*v = dv
		}
	}
	setD := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	setF(&p.MaxSpeedKmh, d.MaxSpeedKmh)
	setF(&p.GeoErrorKm, d.GeoErrorKm)
	setF(&p.FamiliarKm, d.FamiliarKm)
	setF(&p.FamiliarWeight, d.FamiliarWeight)
	setF(&p.MergeKm, d.MergeKm)
	setF(&p.TenantCommonShare, d.TenantCommonShare)
	setD(&p.HalfLife, d.HalfLife)
	setD(&p.LearnSpan, d.LearnSpan)
	setD(&p.TimeLearnSpan, d.TimeLearnSpan)
	setD(&p.BurstGap, d.BurstGap)
	setD(&p.AlertWindow, d.AlertWindow)
	setD(&p.IdleTTL, d.IdleTTL)
	setF(&p.EgressFarKm, d.EgressFarKm)
	setF(&p.HomeZoneKm, d.HomeZoneKm)
	setD(&p.EgressSpan, d.EgressSpan)
	setD(&p.ZoneWindow, d.ZoneWindow)
	if p.EgressMinUsers == 0 {
		p.EgressMinUsers = d.EgressMinUsers
	}
	if p.NightMin == 0 {
		p.NightMin = d.NightMin
	}
	if p.LearnSignins == 0 {
		p.LearnSignins = d.LearnSignins
	}
	if p.TimeWindowHours == 0 {
		p.TimeWindowHours = d.TimeWindowHours
	}
	if p.TenantCommonMin == 0 {
		p.TenantCommonMin = d.TenantCommonMin
	}
	if p.BurstMin == 0 {
		p.BurstMin = d.BurstMin
	}
}

// tenant is org-wide context: how many of the tenant's users have each
// place (city) and network in their baseline. It is a pure function of the
// user states an engine holds, so restoring the same states restores it.
type tenant struct {
	users     int32
	places    map[uint64]int32
	asns      map[uint32]int32
	egress    map[uint64]egressCount // ASN + place: users near and habitually far
	known     int                    // how many of them are egress points (a fast path when none)
	knownKeys []uint64               // those keys, in the order they became known
}

// Engine runs the detectors over users' states.
type Engine struct {
	p        Params
	halfLife float64 // hours
	tenants  map[string]*tenant
	cands    [2]travelCand
	zones    map[uint32]*time.Location // zoneNear's memo
	locs     map[string]*time.Location // zoneOf's memo (no lock: an Engine is single-goroutine)

	lastInteg string // the last tenant looked up (most batches are one tenant's)
	lastT     *tenant
}

// NewEngine returns an engine with p (zero fields defaulted).
func NewEngine(p Params) *Engine {
	p.fill()
	return &Engine{p: p, halfLife: p.HalfLife.Hours(), tenants: map[string]*tenant{}, zones: map[uint32]*time.Location{}, locs: map[string]*time.Location{}}
}

// Params returns the engine's effective parameters.
func (e *Engine) Params() Params { return e.p }

func (e *Engine) tenant(integ string) *tenant {
	if e.lastT != nil && integ == e.lastInteg {
		return e.lastT
	}
	t := e.tenants[integ]
	if t == nil {
		t = &tenant{places: map[uint64]int32{}, asns: map[uint32]int32{}, egress: map[uint64]egressCount{}}
		e.tenants[integ] = t
	}
	e.lastInteg, e.lastT = integ, t
	return t
}

// Attach adds a restored user's baseline to the tenant context.
func (e *Engine) Attach(integ string, u *User) { e.account(integ, u, 1) }

// Detach removes a user's baseline from the tenant context (before
// dropping or expiring the user).
func (e *Engine) Detach(integ string, u *User) { e.account(integ, u, -1) }

func (e *Engine) account(integ string, u *User, d int32) {
	t := e.tenant(integ)
	if u.Successes > 0 {
		t.users += d
	}
	for i := 0; i < int(u.NCities); i++ {
		if u.Cities[i].Cell != 0 && !hasPlaceBefore(u.Cities[:i], u.Cities[i].Place) {
			add(t.places, u.Cities[i].Place, d)
		}
	}
	for i := 0; i < int(u.NASNs); i++ {
		add(t.asns, u.ASNs[i].Key, d)
	}
	e.accountEgress(t, u.Cities[:u.NCities], u.ZoneCell, d)
}

// hasPlaceBefore reports whether a place (not a country-level entry) of
// cs has key k.
func hasPlaceBefore(cs []cellStat, k uint64) bool {
	for _, c := range cs {
		if c.Place == k && c.Cell != 0 {
			return true
		}
	}
	return false
}

func add[K comparable](m map[K]int32, k K, d int32) {
	if n := m[k] + d; n > 0 {
		m[k] = n
	} else {
		delete(m, k)
	}
}

// placeKey names a place for tenant-wide counts: the city as Okta names it
// (the low half names its country, see countryKey), or the res-4 region
// of lat/lon when the event names none.
func placeKey(p Place, lat, lon float32) uint64 {
	if p.City == "" && p.Country == "" {
		return uint64(geo.CellAt(float64(lat), float64(lon), geo.ResRegion))
	}
	return uint64(fnv32(p.Country, p.State, p.City))<<32 | countryKey(p.Country)
}

// commonIn reports the share of the tenant's users with n of them, and
// whether that makes the place or network common.
func (e *Engine) commonIn(t *tenant, n int32) (float64, bool) {
	if t.users == 0 {
		return 0, false
	}
	share := float64(n) / float64(t.users)
	need := max(e.p.TenantCommonMin, int32(math.Ceil(e.p.TenantCommonShare*float64(t.users))))
	return share, n >= need
}

// Expired reports whether u has been idle for IdleTTL before now.
func (e *Engine) Expired(u *User, now time.Time) bool {
	return u.LastSeen > 0 && now.UnixMilli()-u.LastSeen > e.p.IdleTTL.Milliseconds()
}

// Result is what Process found. Its slices are reused by the next call.
type Result struct {
	// Explain, set by the caller, makes Process record each detector's
	// decision on the sign-in in Notes (for `clarion eval --explain`).
	Explain bool
	Notes   []Note

	Duplicate bool // the event's uuid was seen recently: nothing changed
	Ignored   bool // an event type the detectors do not use (state unchanged but for dedup)
	Anomalies []Anomaly
	Alert     *Alert // the created or updated alert, nil when no anomaly
	alert     Alert
}

// Process judges ev (already parsed; Published must be set, see
// logevent.ParseTime and the processor's fallback) for the user u of
// integration integ, then folds it into u.
func (e *Engine) Process(integ string, u *User, ev *logevent.Event, res *Result) {
	res.Duplicate, res.Ignored, res.Alert = false, false, nil
	res.Anomalies = res.Anomalies[:0]
	res.Notes = res.Notes[:0]
	id := makeEventID(ev.UUID)
	if u.seen(id.hash()) {
		res.Duplicate = true
		return
	}
	t := ev.Published.UnixMilli()
	if u.FirstSeen == 0 || t < u.FirstSeen {
		u.FirstSeen = t
	}
	if t > u.LastSeen {
		u.LastSeen = t
	}
	if ev.ActorLogin != "" && u.Login != ev.ActorLogin && len(ev.ActorLogin) <= 256 {
		u.Login = ev.ActorLogin
	}
	switch ev.EventType {
	case logevent.EventTypeSessionStart:
	default:
		// Room for MFA push (system.push.send_factor_verify_push,
		// user.authentication.auth_via_mfa), user.account.lock and
		// policy.evaluate_sign_on: remembered for dedup, not yet judged.
		u.remember(id.hash())
		res.Ignored = true
		return
	}

	s := e.signin(id, t, ev)
	if !s.success() {
		if ev.Outcome == logevent.OutcomeFailure {
			e.failure(u, &s)
		}
		// Failures are evidence, never subjects nor travel anchors.
		u.remember(id.hash())
		return
	}
	var w whereabouts
	e.locate(integ, u, &s, &w)
	e.detect(integ, u, ev, &s, &w, res)
	e.learn(integ, u, &s, &w, ev.Published)
	if len(res.Anomalies) > 0 {
		e.group(integ, ev.UserKey(), u, res)
	}
}

// Note is one detector's decision on a sign-in and the rule behind it.
type Note struct {
	Type string `json:"type"`
	Rule string `json:"rule"`
}

func (r *Result) note(typ, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Type: typ, Rule: fmt.Sprintf(format, args...)})
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// carrier reports whether an ISP/organisation name is a mobile carrier's.
func carrier(names ...string) bool {
	for _, n := range names {
		l := strings.ToLower(n)
		for _, k := range carrierWords {
			if strings.Contains(l, k) {
				return true
			}
		}
	}
	return false
}

// carrierWords mark mobile carriers' network names ("T-Mobile USA",
// "Verizon Wireless", "AT&T Mobility", "Telcel"). Operators that sell both
// fixed and mobile service under one name are not matched.
var carrierWords = [...]string{"wireless", "mobile", "mobility", "cellular", "lte", "telcel"}

func (e *Engine) signin(id eventID, t int64, ev *logevent.Event) Signin {
	s := Signin{ID: id, T: t}
	if ev.Success() {
		s.Flags |= sfSuccess
	}
	if ev.HasGeo && geo.ValidLatLon(ev.Lat, ev.Lon) {
		s.Flags |= sfGeo
		s.Lat, s.Lon = float32(ev.Lat), float32(ev.Lon)
		s.Flags |= precisionFlags(ev, s.Lat, s.Lon)
	}
	if ev.IsProxy || ev.ThreatSuspected {
		s.Flags |= sfProxy
	}
	if carrier(ev.ISP, ev.ASOrg) {
		s.Flags |= sfCarrier
	}
	if ip, err := netip.ParseAddr(ev.IP); err == nil {
		s.setIP(ip.WithZone(""))
	}
	if ev.ASN > 0 && ev.ASN < math.MaxUint32 {
		s.ASN = uint32(ev.ASN)
	}
	isp := ev.ISP
	if isp == "" {
		isp = ev.ASOrg
	}
	s.Ctx = makeCtx(Place{clip(ev.City), clip(ev.State), clip(ev.Country)},
		Agent{clip(ev.Browser), clip(ev.OS), clip(ev.DeviceType)}, clip(isp))
	if ev.DeviceFingerprint != "" {
		s.Device = fnv32("fp", ev.DeviceFingerprint)
	} else if ev.Browser != "" || ev.OS != "" || ev.DeviceType != "" {
		s.Device = fnv32(ev.Browser, ev.OS, ev.DeviceType)
	}
	return s
}

func (e *Engine) failure(u *User, s *Signin) {
	if u.FailN > 0 && s.T-u.FailLast <= e.p.BurstGap.Milliseconds() && s.T >= u.FailFirst {
		if u.FailN < math.MaxUint16 {
			u.FailN++
		}
	} else {
		u.FailN, u.FailFirst = 1, s.T
	}
	u.FailLast = s.T
}

// burstBefore returns the size of the failure burst that ended shortly before t.
func (e *Engine) burstBefore(u *User, t int64) int {
	if u.FailN >= e.p.BurstMin && u.FailLast <= t && t-u.FailLast <= e.p.BurstGap.Milliseconds() {
		return int(u.FailN)
	}
	return 0
}

func hourOf(ms int64) uint32 { return uint32(ms / 3_600_000) }

// familiarity is the decayed visit weight within FamiliarKm of lat/lon at
// hour h, with the nearest baseline place and its distance.
//
// Country-level entries and the tenant's egress points are no places.
func (e *Engine) familiarity(t *tenant, u *User, lat, lon float32, h uint32) (w float64, nearest float64, near *cellStat) {
	nearest = math.Inf(1)
	for i := 0; i < int(u.NCities); i++ {
		c := &u.Cities[i]
		if c.Cell == 0 {
			continue
		}
		d := geo.DistanceKm(float64(lat), float64(lon), float64(c.Lat), float64(c.Lon))
		if (d < nearest || d <= e.p.FamiliarKm) && e.entryEgress(t, c) {
			continue
		}
		if d < nearest {
			nearest, near = d, c
		}
		if d <= e.p.FamiliarKm {
			w += float64(decayed(c.W, c.Last, h, e.halfLife))
		}
	}
	return w, nearest, near
}

// learned reports whether u is past the learning period at t.
func (e *Engine) learned(u *User, t int64) bool {
	return u.Successes >= e.p.LearnSignins && u.FirstSuccess > 0 && t-u.FirstSuccess >= e.p.LearnSpan.Milliseconds()
}

func (e *Engine) placeCommon(integ string, s *Signin) (float64, bool) {
	t := e.tenant(integ)
	return e.commonIn(t, t.places[s.placeKey()])
}

type travelCand struct {
	n        *Signin
	d, dt    float64
	speed    float64
	score    float64
	owners   [2]*Signin // the sign-ins from unfamiliar places
	famS     bool
	famN     bool
	reducers []string
}

func (e *Engine) detect(integ string, u *User, ev *logevent.Event, s *Signin, w *whereabouts, res *Result) {
	h := hourOf(s.T)
	burst := e.burstBefore(u, s.T)
	learned := e.learned(u, s.T)
	t := e.tenant(integ)
	var tr *Result
	if res.Explain {
		tr = res
	}

	switch {
	case !learned:
		if tr != nil {
			tr.note(TypeUnusualLocation, "learning period: %d successful sign-ins, first %.1f days ago", u.Successes, float64(s.T-u.FirstSuccess)/86_400_000)
		}
	case w.credible:
		e.travel(integ, u, ev, s, w, h, res)

		// unusual_location: well away from every place in the history, not
		// common in the tenant.
		fw, nearest, near := e.familiarity(t, u, s.Lat, s.Lon, h)
		share, common := e.placeCommon(integ, s)
		if fw < e.p.FamiliarWeight && !common {
			score := 0.5
			if !math.IsInf(nearest, 1) {
				score += 0.25 * math.Min(2, math.Log10(math.Max(1, nearest/e.p.FamiliarKm)))
			}
			score *= 1 - share
			ev2 := Evidence{
				Signins:         []SigninRef{ref(s, ev.UUID)},
				BaselinePlaces:  int(u.NCities),
				BaselineSignins: u.Successes,
				HistoryDays:     round1(float64(s.T-u.FirstSuccess) / 86_400_000),
				FailuresBefore:  burst,
				TenantShare:     ptr(round3(share)),
			}
			if near != nil {
				ev2.NearestKnownKm = round1(nearest)
				ev2.NearestKnown = placeNear(u, near)
			}
			if burst > 0 && !sameCountryKnown(u, s) {
				score = math.Min(1, score+0.2)
			}
			if tr != nil {
				tr.note(TypeUnusualLocation, "fired: weight %.2f within %.0f km (< %.2f), nearest place %.0f km, tenant share %.3f", fw, e.p.FamiliarKm, e.p.FamiliarWeight, nearest, share)
			}
			e.emit(res, integ, u, ev, s, tLocation, score, ev2, sentenceLocation(u, ev, s, nearest, ev2.NearestKnown, ev2.HistoryDays))
		} else {
			if tr != nil {
				tr.note(TypeUnusualLocation, "familiar: weight %.2f within %.0f km, nearest place %.0f km, tenant share %.3f (common %v)", fw, e.p.FamiliarKm, nearest, share, common)
			}
		}
	case w.egress != "":
		if tr != nil {
			tr.note(TypeUnusualLocation, "through an egress point (%s): says nothing about where the user is", w.egress)
		}
		if tr != nil {
			tr.note(TypeImpossibleTravel, "through an egress point (%s): never travel", w.egress)
		}
	case s.hasGeo():
		// A country- or region-level fix is no place at city scale: only
		// a country never seen for the user is unusual.
		c := s.ctx().Country
		if c != "" && u.NCities > 0 && !u.countryKnown(c) {
			ev2 := Evidence{
				Signins:         []SigninRef{ref(s, ev.UUID)},
				BaselinePlaces:  int(u.NCities),
				BaselineSignins: u.Successes,
				HistoryDays:     round1(float64(s.T-u.FirstSuccess) / 86_400_000),
				FailuresBefore:  burst,
			}
			score := 0.5
			if burst > 0 {
				score = 0.7
			}
			if tr != nil {
				tr.note(TypeUnusualLocation, "fired: %s-level fix in %s, a country not in the history", s.precision(), c)
			}
			e.emit(res, integ, u, ev, s, tLocation, score, ev2, sentenceCountry(u, ev, s, ev2.HistoryDays))
		} else {
			if tr != nil {
				tr.note(TypeUnusualLocation, "%s-level fix: never a new place at city scale (country %q known)", s.precision(), c)
			}
		}
		if tr != nil {
			tr.note(TypeImpossibleTravel, "%s-level fix: never a travel anchor", s.precision())
		}
	default:
		if tr != nil {
			tr.note(TypeUnusualLocation, "no geolocation")
		}
	}

	// unusual_time: no earlier sign-in near this local hour on this kind of
	// day, in the time where the user is.
	if e.timeReady(u, s.T) {
		loc := w.judge
		lt := time.UnixMilli(s.T).In(loc)
		around, total, nights := e.hoursAround(u, lt)
		night := lt.Hour() >= 22 || lt.Hour() < 6
		switch {
		case around == 0 && total > 0 && night && nights >= e.p.NightMin:
			if tr != nil {
				tr.note(TypeUnusualTime, "night sign-in at %s (%s, from %s), but the history has %d night sign-ins (on-call)", lt.Format("Mon 15:04"), loc, w.zoneFrom, nights)
			}
		case around == 0 && total > 0:
			ev2 := Evidence{
				Signins:         []SigninRef{ref(s, ev.UUID)},
				LocalTime:       lt.Format("Mon 15:04 MST"),
				TimeZone:        loc.String(),
				ZoneFrom:        w.zoneFrom,
				HourShare:       ptr(0.0),
				BaselineSignins: u.Successes,
				HistoryDays:     round1(float64(s.T-u.TimeStart) / 86_400_000),
			}
			ev2.Signins[0].Egress = w.egress
			score := 0.5
			if burst > 0 {
				score = 0.7
			}
			if tr != nil {
				tr.note(TypeUnusualTime, "fired: %s (%s, from %s): no sign-in within %d h on that kind of day in %d", lt.Format("Mon 15:04"), loc, w.zoneFrom, e.p.TimeWindowHours, total)
			}
			e.emit(res, integ, u, ev, s, tTime, score, ev2, sentenceTime(u, ev, lt, loc, total, w))
		default:
			if tr != nil {
				tr.note(TypeUnusualTime, "usual: %s (%s, from %s): %d of %d sign-ins within %d h", lt.Format("Mon 15:04"), loc, w.zoneFrom, around, total, e.p.TimeWindowHours)
			}
		}
	} else {
		if tr != nil {
			tr.note(TypeUnusualTime, "learning period for time")
		}
	}

	if learned && s.Device != 0 && !hasKey(u.Devices[:u.NDevices], s.Device) {
		score := 0.4
		if burst > 0 {
			score = 0.7
		}
		ev2 := Evidence{Signins: []SigninRef{ref(s, ev.UUID)}, KnownDevices: int(u.NDevices), FailuresBefore: burst}
		e.emit(res, integ, u, ev, s, tDevice, score, ev2, sentenceDevice(u, ev, s))
	}
	if learned && s.ASN != 0 && !hasKey(u.ASNs[:u.NASNs], s.ASN) {
		share, _ := e.commonIn(t, t.asns[s.ASN])
		score := 0.5 * (1 - share)
		if burst > 0 {
			score = math.Min(1, score+0.2)
		}
		ev2 := Evidence{Signins: []SigninRef{ref(s, ev.UUID)}, KnownNetworks: int(u.NASNs), FailuresBefore: burst, TenantShare: ptr(round3(share))}
		e.emit(res, integ, u, ev, s, tNetwork, score, ev2, sentenceNetwork(u, ev, s))
	}
	if ev.IsProxy || ev.ThreatSuspected {
		score := 0.6
		if ev.ThreatSuspected {
			score = 0.8
		}
		ev2 := Evidence{Signins: []SigninRef{ref(s, ev.UUID)}, ThreatSuspected: ev.ThreatSuspected, FailuresBefore: burst}
		e.emit(res, integ, u, ev, s, tProxy, score, ev2, sentenceProxy(u, ev))
	}
}

func (e *Engine) timeReady(u *User, t int64) bool {
	return u.Successes >= e.p.LearnSignins && u.TimeStart > 0 && t-u.TimeStart >= e.p.TimeLearnSpan.Milliseconds()
}

// hoursAround counts the profile's sign-ins within TimeWindowHours of lt's
// hour on the same kind of day (weekdays pooled, weekends pooled), the
// profile's total, and its sign-ins at night (22:00 to 05:59) on any day.
func (e *Engine) hoursAround(u *User, lt time.Time) (around, total, nights int) {
	for i, c := range u.Hours {
		total += int(c)
		if hd := i % 24; hd >= 22 || hd < 6 {
			nights += int(c)
		}
	}
	weekend := lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday
	days := []int{1, 2, 3, 4, 5}
	if weekend {
		days = []int{0, 6}
	}
	hod := lt.Hour()
	for _, d := range days {
		for k := -e.p.TimeWindowHours; k <= e.p.TimeWindowHours; k++ {
			around += int(u.Hours[d*24+(hod+k+24)%24])
		}
	}
	return around, total, nights
}

// travel compares s with its nearest credible neighbours in event time
// (egress points, country-level fixes and sign-ins without geolocation in
// between say nothing about where the user was, so they are skipped).
func (e *Engine) travel(integ string, u *User, ev *logevent.Event, s *Signin, w *whereabouts, h uint32, res *Result) {
	var tr *Result
	if res.Explain {
		tr = res
	}
	if w.prev == nil && w.next == nil {
		if tr != nil {
			tr.note(TypeImpossibleTravel, "no credible neighbour in the recent sign-ins")
		}
	}
	for _, n := range [2]*Signin{w.prev, w.next} {
		if n == nil {
			continue
		}
		c, ok := e.travelCheck(integ, u, s, n, h, tr)
		if !ok {
			continue
		}
		a, b := c.n, s // chronological order for the evidence
		if a.T > b.T {
			a, b = b, a
		}
		ra, rb := ref(a, ""), ref(b, "")
		if a == s {
			ra.UUID = ev.UUID
		} else {
			rb.UUID = ev.UUID
		}
		famA, famB := c.famN, c.famS
		if a == s {
			famA, famB = c.famS, c.famN
		}
		for _, owner := range c.owners {
			if owner == nil || owner.Emitted&(1<<tTravel) != 0 {
				continue
			}
			score := c.score
			ev2 := Evidence{
				Signins:        []SigninRef{ra, rb},
				DistanceKm:     round1(c.d),
				Hours:          round3(c.dt),
				SpeedKmh:       math.Round(c.speed),
				MaxSpeedKmh:    e.p.MaxSpeedKmh,
				GeoErrorKm:     e.p.GeoErrorKm,
				ReducedBy:      c.reducers,
				FamiliarPlaces: []bool{famA, famB},
				FailuresBefore: e.burstBefore(u, owner.T),
			}
			if ev2.FailuresBefore > 0 {
				score = math.Min(1, score+0.1)
			}
			e.emit(res, integ, u, ev, owner, tTravel, score, ev2, sentenceTravel(u, ev, a, b, c))
		}
	}
}

func (e *Engine) travelCheck(integ string, u *User, s, n *Signin, h uint32, tr *Result) (travelCand, bool) {
	if s.sameIP(n) {
		if tr != nil {
			tr.note(TypeImpossibleTravel, "same IP as the sign-in at %s", fmtMs(n.T))
		}
		return travelCand{}, false
	}
	d := geo.DistanceKm(float64(s.Lat), float64(s.Lon), float64(n.Lat), float64(n.Lon))
	dt := math.Abs(float64(s.T-n.T)) / 3_600_000
	eff := d - e.p.GeoErrorKm
	if eff <= 0 || dt*e.p.MaxSpeedKmh >= eff {
		if tr != nil {
			tr.note(TypeImpossibleTravel, "possible: %.0f km in %.2f h from %s at %s (%.0f km/h; %.0f km/h allowed after %.0f km)", d, dt, placeName(n.ctx().Place), fmtMs(n.T), d/math.Max(dt, 1.0/60), e.p.MaxSpeedKmh, e.p.GeoErrorKm)
		}
		return travelCand{}, false
	}
	var reducers []string
	score := 1.0
	if s.Flags&sfCarrier != 0 || n.Flags&sfCarrier != 0 {
		reducers = append(reducers, "mobile_carrier")
		score *= 0.7
	}
	if s.Flags&sfProxy != 0 || n.Flags&sfProxy != 0 {
		reducers = append(reducers, "proxy")
		score *= 0.6
	}
	// Familiarity as of before each sign-in: n's own visit is already in
	// the baseline, s's is not yet.
	t := e.tenant(integ)
	wS, _, _ := e.familiarity(t, u, s.Lat, s.Lon, h)
	wN, _, _ := e.familiarity(t, u, n.Lat, n.Lon, h)
	wN -= float64(decayed(1, hourOf(n.T), h, e.halfLife))
	_, cS := e.placeCommon(integ, s)
	_, cN := e.placeCommon(integ, n)
	famS := wS >= e.p.FamiliarWeight || cS
	famN := wN >= e.p.FamiliarWeight || cN
	if famS && famN {
		if tr != nil {
			tr.note(TypeImpossibleTravel, "both places familiar: %.0f km in %.2f h from %s at %s", d, dt, placeName(n.ctx().Place), fmtMs(n.T))
		}
		return travelCand{}, false
	}
	var owners [2]*Signin
	if !famS {
		owners[0] = s
	}
	if !famN {
		owners[1] = n
	}
	speed := d / math.Max(dt, 1.0/60)
	need := eff / e.p.MaxSpeedKmh // hours the trip needs at the fastest
	score *= 0.6 + 0.4*math.Min(1, (need-dt)/need)
	if tr != nil {
		tr.note(TypeImpossibleTravel, "fired: %.0f km in %.2f h from %s at %s (%.0f km/h), familiar %v/%v", d, dt, placeName(n.ctx().Place), fmtMs(n.T), speed, famS, famN)
	}
	return travelCand{n: n, d: d, dt: dt, speed: speed, score: score, owners: owners, famS: famS, famN: famN, reducers: reducers}, true
}

func sameCountryKnown(u *User, s *Signin) bool {
	c := s.ctx().Country
	if c == "" {
		return true
	}
	for i := 0; i < int(u.NRecent); i++ {
		if u.Recent[i].success() && u.Recent[i].ctx().Country == c {
			return true
		}
	}
	return false
}

func placeNear(u *User, c *cellStat) string {
	best, bd := "", math.Inf(1)
	for i := 0; i < int(u.NRecent); i++ {
		r := &u.Recent[i]
		if !r.hasGeo() {
			continue
		}
		if d := geo.DistanceKm(float64(r.Lat), float64(r.Lon), float64(c.Lat), float64(c.Lon)); d < bd && d < 100 {
			best, bd = placeName(r.ctx().Place), d
		}
	}
	if best == "" {
		best = c.Cell.String()
	}
	return best
}

func (e *Engine) emit(res *Result, integ string, u *User, ev *logevent.Event, owner *Signin, typ uint8, score float64, evd Evidence, sentence string) {
	owner.Emitted |= 1 << typ
	id := owner.ID
	aid := anomalyID(id, typ)
	res.Anomalies = append(res.Anomalies, Anomaly{
		idb: aid, typ: typ, t: owner.T,
		ID:            hex16(aid),
		Type:          typeNames[typ],
		IntegrationID: integ,
		User:          UserRef{ID: ev.UserKey(), Login: u.Login},
		EventUUID:     id.String(),
		Published:     fmtMs(owner.T),
		Score:         round3(math.Max(0.05, math.Min(1, score))),
		Evidence:      evd,
		Sentence:      sentence,
	})
}

// learn folds a successful sign-in into the baseline.
func (e *Engine) learn(integ string, u *User, s *Signin, w *whereabouts, pub time.Time) {
	if u.insertRecent(*s) < 0 {
		// Older than every remembered sign-in: keep only its id for dedup.
		u.remember(s.ID.hash())
	}
	h := hourOf(s.T)
	t := e.tenant(integ)
	if u.Successes == 0 {
		t.users++
	}
	if u.Successes < math.MaxUint32 {
		u.Successes++
	}
	if u.FirstSuccess == 0 || s.T < u.FirstSuccess {
		u.FirstSuccess = s.T
	}
	if s.hasGeo() {
		if u.Located < math.MaxUint32 {
			u.Located++
		}
	}
	switch {
	case s.cityLevel() && w.egress != EgressDeclared:
		// A place (learned egress points too: the tenant's egress counts
		// are made of the users' places).
		pre := e.preChange(u)
		pk := s.placeKey()
		hadPlace := hasPlaceBefore(u.Cities[:u.NCities], pk)
		added, evicted, c7 := e.observePlace(u, pk, s.ASN, s.Lat, s.Lon, h, false, &pre)
		if added && !hadPlace {
			add(t.places, pk, 1)
		}
		if evicted != nil && evicted.Cell != 0 && evicted.Place != pk && !hasPlaceBefore(u.Cities[:u.NCities], evicted.Place) {
			add(t.places, evicted.Place, -1)
		}
		if w.region {
			// Home-zone inference: credible places only.
			region := geo.ParentOf(c7, geo.ResRegion)
			observeCell(u.Regions[:], &u.NRegions, region, 0, s.Lat, s.Lon, h, e.halfLife)
			e.inferZone(u, h, s.T)
		}
		e.postChange(t, u, &pre)
	case s.hasGeo() && s.Flags&(sfCountry|sfRegion) != 0 && w.egress == "" && s.ctx().Country != "":
		// A country-level entry: the country is known, no place is.
		pre := e.preChange(u)
		ck := countryKey(s.ctx().Country)
		_, evicted, _ := e.observePlace(u, ck, 0, s.Lat, s.Lon, h, true, &pre)
		if evicted != nil && evicted.Cell != 0 && !hasPlaceBefore(u.Cities[:u.NCities], evicted.Place) {
			add(t.places, evicted.Place, -1)
		}
		e.postChange(t, u, &pre)
	}
	if s.ASN != 0 {
		added, ev, ok := observeKey(u.ASNs[:], &u.NASNs, s.ASN, h)
		if added {
			add(t.asns, s.ASN, 1)
			if ok {
				add(t.asns, ev, -1)
			}
		}
	}
	if s.Device != 0 {
		observeKey(u.Devices[:], &u.NDevices, s.Device, h)
	}
	// Hour-of-week profile in the local time where the user was.
	if u.TimeStart == 0 || s.T < u.TimeStart {
		u.TimeStart = s.T
	}
	loc := w.learnZone
	if w.zoneFrom == ZoneHome || loc == nil {
		loc = e.zoneOf(u.zone()) // the zone may have just been inferred
	}
	lt := pub.In(loc)
	how := int(lt.Weekday())*24 + lt.Hour()
	if u.Hours[how] == math.MaxUint8 {
		for i := range u.Hours {
			u.Hours[i] /= 2
		}
	}
	u.Hours[how]++
	// A success ends a failure burst.
	if u.FailN > 0 && s.T >= u.FailLast {
		u.FailN = 0
	}
}

// observePlace counts a visit to the baseline place within MergeKm of
// lat/lon with the same key and network (for a country-level entry, the
// same country), or adds a new one (evicting the weakest when full; a copy
// of the evicted entry is returned).
//
// It returns the res-7 cell of the sign-in: the merged place's cell when it
// joined one (no H3 call on the hot path), else the new place's.
//
// ch records the change for the egress counts (see postChange).
func (e *Engine) observePlace(u *User, pk uint64, asn uint32, lat, lon float32, h uint32, country bool, ch *change) (added bool, evicted *cellStat, cell geo.Cell) {
	best, bd := -1, e.p.MergeKm
	for i := 0; i < int(u.NCities); i++ {
		ce := &u.Cities[i]
		if ce.Place != pk || ce.ASN != asn || (ce.Cell == 0) != country {
			continue
		}
		if country {
			best = i
			break
		}
		if d := geo.DistanceKm(float64(lat), float64(lon), float64(ce.Lat), float64(ce.Lon)); d <= bd {
			best, bd = i, d
		}
	}
	if best >= 0 {
		ce := &u.Cities[best]
		ch.idx, ch.first, ch.last = best, ce.First, ce.Last
		ce.W = decayed(ce.W, ce.Last, h, e.halfLife) + 1
		if h > ce.Last {
			ce.Last = h
		}
		if h < ce.First {
			ce.First = h
		}
		return false, nil, ce.Cell
	}
	var c geo.Cell
	if !country {
		c = geo.CellAt(float64(lat), float64(lon), geo.ResCity)
	}
	ne := cellStat{Cell: c, Place: pk, Lat: lat, Lon: lon, W: 1, First: h, Last: h, ASN: asn}
	if int(u.NCities) < len(u.Cities) {
		u.Cities[u.NCities] = ne
		ch.idx, ch.appended = int(u.NCities), true
		u.NCities++
		return true, nil, c
	}
	weak, ww := 0, float32(math.MaxFloat32)
	for i := range u.Cities {
		if w := decayed(u.Cities[i].W, u.Cities[i].Last, h, e.halfLife); w < ww {
			weak, ww = i, w
		}
	}
	old := u.Cities[weak]
	u.Cities[weak] = ne
	ch.idx, ch.evicted = weak, old
	return true, &old, c
}

// inferZone sets the user's time zone from their dominant region. The zone
// is sticky: another region must weigh twice as much (plus one visit) to
// move it, so a corporate VPN egress or a trip does not flip it back and
// forth. When it moves, the hour profile is rotated by the change in UTC
// offset: habits are kept in local time.
func (e *Engine) inferZone(u *User, h uint32, t int64) {
	best, bw, cw := -1, float32(-1), float32(0)
	for i := 0; i < int(u.NRegions); i++ {
		w := decayed(u.Regions[i].W, u.Regions[i].Last, h, e.halfLife)
		if w > bw {
			best, bw = i, w
		}
		if u.Regions[i].Cell == u.ZoneCell {
			cw = w
		}
	}
	if best < 0 || u.Regions[best].Cell == u.ZoneCell {
		return
	}
	if u.ZoneCell != 0 && bw < 2*cw+1 {
		return
	}
	r := &u.Regions[best]
	name := geo.ZoneName(float64(r.Lat), float64(r.Lon))
	u.ZoneCell = r.Cell
	old := u.zone()
	if name == "" || name == old {
		return
	}
	u.Zone = unique.Make(name)
	at := time.UnixMilli(t)
	_, o1 := at.In(zoneOrUTC(old)).Zone()
	_, o2 := at.In(zoneOrUTC(name)).Zone()
	if shift := ((o2-o1)/3600%168 + 168) % 168; shift != 0 {
		var rot [168]uint8
		for i, c := range u.Hours {
			rot[(i+shift)%168] = c
		}
		u.Hours = rot
	}
}

// zoneOf is zoneOrUTC memoised in the engine (names of zones are few).
func (e *Engine) zoneOf(name string) *time.Location {
	if l, ok := e.locs[name]; ok {
		return l
	}
	l := zoneOrUTC(name)
	if len(e.locs) < 1024 {
		e.locs[name] = l
	}
	return l
}

func zoneOrUTC(name string) *time.Location {
	if l := geo.LoadZone(name); l != nil {
		return l
	}
	return time.UTC
}

func fmtMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func ptr[T any](v T) *T { return &v }

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func ref(s *Signin, uuid string) SigninRef {
	cx := s.ctx()
	p, a := cx.Place, cx.Agent
	r := SigninRef{
		UUID: uuid, Published: fmtMs(s.T), Outcome: logevent.OutcomeSuccess,
		City: p.City, State: p.State, Country: p.Country,
		ASN: s.ASN, ISP: cx.ISP, Proxy: s.Flags&sfProxy != 0, Carrier: s.Flags&sfCarrier != 0,
		Browser: a.Browser, OS: a.OS, Device: a.Device, Precision: s.precision(),
	}
	if uuid == "" {
		r.UUID = s.ID.String()
	}
	if !s.success() {
		r.Outcome = logevent.OutcomeFailure
	}
	if ip := s.ip(); ip.IsValid() {
		r.IP = ip.String()
	}
	if s.hasGeo() {
		r.Lat, r.Lon = ptr(round3(float64(s.Lat))), ptr(round3(float64(s.Lon)))
	}
	return r
}
