package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"unique"

	"github.com/clarion-itdr/clarion/internal/geo"
)

// ErrCorrupt means an encoded user state could not be decoded. The record
// should be skipped (and counted), never trusted.
var ErrCorrupt = errors.New("detect: corrupt user state")

const (
	codecMagic   = 0xC1
	codecVersion = 3 // 3: cells carry their ASN
)

// AppendBinary appends u's compact binary encoding (the changelog value) to b.
func (u *User) AppendBinary(b []byte) []byte {
	b = append(b, codecMagic, codecVersion)
	b = appendStr(b, u.Login)
	// The recent sign-ins' contexts, each written once.
	var ctxs [maxRecent]unique.Handle[Ctx]
	var idx [maxRecent]uint8
	nc := 0
	for i := 0; i < int(u.NRecent); i++ {
		h := u.Recent[i].Ctx
		j := 0
		for j < nc && ctxs[j] != h {
			j++
		}
		if j == nc {
			ctxs[nc] = h
			nc++
		}
		idx[i] = uint8(j)
	}
	b = append(b, byte(nc))
	for j := 0; j < nc; j++ {
		var c Ctx
		var zero unique.Handle[Ctx]
		if ctxs[j] != zero {
			c = ctxs[j].Value()
		}
		b = appendStr(appendStr(appendStr(b, c.City), c.State), c.Country)
		b = appendStr(appendStr(appendStr(b, c.Browser), c.OS), c.Device)
		b = appendStr(b, c.ISP)
	}
	b = append(b, u.NRecent)
	for i := 0; i < int(u.NRecent); i++ {
		s := &u.Recent[i]
		b = append(b, s.ID.kind, s.ID.n)
		b = append(b, s.ID.b[:s.ID.size()]...)
		b = binary.AppendVarint(b, s.T)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Lat))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Lon))
		b = appendIP(b, s)
		b = binary.AppendUvarint(b, uint64(s.ASN))
		b = binary.LittleEndian.AppendUint32(b, s.Device)
		b = append(b, idx[i], s.Flags, s.Emitted)
	}
	b = appendCells(b, u.Cities[:u.NCities])
	b = appendCells(b, u.Regions[:u.NRegions])
	b = appendKeys(b, u.ASNs[:u.NASNs])
	b = appendKeys(b, u.Devices[:u.NDevices])
	b = append(b, u.NSeen, u.SeenI)
	for i := 0; i < int(u.NSeen); i++ {
		b = binary.LittleEndian.AppendUint64(b, u.Seen[i])
	}
	// Hour profile, sparse: count of non-zero buckets, then (index, value).
	nz := 0
	for _, c := range u.Hours {
		if c != 0 {
			nz++
		}
	}
	b = append(b, byte(nz))
	for i, c := range u.Hours {
		if c != 0 {
			b = append(b, byte(i), c)
		}
	}
	b = appendStr(b, u.zone())
	b = binary.LittleEndian.AppendUint64(b, uint64(u.ZoneCell))
	b = binary.AppendVarint(b, u.TimeStart)
	b = binary.AppendUvarint(b, uint64(u.Successes))
	b = binary.AppendVarint(b, u.FirstSuccess)
	b = binary.AppendUvarint(b, uint64(u.Located))
	b = binary.AppendVarint(b, u.FirstSeen)
	b = binary.AppendVarint(b, u.LastSeen)
	b = binary.AppendUvarint(b, uint64(u.FailN))
	if u.FailN > 0 {
		b = binary.AppendVarint(b, u.FailFirst)
		b = binary.AppendVarint(b, u.FailLast)
	}
	if !u.HasAlert {
		return append(b, 0)
	}
	al := &u.Alert
	b = append(b, 2) // 1: before the lifecycle fields
	b = append(b, al.ID[:]...)
	b = binary.AppendVarint(b, al.First)
	b = binary.AppendVarint(b, al.Last)
	b = binary.AppendUvarint(b, uint64(al.Version))
	b = append(b, al.Types)
	b = append(b, al.Scores[:]...)
	b = binary.AppendUvarint(b, uint64(al.Failures))
	b = binary.AppendUvarint(b, uint64(al.NAn))
	for i := 0; i < min(int(al.NAn), maxAlertAn); i++ {
		b = append(b, al.Anomalies[i].ID[:]...)
		b = append(b, al.Anomalies[i].Type)
	}
	l := &u.Life
	return append(b, l.Status, l.Disp, l.Sev, l.Conf, l.ActReq, l.Feedback, l.By)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendIP(b []byte, s *Signin) []byte {
	ip := s.ip()
	if !ip.IsValid() {
		return append(b, 0)
	}
	sl := ip.AsSlice()
	b = append(b, byte(len(sl)))
	return append(b, sl...)
}

