package traffic

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
	_ "time/tzdata" // users' IANA zones must resolve on any machine

	"github.com/clarion-itdr/clarion/internal/geo"
)

// Anomaly types, as DESIGN.md names them.
const (
	ImpossibleTravel = "impossible_travel"
	UnusualLocation  = "unusual_location"
	UnusualTime      = "unusual_time"
	NewDevice        = "new_device"
	NewNetwork       = "new_network"
	AnonymizingProxy = "anonymizing_proxy"
)

// Attack kinds (Event.Attack).
const (
	AttackCredentialStuffing = "credential_stuffing"
	AttackSessionTheft       = "session_theft"
	AttackImpossibleTravel   = "impossible_travel"
	AttackAnonymizingProxy   = "anonymizing_proxy"
	// Kinds injected on demand only (Model.Inject), for the sign-in
	// security detections.
	AttackPasswordSpray = "password_spray"
	AttackBruteForce    = "brute_force"
	AttackMFAFatigue    = "mfa_fatigue"
	AttackSessionHijack = "session_hijack"
	AttackFactorReset   = "factor_reset"
)

var anomalyNames = [...]string{ImpossibleTravel, UnusualLocation, UnusualTime, NewDevice, NewNetwork, AnonymizingProxy}

const (
	bitImpossibleTravel uint8 = 1 << iota
	bitUnusualLocation
	bitUnusualTime
	bitNewDevice
	bitNewNetwork
	bitAnonymizingProxy
)

const (
	attNone uint8 = iota
	attStuffing
	attSessionTheft
	attImpossibleTravel
	attProxy
	attPasswordSpray
	attBruteForce
	attMFAFatigue
	attSessionHijack
	attFactorReset
)

var attackNames = [...]string{"", AttackCredentialStuffing, AttackSessionTheft, AttackImpossibleTravel, AttackAnonymizingProxy,
	AttackPasswordSpray, AttackBruteForce, AttackMFAFatigue, AttackSessionHijack, AttackFactorReset}

// Label thresholds: the exact rules the Expect labels follow (see the
// package documentation).
const (
	// LearningSignIns and LearningDays: a user is past the learning period
	// for a sign-in when they have at least LearningSignIns earlier
	// successful sign-ins and the first of them is at least LearningDays old.
	LearningSignIns = 10
	LearningDays    = 7
	// TimeLearningDays is the history unusual_time needs (two full weeks).
	TimeLearningDays = 14
	// FamiliarKm: a place within this distance of an earlier successful
	// sign-in of the user is familiar; beyond it, it is "well away".
	FamiliarKm = 100.0
	// TenantCommonShare: a place where at least this share of the tenant's
	// users (and at least TenantCommonMin users) have signed in successfully
	// is common across the tenant.
	TenantCommonShare = 0.10
	TenantCommonMin   = 3
	// GeoAllowanceKm and MaxTravelKmh: two sign-ins are impossible travel
	// when their distance exceeds GeoAllowanceKm + MaxTravelKmh × hours apart
	// (and the IPs differ).
	GeoAllowanceKm = 100.0
	MaxTravelKmh   = 1000.0
	// TimeWindowHours: unusual_time when no earlier successful sign-in of
	// the same kind of day (weekday, or Saturday/Sunday) falls within
	// ±TimeWindowHours of the sign-in's local hour.
	TimeWindowHours = 2
	// NightFromHour, NightToHour and OnCallNights: a sign-in between
	// NightFromHour:00 and NightToHour:00 local is at night; a user whose
	// history has at least OnCallNights sign-ins at night (on-call) is not
	// unusual_time at night.
	NightFromHour = 0
	NightToHour   = 6
	OnCallNights  = 2
)

