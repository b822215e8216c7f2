package detect

import (
	"math"
	"net/netip"
	"unique"

	"github.com/clarion-itdr/clarion/internal/geo"
)

// Capacities of the per-user state. Together they bound a user's state to
// under 2 KiB in memory and about 1 KiB encoded at steady state.
const (
	maxRecent  = 8 // recent sign-ins kept for travel, ordered by event time
	maxCities  = 8 // res-7 baseline places
	maxRegions = 4 // res-4 baseline cells (time-zone inference)
	maxASNs    = 8
	maxDevices = 8
	maxSeen    = 8 // uuid hashes kept for dedup beyond the recent sign-ins
	maxAlertAn = 8 // anomaly ids kept on the open alert (the count is kept in full)
)

// Place is a sign-in's geographical context as Okta names it.
type Place struct{ City, State, Country string }

// Agent is a sign-in's client software.
type Agent struct{ Browser, OS, Device string }

// Ctx is the descriptive context of a sign-in, interned (unique.Handle) so
// that a user's sign-ins from the same place, client and network share it.
type Ctx struct {
	Place
	Agent
	ISP string
	// pk is placeKey of a named city (0 when the city is unknown), computed
	// once when the context is made (see makeCtx).
	pk uint64
}

// makeCtx interns a context with its place key.
func makeCtx(p Place, a Agent, isp string) unique.Handle[Ctx] {
	c := Ctx{Place: p, Agent: a, ISP: isp}
	if p.City != "" {
		c.pk = placeKey(p, 0, 0)
	}
	return unique.Make(c)
}

// placeKey returns the place key of s's city (0 when unknown).
func (s *Signin) placeKey() uint64 {
	var zero unique.Handle[Ctx]
	if s.Ctx == zero {
		return 0
	}
	return s.Ctx.Value().pk
}

// Signin is one remembered sign-in attempt.
type Signin struct {
	// Field order keeps the struct at 72 bytes.
	T        int64 // published, unix ms
	Ctx      unique.Handle[Ctx]
	IP       [16]byte // valid when Flags has sfIP4 or sfIP6
	Lat, Lon float32
	ASN      uint32
	Device   uint32 // hash of the device identity
	ID       eventID
	Flags    uint8 // sfSuccess | sfGeo | sfProxy | sfCarrier | sfIP4 | sfIP6 | sfCountry | sfRegion
	Emitted  uint8 // bit per anomaly type already emitted for this sign-in
}

const (
	sfSuccess = 1 << iota
	sfGeo
	sfProxy
	sfCarrier
	sfIP4
	sfIP6
	sfCountry // a country-level fix (default point of the country)
	sfRegion  // a region-level fix (no city)
)

func (s *Signin) ctx() Ctx {
	var zero unique.Handle[Ctx]
	if s.Ctx == zero {
		return Ctx{}
	}
	return s.Ctx.Value()
}

func (s *Signin) ip() netip.Addr {
	switch {
	case s.Flags&sfIP4 != 0:
		return netip.AddrFrom16(s.IP).Unmap()
	case s.Flags&sfIP6 != 0:
		return netip.AddrFrom16(s.IP)
	}
	return netip.Addr{}
}

func (s *Signin) setIP(a netip.Addr) {
	s.Flags &^= sfIP4 | sfIP6
	if !a.IsValid() {
		return
	}
	s.IP = a.As16()
	if a.Is4() {
		s.Flags |= sfIP4
	} else {
		s.Flags |= sfIP6
	}
}

func (s *Signin) sameIP(o *Signin) bool {
	return s.Flags&(sfIP4|sfIP6) != 0 && s.Flags&(sfIP4|sfIP6) == o.Flags&(sfIP4|sfIP6) && s.IP == o.IP
}

func (s *Signin) success() bool { return s.Flags&sfSuccess != 0 }
func (s *Signin) hasGeo() bool  { return s.Flags&sfGeo != 0 }

// cellStat is a baseline cell with a decayed weight. In Cities, Cell 0
// marks a country-level entry (Place = countryKey): it records a country,
// never a place.
type cellStat struct {
	Cell     geo.Cell
	Place    uint64  // placeKey: the named city (or region) for tenant counts
	Lat, Lon float32 // where the user actually was when first seen in the cell
	W        float32 // decayed count at Last
	First    uint32  // unix hours
	Last     uint32  // unix hours
	ASN      uint32  // the network of the place's sign-ins (Cities: part of its identity)
}

type keyStat struct {
	Key  uint32
	Last uint32 // unix hours
}

// openAlert is the user's current alert, updated by later anomalies.
type openAlert struct {
	ID        [16]byte
	First     int64 // unix ms, event time of the first anomaly
	Last      int64 // unix ms, event time of the latest anomaly
	Version   uint32
	Types     uint8    // bitmask of anomaly types
	Scores    [8]uint8 // strongest score of each type, quantised to 0..255
	Failures  uint16   // failure burst size seen with a new-country success
	NAn       uint16   // total anomalies
	Anomalies [maxAlertAn]anRef
}

// alertLife is the open alert's lifecycle, set by record.Update
// (lifecycle.go): indexes into the name tables there; Sev 0 means "the
// detection severity", Conf is a percentage. It lives in User next to
// NRecent, where it fills alignment padding and keeps a user within its
// size class.
type alertLife struct {
	Status, Disp, Sev, Conf, ActReq, Feedback, By uint8
}

