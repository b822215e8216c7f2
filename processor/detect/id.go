package detect

import "encoding/binary"

// eventID is a LogEvent uuid in 16 bytes: the UUID's bytes (kind 0), the raw
// text when it is at most 16 bytes (kind 1, n bytes), or a 128-bit hash of
// longer non-UUID text (kind 2, which cannot be turned back into text).
type eventID struct {
	b    [16]byte
	kind uint8
	n    uint8
}

const (
	idUUID uint8 = iota
	idRaw
	idHashed
)

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func makeEventID(s string) eventID {
	var id eventID
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		j, ok := 0, true
		for i := 0; i < 36 && ok; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			hi, ok1 := unhex(s[i])
			lo, ok2 := unhex(s[i+1])
			ok = ok1 && ok2 && s[i] == lower(s[i]) && s[i+1] == lower(s[i+1])
			id.b[j] = hi<<4 | lo
			j++
			i++
		}
		if ok {
			return id
		}
		id = eventID{}
	}
	if len(s) <= 16 {
		id.kind, id.n = idRaw, uint8(len(s))
		copy(id.b[:], s)
		return id
	}
	id.kind = idHashed
	binary.LittleEndian.PutUint64(id.b[:8], fnv64(s, 14695981039346656037))
	binary.LittleEndian.PutUint64(id.b[8:], fnv64(s, 1099511628211*31))
	return id
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// String returns the uuid text, or "" for a hashed id.
func (id eventID) String() string {
	switch id.kind {
	case idUUID:
		const hx = "0123456789abcdef"
		var out [36]byte
		j := 0
		for i := 0; i < 16; i++ {
			if i == 4 || i == 6 || i == 8 || i == 10 {
				out[j] = '-'
				j++
			}
			out[j], out[j+1] = hx[id.b[i]>>4], hx[id.b[i]&15]
			j += 2
		}
		return string(out[:])
	case idRaw:
		return string(id.b[:id.n])
	}
	return ""
}

// size is the number of meaningful bytes in b.
func (id eventID) size() int {
	if id.kind == idRaw {
		return int(id.n)
	}
	return 16
}

func (id eventID) hash() uint64 {
	return binary.LittleEndian.Uint64(id.b[:8]) ^ binary.LittleEndian.Uint64(id.b[8:])*0x9E3779B97F4A7C15 ^ uint64(id.kind)<<56 ^ uint64(id.n)
}

func fnv64(s string, seed uint64) uint64 {
	h := seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func fnv32(parts ...string) uint32 {
	h := uint32(2166136261)
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
		h ^= 0xff
		h *= 16777619
	}
	return h
}