// Config configures a Model. Zero values get the defaults.
type Config struct {
	Seed  int64 // default 1 (0 means 1)
	Users int   // default 200
	// Start is when the traffic begins (truncated to the millisecond);
	// default 2026-03-02T00:00:00Z so that runs are reproducible.
	Start time.Time
	Days  int // default 14
	// OrgDomain is the Okta org's host name, used in debugData.origin;
	// default "clarion-sim.okta.com".
	OrgDomain string
	// EmailDomain is the users' login domain; default "example.com".
	EmailDomain string
	// AttackRate is the expected number of attack incidents per user per
	// day; default 0.005 (about one a day in a 200-user org).
	AttackRate float64
	// HireDays: the few users hired during the window (about 5%) start
	// within its first HireDays days; default Days. A simulator that runs
	// live past its history sets it to the history's length, so that every
	// user exists when it starts.
	HireDays int
	// AppSignOns adds a user.authentication.sso event (a sign-in to an app
	// through Okta) after most successful sign-ins; off by default.
	AppSignOns bool
	// SignInDetail adds the rest of the sign-in flow Okta logs around
	// user.session.start (see the package documentation for the rates):
	// policy.evaluate_sign_on, MFA (push sent, verified), app sign-ons
	// (user.authentication.sso, as AppSignOns adds them), the session's
	// end, Okta's risk and ThreatInsight detections and the occasional
	// factor re-enrolment. The sign-ins themselves, their labels and the
	// other events' uuids stay as without it. Off by default.
	SignInDetail bool
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Users <= 0 {
		c.Users = 200
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	c.Start = c.Start.Truncate(time.Millisecond).UTC()
	if c.Days <= 0 {
		c.Days = 14
	}
	if c.OrgDomain == "" {
		c.OrgDomain = "clarion-sim.okta.com"
	}
	if c.EmailDomain == "" {
		c.EmailDomain = "example.com"
	}
	if c.HireDays <= 0 || c.HireDays > c.Days {
		c.HireDays = c.Days
	}
	if c.AttackRate <= 0 {
		c.AttackRate = 0.005
	}
}

// Event is one generated System Log event with its ground truth.
type Event struct {
	// Raw is one LogEvent as Okta's System Log API and event hooks send it.
	Raw       []byte
	Published time.Time
	// UserID is the key of the user the event is about: actor.id, or
	// actor.alternateId when actor.id is "unknown" (logevent.UserKey).
	UserID string
	// Expect lists the anomaly types a correct detector reports on this
	// event (see the package documentation for the rules); nil for most.
	Expect []string
	// Attack is "" for benign events, else the injected attack's kind.
	Attack string
}

// Record is the compact form of one event (about 100 bytes); Model.AppendJSON
// renders it. The simulator keeps millions of them.
type Record struct {
	Published int64  // Unix milliseconds
	Seq       uint64 // position in the model's stream; the uuid derives from it
	Session   uint64 // 0 = no session (failed sign-in)
	Lat, Lon  float64
	IP        uint32
	User      int32 // index into Users(); -1 for a login that does not exist
	Alt       int32 // index of the unknown login when User == -1
	Dev       int32 // index into the device table
	City      int16
	Net       int16
	Kind      uint8 // KindSessionStart, KindSSO
	Result    uint8
	Flags     uint8
	Behaviors uint8
	Expect    uint8
	Attack    uint8
	App       uint8
}

// Event kinds. KindSessionStart and KindSSO are the sign-in traffic;
// the others are the rest of the sign-in flow Okta logs around it
// (Config.SignInDetail) and the attacks injected on demand.
const (
	KindSessionStart     uint8 = iota // user.session.start
	KindSSO                           // user.authentication.sso
	KindMFA                           // user.authentication.auth_via_mfa
	KindPushSend                      // system.push.send_factor_verify_push
	KindPushDeny                      // user.mfa.okta_verify.deny_push
	KindPolicy                        // policy.evaluate_sign_on
	KindSessionEnd                    // user.session.end
	KindLock                          // user.account.lock
	KindFactorActivate                // user.mfa.factor.activate
	KindFactorDeactivate              // user.mfa.factor.deactivate
	KindFactorResetAll                // user.mfa.factor.reset_all
	KindThreat                        // security.threat.detected
	KindRisk                          // user.risk.detect
	numKinds
)

// Event types by kind.
var eventTypes = [numKinds]string{"user.session.start", "user.authentication.sso",
	"user.authentication.auth_via_mfa", "system.push.send_factor_verify_push", "user.mfa.okta_verify.deny_push",
	"policy.evaluate_sign_on", "user.session.end", "user.account.lock",
	"user.mfa.factor.activate", "user.mfa.factor.deactivate", "user.mfa.factor.reset_all",
	"security.threat.detected", "user.risk.detect"}

// EventTypes lists every eventType the model writes, in kind order.
func EventTypes() []string { return append([]string(nil), eventTypes[:]...) }

const (
	resSuccess uint8 = iota
	resInvalidCredentials
	resVerificationError
	resAllow        // policy.evaluate_sign_on: ALLOW
	resLockedOut    // user.account.lock: FAILURE LOCKED_OUT
	resPushRejected // user.mfa.okta_verify.deny_push: FAILURE
)

const (
	flagProxy uint8 = 1 << iota
	flagThreat
	flagActorUnknown
	flagBehaviorsUnknown
	flagFlowSeq // a sign-in flow event: takes a stream position apart (SignInDetail)
	// flagGateway: the sign-in's place is a gateway, not where the user is
	// (the tenant's VPN egress, the phone carrier's gateway city). Ground
	// truth for the labels only; never rendered.
	flagGateway
)

const (
	behNewGeo uint8 = 1 << iota
	behNewDevice
	behNewIP
	behNewState
	behNewCountry
	behVelocity
	behNewCity
)

// Deny turns a successful sign-in into the failure Okta logs when the
// user may not sign in (suspended): no session, no expected anomaly.
func (r *Record) Deny() {
	if r.Result == resSuccess {
		r.Result = resVerificationError
		r.Session = 0
		r.Expect = 0
	}
}

// EventType returns the record's eventType.
func (r *Record) EventType() string { return eventTypes[r.Kind] }

// Success reports whether the outcome is SUCCESS.
func (r *Record) Success() bool { return r.Result == resSuccess }

// Outcome returns outcome.result as Okta writes it: SUCCESS, FAILURE or
// ALLOW.
func (r *Record) Outcome() string {
	switch r.Result {
	case resSuccess:
		return "SUCCESS"
	case resAllow:
		return "ALLOW"
	}
	return "FAILURE"
}

// ExpectList returns the anomaly types of r.Expect in a fixed order.
func (r *Record) ExpectList() []string {
	if r.Expect == 0 {
		return nil
	}
	var out []string
	for i, n := range anomalyNames {
		if r.Expect&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// AttackName returns the attack kind, "" for benign events.
func (r *Record) AttackName() string { return attackNames[r.Attack] }

// User is a user of the simulated org.
type User struct {
	ID         string
	Login      string // also the email
	FirstName  string
	LastName   string
	Department string
	Title      string
	Created    time.Time
	// ActiveFrom is the user's first day of work (after Config.Start for
	// the few users hired during the window).
	ActiveFrom time.Time
	HomeCity   string
	Country    string
	TimeZone   string // IANA zone: the "own local time" of unusual_time
	HomeLat    float64
	HomeLon    float64
	OfficeCity string // "" for remote workers
}

// Model generates an org's sign-in traffic. Next and NextRecord are not
// safe for concurrent use; AppendJSON, Event, UUID and the lookups may run
// concurrently with them and with each other.
type Model struct {
	mu       sync.RWMutex // guards devices: rendering may run beside generation
	cfg      Config
	seed     uint64
	start    int64
	end      int64
	users    []*user
	pub      []User
	byID     map[string]int
	devices  []Device
	unknown  []string // logins that do not exist (credential stuffing)
	unkBuf   []Record
	unkHead  int
	heap     []int // stream indexes; stream len(users) is the unknown stream
	seq      uint64
	locs     []*time.Location
	dist     [][]float64
	tenant   []int32 // distinct users with a successful sign-in, per city
	common   int32
	officeIP []uint32
	pending  []Record // SSO and sign-in flow events waiting for their time
	detailN  uint64   // sign-in flow events emitted
}

// detailSeq is the first stream position of the sign-in flow's events
// (SignInDetail): above the model's stream, below injected attacks.
const detailSeq = uint64(1) << 61

// New builds a model. It panics only on an internal table error.
func New(cfg Config) *Model {
	cfg.defaults()
	m := &Model{
		cfg:   cfg,
		seed:  uint64(cfg.Seed),
		start: cfg.Start.UnixMilli(),
		byID:  map[string]int{},
	}
	m.end = m.start + int64(cfg.Days)*86400000
	m.locs = make([]*time.Location, len(cities))
	for i, c := range cities {
		loc, err := time.LoadLocation(c.TZ)
		if err != nil {
			panic("traffic: time zone " + c.TZ + ": " + err.Error())
		}
		m.locs[i] = loc
	}
	m.dist = make([][]float64, len(cities))
	for i := range cities {
		m.dist[i] = make([]float64, len(cities))
		for j := range cities {
			m.dist[i][j] = geo.DistanceKm(cities[i].Lat, cities[i].Lon, cities[j].Lat, cities[j].Lon)
		}
	}
	m.tenant = make([]int32, len(cities))
	m.common = int32(math.Ceil(TenantCommonShare * float64(cfg.Users)))
	if m.common < TenantCommonMin {
		m.common = TenantCommonMin
	}
	m.officeIP = make([]uint32, len(cities))
	for i := range cities {
		n := networks[cities[i].Broadband[0]]
		h := splitmix64(m.seed ^ uint64(i)*0x51ed27)
		m.officeIP[i] = uint32(n.Prefix[0])<<24 | uint32(n.Prefix[1])<<16 | uint32(h&0xff00) | uint32(10+h%200)
	}
	m.makeUsers()
	m.planAttacks()
	// Prime the streams.
	for i := range m.users {
		u := m.users[i]
		for u.head >= len(u.buf) && !u.done {
			m.fill(u)
		}
		if u.head < len(u.buf) {
			m.push(i)
		}
	}
	if len(m.unkBuf) > 0 {
		m.push(len(m.users))
	}
	return m
}

// Config returns the configuration with defaults applied.
func (m *Model) Config() Config { return m.cfg }

// End is when the traffic ends (Start + Days).
func (m *Model) End() time.Time { return time.UnixMilli(m.end).UTC() }

// Users returns the org's users; index i is Record.User == i.
func (m *Model) Users() []User { return m.pub }

// UserIndex returns the index of the user with Okta id id.
func (m *Model) UserIndex(id string) (int, bool) {
	i, ok := m.byID[id]
	return i, ok
}

// Next returns the next event in published order; false after Start+Days.
func (m *Model) Next() (Event, bool) {
	r, ok := m.NextRecord()
	if !ok {
		return Event{}, false
	}
	return m.Event(&r), true
}

// Event renders r with its ground truth.
func (m *Model) Event(r *Record) Event {
	return Event{
		Raw:       m.AppendJSON(nil, r),
		Published: time.UnixMilli(r.Published).UTC(),
		UserID:    m.UserKey(r),
		Expect:    r.ExpectList(),
		Attack:    r.AttackName(),
	}
}

// systemActor is the actor of the events Okta itself logs (ThreatInsight).
const (
	systemActorID    = "00000000000000000000"
	systemActorLogin = "system@okta.com"
	systemActorName  = "Okta System"
)

// ActorID returns r's actor.id ("unknown" for some failed sign-ins).
func (m *Model) ActorID(r *Record) string {
	if r.Kind == KindThreat {
		return systemActorID
	}
	if r.User < 0 || r.Flags&flagActorUnknown != 0 {
		return "unknown"
	}
	return m.pub[r.User].ID
}

// Login returns r's actor.alternateId.
func (m *Model) Login(r *Record) string {
	if r.Kind == KindThreat {
		return systemActorLogin
	}
	if r.User < 0 {
		return m.unknown[r.Alt]
	}
	return m.pub[r.User].Login
}

// UserKey returns the key detectors use for r's user (logevent.UserKey).
func (m *Model) UserKey(r *Record) string {
	if id := m.ActorID(r); id != "unknown" {
		return id
	}
	return m.Login(r)
}

// NextRecord is Next without rendering.
func (m *Model) NextRecord() (Record, bool) {
	// App sign-ons wait in pending (few at a time) for their turn.
	for {
		var r Record
		if len(m.heap) == 0 && len(m.pending) == 0 {
			return Record{}, false
		}
		if len(m.pending) > 0 && (len(m.heap) == 0 || m.pending[0].Published <= m.peekTime()) {
			r = m.pending[0]
			m.pending = m.pending[1:]
			if r.Kind > KindSSO || r.Flags&flagFlowSeq != 0 {
				// The sign-in flow's own positions, apart from the main
				// stream's: its uuids stay as without SignInDetail.
				r.Seq = detailSeq + m.detailN
				m.detailN++
				return r, true
			}
			r.Seq = m.seq
			m.seq++
			return r, true
		}
		s := m.heap[0]
		if s == len(m.users) {
			r = m.unkBuf[m.unkHead]
			m.unkHead++
			if m.unkHead >= len(m.unkBuf) {
				m.pop()
			} else {
				m.fix()
			}
		} else {
			u := m.users[s]
			r = u.buf[u.head]
			if r.Result == resSuccess {
				for !u.done && !u.hasSuccessAfterHead() {
					m.fill(u)
				}
			}
			m.label(u, &r)
			u.head++
			if u.head >= 256 && u.head*2 >= len(u.buf) { // reclaim emitted records
				u.buf = append(u.buf[:0], u.buf[u.head:]...)
				u.head = 0
			}
			for u.head >= len(u.buf) && !u.done {
				m.fill(u)
			}
			if u.head >= len(u.buf) {
				m.pop()
			} else {
				m.fix()
			}
			if m.cfg.AppSignOns && r.Success() && r.Kind == KindSessionStart {
				m.queueSSO(u, &r)
			}
			if m.cfg.SignInDetail && r.Kind == KindSessionStart {
				if !m.cfg.AppSignOns && r.Success() {
					// App sign-ons as part of the flow, apart from the
					// main stream (AppSignOns puts them in it).
					m.queueSSO(u, &r)
					m.markFlowSSO(&r)
				}
				m.queueDetail(&r)
			}
		}
		if r.Published >= m.end {
			continue
		}
		r.Seq = m.seq
		m.seq++
		return r, true
	}
}

// queueAt queues a derived event for its published time.
func (m *Model) queueAt(s Record) {
	if s.Published >= m.end {
		return
	}
	i := sort.Search(len(m.pending), func(i int) bool { return m.pending[i].Published > s.Published })
	m.pending = append(m.pending, Record{})
	copy(m.pending[i+1:], m.pending[i:])
	m.pending[i] = s
}

// markFlowSSO marks the app sign-on queueSSO just queued for r, if any,
// as a sign-in flow event.
func (m *Model) markFlowSSO(r *Record) {
	for i := range m.pending {
		p := &m.pending[i]
		if p.Kind == KindSSO && p.User == r.User && p.Session == r.Session && p.Flags&flagFlowSeq == 0 {
			p.Flags |= flagFlowSeq
		}
	}
}

func (m *Model) queueSSO(u *user, r *Record) {
	h := splitmix64(uint64(r.Published) ^ uint64(r.User)<<40 ^ m.seed)
	if h%10 < 3 {
		return
	}
	s := *r
	s.Kind = KindSSO
	s.Expect, s.Attack, s.Behaviors = 0, r.Attack, 0
	s.App = uint8(h>>8) % uint8(len(apps))
	s.Published += int64(2000 + (h>>16)%40000)
	if s.Published >= m.end {
		return
	}
	i := sort.Search(len(m.pending), func(i int) bool { return m.pending[i].Published > s.Published })
	m.pending = append(m.pending, Record{})
	copy(m.pending[i+1:], m.pending[i:])
	m.pending[i] = s
}

func (m *Model) streamTime(s int) int64 {
	if s == len(m.users) {
		return m.unkBuf[m.unkHead].Published
	}
	u := m.users[s]
	return u.buf[u.head].Published
}

func (m *Model) peekTime() int64 { return m.streamTime(m.heap[0]) }

func (m *Model) less(a, b int) bool {
	ta, tb := m.streamTime(m.heap[a]), m.streamTime(m.heap[b])
	if ta != tb {
		return ta < tb
	}
	return m.heap[a] < m.heap[b]
}

func (m *Model) push(s int) {
	m.heap = append(m.heap, s)
	i := len(m.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			break
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *Model) pop() {
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap = m.heap[:n]
	if n > 0 {
		m.fix()
	}
}

// fix restores the heap after the root's key grew.
func (m *Model) fix() {
	i, n := 0, len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && m.less(r, l) {
			c = r
		}
		if !m.less(c, i) {
			return
		}
		m.heap[i], m.heap[c] = m.heap[c], m.heap[i]
		i = c
	}
}

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(stream^0x7ca1f1c)))
}
