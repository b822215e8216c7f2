package traffic

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	dayMs  = int64(86400000)
	hourMs = int64(3600000)
	minMs  = int64(60000)
)

type stayKind uint8

const (
	stayHome stayKind = iota
	stayTrip
	stayGap // in the air: no sign-ins
)

// stay is where a user is for a while: home (with commutes), a trip city,
// or a flight.
type stay struct {
	kind     stayKind
	city     int
	from, to int64
	hotelIP  uint32
	siteIP   uint32
	siteNet  int
}

// planned is an attack event (or the victim's own sign-in just before it)
// fixed when the model is built.
type planned struct {
	t           int64
	presign     bool // the victim's own sign-in minutes before the attack
	copySession bool // a stolen session: same session id and device as the presign
	rec         Record
}

type user struct {
	idx        int
	rng        *rand.Rand
	home       int
	office     int // -1: remote
	homeLat    float64
	homeLon    float64
	loc        *time.Location
	workStart  float64 // local hour
	workLen    float64
	perDay     float64
	officeDays float64
	weekendP   float64
	eveningP   float64
	mobile     float64 // share of sign-ins from the phone; 0: no phone
	vpn        float64
	traveler   bool
	homeNet    int
	homeIP     uint32
	laptop     int32
	phone      int32
	activeFrom int64

	phoneSeeded bool
	cursor      int64
	st          stay
	queue       []stay
	plan        []planned
	planHead    int
	buf         []Record
	head        int
	done        bool
	sessN       uint64
	lastSess    uint64
	lastDev     int32
	presignSess uint64
	presignDev  int32

	o oracle
}

func (u *user) hasSuccessAfterHead() bool {
	for i := u.head + 1; i < len(u.buf); i++ {
		if u.buf[i].Result == resSuccess {
			return true
		}
	}
	return false
}

func (u *user) nextSuccess() *Record {
	for i := u.head + 1; i < len(u.buf); i++ {
		if u.buf[i].Result == resSuccess {
			return &u.buf[i]
		}
	}
	return nil
}

var firstNames = []string{"Aiko", "Alejandro", "Amara", "Anders", "Ana", "Arjun", "Beatriz", "Ben", "Chen", "Chloe",
	"Daniel", "Dmitri", "Elena", "Emeka", "Emma", "Fatima", "Felix", "Grace", "Hana", "Hiroshi", "Ingrid", "Isabel",
	"James", "Jin", "Julia", "Kwame", "Laura", "Liam", "Lucas", "Maya", "Mateo", "Mei", "Mohammed", "Nadia", "Noah",
	"Olivia", "Omar", "Priya", "Rafael", "Sakura", "Samuel", "Sara", "Sofia", "Tariq", "Thomas", "Valentina", "Wei",
	"Yara", "Yusuf", "Zoe"}

var lastNames = []string{"Abe", "Adeyemi", "Andersson", "Bauer", "Bianchi", "Brown", "Chen", "Cohen", "Dubois",
	"Fernandez", "Garcia", "Gupta", "Haddad", "Hansen", "Ito", "Jansen", "Johnson", "Kim", "Kowalski", "Kumar",
	"Lee", "Lopez", "Martin", "Mensah", "Moreau", "Muller", "Murphy", "Nakamura", "Nguyen", "Novak", "Okafor",
	"Olsen", "Patel", "Petrov", "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor",
	"Torres", "Wang", "Williams", "Wilson", "Wong", "Yilmaz", "Zhang"}

var departments = []struct{ name, title string }{
	{"Engineering", "Software Engineer"}, {"Engineering", "Staff Engineer"}, {"Sales", "Account Executive"},
	{"Sales", "Sales Engineer"}, {"Marketing", "Marketing Manager"}, {"Finance", "Financial Analyst"},
	{"People", "HR Business Partner"}, {"IT", "Systems Administrator"}, {"Support", "Support Engineer"},
	{"Legal", "Counsel"}, {"Product", "Product Manager"}, {"Security", "Security Engineer"},
}

// Department returns the department name of user i (also their Okta group).
func (m *Model) department(i int) (string, string) {
	d := departments[splitmix64(m.seed^uint64(i)*0x9e37)%uint64(len(departments))]
	return d.name, d.title
}

