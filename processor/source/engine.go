// Package source is Clarion's tenant-wide detection stage: password sprays
// and credential stuffing are about a source, not a user, so this stage
// keeps state per integration + source rather than per user.
//
// Two kinds of source key are kept for every credential attempt
// (user.session.start, user.authentication.verify):
//
//   - "ip:<address>": one client IP;
//   - "fp:<asn>:<hash>": one network (ASN) and client fingerprint (raw user
//     agent and debugData.dtHash), which rotating infrastructure shares.
//
// Engine is the pure detection logic (event time only, no I/O); Stage runs
// it on Kafka exactly-once (stage.go).
package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Anomaly types this stage produces (DESIGN.md "Identity attacks beyond location").
const (
	TypePasswordSpray      = "password_spray"
	TypeCredentialStuffing = "credential_stuffing"
)

// Types lists the types this stage produces.
func Types() []string { return []string{TypeCredentialStuffing, TypePasswordSpray} }

// Key kinds.
const (
	KindIP          = "ip"
	KindFingerprint = "fp"
)

// Params tunes the detector. Zero fields take DefaultParams' values.
type Params struct {
	// Window is the span of event time over which failures are counted.
	Window time.Duration
	// MinUsers is the least number of distinct users failing from one
	// source within Window that can be a spray.
	MinUsers int
	// BaselineFactor raises the bar for sources that routinely see failing
	// users (a corporate NAT): the threshold is
	// max(MinUsers, BaselineFactor × the source's usual failing users per window).
	BaselineFactor float64
	// MaxPerUser: a spray tries each user only a few times; more attempts
	// per failing user on average is brute force, not this stage's.
	MaxPerUser float64
	// MinFailShare is the least share of the window's attempts that are
	// unresolved failures (a NAT's traffic is mostly successes).
	MinFailShare float64
	// UnknownShare is the share of failures for logins that do not exist
	// in the tenant (actor "unknown") from which a burst is credential
	// stuffing (leaked lists) rather than a spray of the tenant's users.
	UnknownShare float64
	// After is how long after a campaign's last failure a success from
	// the same source for a user it tried raises the anomaly's severity.
	After time.Duration
	// MaxAttempts bounds the attempts kept per source (the newest win).
	MaxAttempts int
	// MaxKnown bounds the users remembered as signing in successfully from
	// a source (the most recent win).
	MaxKnown int
	// MaxListed bounds the users and event uuids listed in one anomaly.
	MaxListed int
	// IdleTTL expires a source unseen for this long (event time).
	IdleTTL time.Duration
}

// DefaultParams are the defaults.
var DefaultParams = Params{
	Window:         15 * time.Minute,
	MinUsers:       6,
	BaselineFactor: 3,
	MaxPerUser:     3,
	MinFailShare:   0.5,
	UnknownShare:   0.15,
	After:          24 * time.Hour,
	MaxAttempts:    64,
	MaxKnown:       32,
	MaxListed:      100,
	IdleTTL:        14 * 24 * time.Hour,
}

func (p Params) withDefaults() Params {
	d := DefaultParams
	if p.Window > 0 {
		d.Window = p.Window
	}
	if p.MinUsers > 0 {
		d.MinUsers = p.MinUsers
	}
	if p.BaselineFactor > 0 {
		d.BaselineFactor = p.BaselineFactor
	}
	if p.MaxPerUser > 0 {
		d.MaxPerUser = p.MaxPerUser
	}
	if p.MinFailShare > 0 {
		d.MinFailShare = p.MinFailShare
	}
	if p.UnknownShare > 0 {
		d.UnknownShare = p.UnknownShare
	}
	if p.After > 0 {
		d.After = p.After
	}
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.MaxKnown > 0 {
		d.MaxKnown = p.MaxKnown
	}
	if p.MaxListed > 0 {
		d.MaxListed = p.MaxListed
	}
	if p.IdleTTL > 0 {
		d.IdleTTL = p.IdleTTL
	}
	return d
}