type anRef struct {
	ID   [16]byte
	Type uint8
}

// User is one user's state. The zero value is a valid empty state.
type User struct {
	Login string // actor.alternateId, for alerts

	Recent  [maxRecent]Signin
	NRecent uint8
	Life    alertLife // the open alert's lifecycle (see alertLife)

	Cities   [maxCities]cellStat
	NCities  uint8
	Regions  [maxRegions]cellStat
	NRegions uint8

	ASNs     [maxASNs]keyStat
	NASNs    uint8
	Devices  [maxDevices]keyStat
	NDevices uint8

	Seen  [maxSeen]uint64 // dedup ring of uuid hashes
	NSeen uint8
	SeenI uint8

	Hours     [168]uint8 // hour-of-week profile, local time, halved when a bucket saturates
	Zone      unique.Handle[string]
	TimeStart int64 // unix ms: when the hour profile started (reset on a zone change)

	Successes    uint32 // successful sign-ins seen
	FirstSuccess int64  // unix ms of the earliest successful sign-in
	Located      uint32 // successful sign-ins with geolocation
	FirstSeen    int64  // unix ms
	LastSeen     int64  // unix ms, latest event time

	// Failure burst: consecutive failed sign-ins less than Params.BurstGap apart.
	FailN     uint16
	FailFirst int64 // unix ms
	FailLast  int64 // unix ms

	ZoneCell geo.Cell // region the zone was inferred from

	Alert    openAlert
	HasAlert bool
}

// zone returns the user's inferred zone name ("" when unknown).
func (u *User) zone() string {
	var zero unique.Handle[string]
	if u.Zone == zero {
		return ""
	}
	return u.Zone.Value()
}

// seen reports whether h was seen recently (dedup window).
func (u *User) seen(h uint64) bool {
	for i := 0; i < int(u.NRecent); i++ {
		if u.Recent[i].ID.hash() == h {
			return true
		}
	}
	for i := 0; i < int(u.NSeen); i++ {
		if u.Seen[i] == h {
			return true
		}
	}
	return false
}

func (u *User) remember(h uint64) {
	u.Seen[u.SeenI] = h
	u.SeenI = (u.SeenI + 1) % maxSeen
	if u.NSeen < maxSeen {
		u.NSeen++
	}
}

// insertRecent places s in event-time order. It returns the index s took,
// or -1 when s is older than every remembered sign-in and the ring is full.
// The sign-in pushed out of the ring is remembered in the dedup ring.
func (u *User) insertRecent(s Signin) int {
	n := int(u.NRecent)
	i := n
	for i > 0 && u.Recent[i-1].T > s.T {
		i--
	}
	if n == maxRecent {
		if i == 0 {
			return -1
		}
		u.remember(u.Recent[0].ID.hash())
		copy(u.Recent[0:i-1], u.Recent[1:i])
		i--
		u.Recent[i] = s
		return i
	}
	copy(u.Recent[i+1:n+1], u.Recent[i:n])
	u.Recent[i] = s
	u.NRecent++
	return i
}

// decayed returns w, last at hour last, decayed to hour now with halfLife hours.
func decayed(w float32, last, now uint32, halfLife float64) float32 {
	if now <= last {
		return w
	}
	return w * float32(math.Exp2(-float64(now-last)/halfLife))
}

// observeCell adds one observation of cell at hour h to list, evicting the
// weakest entry when full. It reports whether the cell is new to the list and
// which cell, if any, was evicted.
func observeCell(list []cellStat, n *uint8, c geo.Cell, pk uint64, lat, lon float32, h uint32, halfLife float64) (added bool, evicted geo.Cell) {
	for i := 0; i < int(*n); i++ {
		e := &list[i]
		if e.Cell == c {
			e.W = decayed(e.W, e.Last, h, halfLife) + 1
			if h > e.Last {
				e.Last = h
			}
			if h < e.First {
				e.First = h
			}
			return false, 0
		}
	}
	ne := cellStat{Cell: c, Place: pk, Lat: lat, Lon: lon, W: 1, First: h, Last: h}
	if int(*n) < len(list) {
		list[*n] = ne
		*n++
		return true, 0
	}
	weak, ww := 0, float32(math.MaxFloat32)
	for i := range list {
		if w := decayed(list[i].W, list[i].Last, h, halfLife); w < ww {
			weak, ww = i, w
		}
	}
	evicted = list[weak].Cell
	list[weak] = ne
	return true, evicted
}

// observeKey adds key at hour h, evicting the least recently seen when full.
// It reports whether key was new and the key evicted (ok=false when none).
func observeKey(list []keyStat, n *uint8, key, h uint32) (added bool, evicted uint32, ok bool) {
	for i := 0; i < int(*n); i++ {
		if list[i].Key == key {
			if h > list[i].Last {
				list[i].Last = h
			}
			return false, 0, false
		}
	}
	if int(*n) < len(list) {
		list[*n] = keyStat{Key: key, Last: h}
		*n++
		return true, 0, false
	}
	old := 0
	for i := range list {
		if list[i].Last < list[old].Last {
			old = i
		}
	}
	evicted = list[old].Key
	list[old] = keyStat{Key: key, Last: h}
	return true, evicted, true
}

func hasKey(list []keyStat, key uint32) bool {
	for _, k := range list {
		if k.Key == key {
			return true
		}
	}
	return false
}