func offsetKm(lat, lon, dKm, bearing float64) (float64, float64) {
	lat2 := lat + dKm/111.32*math.Cos(bearing)
	lon2 := lon + dKm/(111.32*math.Cos(lat*math.Pi/180))*math.Sin(bearing)
	return lat2, lon2
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func randIP(r *rand.Rand, n int) uint32 {
	p := networks[n].Prefix
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(r.IntN(256))<<8 | uint32(2+r.IntN(252))
}

func (m *Model) newDevice(laptop bool, h uint64) int32 {
	var t uaTemplate
	if laptop {
		t = laptopUAs[h%uint64(len(laptopUAs))]
	} else {
		t = phoneUAs[h%uint64(len(phoneUAs))]
	}
	v := 118 + int(h>>8)%10
	d := Device{
		Fingerprint: hex128(splitmix64(h^0xdef), splitmix64(h^0xbee)),
		UA:          t.build(v),
		OS:          t.os,
		Browser:     t.browser,
		Type:        t.typ,
	}
	return m.addDevice(d)
}

func (m *Model) addDevice(d Device) int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.devices = append(m.devices, d)
	return int32(len(m.devices) - 1)
}

// scriptDevice is an attack tool's client.
func (m *Model) scriptDevice(h uint64) int32 {
	uas := []Device{
		{UA: "python-requests/2.31.0", OS: "Unknown", Browser: "UNKNOWN", Type: "Unknown"},
		{UA: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/119.0.0.0 Safari/537.36", OS: "Windows 10", Browser: "CHROME", Type: "Computer"},
		{UA: "okhttp/4.9.3", OS: "Unknown", Browser: "UNKNOWN", Type: "Unknown"},
	}
	d := uas[h%uint64(len(uas))]
	d.Fingerprint = hex128(splitmix64(h^0xa77), splitmix64(h^0xc0de))
	return m.addDevice(d)
}

func (m *Model) makeUsers() {
	n := m.cfg.Users
	m.users = make([]*user, n)
	m.pub = make([]User, n)
	logins := map[string]int{}
	for i := 0; i < n; i++ {
		r := newRand(m.seed, uint64(i)+1000)
		u := &user{idx: i, rng: r, office: -1, phone: -1}
		x := r.Float64()
		acc := 0.0
		for _, o := range offices {
			acc += o.Share
			if x < acc {
				u.office = o.City
				break
			}
		}
		if u.office >= 0 {
			u.home = u.office
		} else {
			u.home = remoteHomes[r.IntN(len(remoteHomes))]
		}
		c := &cities[u.home]
		u.loc = m.locs[u.home]
		u.homeLat, u.homeLon = offsetKm(c.Lat, c.Lon, 2+r.Float64()*13, r.Float64()*2*math.Pi)
		u.workStart = 7.5 + r.Float64()*2.5
		u.workLen = 8 + r.Float64()*1.5
		u.perDay = 3 + r.Float64()*4
		u.officeDays = 0.5 + r.Float64()*0.4
		if r.Float64() < 0.6 {
			u.weekendP = 0.05 + r.Float64()*0.3
		}
		u.eveningP = 0.05 + r.Float64()*0.25
		if r.Float64() < 0.6 {
			u.mobile = 0.08 + r.Float64()*0.17
		}
		if u.office < 0 && r.Float64() < 0.5 {
			u.vpn = 0.2 + r.Float64()*0.4
		} else if u.office >= 0 && r.Float64() < 0.3 {
			u.vpn = 0.1 + r.Float64()*0.3
		}
		u.traveler = r.Float64() < 0.25
		u.homeNet = c.Broadband[r.IntN(len(c.Broadband))]
		u.homeIP = randIP(r, u.homeNet)
		h := splitmix64(m.seed ^ uint64(i)<<20)
		u.laptop = m.newDevice(true, h)
		if u.mobile > 0 {
			u.phone = m.newDevice(false, splitmix64(h))
		}
		u.lastDev = u.laptop
		created := m.start - int64(30+r.IntN(1500))*dayMs - int64(r.IntN(86400))*1000
		u.activeFrom = m.start
		if m.cfg.HireDays >= 3 && r.Float64() < 0.05 { // hired during the window
			u.activeFrom = m.start + int64(1+r.IntN(m.cfg.HireDays-1))*dayMs
			created = u.activeFrom - 3*dayMs - int64(r.IntN(86400))*1000
		}
		u.cursor = m.start
		u.st = stay{kind: stayGap, from: m.start, to: m.start}

		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		base := strings.ToLower(first + "." + last)
		login := base + "@" + m.cfg.EmailDomain
		if k := logins[base]; k > 0 {
			login = base + strconv.Itoa(k+1) + "@" + m.cfg.EmailDomain
		}
		logins[base]++
		id := string(appendBase62([]byte("00u"), splitmix64(m.seed*0x1000193^uint64(i)), 17))
		dept, title := m.department(i)
		office := ""
		if u.office >= 0 {
			office = cities[u.office].Name
		}
		m.pub[i] = User{
			ID: id, Login: login, FirstName: first, LastName: last,
			Department: dept, Title: title,
			Created:    time.UnixMilli(created).UTC(),
			ActiveFrom: time.UnixMilli(u.activeFrom).UTC(),
			HomeCity:   c.Name, Country: c.Country, TimeZone: c.TZ,
			HomeLat: round4(u.homeLat), HomeLon: round4(u.homeLon),
			OfficeCity: office,
		}
		m.byID[id] = i
		m.users[i] = u
	}
}

// nextStay moves u to its next stay (home, flight, trip) at u.cursor.
func (m *Model) nextStay(u *user) {
	if len(u.queue) > 0 {
		u.st = u.queue[0]
		u.queue = u.queue[1:]
		return
	}
	from := u.cursor
	u.st = stay{kind: stayHome, city: u.home, from: from, to: m.end}
	if u.st.to <= from {
		u.st.to = from + 1
	}
	m.planTrip(u)
}

// planTrip schedules u's next business trip after the current home stay
// begins, if it falls before the end: flights at 800 km/h plus 45 minutes,
// no sign-in in the 2 hours before departure or the hour after arrival.
func (m *Model) planTrip(u *user) {
	r := u.rng
	mean := 150.0
	if u.traveler {
		mean = 21
	}
	wait := int64((3 + r.ExpFloat64()*mean) * float64(dayMs))
	t := time.UnixMilli(u.st.from + wait).In(u.loc)
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday || t.Weekday() == time.Friday {
		t = t.AddDate(0, 0, 1)
	}
	y, mo, d := t.Date()
	dep := localAt(y, mo, d, 7+r.Float64()*8, u.loc)
	dest := tripCities[r.IntN(len(tripCities))]
	for k := 0; k < 10 && (m.dist[u.home][dest] < 300); k++ {
		dest = tripCities[r.IntN(len(tripCities))]
	}
	if m.dist[u.home][dest] < 300 || dep-2*hourMs <= u.st.from || dep >= m.end {
		return
	}
	flight := int64((m.dist[u.home][dest]/800 + 0.75) * float64(hourMs))
	arr := dep + flight
	tripFrom := arr + hourMs + int64(r.Float64()*2*float64(hourMs))
	dl := m.locs[dest]
	ta := time.UnixMilli(arr).In(dl)
	ry, rmo, rd := ta.Date()
	rd += 2 + r.IntN(4)
	retDep := localAt(ry, rmo, rd, 8+r.Float64()*10, dl)
	for retDep-2*hourMs < tripFrom+10*hourMs {
		retDep += dayMs
	}
	retArr := retDep + flight
	homeFrom := retArr + hourMs + int64(r.Float64()*2*float64(hourMs))
	s := stay{kind: stayTrip, city: dest, from: tripFrom, to: retDep - 2*hourMs}
	s.hotelIP = randIP(r, nHotel)
	s.siteNet = cities[dest].Broadband[0]
	s.siteIP = m.officeIP[dest]
	u.st.to = dep - 2*hourMs
	u.queue = append(u.queue,
		stay{kind: stayGap, city: -1, from: dep - 2*hourMs, to: tripFrom},
		s,
		stay{kind: stayGap, city: -1, from: retDep - 2*hourMs, to: homeFrom},
	)
}

// localAt is the instant of local hour h (fractional) on a date in loc.
func localAt(y int, mo time.Month, d int, h float64, loc *time.Location) int64 {
	if h < 0 {
		h = 0
	}
	if h > 23.99 {
		h = 23.99
	}
	s := int(h * 3600)
	return time.Date(y, mo, d, s/3600, (s/60)%60, s%60, 0, loc).UnixMilli() + int64(h*3600000)%1000
}

// fill generates u's next chunk: the rest of the current local day of the
// current stay, plus the planned attack events falling in it.
func (m *Model) fill(u *user) {
	if u.cursor >= m.end {
		u.done = true
		return
	}
	for u.cursor >= u.st.to {
		m.nextStay(u)
	}
	a := u.cursor
	loc := u.loc
	if u.st.kind == stayTrip {
		loc = m.locs[u.st.city]
	}
	t := time.UnixMilli(a).In(loc)
	y, mo, d := t.Date()
	b := time.Date(y, mo, d+1, 0, 0, 0, 0, loc).UnixMilli()
	if u.st.to < b {
		b = u.st.to
	}
	if m.end < b {
		b = m.end
	}
	n0 := len(u.buf)
	switch u.st.kind {
	case stayHome:
		m.dayHome(u, y, mo, d, a, b)
	case stayTrip:
		m.dayTrip(u, y, mo, d, a, b)
	}
	for u.planHead < len(u.plan) && u.plan[u.planHead].t < b {
		p := &u.plan[u.planHead]
		u.planHead++
		if p.t < a {
			continue
		}
		m.applyPlanned(u, p)
	}
	chunk := u.buf[n0:]
	sort.SliceStable(chunk, func(i, j int) bool { return chunk[i].Published < chunk[j].Published })
	u.cursor = b
	if b >= m.end {
		u.done = true
	}
}

type where uint8

const (
	atHome where = iota
	atOffice
	atPhone
	atVPN
	atCafe
	atHotel
	atSite
)

func (m *Model) dayHome(u *user, y int, mo time.Month, d int, a, b int64) {
	r := u.rng
	wd := time.Date(y, mo, d, 12, 0, 0, 0, u.loc).Weekday()
	weekday := wd != time.Saturday && wd != time.Sunday
	// Slow changes: a new home IP, a new ISP, a new laptop.
	if r.Float64() < 0.015 {
		u.homeIP = randIP(r, u.homeNet)
	}
	if r.Float64() < 0.0007 {
		bb := cities[u.home].Broadband
		u.homeNet = bb[r.IntN(len(bb))]
		u.homeIP = randIP(r, u.homeNet)
	}
	if r.Float64() < 0.002 {
		u.laptop = m.newDevice(true, r.Uint64())
	}
	if weekday && r.Float64() >= 0.04 { // not on leave
		n := int(math.Round(u.perDay + r.NormFloat64()))
		n = max(1, min(n, 12))
		officeDay := u.office >= 0 && r.Float64() < u.officeDays
		for k := 0; k < n; k++ {
			h := u.workStart + r.Float64()*u.workLen
			if k == 0 {
				h = u.workStart + r.NormFloat64()*0.25
			}
			w := atHome
			x, x2, x3 := r.Float64(), r.Float64(), r.Float64()
			switch {
			case u.phone >= 0 && (x < u.mobile || (!u.phoneSeeded && k == 1)):
				w = atPhone
			case officeDay:
				w = atOffice
				if k == 0 && x2 < 0.15 {
					w, h = atHome, h-0.7
				}
			case x2 < u.vpn:
				w = atVPN
			case x3 < 0.01:
				w = atCafe
			}
			m.signIn(u, localAt(y, mo, d, h, u.loc), w, a, b)
		}
		if r.Float64() < u.eveningP {
			w := atHome
			if u.phone >= 0 && r.Float64() < 0.3 {
				w = atPhone
			}
			m.signIn(u, localAt(y, mo, d, 19+r.Float64()*3.5, u.loc), w, a, b)
		}
	} else if !weekday && r.Float64() < u.weekendP {
		k := 1 + r.IntN(2)
		for ; k > 0; k-- {
			w := atHome
			if u.phone >= 0 && r.Float64() < 0.4 {
				w = atPhone
			}
			m.signIn(u, localAt(y, mo, d, 10+r.Float64()*10, u.loc), w, a, b)
		}
	}
	if r.Float64() < 0.003 { // a night on call
		m.signIn(u, localAt(y, mo, d, 0.5+r.Float64()*4, u.loc), atHome, a, b)
	}
}

func (m *Model) dayTrip(u *user, y int, mo time.Month, d int, a, b int64) {
	r := u.rng
	loc := m.locs[u.st.city]
	wd := time.Date(y, mo, d, 12, 0, 0, 0, loc).Weekday()
	if wd == time.Saturday || wd == time.Sunday {
		if r.Float64() < 0.5 {
			m.signIn(u, localAt(y, mo, d, 10+r.Float64()*10, loc), atHotel, a, b)
		}
		return
	}
	n := int(math.Round(u.perDay + r.NormFloat64()))
	n = max(1, min(n, 10))
	for k := 0; k < n; k++ {
		w := atSite
		if r.Float64() < 0.35 {
			w = atHotel
		}
		m.signIn(u, localAt(y, mo, d, 7.5+r.Float64()*12, loc), w, a, b)
	}
}

func (m *Model) isOffice(c int) bool {
	for _, o := range offices {
		if o.City == c {
			return true
		}
	}
	return false
}

// officePoint is the office building of an office city.
func (m *Model) officePoint(c int) (float64, float64) {
	h := splitmix64(uint64(c) * 0x2545f491)
	return offsetKm(cities[c].Lat, cities[c].Lon, float64(h%2000)/1000, float64(h>>20%6283)/1000)
}

// geoOf places an IP: the anchor plus a jitter of up to 3 km that depends
// only on the IP (the same address always geolocates to the same point).
func geoOf(lat, lon float64, ip uint32) (float64, float64) {
	h := splitmix64(uint64(ip) * 0x9e3779b1)
	la, lo := offsetKm(lat, lon, float64(h%3000)/1000, float64((h>>16)%6283)/1000)
	return round4(la), round4(lo)
}

// signIn records one of the user's own sign-ins at t, if t is in [a, b).
func (m *Model) signIn(u *user, t int64, w where, a, b int64) {
	r := u.rng
	rec := Record{Published: t, User: int32(u.idx), Dev: u.laptop}
	var lat, lon float64
	switch w {
	case atHome:
		rec.City, rec.Net, rec.IP = int16(u.home), int16(u.homeNet), u.homeIP
		lat, lon = u.homeLat, u.homeLon
	case atOffice:
		rec.City, rec.Net = int16(u.office), int16(cities[u.office].Broadband[0])
		rec.IP = m.officeIP[u.office] + uint32(r.IntN(4))
		lat, lon = m.officePoint(u.office)
	case atPhone:
		c := cities[u.home]
		rec.City, rec.Net, rec.IP, rec.Dev = int16(c.MobileGeo), int16(c.Mobile), randIP(r, c.Mobile), u.phone
		lat, lon = cities[c.MobileGeo].Lat, cities[c.MobileGeo].Lon
		rec.Flags |= flagGateway
	case atVPN:
		rec.City, rec.Net = int16(offices[0].City), int16(nZscaler)
		rec.Flags |= flagGateway
		rec.IP = uint32(165)<<24 | uint32(225)<<16 | uint32(u.idx%8)<<8 | uint32(10+u.idx%64)
		lat, lon = cities[offices[0].City].Lat, cities[offices[0].City].Lon
	case atCafe:
		c := cities[u.home]
		n := c.Broadband[len(c.Broadband)-1]
		if n == u.homeNet {
			n = nHotel
		}
		rec.City, rec.Net, rec.IP = int16(u.home), int16(n), randIP(r, n)
		lat, lon = c.Lat, c.Lon
	case atHotel:
		rec.City, rec.Net, rec.IP = int16(u.st.city), int16(nHotel), u.st.hotelIP
		lat, lon = cities[u.st.city].Lat, cities[u.st.city].Lon
	case atSite:
		rec.City, rec.Net, rec.IP = int16(u.st.city), int16(u.st.siteNet), u.st.siteIP
		if m.isOffice(u.st.city) {
			lat, lon = m.officePoint(u.st.city)
		} else {
			lat, lon = cities[u.st.city].Lat, cities[u.st.city].Lon
		}
	}
	rec.Lat, rec.Lon = geoOf(lat, lon, rec.IP)
	typo := r.Float64() < 0.03
	if t < a || t >= b || t < u.activeFrom {
		return
	}
	if w == atPhone {
		u.phoneSeeded = true
	}
	if typo && t-60000 >= a {
		f := rec
		f.Published = t - 20000 - int64(r.IntN(60000))
		f.Result = resInvalidCredentials
		u.buf = append(u.buf, f)
	}
	rec.Session = m.newSession(u)
	u.lastSess, u.lastDev = rec.Session, rec.Dev
	u.buf = append(u.buf, rec)
}

func (m *Model) newSession(u *user) uint64 {
	u.sessN++
	return splitmix64(m.seed^uint64(u.idx)<<32^u.sessN) | 1
}

func (m *Model) applyPlanned(u *user, p *planned) {
	if p.presign {
		var w where
		switch u.st.kind {
		case stayGap:
			return
		case stayTrip:
			w = atSite
		default:
			w = atHome
			if u.office >= 0 {
				w = atOffice
			}
		}
		m.signIn(u, p.t, w, p.t, p.t+1)
		u.presignSess, u.presignDev = u.lastSess, u.lastDev
		return
	}
	rec := p.rec
	if rec.Result == resSuccess {
		if p.copySession {
			rec.Session, rec.Dev = u.presignSess, u.presignDev
			if rec.Session == 0 {
				rec.Session, rec.Dev = u.lastSess, u.lastDev
			}
		} else {
			rec.Session = m.newSession(u)
		}
	}
	u.buf = append(u.buf, rec)
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// planAttacks fixes every injected attack up front, from the seed alone.
func (m *Model) planAttacks() {
	r := newRand(m.seed, 0xa77ac4)
	n := len(m.users)
	pickVictim := func(t int64) int {
		for k := 0; k < 20; k++ {
			v := r.IntN(n)
			if m.users[v].activeFrom+dayMs <= t {
				return v
			}
		}
		return -1
	}
	for day := 0; day < m.cfg.Days; day++ {
		dayStart := m.start + int64(day)*dayMs
		k := poisson(r, m.cfg.AttackRate*float64(n))
		for ; k > 0; k-- {
			x := r.Float64()
			t := dayStart + r.Int64N(dayMs)
			switch {
			case x < 0.35:
				m.planStuffing(r, t, pickVictim)
			case x < 0.80:
				v := pickVictim(t)
				if v < 0 {
					continue
				}
				kind := attSessionTheft
				if x >= 0.60 {
					kind = attImpossibleTravel
				}
				m.planTheft(r, v, t, kind)
			default:
				v := pickVictim(t)
				if v < 0 {
					continue
				}
				m.planProxy(r, v, t)
			}
		}
	}
	for _, u := range m.users {
		sort.SliceStable(u.plan, func(i, j int) bool { return u.plan[i].t < u.plan[j].t })
	}
	sort.SliceStable(m.unkBuf, func(i, j int) bool { return m.unkBuf[i].Published < m.unkBuf[j].Published })
	// Keep only what falls in the window.
	for len(m.unkBuf) > 0 && m.unkBuf[len(m.unkBuf)-1].Published >= m.end {
		m.unkBuf = m.unkBuf[:len(m.unkBuf)-1]
	}
}

func (m *Model) attackRecord(r *rand.Rand, t int64, user int, city, net int, dev int32) Record {
	rec := Record{Published: t, User: int32(user), Dev: dev, City: int16(city), Net: int16(net)}
	rec.IP = randIP(r, net)
	rec.Lat, rec.Lon = geoOf(cities[city].Lat, cities[city].Lon, rec.IP)
	if networks[net].Proxy {
		rec.Flags |= flagProxy | flagThreat
	}
	return rec
}

func (m *Model) abroad(r *rand.Rand, v int) (city, net int) {
	for k := 0; ; k++ {
		s := attackSources[r.IntN(len(attackSources))]
		if k > 10 || cities[s.City].Country != cities[m.users[v].home].Country {
			return s.City, s.Net
		}
	}
}

func (m *Model) planStuffing(r *rand.Rand, t int64, pick func(int64) int) {
	src := attackSources[r.IntN(len(attackSources))]
	dev := m.scriptDevice(r.Uint64())
	dur := int64(5+r.IntN(25)) * minMs
	nIPs := 1 + r.IntN(3)
	ips := make([]uint32, nIPs)
	for i := range ips {
		ips[i] = randIP(r, src.Net)
	}
	mk := func(at int64, user int, res uint8) Record {
		rec := m.attackRecord(r, at, user, src.City, src.Net, dev)
		rec.IP = ips[r.IntN(nIPs)]
		rec.Lat, rec.Lon = geoOf(cities[src.City].Lat, cities[src.City].Lon, rec.IP)
		rec.Result, rec.Attack = res, attStuffing
		if r.Float64() < 0.7 {
			rec.Flags |= flagThreat
		}
		return rec
	}
	targets := 3 + r.IntN(12)
	winner := -1
	if r.Float64() < 0.35 {
		winner = r.IntN(targets)
	}
	seen := map[int]bool{}
	for i := 0; i < targets; i++ {
		v := pick(t)
		if v < 0 || seen[v] {
			continue
		}
		seen[v] = true
		u := m.users[v]
		last := t
		for f := 1 + r.IntN(4); f > 0; f-- {
			at := t + r.Int64N(dur)
			last = max(last, at)
			rec := mk(at, v, resInvalidCredentials)
			if r.Float64() < 0.3 {
				rec.Flags |= flagActorUnknown
			}
			u.plan = append(u.plan, planned{t: at, rec: rec})
		}
		if i == winner {
			at := last + 10000 + r.Int64N(50000)
			rec := mk(at, v, resSuccess)
			u.plan = append(u.plan, planned{t: at, rec: rec})
		}
	}
	for f := 5 + r.IntN(30); f > 0; f-- {
		login := strings.ToLower(firstNames[r.IntN(len(firstNames))]) + "." + strings.ToLower(lastNames[r.IntN(len(lastNames))])
		if r.IntN(3) == 0 {
			login = []string{"admin", "test", "it-support", "helpdesk", "root", "info", "hr"}[r.IntN(7)]
		}
		m.unknown = append(m.unknown, login+strconv.Itoa(r.IntN(100))+"@"+m.cfg.EmailDomain)
		rec := mk(t+r.Int64N(dur), -1, resInvalidCredentials)
		rec.Alt = int32(len(m.unknown) - 1)
		rec.Flags |= flagActorUnknown
		if r.IntN(4) == 0 {
			rec.Result = resVerificationError
		}
		m.unkBuf = append(m.unkBuf, rec)
	}
}

// planTheft: the victim signs in at home or work; minutes later the same
// account signs in successfully from far abroad, with the stolen session
// (session_theft) or with stolen credentials on a new device
// (impossible_travel).
func (m *Model) planTheft(r *rand.Rand, v int, t int64, kind uint8) {
	u := m.users[v]
	lt := time.UnixMilli(t).In(u.loc)
	y, mo, d := lt.Date()
	t = localAt(y, mo, d, u.workStart+r.Float64()*u.workLen, u.loc)
	pre := t - int64(2+r.IntN(28))*minMs
	if pre < m.start || t >= m.end || pre < u.activeFrom {
		return
	}
	city, net := m.abroad(r, v)
	u.plan = append(u.plan, planned{t: pre, presign: true})
	var dev int32
	if kind == attImpossibleTravel {
		dev = m.newDevice(true, r.Uint64())
		for f := r.IntN(3); f > 0; f-- {
			at := t - int64(1+r.IntN(4))*minMs
			rec := m.attackRecord(r, at, v, city, net, dev)
			rec.Result, rec.Attack = resVerificationError, kind
			u.plan = append(u.plan, planned{t: at, rec: rec})
		}
	}
	rec := m.attackRecord(r, t, v, city, net, dev)
	rec.Attack = kind
	if r.Float64() < 0.3 {
		rec.Flags |= flagThreat
	}
	u.plan = append(u.plan, planned{t: t, copySession: kind == attSessionTheft, rec: rec})
}

// planProxy: a successful sign-in through an anonymising VPN or Tor exit.
func (m *Model) planProxy(r *rand.Rand, v int, t int64) {
	u := m.users[v]
	if t < u.activeFrom {
		return
	}
	s := proxySources[r.IntN(len(proxySources))]
	dev := m.newDevice(true, r.Uint64())
	if r.Float64() < 0.5 {
		f := m.attackRecord(r, t-int64(1+r.IntN(5))*minMs, v, s.City, s.Net, dev)
		f.Result, f.Attack = resInvalidCredentials, attProxy
		u.plan = append(u.plan, planned{t: f.Published, rec: f})
	}
	rec := m.attackRecord(r, t, v, s.City, s.Net, dev)
	rec.Attack = attProxy
	u.plan = append(u.plan, planned{t: t, rec: rec})
}