// Attempt is one credential attempt as this stage sees it: what travels
// on the source topic, one record per source key of the event.
type Attempt struct {
	T       int64 // event time, unix ms
	UUID    string
	User    string // the user key (actor.id, or the login tried for unknown actors)
	Login   string // actor.alternateId
	IP      string
	Flags   uint8
	Subject string // the source key ("ip:..." or "fp:...")
	ASN     uint32
	UA      string // raw user agent (fingerprint keys only)
	DTHash  string
	// FP identifies the event's fingerprint key (0: none), so an IP key
	// can tell one client from rotating ones.
	FP uint64
}

// Attempt flags.
const (
	FlagFailure uint8 = 1 << iota
	FlagSuccess
	FlagUnknownActor // the login does not exist in the tenant
	FlagNoFP         // the event has no fingerprint key (no ASN, user agent or dtHash)
	flagResolved     // a failure followed by the user's success from this source
)

// IsAttempt reports whether ev is a credential attempt this stage counts.
func IsAttempt(ev *logevent.Event) bool {
	switch ev.EventType {
	case logevent.EventTypeSessionStart, "user.authentication.verify":
	default:
		return false
	}
	return ev.Outcome == logevent.OutcomeFailure || ev.Outcome == logevent.OutcomeSuccess
}

// Attempts appends to dst the attempt records of ev, one per source key
// (IP, and fingerprint when the event has an ASN, a user agent and a
// dtHash: a device token many users share is a script's), or
// nothing when ev is not a credential attempt.
func Attempts(dst []Attempt, ev *logevent.Event) []Attempt {
	if !IsAttempt(ev) || ev.UUID == "" || ev.Published.IsZero() {
		return dst
	}
	a := Attempt{T: ev.Published.UnixMilli(), UUID: ev.UUID, User: ev.UserKey(), Login: ev.ActorLogin, IP: ev.IP}
	if ev.Outcome == logevent.OutcomeFailure {
		a.Flags |= FlagFailure
	} else {
		a.Flags |= FlagSuccess
	}
	if ev.ActorID == "" || strings.EqualFold(ev.ActorID, "unknown") {
		a.Flags |= FlagUnknownActor
	}
	fp := ev.ASN > 0 && ev.ASN <= math.MaxUint32 && ev.UserAgent != "" && ev.DTHash != ""
	if !fp {
		a.Flags |= FlagNoFP
	}
	var fpKey string
	if fp {
		fpKey = FingerprintKey(uint32(ev.ASN), ev.UserAgent, ev.DTHash)
		h := fnv.New64a()
		h.Write([]byte(fpKey))
		a.FP = h.Sum64() | 1
	}
	if ev.IP != "" {
		b := a
		b.Subject = KindIP + ":" + ev.IP
		dst = append(dst, b)
	}
	if fp {
		b := a
		b.ASN, b.UA, b.DTHash = uint32(ev.ASN), ev.UserAgent, ev.DTHash
		b.Subject = fpKey
		dst = append(dst, b)
	}
	return dst
}

