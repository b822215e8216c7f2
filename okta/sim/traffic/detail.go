package traffic

import "strconv"

// Factors as Okta names them in debugData.factor; Record.App holds the
// index for the MFA and factor events.
var factors = [...]struct{ factor, display, typ string }{
	{"OKTA_VERIFY_PUSH", "Okta Verify", "push"},
	{"OKTA_VERIFY_TOTP", "Okta Verify", "token:software:totp"},
	{"GOOGLE_AUTHENTICATOR", "Google Authenticator", "token:software:totp"},
	{"FIDO_WEBAUTHN", "Security Key or Biometric", "webauthn"},
}

const (
	factorPush uint8 = iota
	factorTOTP
	factorGoogle
	factorWebAuthn
)

// Rates of the sign-in flow around a user.session.start (per mille of the
// sign-ins that qualify), chosen to look like a typical workforce org.
const (
	mfaPerMille     = 820 // successful sign-ins that ask for a second factor (the rest: remembered device)
	pushPerMille    = 700 // of those, Okta Verify push (else TOTP, Google Authenticator, WebAuthn)
	logoutPerMille  = 350 // sessions ended by an explicit sign-out (the rest expire)
	reenrolPerMille = 3   // sign-ins followed by a factor re-enrolment (new phone)
	threatPerMille  = 250 // credential-stuffing failures that ThreatInsight reports
	msSecond        = 1000
	msMinute        = 60 * msSecond
	msHour          = 60 * msMinute
)

// queueDetail queues the events Okta logs around the sign-in r (a
// user.session.start), all after it and sharing its session and client:
// the sign-on policy evaluation, the second factor (a push sent and
// verified, or a code), the session's end, Okta's own risk detection on a
// risky sign-in, ThreatInsight on credential stuffing and, rarely, a
// factor re-enrolment. Draws come from a hash of the sign-in, never from a
// stream the sign-ins use, so the sign-ins are what they are without it.
func (m *Model) queueDetail(r *Record) {
	h := splitmix64(uint64(r.Published)*0x9e3779b97f4a7c15 ^ uint64(uint32(r.User))<<20 ^ m.seed ^ 0xde7a11)
	draw := func(n uint64) uint64 { // a fresh uniform draw in [0, n)
		h = splitmix64(h)
		return h % n
	}
	base := *r
	base.Expect, base.Seq = 0, 0
	derive := func(kind, result uint8, after int64) Record {
		d := base
		d.Kind, d.Result = kind, result
		d.Published = r.Published + after
		return d
	}
	if !r.Success() {
		if r.Attack == attStuffing && draw(1000) < threatPerMille {
			t := derive(KindThreat, resSuccess, 400+int64(draw(2000)))
			t.User, t.Flags = -1, t.Flags|flagThreat
			m.queueAt(t)
		}
		return
	}
	at := int64(10 + draw(40))
	m.queueAt(derive(KindPolicy, resAllow, at))
	if draw(1000) < mfaPerMille {
		f := factorPush
		if draw(1000) >= pushPerMille {
			f = factorTOTP + uint8(draw(3))
		}
		if f == factorPush {
			at += 800 + int64(draw(2500))
			p := derive(KindPushSend, resSuccess, at)
			p.App = f
			m.queueAt(p)
			at += 3*msSecond + int64(draw(14*msSecond))
		} else {
			at += 6*msSecond + int64(draw(25*msSecond))
		}
		v := derive(KindMFA, resSuccess, at)
		v.App = f
		m.queueAt(v)
	}
	if r.Flags&flagThreat != 0 || r.Behaviors&(behNewCountry|behVelocity) != 0 {
		m.queueAt(derive(KindRisk, resSuccess, at+500+int64(draw(1500))))
	}
	if draw(1000) < reenrolPerMille {
		d := derive(KindFactorDeactivate, resSuccess, at+2*msMinute+int64(draw(20*msMinute)))
		d.App = factorPush
		m.queueAt(d)
		a := d
		a.Kind, a.Published = KindFactorActivate, d.Published+40*msSecond+int64(draw(3*msMinute))
		m.queueAt(a)
	}
	if draw(1000) < logoutPerMille {
		m.queueAt(derive(KindSessionEnd, resSuccess, msHour+int64(draw(8*msHour))))
	}
}

// sessionID appends the session's id as Okta writes externalSessionId.
func appendSessionID(dst []byte, session uint64) []byte {
	if session == 0 {
		return append(dst, `"unknown"`...)
	}
	dst = append(dst, `"idx`...)
	dst = appendBase62(dst, session, 22)
	return append(dst, '"')
}

// appendDTHash appends the device-token hash: the session's (the same on
// every event of one session), or the event's own when it has none.
func appendDTHash(dst []byte, session, h uint64) []byte {
	if session != 0 {
		h = splitmix64(session ^ 0xd7)
	}
	dst = append(dst, hex128(splitmix64(h^1), splitmix64(h^2))...)
	return append(dst, hex128(splitmix64(h^3), splitmix64(h^4))...)
}

