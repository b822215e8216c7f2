// Package traffic is the simulated Okta org's traffic model: seeded,
// deterministic System Log events (user.session.start, optionally
// user.authentication.sso and the rest of the sign-in flow) for an org's
// users, with injected attacks and the ground truth a detector is scored
// against.
//
// # The org
//
// Users live in real cities worldwide (real coordinates, IANA zones, the
// broadband and mobile networks people there use, with real ASNs). About
// 45% work at the head office (San Francisco), 20% at the London office and
// 12% at the Bengaluru office; the rest work remotely from their home city.
// Each user has office hours in their own local time (daylight saving
// honoured), works Monday to Friday with occasional leave, evenings and (for
// some) weekends, and rarely a night on call (a sign-in at home between
// 00:30 and 04:30 on 0.3% of days at home; no user is on call more than
// another). Office workers commute: home
// and office are both in the metro area (home within 15 km of the centre;
// every IP geolocates to a point up to 3 km from its anchor, so the same IP
// always lands on the same point). Some users sign in from their phone: a
// mobile carrier whose gateway geolocates to another city, often hundreds of
// km away (San Francisco's carrier to Los Angeles, London's to Manchester).
// Some use the corporate VPN, whose egress is at the head office. Users
// change home IP, ISP and laptop now and then (new_device, new_network).
// Travellers take business trips by plane: the last sign-in at home is at
// least 2 h before departure, flights take distance/800 km/h + 45 min, and
// the first sign-in at the destination is at least 1 h after arrival, so a
// trip is never faster than ~800 km/h door to door. At the destination they
// sign in from the hotel's guest Wi-Fi or the site's network, in the
// destination's office hours. A few users are hired during the window.
//
// # Attacks (Event.Attack)
//
// AttackRate incidents per user per day (default 0.005):
//   - credential_stuffing: a burst of failed sign-ins from one to three IPs
//     of one network abroad against several users (some logged with actor.id
//     "unknown") and against logins that do not exist; sometimes followed by
//     one success for one victim from the same network and tool.
//   - session_theft: the victim signs in at home or work, and 2–30 minutes
//     later the same session (same externalSessionId and device
//     fingerprint) signs in from abroad.
//   - impossible_travel: as above with stolen credentials on a new device,
//     sometimes after a failed MFA attempt or two.
//   - anonymizing_proxy: a sign-in through a commercial VPN or Tor exit
//     (securityContext.isProxy true, threatSuspected "true").
//
// Every event of an incident (failures included) carries the attack's kind.
//
// Model.Inject builds attacks on demand (the simulator's POST /sim/attacks):
// impossible_travel and anonymizing_proxy as above, and for the sign-in
// security detections password_spray, brute_force (ending in
// user.account.lock), credential_stuffing (with security.threat.detected),
// mfa_fatigue (pushes rejected with user.mfa.okta_verify.deny_push, then one
// accepted), session_hijack (one session's ids used from two places) and
// factor_reset (user.mfa.factor.reset_all, then the attacker's own factor
// activated).
//
// # The sign-in flow (Config.SignInDetail)
//
// Around each user.session.start Okta logs more of the flow; with
// SignInDetail the model writes it, shaped like the public events of
// okta/corpus, every event after its sign-in and in the same session (one
// externalSessionId, rootSessionId and debugData.dtHash for all of a
// session's events), at these rates:
//
//   - policy.evaluate_sign_on (outcome ALLOW): every successful sign-in,
//     10–50 ms after it.
//   - a second factor on 82% of successful sign-ins (the rest come from a
//     remembered device): Okta Verify push for 70% of them
//     (system.push.send_factor_verify_push, then
//     user.authentication.auth_via_mfa 3–17 s later), else a code or
//     WebAuthn (user.authentication.auth_via_mfa 6–31 s after the sign-in).
//   - user.authentication.sso (an app opened through Okta) 2–42 s after 70%
//     of successful sign-ins, as AppSignOns adds them.
//   - user.session.end for 35% of sessions (an explicit sign-out 1–9 h
//     later; the others expire).
//   - user.risk.detect after a risky sign-in (Okta flagged it, or its
//     behaviours show a new country or velocity).
//   - security.threat.detected for a quarter of the credential-stuffing
//     failures (ThreatInsight; actor Okta System).
//   - user.mfa.factor.deactivate then .activate (a new phone) after 0.3% of
//     sign-ins.
//
// The flow's events draw from a hash of their sign-in and take stream
// positions of their own, so the sign-ins, their uuids and labels are the
// same with or without SignInDetail.
//
// # Labels (Event.Expect): what a correct detector reports on an event
//
// Labels follow DESIGN.md's "What each detector means", applied mechanically
// to what a detector can observe (the events, in published order), with the
// thresholds below. One event may carry several labels; benign events carry
// them too (a business trip's first sign-in is unusual_location). Only
// successful user.session.start events carry labels. "History" is the
// user's successful sign-ins published before the event (failures never
// count); "place" is the geolocation of client.geographicalContext.
//
//   - Learning period: location, device and network labels need at least
//     LearningSignIns (10) earlier successful sign-ins, the first at least
//     LearningDays (7) days before; unusual_time needs TimeLearningDays (14)
//     days. A user in the learning period gets none of these labels.
//   - Familiar place: within FamiliarKm (100 km) of a place in the user's
//     history, or common across the tenant: at least TenantCommonShare (10%)
//     of the org's users (and at least 3) have a successful sign-in within
//     100 km of it so far (the offices, and so the VPN egress). Every city in
//     the model is at least 150 km from every other, so "within 100 km" is
//     "the same city".
//   - unusual_location: past learning, and the place is not familiar.
//   - impossible_travel: past learning, the place is not familiar, and the
//     event and its previous or its next successful sign-in (of the same user,
//     in published order) are on different IPs and further apart than
//     GeoAllowanceKm (100 km) + MaxTravelKmh (1000 km/h) × the hours between
//     them. The label goes on the sign-in from the unfamiliar place only; a
//     hop between two familiar places (home and the mobile carrier's city,
//     home and the VPN egress) is never impossible travel, and neither is
//     a hop inside a metro area or a repeat from the same IP.
//   - unusual_time: past the 14-day learning period, and no earlier
//     successful sign-in of the user on the same kind of day (Monday–Friday,
//     or Saturday–Sunday) within ±2 hours (TimeWindowHours) of the event's
//     hour, every hour taken in the local time where the user was at that
//     sign-in (daylight saving included): the event's hour and kind of day
//     in the zone where the user is at the event, and each earlier sign-in's
//     hour and kind of day in the zone where the user was at it, fixed when
//     it happened. Where the user is follows DESIGN.md: the zone of the
//     sign-in's city when that place is credible, the home zone
//     (User.TimeZone) otherwise. Every fix in the model is city-level (the
//     model has no country-level fixes); the non-credible places are the
//     gateways: the tenant's VPN egress (Zscaler, at the head office) and the
//     phone carrier's gateway city, which the model only uses while the user
//     is at home, so the home zone is also where the user really is. So a
//     sign-in at home, at the office or a café is judged in the home zone, one
//     on a trip (hotel or site) in the destination's zone, an attacker's in
//     the zone of the attacker's city (the place a detector sees, a
//     data-centre network's included), and one through an anonymising exit
//     (securityContext.isProxy: a commercial VPN or Tor exit, which says
//     nothing about where the one signing in is) in the home zone. On-call: a sign-in at night
//     (00:00–05:59 where the user is, NightFromHour–NightToHour) is not
//     unusual_time when the user's history has at least OnCallNights (2)
//     sign-ins at night, each in the local time where the user was. The
//     model's nights on call are rare for everyone (0.3% of days at home),
//     so few users ever have two.
//   - new_device: past learning, and debugContext.debugData.deviceFingerprint
//     is not in the user's history.
//   - new_network: past learning, and securityContext.asNumber is not in the
//     user's history.
//   - anonymizing_proxy: securityContext.isProxy is true, or Okta flagged
//     the sign-in (debugContext.debugData.threatSuspected "true"); no
//     learning period needed.
//
// Okta's own debugData.behaviors ({New City=POSITIVE, ...}) are filled in as
// Okta computes them (new geo-location within 20 km of the last 20 sign-ins,
// new country among the last 10, velocity above 805 km/h), UNKNOWN for a
// user's first sign-in.
//
// The model keeps about 100 bytes per event (Record) and renders JSON with
// an append-only encoder (AppendJSON), so a simulator can hold millions of
// events and serve them fast.
package traffic