// FingerprintKey is the source key of a network and client fingerprint.
func FingerprintKey(asn uint32, ua, dtHash string) string {
	h := sha256.New()
	h.Write([]byte(ua))
	h.Write([]byte{0})
	h.Write([]byte(dtHash))
	return KindFingerprint + ":" + strconv.FormatUint(uint64(asn), 10) + ":" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Source is one source's state. Its size is bounded by Params.MaxAttempts,
// MaxKnown and MaxListed (see docs/detections-identity.md for measures).
type Source struct {
	Attempts []Attempt // within Window of the newest, sorted by T
	Known    []Known   // users that signed in successfully from here, outside a campaign
	// Base is the usual number of distinct failing users per window (an
	// exponentially weighted mean over past windows); BaseT the end of the
	// last window folded into it.
	Base     float64
	BaseT    int64
	BaseMax  int // distinct failing users in the current window so far
	LastSeen int64
	Open     *Campaign
}

// Known is a user seen signing in successfully from the source.
type Known struct {
	User string
	T    int64
}

// Campaign is an open spray or stuffing anomaly of the source.
type Campaign struct {
	ID        string
	Type      string
	Start     int64
	LastFail  int64
	Failures  int
	Users     []string // logins tried, in order
	userKeys  map[string]bool
	UserKeys  []string
	UUIDs     []string // the failures and successes cited
	IPs       []string
	Unknown   int // failures for logins that do not exist
	Succeeded []string
	SuccUUIDs []string
	Version   uint32
	// Reported is the user count at the last report: the campaign is
	// reported again when it has grown by a quarter (at least one user).
	Reported int
}

// Subject is an anomaly's subject when it is a source, not a user.
type Subject = record.Subject

// Anomaly is one source anomaly, written to clarion.anomalies as JSON.
// It carries the fields of the per-user anomalies (a reader that only
// knows "user" sees the source key as the user id) plus "subject".
type Anomaly struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	IntegrationID string         `json:"integration_id"`
	User          record.UserRef `json:"user"`
	Subject       Subject        `json:"subject"`
	EventUUID     string         `json:"event_uuid"`
	Published     string         `json:"published"`
	Score         float64        `json:"score"`
	Severity      string         `json:"severity"`
	Version       uint32         `json:"version"`
	Evidence      Evidence       `json:"evidence"`
	Sentence      string         `json:"sentence"`
}

// Evidence is what the source detector counted.
type Evidence struct {
	EventUUIDs      []string `json:"event_uuids"`
	Failures        int      `json:"failures"`
	Users           []string `json:"users"`
	UserCount       int      `json:"user_count"`
	UnknownUsers    int      `json:"unknown_users,omitempty"`
	Succeeded       []string `json:"succeeded,omitempty"`
	SuccessUUIDs    []string `json:"success_uuids,omitempty"`
	IPs             []string `json:"ips"`
	WindowStart     string   `json:"window_start"`
	WindowEnd       string   `json:"window_end"`
	WindowMinutes   float64  `json:"window_minutes"`
	Threshold       int      `json:"threshold"`
	SourceBaseline  float64  `json:"source_baseline"`
	KnownUsers      int      `json:"known_users"`
	AttemptsPerUser float64  `json:"attempts_per_user"`
}

// Engine detects sprays and stuffing in one source's attempts. All state
// is in the Source values passed to Process; the engine holds parameters
// and scratch space, so it is not safe for concurrent use.
type Engine struct {
	p Params
	// scratch for count
	users map[string]bool
	ips   map[string]bool
	fps   map[uint64]bool
}

// NewEngine returns an engine with p (zero fields: defaults).
func NewEngine(p Params) *Engine {
	return &Engine{p: p.withDefaults(), users: map[string]bool{}, ips: map[string]bool{}, fps: map[uint64]bool{}}
}

// Params returns the engine's effective parameters.
func (e *Engine) Params() Params { return e.p }

// Process adds attempt a to source s (integration integ) and returns the
// anomaly to write, or nil. Duplicates (a uuid already held) change nothing.
func (e *Engine) Process(integ string, s *Source, a *Attempt) *Anomaly {
	for i := range s.Attempts {
		if s.Attempts[i].UUID == a.UUID {
			return nil
		}
	}
	if o := s.Open; o != nil {
		for _, u := range o.UUIDs {
			if u == a.UUID {
				return nil
			}
		}
	}
	p := &e.p
	if a.T > s.LastSeen {
		s.LastSeen = a.T
	}
	e.foldBaseline(s, a.T)
	// Insert in time order, drop what left the window, bound the count.
	i := sort.Search(len(s.Attempts), func(i int) bool { return s.Attempts[i].T > a.T })
	s.Attempts = append(s.Attempts, Attempt{})
	copy(s.Attempts[i+1:], s.Attempts[i:])
	at := *a
	at.Subject, at.UA, at.DTHash = "", "", "" // the key holds them
	s.Attempts[i] = at
	newest := s.Attempts[len(s.Attempts)-1].T
	cut := 0
	for cut < len(s.Attempts) && s.Attempts[cut].T < newest-p.Window.Milliseconds() {
		cut++
	}
	if n := len(s.Attempts) - cut; n > p.MaxAttempts {
		cut = len(s.Attempts) - p.MaxAttempts
	}
	if cut > 0 {
		s.Attempts = append(s.Attempts[:0], s.Attempts[cut:]...)
	}

	if a.Flags&FlagSuccess != 0 {
		return e.success(integ, s, a)
	}
	if o := s.Open; o != nil && a.T-o.LastFail <= p.Window.Milliseconds() && a.T >= o.Start {
		// The campaign goes on: record it, report it again as it grows.
		e.addFailure(o, a)
		if len(o.UserKeys) >= o.Reported+max(1, o.Reported/4) && len(o.UserKeys) <= e.p.MaxListed {
			return e.emit(integ, s, a.Subject, a.T)
		}
		return nil
	}
	if o := s.Open; o != nil && a.T-o.LastFail > p.After.Milliseconds() {
		s.Open = nil
	}
	if s.Open != nil {
		return nil
	}
	return e.evaluate(integ, s, a)
}

