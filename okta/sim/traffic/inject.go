package traffic

import (
	"fmt"
	"math/rand/v2"
)

// injectSeq is the first stream position of injected records: far above
// any position the model's own stream reaches, so their uuids never collide.
const injectSeq = uint64(1) << 62

// Inject builds an attack on user v made on demand (the simulator's POST
// /sim/attacks), at time t, instead of one planned from the seed:
//
//   - AttackImpossibleTravel: the victim signs in from home 10 minutes
//     before t (their own laptop, home network), then at t stolen
//     credentials sign in from an attack source abroad on a new device,
//     after one failed attempt.
//   - AttackAnonymizingProxy: at t a sign-in through an anonymizing VPN or
//     Tor exit on a new device.
//
// n numbers the injection (records get stream positions above the model's
// own). The caller serialises calls with the model's generation (the
// simulator holds its generator lock). Records carry the attack's kind.
func (m *Model) Inject(kind string, v int, t int64, n uint64) ([]Record, error) {
	if v < 0 || v >= len(m.users) {
		return nil, fmt.Errorf("traffic: no user %d", v)
	}
	u := m.users[v]
	r := rand.New(rand.NewPCG(m.seed^0x1a7ec7, n))
	seq := injectSeq + n*8
	next := func(rec Record) Record {
		rec.Seq = seq
		seq++
		return rec
	}
	var out []Record
	switch kind {
	case AttackImpossibleTravel:
		home := Record{Published: t - 10*minMs, User: int32(v), Dev: u.laptop, City: int16(u.home), Net: int16(u.homeNet), IP: u.homeIP}
		home.Lat, home.Lon = geoOf(u.homeLat, u.homeLon, home.IP)
		home.Session = m.newSession(u)
		home.Attack = attImpossibleTravel
		out = append(out, next(home))
		city, net := m.abroad(r, v)
		dev := m.newDevice(true, r.Uint64())
		f := m.attackRecord(r, t-time2min, v, city, net, dev)
		f.Result, f.Attack = resVerificationError, attImpossibleTravel
		out = append(out, next(f))
		rec := m.attackRecord(r, t, v, city, net, dev)
		rec.Attack = attImpossibleTravel
		rec.Session = m.newSession(u)
		out = append(out, next(rec))
	case AttackAnonymizingProxy:
		s := proxySources[r.IntN(len(proxySources))]
		dev := m.newDevice(true, r.Uint64())
		rec := m.attackRecord(r, t, v, s.City, s.Net, dev)
		rec.Attack = attProxy
		rec.Session = m.newSession(u)
		out = append(out, next(rec))
	default:
		return m.injectSignIn(kind, v, t, n)
	}
	return out, nil
}

// InjectKinds lists the attack kinds Inject builds.
var InjectKinds = []string{AttackImpossibleTravel, AttackAnonymizingProxy, AttackPasswordSpray, AttackBruteForce,
	AttackCredentialStuffing, AttackMFAFatigue, AttackSessionHijack, AttackFactorReset}

