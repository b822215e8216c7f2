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
		return nil, fmt.Errorf("traffic: cannot inject attack kind %q (want %s or %s)", kind, AttackImpossibleTravel, AttackAnonymizingProxy)
	}
	return out, nil
}

const time2min = 2 * minMs