// success handles a successful sign-in from the source.
func (e *Engine) success(integ string, s *Source, a *Attempt) *Anomaly {
	// A user's earlier failures from here are resolved (a mistyper).
	for i := range s.Attempts {
		b := &s.Attempts[i]
		if b.User == a.User && b.Flags&FlagFailure != 0 && b.T <= a.T {
			b.Flags |= flagResolved
		}
	}
	if o := s.Open; o != nil && a.T >= o.Start && a.T-o.LastFail <= e.p.After.Milliseconds() {
		if o.tried(a.User) && !contains(o.Succeeded, a.Login) && len(o.Succeeded) < e.p.MaxListed {
			o.Succeeded = append(o.Succeeded, a.Login)
			o.SuccUUIDs = append(o.SuccUUIDs, a.UUID)
			return e.emit(integ, s, a.Subject, a.T)
		}
		return nil // no lesson from a success during a campaign
	}
	// Remember the user as known at this source.
	for i := range s.Known {
		if s.Known[i].User == a.User {
			if a.T > s.Known[i].T {
				s.Known[i].T = a.T
			}
			return nil
		}
	}
	if len(s.Known) >= e.p.MaxKnown {
		old := 0
		for i := range s.Known {
			if s.Known[i].T < s.Known[old].T || (s.Known[i].T == s.Known[old].T && s.Known[i].User < s.Known[old].User) {
				old = i
			}
		}
		s.Known = append(s.Known[:old], s.Known[old+1:]...)
	}
	s.Known = append(s.Known, Known{User: a.User, T: a.T})
	return nil
}

func (s *Source) known(user string) bool {
	for i := range s.Known {
		if s.Known[i].User == user {
			return true
		}
	}
	return false
}

// window counts the current window: distinct users with unresolved
// failures not known at the source, their failures, the unknown ones.
type window struct {
	users, failures, unknown, attempts int
	ips                                int
	fps                                int  // distinct fingerprints of the failures
	noFP                               bool // some failure has no fingerprint key
}

func (e *Engine) count(s *Source) window {
	var w window
	ips, fps := e.ips, e.fps
	clear(e.users)
	clear(ips)
	clear(fps)
	for i := range s.Attempts {
		b := &s.Attempts[i]
		w.attempts++
		if b.Flags&FlagFailure == 0 || b.Flags&flagResolved != 0 || s.known(b.User) {
			continue
		}
		w.failures++
		ips[b.IP] = true
		fps[b.FP] = true
		if b.FP == 0 {
			w.noFP = true
		}
		if !e.users[b.User] {
			e.users[b.User] = true
			w.users++
			if b.Flags&FlagUnknownActor != 0 {
				w.unknown++
			}
		}
	}
	w.ips, w.fps = len(ips), len(fps)
	return w
}

// threshold is the source's current bar for distinct failing users.
func (e *Engine) threshold(s *Source) int {
	t := int(math.Ceil(e.p.BaselineFactor * s.Base))
	if t < e.p.MinUsers {
		t = e.p.MinUsers
	}
	return t
}