// detailShape is how one detail kind is written.
type detailShape struct {
	display, severity, legacy, uri string
}

var detailShapes = [numKinds]detailShape{
	KindMFA:              {"Authentication of user via MFA", "INFO", "core.user.factor.attempt_success", "/idp/idx/challenge/answer"},
	KindPushSend:         {"A push was sent to a user for verification", "INFO", "", "/idp/idx/challenge"},
	KindPushDeny:         {"User rejected Okta push verify", "WARN", "core.user.factor.attempt_fail", "/idp/idx/authenticators/poll"},
	KindPolicy:           {"Evaluation of sign-on policy", "INFO", "", "/idp/idx/identify"},
	KindSessionEnd:       {"User logout from Okta", "INFO", "core.user_auth.logout_success", "/login/signout"},
	KindLock:             {"Max sign in attempts exceeded", "WARN", "core.user_auth.account_locked", "/api/v1/authn"},
	KindFactorActivate:   {"User set up MFA factor", "INFO", "core.user.factor.activate", "/idp/idx/credential/enroll"},
	KindFactorDeactivate: {"User reset MFA factor", "INFO", "core.user.factor.deactivate", "/api/v1/users/me/factors"},
	KindFactorResetAll:   {"Reset all factors for user", "INFO", "core.user.factor.reset_all", "/api/v1/users/me/lifecycle/reset_factors"},
	KindThreat:           {"Request from suspicious actor", "WARN", "", "/api/v1/authn"},
	KindRisk:             {"User login risk detected", "WARN", "", "/idp/idx/identify"},
}

// appendDetail renders a detail kind (not user.session.start or
// user.authentication.sso) as Okta writes it: the session's client,
// authenticationContext and dtHash, the kind's display message, outcome,
// targets and debugData.
func (m *Model) appendDetail(dst []byte, r *Record) []byte {
	c := &cities[r.City]
	n := &networks[r.Net]
	m.mu.RLock()
	dv := &m.devices[r.Dev]
	m.mu.RUnlock()
	sh := &detailShapes[r.Kind]
	h := splitmix64(m.seed ^ r.Seq*0x9e3779b97f4a7c15)
	dst = append(dst, `{"uuid":"`...)
	dst = m.appendUUID(dst, r)
	dst = append(dst, `","published":"`...)
	dst = AppendTime(dst, r.Published)
	dst = append(dst, `","eventType":"`...)
	dst = append(dst, eventTypes[r.Kind]...)
	dst = append(dst, `","version":"0","displayMessage":`...)
	dst = AppendJSONString(dst, sh.display)
	dst = append(dst, `,"severity":"`...)
	dst = append(dst, sh.severity...)
	dst = append(dst, `","client":{"userAgent":{"rawUserAgent":`...)
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
	if r.Kind == KindThreat {
		dst = append(dst, `,"type":"SystemPrincipal","alternateId":"`+systemActorLogin+`","displayName":"`+systemActorName+`","detailEntry":null}`...)
	} else {
		dst = append(dst, `,"type":"User","alternateId":`...)
		dst = AppendJSONString(dst, m.Login(r))
		dst = append(dst, `,"displayName":`...)
		dst = AppendJSONString(dst, m.displayName(r))
		dst = append(dst, `,"detailEntry":null}`...)
	}
	dst = append(dst, `,"outcome":{"result":"`...)
	dst = append(dst, r.Outcome()...)
	dst = append(dst, `","reason":`...)
	switch r.Result {
	case resAllow:
		dst = append(dst, `"Sign-on policy evaluation resulted in ALLOW"`...)
	case resLockedOut:
		dst = append(dst, `"LOCKED_OUT"`...)
	case resPushRejected:
		dst = append(dst, `"User rejected Okta push verify"`...)
	case resInvalidCredentials:
		dst = append(dst, `"INVALID_CREDENTIALS"`...)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `},"target":`...)
	dst = m.appendDetailTargets(dst, r)
	dst = append(dst, `,"transaction":{"type":"WEB","id":"`...)
	dst = appendBase62(dst, h, 27)
	dst = append(dst, `","detail":{}},"debugContext":{"debugData":{"deviceFingerprint":"`...)
	dst = append(dst, dv.Fingerprint...)
	dst = append(dst, `","requestId":"`...)
	dst = appendBase62(dst, h, 27)
	dst = append(dst, `","dtHash":"`...)
	dst = appendDTHash(dst, r.Session, h)
	dst = append(dst, `","requestUri":`...)
	dst = AppendJSONString(dst, sh.uri)
	dst = append(dst, `,"url":`...)
	dst = AppendJSONString(dst, sh.uri+"?")
	dst = append(dst, `,"threatSuspected":"`...)
	dst = strconv.AppendBool(dst, r.Flags&flagThreat != 0)
	dst = append(dst, '"')
	switch r.Kind {
	case KindMFA, KindPushSend, KindPushDeny, KindFactorActivate, KindFactorDeactivate:
		dst = append(dst, `,"factor":"`...)
		dst = append(dst, factors[r.App].factor...)
		dst = append(dst, '"')
	case KindThreat:
		dst = append(dst, `,"threatDetections":"{\"Password Spray\":\"HIGH\",\"Login failures\":\"HIGH\"}","threatSuspected":"true"`...)
	case KindRisk:
		dst = append(dst, `,"logOnlySecurityData":"{\"risk\":{\"reasons\":\"Anomalous Location\",\"level\":\"HIGH\"},\"behaviors\":{`...)
		for i, b := range behaviorNames {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `\"`...)
			dst = append(dst, b.name...)
			dst = append(dst, `\":\"`...)
			if r.Behaviors&b.bit != 0 {
				dst = append(dst, "POSITIVE"...)
			} else {
				dst = append(dst, "NEGATIVE"...)
			}
			dst = append(dst, `\"`...)
		}
		dst = append(dst, `}}"`...)
	}
	dst = append(dst, `}},"legacyEventType":`...)
	if sh.legacy == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendJSONString(dst, sh.legacy)
	}
	dst = append(dst, `,"authenticationContext":{"authenticationProvider":`...)
	if r.Kind == KindMFA || r.Kind == KindPushDeny {
		dst = append(dst, `"FACTOR_PROVIDER","credentialProvider":"OKTA_CREDENTIAL_PROVIDER"`...)
	} else {
		dst = append(dst, `null,"credentialProvider":null`...)
	}
	dst = append(dst, `,"credentialType":null,"issuer":null,"authenticationStep":0,"externalSessionId":`...)
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
	dst = strconv.AppendBool(dst, r.Flags&flagProxy != 0)
	dst = append(dst, `},"insertionTimestamp":null,"request":{"ipChain":[{"ip":"`...)
	dst = AppendIP(dst, r.IP)
	dst = append(dst, `","geographicalContext":`...)
	dst = appendGeo(dst, c, r.Lat, r.Lon)
	dst = append(dst, `,"version":"V4","source":null}]}}`...)
	return dst
}