// injectSignIn builds the sign-in security attacks (their stream
// positions are apart from the older kinds', 64 per injection). Times
// run up to t; the simulator publishes them at its now, a millisecond
// apart, in this order.
//
//   - AttackPasswordSpray: one IP abroad tries one password against up to
//     14 other users (INVALID_CREDENTIALS), then against v, where it works:
//     a sign-in on a script's device and its policy evaluation.
//   - AttackBruteForce: nine wrong passwords for v from one IP abroad, then
//     user.account.lock (LOCKED_OUT).
//   - AttackCredentialStuffing: leaked pairs from one to three IPs of one
//     network abroad against up to 11 users (some logged as actor "unknown"),
//     one success for v, and Okta's security.threat.detected.
//   - AttackMFAFatigue: stolen password for v from abroad (sign-in and
//     policy), then five pushes the victim rejects and a sixth accepted
//     (system.push.send_factor_verify_push, user.mfa.okta_verify.deny_push,
//     user.authentication.auth_via_mfa).
//   - AttackSessionHijack: v signs in at home and opens an app; minutes
//     later the same session (externalSessionId, rootSessionId, dtHash) is
//     used from abroad on another device to open two more apps, without a
//     sign-in.
//   - AttackFactorReset: stolen credentials sign in from abroad on a new
//     device, reset all of v's factors (user.mfa.factor.reset_all) and
//     enrol the attacker's own Okta Verify (user.mfa.factor.activate).
func (m *Model) injectSignIn(kind string, v int, t int64, n uint64) ([]Record, error) {
	u := m.users[v]
	r := rand.New(rand.NewPCG(m.seed^0x51691, n))
	seq := injectSeq + 1<<60 + n*64
	var out []Record
	add := func(rec Record, att uint8) *Record {
		rec.Seq, rec.Attack = seq, att
		seq++
		out = append(out, rec)
		return &out[len(out)-1]
	}
	others := func(k int) []int { // up to k users other than v, distinct
		var idx []int
		for _, i := range r.Perm(len(m.users)) {
			if i != v && len(idx) < k {
				idx = append(idx, i)
			}
		}
		return idx
	}
	derive := func(base Record, k, res uint8, at int64) Record {
		d := base
		d.Kind, d.Result, d.Published = k, res, at
		return d
	}
	switch kind {
	case AttackPasswordSpray:
		city, net := m.abroad(r, v)
		dev := m.scriptDevice(r.Uint64())
		ip := randIP(r, net)
		targets := others(14)
		for i, o := range targets {
			f := m.attackRecord(r, t-int64(len(targets)-i)*20*secMs, o, city, net, dev)
			f.IP, f.Result = ip, resInvalidCredentials
			f.Lat, f.Lon = geoOf(cities[city].Lat, cities[city].Lon, ip)
			add(f, attPasswordSpray)
		}
		s := m.attackRecord(r, t, v, city, net, dev)
		s.IP = ip
		s.Lat, s.Lon = geoOf(cities[city].Lat, cities[city].Lon, ip)
		s.Session = m.newSession(u)
		add(s, attPasswordSpray)
		add(derive(s, KindPolicy, resAllow, t+20), attPasswordSpray)
	case AttackBruteForce:
		city, net := m.abroad(r, v)
		dev := m.scriptDevice(r.Uint64())
		var f Record
		for i := 0; i < 9; i++ {
			f = m.attackRecord(r, t-int64(9-i)*3*secMs, v, city, net, dev)
			if i > 0 {
				f.IP, f.Lat, f.Lon = out[0].IP, out[0].Lat, out[0].Lon
			}
			f.Result = resInvalidCredentials
			add(f, attBruteForce)
		}
		add(derive(f, KindLock, resLockedOut, t), attBruteForce)
	case AttackCredentialStuffing:
		src := attackSources[r.IntN(len(attackSources))]
		dev := m.scriptDevice(r.Uint64())
		ips := make([]uint32, 1+r.IntN(3))
		for i := range ips {
			ips[i] = randIP(r, src.Net)
		}
		mk := func(at int64, user int) Record {
			rec := m.attackRecord(r, at, user, src.City, src.Net, dev)
			rec.IP = ips[r.IntN(len(ips))]
			rec.Lat, rec.Lon = geoOf(cities[src.City].Lat, cities[src.City].Lon, rec.IP)
			return rec
		}
		targets := others(11)
		for i, o := range targets {
			f := mk(t-int64(len(targets)-i)*7*secMs, o)
			f.Result = resInvalidCredentials
			if i%3 == 1 {
				f.Flags |= flagActorUnknown
			}
			add(f, attStuffing)
		}
		s := mk(t, v)
		s.Session = m.newSession(u)
		add(s, attStuffing)
		th := derive(s, KindThreat, resSuccess, t+400)
		th.User, th.Session, th.Flags = -1, 0, th.Flags|flagThreat
		add(th, attStuffing)
	case AttackMFAFatigue:
		city, net := m.abroad(r, v)
		dev := m.newDevice(true, r.Uint64())
		s := m.attackRecord(r, t-5*minMs, v, city, net, dev)
		s.Session = m.newSession(u)
		add(s, attMFAFatigue)
		add(derive(s, KindPolicy, resAllow, s.Published+20), attMFAFatigue)
		at := s.Published + secMs
		for i := 0; i < 5; i++ {
			p := derive(s, KindPushSend, resSuccess, at)
			p.App = factorPush
			add(p, attMFAFatigue)
			d := derive(s, KindPushDeny, resPushRejected, at+4*secMs+int64(r.IntN(20))*secMs)
			d.App = factorPush
			add(d, attMFAFatigue)
			at = d.Published + 10*secMs
		}
		p := derive(s, KindPushSend, resSuccess, at)
		p.App = factorPush
		add(p, attMFAFatigue)
		ok := derive(s, KindMFA, resSuccess, max(t, at+5*secMs))
		ok.App = factorPush
		add(ok, attMFAFatigue)
	case AttackSessionHijack:
		home := Record{Published: t - 12*minMs, User: int32(v), Dev: u.laptop, City: int16(u.home), Net: int16(u.homeNet), IP: u.homeIP}
		home.Lat, home.Lon = geoOf(u.homeLat, u.homeLon, home.IP)
		home.Session = m.newSession(u)
		add(home, attSessionHijack)
		sso := derive(home, KindSSO, resSuccess, home.Published+30*secMs)
		sso.App = uint8(r.IntN(len(apps)))
		add(sso, attSessionHijack)
		city, net := m.abroad(r, v)
		dev := m.newDevice(true, r.Uint64())
		for i, at := range []int64{t - 2*minMs, t} {
			h := m.attackRecord(r, at, v, city, net, dev)
			if i > 0 {
				h.IP, h.Lat, h.Lon = out[len(out)-1].IP, out[len(out)-1].Lat, out[len(out)-1].Lon
			}
			h.Kind, h.Session = KindSSO, home.Session
			h.App = uint8(r.IntN(len(apps)))
			add(h, attSessionHijack)
		}
	case AttackFactorReset:
		city, net := m.abroad(r, v)
		dev := m.newDevice(true, r.Uint64())
		s := m.attackRecord(r, t-3*minMs, v, city, net, dev)
		s.Session = m.newSession(u)
		add(s, attFactorReset)
		add(derive(s, KindPolicy, resAllow, s.Published+20), attFactorReset)
		add(derive(s, KindFactorResetAll, resSuccess, t-time2min), attFactorReset)
		a := derive(s, KindFactorActivate, resSuccess, t)
		a.App = factorPush
		add(a, attFactorReset)
	default:
		return nil, fmt.Errorf("traffic: cannot inject attack kind %q (want one of %v)", kind, InjectKinds)
	}
	return out, nil
}

const secMs = 1000

const time2min = 2 * minMs