// foldBaseline folds finished windows into the source's baseline of
// failing users per window before attempt time t.
func (e *Engine) foldBaseline(s *Source, t int64) {
	w := e.p.Window.Milliseconds()
	if s.BaseT == 0 {
		s.BaseT = t - t%w + w
		return
	}
	if t < s.BaseT {
		return
	}
	n := (t - s.BaseT) / w // empty windows since
	v := float64(s.BaseMax)
	if s.Open != nil {
		v = 0 // an attack is not the source's routine
	}
	const alpha = 0.1
	s.Base = (1-alpha)*s.Base + alpha*v
	if n > 0 {
		s.Base *= math.Pow(1-alpha, float64(min(n, 1000)))
	}
	s.BaseMax = 0
	s.BaseT += (n + 1) * w
}

// evaluate decides whether the window is a spray or stuffing now.
func (e *Engine) evaluate(integ string, s *Source, a *Attempt) *Anomaly {
	w := e.count(s)
	if w.users > s.BaseMax {
		s.BaseMax = w.users
	}
	thr := e.threshold(s)
	if w.users < thr {
		return nil
	}
	if float64(w.failures) > e.p.MaxPerUser*float64(w.users) {
		return nil
	}
	if float64(w.failures) < e.p.MinFailShare*float64(w.attempts) {
		return nil
	}
	typ := e.classify(a, w)
	if typ == "" {
		return nil
	}
	o := &Campaign{Type: typ, Start: s.Attempts[0].T, userKeys: map[string]bool{}}
	for i := range s.Attempts {
		b := &s.Attempts[i]
		if b.Flags&FlagFailure == 0 || b.Flags&flagResolved != 0 || s.known(b.User) {
			continue
		}
		if o.Failures == 0 {
			o.Start = b.T
		}
		e.addFailure(o, b)
	}
	o.ID = anomalyID(integ, a.Subject, typ, o.Start)
	s.Open = o
	return e.emit(integ, s, a.Subject, a.T)
}

// classify names the window's attack for this key, or "" when another key
// of the same events reports it, so one attack gives one anomaly: a single
// client fingerprint's attack is reported by its fingerprint key (which
// sees it across rotating IPs), an IP's by the IP key only when its
// failures come from several fingerprints or from clients without one.
// Leaked lists hold logins the tenant does not have: a share of them of
// at least UnknownShare makes it credential stuffing, else a spray.
func (e *Engine) classify(a *Attempt, w window) string {
	if strings.HasPrefix(a.Subject, KindIP+":") && w.fps < 2 && !w.noFP {
		return ""
	}
	if float64(w.unknown) >= e.p.UnknownShare*float64(w.users) {
		return TypeCredentialStuffing
	}
	return TypePasswordSpray
}

func (e *Engine) addFailure(o *Campaign, b *Attempt) {
	o.Failures++
	if b.T > o.LastFail {
		o.LastFail = b.T
	}
	o.tried("")
	if len(o.UUIDs) < e.p.MaxListed {
		o.UUIDs = append(o.UUIDs, b.UUID)
	}
	if b.IP != "" && !contains(o.IPs, b.IP) && len(o.IPs) < e.p.MaxListed {
		o.IPs = append(o.IPs, b.IP)
	}
	if !o.userKeys[b.User] && len(o.UserKeys) < e.p.MaxListed {
		o.userKeys[b.User] = true
		o.UserKeys = append(o.UserKeys, b.User)
		login := b.Login
		if login == "" {
			login = b.User
		}
		o.Users = append(o.Users, login)
		if b.Flags&FlagUnknownActor != 0 {
			o.Unknown++
		}
	}
}

// tried reports whether the campaign tried user, building its set after a restore.
func (o *Campaign) tried(user string) bool {
	if o.userKeys == nil {
		o.userKeys = make(map[string]bool, len(o.UserKeys))
		for _, k := range o.UserKeys {
			o.userKeys[k] = true
		}
	}
	return o.userKeys[user]
}

