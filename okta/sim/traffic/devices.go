package traffic

import "strconv"

// Device is one browser on one machine: Okta's deviceFingerprint stays the
// same for it, a new machine or a fresh browser profile gets a new one.
type Device struct {
	Fingerprint string // 32 hex digits
	UA          string
	OS          string
	Browser     string
	Type        string // "Computer" or "Mobile"
}

type uaTemplate struct {
	os, browser, typ string
	build            func(v int) string
}

var laptopUAs = []uaTemplate{
	{"Mac OS X", "CHROME", "Computer", func(v int) string {
		return "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(v) + ".0.0.0 Safari/537.36"
	}},
	{"Windows 10", "CHROME", "Computer", func(v int) string {
		return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(v) + ".0.0.0 Safari/537.36"
	}},
	{"Windows 10", "EDGE", "Computer", func(v int) string {
		return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(v) + ".0.0.0 Safari/537.36 Edg/" + strconv.Itoa(v) + ".0.0.0"
	}},
	{"Mac OS X", "SAFARI", "Computer", func(v int) string {
		return "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/" + strconv.Itoa(v/8) + ".0 Safari/605.1.15"
	}},
	{"Linux", "FIREFOX", "Computer", func(v int) string {
		return "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:" + strconv.Itoa(v) + ".0) Gecko/20100101 Firefox/" + strconv.Itoa(v) + ".0"
	}},
}

var phoneUAs = []uaTemplate{
	{"iOS", "MOBILE SAFARI", "Mobile", func(v int) string {
		return "Mozilla/5.0 (iPhone; CPU iPhone OS 17_" + strconv.Itoa(v%7) + " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	}},
	{"Android 14", "CHROME", "Mobile", func(v int) string {
		return "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(v) + ".0.0.0 Mobile Safari/537.36"
	}},
}

const hexDigits = "0123456789abcdef"

func hex128(a, b uint64) string {
	var buf [32]byte
	for i := 0; i < 16; i++ {
		buf[i] = hexDigits[(a>>(60-4*uint(i)))&15]
		buf[16+i] = hexDigits[(b>>(60-4*uint(i)))&15]
	}
	return string(buf[:])
}

// splitmix64 is a fast, good 64-bit mixer: ids are hashes of (seed, counter).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 appends n characters derived from h (and its successors).
func appendBase62(dst []byte, h uint64, n int) []byte {
	for i := 0; i < n; i++ {
		if i%10 == 0 && i > 0 {
			h = splitmix64(h)
		}
		dst = append(dst, base62[h%62])
		h /= 62
	}
	return dst
}