func appendCells(b []byte, cs []cellStat) []byte {
	b = append(b, byte(len(cs)))
	for _, c := range cs {
		b = binary.LittleEndian.AppendUint64(b, uint64(c.Cell))
		b = binary.LittleEndian.AppendUint64(b, c.Place)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.Lat))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.Lon))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.W))
		b = binary.AppendUvarint(b, uint64(c.First))
		b = binary.AppendUvarint(b, uint64(c.Last))
		b = binary.AppendUvarint(b, uint64(c.ASN))
	}
	return b
}

func appendKeys(b []byte, ks []keyStat) []byte {
	b = append(b, byte(len(ks)))
	for _, k := range ks {
		b = binary.AppendUvarint(b, uint64(k.Key))
		b = binary.AppendUvarint(b, uint64(k.Last))
	}
	return b
}

// decoder reads the encoding with bounds checks; the first error sticks.
type decoder struct {
	b   []byte
	err error
	ver byte
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte1() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytesN(n int) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.fail("short")
		return make([]byte, n&0xffff)
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.bytesN(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.bytesN(8)) }
func (d *decoder) f32() float32 {
	f := math.Float32frombits(d.u32())
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		d.fail("bad float")
		return 0
	}
	return f
}

func (d *decoder) str() string {
	n := d.uvarint(1024)
	return string(d.bytesN(int(n)))
}