func (m *Model) displayName(r *Record) string {
	if r.User < 0 || r.Flags&flagActorUnknown != 0 {
		return "unknown"
	}
	u := &m.pub[r.User]
	return u.FirstName + " " + u.LastName
}

// appendUserTarget appends the record's user as a target object.
func (m *Model) appendUserTarget(dst []byte, r *Record) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, m.ActorID(r))
	dst = append(dst, `,"type":"User","alternateId":`...)
	dst = AppendJSONString(dst, m.Login(r))
	dst = append(dst, `,"displayName":`...)
	dst = AppendJSONString(dst, m.displayName(r))
	return append(dst, `,"detailEntry":null}`...)
}

func (m *Model) appendDetailTargets(dst []byte, r *Record) []byte {
	switch r.Kind {
	case KindPolicy:
		dst = append(dst, `[{"id":"00p`...)
		dst = appendBase62(dst, splitmix64(m.seed^0x9011c7), 17)
		dst = append(dst, `","type":"PolicyEntity","alternateId":"unknown","displayName":"Default Policy","detailEntry":{"policyType":"OktaSignOn"}},{"id":"0pr`...)
		dst = appendBase62(dst, splitmix64(m.seed^0x9011c8), 17)
		dst = append(dst, `","type":"PolicyRule","alternateId":"00p`...)
		dst = appendBase62(dst, splitmix64(m.seed^0x9011c7), 17)
		return append(dst, `","displayName":"Default Rule","detailEntry":null}]`...)
	case KindMFA, KindPushSend, KindPushDeny, KindFactorActivate, KindFactorDeactivate:
		f := &factors[r.App]
		dst = append(dst, '[')
		dst = m.appendUserTarget(dst, r)
		dst = append(dst, `,{"id":"`...)
		if r.App == factorPush || r.App == factorTOTP {
			dst = append(dst, "opf"...)
		} else {
			dst = append(dst, "uft"...)
		}
		dst = appendBase62(dst, splitmix64(m.seed^uint64(uint32(r.User))<<8^uint64(r.App)), 17)
		dst = append(dst, `","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":`...)
		dst = AppendJSONString(dst, f.display)
		dst = append(dst, `,"detailEntry":{"methodTypeUsed":`...)
		if r.App == factorPush {
			dst = append(dst, `"Get a push notification"`...)
		} else {
			dst = AppendJSONString(dst, f.typ)
		}
		return append(dst, `}}]`...)
	case KindSessionEnd, KindRisk:
		return append(dst, "null"...)
	case KindThreat:
		return append(dst, "[]"...)
	}
	dst = append(dst, '[')
	dst = m.appendUserTarget(dst, r)
	return append(dst, ']')
}
