package traffic

import (
	"strconv"
	"time"
	"unicode/utf8"
)

var apps = []string{"Slack", "Salesforce", "GitHub Enterprise", "Google Workspace", "Zoom", "Jira Cloud", "Workday", "Box"}

// AppendJSONString appends s as a JSON string literal.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendTime appends t as Okta writes published: RFC 3339, UTC, milliseconds.
func AppendTime(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	hh, mi, ss := t.Clock()
	frac := ms % 1000
	if frac < 0 {
		frac += 1000
	}
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, hh)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, ss)
	dst = append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), 'Z')
	return dst
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// AppendIP appends an IPv4 address in dotted form.
func AppendIP(dst []byte, ip uint32) []byte {
	dst = strconv.AppendUint(dst, uint64(ip>>24), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(ip>>16&0xff), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(ip>>8&0xff), 10)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, uint64(ip&0xff), 10)
}

// UUID returns r's uuid (a version-1 UUID whose time is r's published time).
func (m *Model) UUID(r *Record) string { return string(m.appendUUID(nil, r)) }

func (m *Model) appendUUID(dst []byte, r *Record) []byte {
	h := splitmix64(m.seed*0x100000001b3 ^ r.Seq)
	ts := uint64(r.Published)*10000 + 0x01B21DD213814000 + h%10000
	tl, tm, th := ts&0xffffffff, ts>>32&0xffff, ts>>48&0x0fff|0x1000
	cs := (h>>20)&0x3fff | 0x8000
	node := splitmix64(h) & 0xffffffffffff
	hx := func(v uint64, n int) {
		for i := n - 1; i >= 0; i-- {
			dst = append(dst, hexDigits[(v>>(4*uint(i)))&0xf])
		}
	}
	hx(tl, 8)
	dst = append(dst, '-')
	hx(tm, 4)
	dst = append(dst, '-')
	hx(th, 4)
	dst = append(dst, '-')
	hx(cs, 4)
	dst = append(dst, '-')
	hx(node, 12)
	return dst
}

func appendGeo(dst []byte, c *City, lat, lon float64) []byte {
	dst = append(dst, `{"city":`...)
	dst = AppendJSONString(dst, c.Name)
	dst = append(dst, `,"state":`...)
	dst = AppendJSONString(dst, c.State)
	dst = append(dst, `,"country":`...)
	dst = AppendJSONString(dst, c.Country)
	dst = append(dst, `,"postalCode":`...)
	if c.Postal == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendJSONString(dst, c.Postal)
	}
	dst = append(dst, `,"geolocation":{"lat":`...)
	dst = strconv.AppendFloat(dst, lat, 'f', -1, 64)
	dst = append(dst, `,"lon":`...)
	dst = strconv.AppendFloat(dst, lon, 'f', -1, 64)
	return append(dst, "}}"...)
}

var behaviorNames = [...]struct {
	name string
	bit  uint8
}{
	{"New Geo-Location", behNewGeo}, {"New Device", behNewDevice}, {"New IP", behNewIP},
	{"New State", behNewState}, {"New Country", behNewCountry}, {"Velocity", behVelocity},
	{"New City", behNewCity},
}