func (d *decoder) ip() netip.Addr {
	n := d.byte1()
	if n == 0 {
		return netip.Addr{}
	}
	if n != 4 && n != 16 {
		d.fail("bad ip")
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(d.bytesN(int(n)))
	return a
}

func (d *decoder) count(max int) uint8 {
	n := d.byte1()
	if int(n) > max {
		d.fail("count out of range")
		return 0
	}
	return n
}

func (d *decoder) cells(list []cellStat) uint8 {
	n := d.count(len(list))
	for i := 0; i < int(n); i++ {
		list[i] = cellStat{Cell: geo.Cell(d.u64()), Place: d.u64(), Lat: d.f32(), Lon: d.f32(), W: d.f32(),
			First: uint32(d.uvarint(math.MaxUint32)), Last: uint32(d.uvarint(math.MaxUint32))}
		if d.ver >= 3 {
			list[i].ASN = uint32(d.uvarint(math.MaxUint32))
		}
	}
	return n
}

func (d *decoder) keys(list []keyStat) uint8 {
	n := d.count(len(list))
	for i := 0; i < int(n); i++ {
		list[i] = keyStat{Key: uint32(d.uvarint(math.MaxUint32)), Last: uint32(d.uvarint(math.MaxUint32))}
	}
	return n
}

// UnmarshalBinary replaces u with the state encoded in b. On error u is
// left zeroed and the error wraps ErrCorrupt.
func (u *User) UnmarshalBinary(b []byte) error {
	*u = User{}
	d := decoder{b: b}
	if d.byte1() != codecMagic {
		d.fail("bad magic")
		return d.err
	}
	// Version 2 (cells without their ASN) decodes too.
	if d.ver = d.byte1(); d.ver != 2 && d.ver != codecVersion {
		d.fail("bad version")
		return d.err
	}
	u.Login = d.str()
	nc := d.count(maxRecent)
	var ctxs [maxRecent]unique.Handle[Ctx]
	for j := 0; j < int(nc) && d.err == nil; j++ {
		p := Place{d.str(), d.str(), d.str()}
		a := Agent{d.str(), d.str(), d.str()}
		ctxs[j] = makeCtx(p, a, d.str())
	}
	u.NRecent = d.count(maxRecent)
	for i := 0; i < int(u.NRecent) && d.err == nil; i++ {
		s := &u.Recent[i]
		s.ID.kind, s.ID.n = d.byte1(), d.byte1()
		if s.ID.kind > idHashed || s.ID.n > 16 || (s.ID.kind != idRaw && s.ID.n != 0) {
			d.fail("bad id")
		}
		copy(s.ID.b[:], d.bytesN(s.ID.size()))
		s.T = d.varint()
		s.Lat, s.Lon = d.f32(), d.f32()
		ip := d.ip()
		s.ASN = uint32(d.uvarint(math.MaxUint32))
		s.Device = d.u32()
		ci := d.byte1()
		if ci >= nc {
			d.fail("bad context index")
			break
		}
		s.Ctx = ctxs[ci]
		s.Flags, s.Emitted = d.byte1(), d.byte1()
		if s.Flags&(sfIP4|sfIP6) == sfIP4|sfIP6 || s.Flags&(sfCountry|sfRegion) == sfCountry|sfRegion || s.Emitted >= 1<<nTypes {
			d.fail("bad flags")
		}
		s.setIP(ip)
		if i > 0 && s.T < u.Recent[i-1].T {
			d.fail("recent sign-ins out of order")
		}
	}
	u.NCities = d.cells(u.Cities[:])
	u.NRegions = d.cells(u.Regions[:])
	u.NASNs = d.keys(u.ASNs[:])
	u.NDevices = d.keys(u.Devices[:])
	u.NSeen = d.count(maxSeen)
	u.SeenI = d.byte1()
	if u.SeenI >= maxSeen {
		d.fail("bad seen index")
	}
	for i := 0; i < int(u.NSeen); i++ {
		u.Seen[i] = d.u64()
	}
	nz := int(d.byte1())
	for i := 0; i < nz && d.err == nil; i++ {
		idx, c := d.byte1(), d.byte1()
		if int(idx) >= len(u.Hours) {
			d.fail("bad hour")
			break
		}
		u.Hours[idx] = c
	}
	if z := d.str(); z != "" {
		u.Zone = unique.Make(z)
	}
	u.ZoneCell = geo.Cell(d.u64())
	u.TimeStart = d.varint()
	u.Successes = uint32(d.uvarint(math.MaxUint32))
	u.FirstSuccess = d.varint()
	u.Located = uint32(d.uvarint(math.MaxUint32))
	u.FirstSeen = d.varint()
	u.LastSeen = d.varint()
	u.FailN = uint16(d.uvarint(math.MaxUint16))
	if u.FailN > 0 {
		u.FailFirst = d.varint()
		u.FailLast = d.varint()
	}
	switch flag := d.byte1(); flag {
	case 0:
	case 1, 2:
		u.HasAlert = true
		al := &u.Alert
		copy(al.ID[:], d.bytesN(16))
		al.First = d.varint()
		al.Last = d.varint()
		al.Version = uint32(d.uvarint(math.MaxUint32))
		al.Types = d.byte1()
		copy(al.Scores[:], d.bytesN(len(al.Scores)))
		al.Failures = uint16(d.uvarint(math.MaxUint16))
		al.NAn = uint16(d.uvarint(math.MaxUint16))
		for i := 0; i < min(int(al.NAn), maxAlertAn); i++ {
			copy(al.Anomalies[i].ID[:], d.bytesN(16))
			al.Anomalies[i].Type = d.byte1()
			if al.Anomalies[i].Type >= nTypes {
				d.fail("bad anomaly type")
			}
		}
		if flag == 2 {
			lc := d.bytesN(7)
			if len(lc) == 7 {
				l := &u.Life
				l.Status, l.Disp, l.Sev, l.Conf, l.ActReq, l.Feedback, l.By = lc[0], lc[1], lc[2], lc[3], lc[4], lc[5], lc[6]
				if !l.valid() {
					d.fail("bad alert lifecycle")
				}
			}
		}
	default:
		d.fail("bad alert flag")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		*u = User{}
		return d.err
	}
	return nil
}
