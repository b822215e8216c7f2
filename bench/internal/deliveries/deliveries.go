// Package deliveries generates realistic Okta event hook deliveries for
// benchmarks: user.session.start events in Okta's shape (about 2.2 KB each,
// compact JSON as Okta sends them) inside Okta's envelope.
package deliveries

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

// Delivery is one request body and the number of events in it.
type Delivery struct {
	Body   []byte
	Events int
}

// Make builds n envelopes of min..max realistic events each, deterministically
// but for the uuids, which are random so that repeated runs do not collide.
func Make(n, min, max int) []Delivery {
	rng := mrand.New(mrand.NewPCG(1, 2))
	out := make([]Delivery, n)
	for i := range out {
		k := min + rng.IntN(max-min+1)
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://bench.okta.com/api/v1/eventHooks/whobench","eventId":"%s","eventTime":"2026-11-29T10:00:00.000Z","contentType":"application/json","data":{"events":[`, uuid())
		for e := 0; e < k; e++ {
			if e > 0 {
				b.WriteByte(',')
			}
			WriteEvent(&b, rng)
		}
		b.WriteString("]}}")
		out[i] = Delivery{Body: b.Bytes(), Events: k}
	}
	return out
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var cities = []struct {
	city, state, country string
	lat, lon             float64
	ip                   string
}{
	{"Toronto", "Ontario", "Canada", 43.6567, -79.34, "142.126.158.61"},
	{"New York", "New York", "United States", 40.7128, -74.006, "72.229.28.185"},
	{"London", "England", "United Kingdom", 51.5072, -0.1276, "81.2.69.142"},
	{"Berlin", "Berlin", "Germany", 52.52, 13.405, "91.64.12.7"},
	{"Tokyo", "Tokyo", "Japan", 35.6762, 139.6503, "126.15.8.200"},
	{"Atlanta", "Georgia", "United States", 33.9794, -84.3459, "99.108.5.25"},
}

// WriteEvent writes one user.session.start LogEvent in Okta's shape (about
// 2 KB, as Okta sends them: compact JSON) for a random user at a synthetic
// time.
func WriteEvent(b *bytes.Buffer, rng *mrand.Rand) {
	user := rng.IntN(5000)
	ts := time.Date(2026, 11, 29, 10, rng.IntN(60), rng.IntN(60), rng.IntN(1000)*1e6, time.UTC)
	WriteEventAt(b, rng, fmt.Sprintf("00u%016d", user), user, ts, false)
}

// WriteEventAt writes one user.session.start LogEvent for the user with the
// given actor id, published at ts. Each user signs in from one home city
// (chosen by home), with their usual device and network; proxy marks the
// sign-in as coming from an anonymising proxy.
func WriteEventAt(b *bytes.Buffer, rng *mrand.Rand, actorID string, home int, ts time.Time, proxy bool) {
	c := cities[home%len(cities)]
	fmt.Fprintf(b, `{"uuid":"%s","published":"%s","eventType":"user.session.start","version":"0","displayMessage":"User login to Okta","severity":"INFO",`+
		`"client":{"userAgent":{"rawUserAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","os":"Mac OS X","browser":"CHROME"},"zone":"null","device":"Computer","id":null,"ipAddress":"%s",`+
		`"geographicalContext":{"city":"%s","state":"%s","country":"%s","postalCode":"M4M","geolocation":{"lat":%.4f,"lon":%.4f}},`+
		`"ipChain":[{"ip":"%s","geographicalContext":{"city":"%s","state":"%s","country":"%s","postalCode":"M4M","geolocation":{"lat":%.4f,"lon":%.4f}},"version":"V4","source":null}]},`+
		`"device":null,"actor":{"id":"%s","type":"User","alternateId":"%s@bench.example.com","displayName":"User %d","detailEntry":null},`+
		`"outcome":{"result":"SUCCESS","reason":null},`+
		`"target":[{"id":"lae42mkdc9i9cbw3U1d6","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Password","detailEntry":null},{"id":"0oaz9fj21WKqTeaqs1d6","type":"AppInstance","alternateId":"Okta Dashboard","displayName":"Okta Dashboard","detailEntry":null}],`+
		`"transaction":{"type":"WEB","id":"ZCCzm8j2wTvzwele2NwLnwAADSc","detail":{}},`+
		`"debugContext":{"debugData":{"authnRequestId":"ZCCzlCoZuOyo8RfASqHmPAAAAc8","deviceFingerprint":"%032x","requestId":"ZCCzm8j2wTvzwele2NwLnwAADSc","dtHash":"f59d98b2e02f1319ef4ca651f57c36e3f25507f67dd6daf0408f753896b7e8dc","origin":"https://bench.okta.com","requestUri":"/idp/idx/identify","threatSuspected":"false","url":"/idp/idx/identify?"}},`+
		`"legacyEventType":"core.user_auth.login_success","authenticationContext":{"authenticationProvider":null,"credentialProvider":null,"credentialType":null,"issuer":null,"authenticationStep":0,"externalSessionId":"idxyNcxVX2ESsSL0u462548Qg","interface":null},`+
		`"securityContext":{"asNumber":%d,"asOrg":"example carrier","isp":"example isp inc","domain":"example.net","isProxy":%t},"insertionTimestamp":null}`,
		uuid(), ts.UTC().Format("2006-01-02T15:04:05.000Z"), c.ip, c.city, c.state, c.country, c.lat, c.lon, c.ip, c.city, c.state, c.country, c.lat, c.lon,
		actorID, actorID, home, uint64(home)*0x9e3779b97f4a7c15, 7000+home%50, proxy)
}