// AppendJSON appends r rendered as one LogEvent JSON object.
func (m *Model) AppendJSON(dst []byte, r *Record) []byte {
	if r.Kind > KindSSO {
		return m.appendDetail(dst, r)
	}
	c := &cities[r.City]
	n := &networks[r.Net]
	m.mu.RLock()
	dv := &m.devices[r.Dev]
	m.mu.RUnlock()
	h := splitmix64(m.seed ^ r.Seq*0x9e3779b97f4a7c15)
	dst = append(dst, `{"uuid":"`...)
	dst = m.appendUUID(dst, r)
	dst = append(dst, `","published":"`...)
	dst = AppendTime(dst, r.Published)
	dst = append(dst, `","eventType":"`...)
	dst = append(dst, eventTypes[r.Kind]...)
	dst = append(dst, `","version":"0","displayMessage":`...)
	if r.Kind == KindSSO {
		dst = append(dst, `"User single sign on to app"`...)
	} else {
		dst = append(dst, `"User login to Okta"`...)
	}
	dst = append(dst, `,"severity":"INFO","client":{"userAgent":{"rawUserAgent":`...)
	dst = AppendJSONString(dst, dv.UA)
	dst = append(dst, `,"os":`...)
	dst = AppendJSONString(dst, dv.OS)
	dst = append(dst, `,"browser":`...)
	dst = AppendJSONString(dst, dv.Browser)
	dst = append(dst, `},"zone":"null","device":`...)
	dst = AppendJSONString(dst, dv.Type)
	dst = append(dst, `,"id":null,"ipAddress":"`...)
	dst = AppendIP(dst, r.IP)
	dst = append(dst, `","geographicalContext":`...)
	dst = appendGeo(dst, c, r.Lat, r.Lon)
	dst = append(dst, `},"device":null,"actor":{"id":`...)
	dst = AppendJSONString(dst, m.ActorID(r))
	dst = append(dst, `,"type":"User","alternateId":`...)
	dst = AppendJSONString(dst, m.Login(r))
	dst = append(dst, `,"displayName":`...)
	if r.User < 0 || r.Flags&flagActorUnknown != 0 {
		dst = append(dst, `"unknown"`...)
	} else {
		u := &m.pub[r.User]
		dst = AppendJSONString(dst, u.FirstName+" "+u.LastName)
	}
	dst = append(dst, `,"detailEntry":null},"outcome":{"result":`...)
	switch r.Result {
	case resSuccess:
		dst = append(dst, `"SUCCESS","reason":null}`...)
	case resInvalidCredentials:
		dst = append(dst, `"FAILURE","reason":"INVALID_CREDENTIALS"}`...)
	default:
		dst = append(dst, `"FAILURE","reason":"VERIFICATION_ERROR"}`...)
	}
	dst = append(dst, `,"target":`...)
	switch {
	case r.Kind == KindSSO:
		app := apps[r.App]
		dst = append(dst, `[{"id":"0oa`...)
		dst = appendBase62(dst, splitmix64(m.seed^uint64(r.App)*77), 17)
		dst = append(dst, `","type":"AppInstance","alternateId":`...)
		dst = AppendJSONString(dst, app)
		dst = append(dst, `,"displayName":`...)
		dst = AppendJSONString(dst, app)
		dst = append(dst, `,"detailEntry":{"signOnModeType":"SAML_2_0"}},{"id":"0ua`...)
		dst = appendBase62(dst, splitmix64(m.seed^uint64(r.App)*77^uint64(r.User)<<24), 17)
		dst = append(dst, `","type":"AppUser","alternateId":`...)
		dst = AppendJSONString(dst, m.Login(r))
		dst = append(dst, `,"displayName":`...)
		dst = AppendJSONString(dst, m.pub[r.User].FirstName+" "+m.pub[r.User].LastName)
		dst = append(dst, `,"detailEntry":null}]`...)
	case r.Result == resSuccess:
		dst = append(dst, `[{"id":"lae`...)
		dst = appendBase62(dst, splitmix64(m.seed^uint64(r.User)*31), 17)
		dst = append(dst, `","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Password","detailEntry":null},{"id":"0oa`...)
		dst = appendBase62(dst, splitmix64(m.seed^0xda5), 17)
		dst = append(dst, `","type":"AppInstance","alternateId":"Okta Dashboard","displayName":"Okta Dashboard","detailEntry":null}]`...)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"transaction":{"type":"WEB","id":"`...)
	reqID := len(dst)
	dst = appendBase62(dst, h, 27)
	reqIDs := string(dst[reqID:])
	dst = append(dst, `","detail":{}},"debugContext":{"debugData":{`...)
	if r.Kind == KindSessionStart {
		dst = append(dst, `"authnRequestId":"`...)
		dst = appendBase62(dst, splitmix64(h), 27)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"deviceFingerprint":"`...)
	dst = append(dst, dv.Fingerprint...)
	dst = append(dst, `","requestId":"`...)
	dst = append(dst, reqIDs...)
	dst = append(dst, `","dtHash":"`...)
	dst = appendDTHash(dst, r.Session, h)
	dst = append(dst, `","origin":"https://`...)
	dst = append(dst, m.cfg.OrgDomain...)
	uri := "/idp/idx/identify"
	switch {
	case r.Kind == KindSSO:
		uri = "/app/" + apps[r.App] + "/sso/saml"
	case r.Result == resSuccess && r.Dev >= 0 && dv.Type == "Mobile":
		uri = "/idp/idx/authenticators/poll"
	case r.Result != resSuccess:
		uri = "/api/v1/authn"
	}
	dst = append(dst, `","requestUri":`...)
	dst = AppendJSONString(dst, uri)
	dst = append(dst, `,"url":`...)
	dst = AppendJSONString(dst, uri+"?")
	dst = append(dst, `,"threatSuspected":"`...)
	if r.Flags&flagThreat != 0 {
		dst = append(dst, "true"...)
	} else {
		dst = append(dst, "false"...)
	}
	dst = append(dst, '"')
	if r.Result != resSuccess {
		dst = append(dst, `,"loginResult":`...)
		if r.Result == resInvalidCredentials {
			dst = append(dst, `"INVALID_CREDENTIALS"`...)
		} else {
			dst = append(dst, `"VERIFICATION_ERROR"`...)
		}
	}
	if r.Kind == KindSessionStart {
		dst = append(dst, `,"behaviors":"{`...)
		for i, b := range behaviorNames {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, b.name...)
			switch {
			case r.Flags&flagBehaviorsUnknown != 0:
				dst = append(dst, "=UNKNOWN"...)
			case r.Behaviors&b.bit != 0:
				dst = append(dst, "=POSITIVE"...)
			default:
				dst = append(dst, "=NEGATIVE"...)
			}
		}
		dst = append(dst, `}","risk":"{`...)
		switch {
		case r.Flags&flagThreat != 0 || r.Behaviors&(behNewCountry|behVelocity) != 0:
			dst = append(dst, "reasons=Anomalous Location, level=HIGH"...)
		case r.Behaviors&(behNewCity|behNewDevice) != 0:
			dst = append(dst, "reasons=Anomalous Device or Location, level=MEDIUM"...)
		default:
			dst = append(dst, "level=LOW"...)
		}
		dst = append(dst, `}"`...)
	}
	dst = append(dst, `}},"legacyEventType":`...)
	switch {
	case r.Kind == KindSSO:
		dst = append(dst, `"app.auth.sso"`...)
	case r.Result == resSuccess:
		dst = append(dst, `"core.user_auth.login_success"`...)
	default:
		dst = append(dst, `"core.user_auth.login_failed"`...)
	}
	dst = append(dst, `,"authenticationContext":{"authenticationProvider":null,"credentialProvider":null,"credentialType":null,"issuer":null,"authenticationStep":0,"externalSessionId":`...)
	dst = appendSessionID(dst, r.Session)
	if r.Session != 0 {
		dst = append(dst, `,"rootSessionId":`...)
		dst = appendSessionID(dst, r.Session)
	}
	dst = append(dst, `,"interface":null},"securityContext":{"asNumber":`...)
	dst = strconv.AppendInt(dst, int64(n.ASN), 10)
	dst = append(dst, `,"asOrg":`...)
	dst = AppendJSONString(dst, n.ASOrg)
	dst = append(dst, `,"isp":`...)
	dst = AppendJSONString(dst, n.ISP)
	dst = append(dst, `,"domain":`...)
	dst = AppendJSONString(dst, n.Domain)
	dst = append(dst, `,"isProxy":`...)
	if r.Flags&flagProxy != 0 {
		dst = append(dst, "true"...)
	} else {
		dst = append(dst, "false"...)
	}
	dst = append(dst, `},"insertionTimestamp":null,"request":{"ipChain":[{"ip":"`...)
	dst = AppendIP(dst, r.IP)
	dst = append(dst, `","geographicalContext":`...)
	dst = appendGeo(dst, c, r.Lat, r.Lon)
	dst = append(dst, `,"version":"V4","source":null}]}}`...)
	return dst
}