// emit writes the campaign's current version.
func (e *Engine) emit(integ string, s *Source, subject string, t int64) *Anomaly {
	o := s.Open
	o.Version++
	o.Reported = len(o.UserKeys)
	thr := e.threshold(s)
	users := len(o.UserKeys)
	score := 0.6 + 0.4*math.Min(1, float64(users-thr)/float64(2*thr))
	sev := record.SeverityHigh
	if len(o.Succeeded) > 0 {
		score, sev = 1, record.SeverityCritical
	}
	uuids := append(append([]string(nil), o.UUIDs...), o.SuccUUIDs...)
	kind, _, _ := strings.Cut(subject, ":")
	an := &Anomaly{
		ID: o.ID, Type: o.Type, IntegrationID: integ,
		User:      record.UserRef{ID: subject},
		Subject:   record.Subject{Kind: record.SubjectSource, Source: &record.SourceRef{Key: subject, Kind: kind, IPs: append([]string(nil), o.IPs...)}},
		EventUUID: uuids[len(uuids)-1],
		Published: time.UnixMilli(t).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Score:     math.Round(score*1000) / 1000, Severity: sev, Version: o.Version,
		Evidence: Evidence{
			EventUUIDs: uuids, Failures: o.Failures, Users: append([]string(nil), o.Users...), UserCount: users,
			UnknownUsers: o.Unknown, Succeeded: append([]string(nil), o.Succeeded...), SuccessUUIDs: append([]string(nil), o.SuccUUIDs...),
			IPs:         append([]string(nil), o.IPs...),
			WindowStart: time.UnixMilli(o.Start).UTC().Format(time.RFC3339), WindowEnd: time.UnixMilli(o.LastFail).UTC().Format(time.RFC3339),
			WindowMinutes: math.Round(float64(o.LastFail-o.Start)/60000*10) / 10, Threshold: thr,
			SourceBaseline: math.Round(s.Base*100) / 100, KnownUsers: len(s.Known),
			AttemptsPerUser: math.Round(float64(o.Failures)/float64(max(users, 1))*100) / 100,
		},
	}
	if k := an.Subject.Source; kind == KindFingerprint && len(o.IPs) > 0 {
		k.ASN = fingerprintASN(subject)
	}
	an.Sentence = sentence(an)
	return an
}

func fingerprintASN(key string) uint32 {
	parts := strings.SplitN(key, ":", 3)
	if len(parts) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(parts[1], 10, 32)
	return uint32(n)
}

func sentence(a *Anomaly) string {
	ev := &a.Evidence
	what := "password spray"
	if a.Type == TypeCredentialStuffing {
		what = "credential stuffing"
	}
	from := "IP " + strings.Join(ev.IPs, ", ")
	if a.Subject.Source.Kind == KindFingerprint {
		from += " (one client fingerprint)"
	}
	if a.Subject.Source.Kind == KindFingerprint && len(ev.IPs) > 1 {
		from = fmt.Sprintf("%d IPs of AS%d sharing one client fingerprint", len(ev.IPs), a.Subject.Source.ASN)
	}
	s := fmt.Sprintf("A %s from %s failed for %d users (%d attempts, %.1f per user) in %.0f minutes, above this source's threshold of %d",
		what, from, ev.UserCount, ev.Failures, ev.AttemptsPerUser, math.Max(1, ev.WindowMinutes), ev.Threshold)
	if ev.UnknownUsers > 0 {
		s += fmt.Sprintf(", %d of them logins that do not exist", ev.UnknownUsers)
	}
	if n := len(ev.Succeeded); n > 0 {
		s += fmt.Sprintf("; then %d of the users tried signed in from the same source (%s)", n, strings.Join(ev.Succeeded, ", "))
	}
	return s + "."
}

func anomalyID(integ, subject, typ string, start int64) string {
	h := fnv.New128a()
	for _, p := range []string{"source", integ, subject, typ, strconv.FormatInt(start, 10)} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Expired reports whether s has been idle for IdleTTL at event time now
// and holds no campaign that could still raise severity.
func (e *Engine) Expired(s *Source, now int64) bool {
	if now-s.LastSeen < e.p.IdleTTL.Milliseconds() {
		return false
	}
	return s.Open == nil || now-s.Open.LastFail > e.p.After.Milliseconds()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
