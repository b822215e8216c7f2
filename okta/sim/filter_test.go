package sim

import "testing"

func TestParseFilter(t *testing.T) {
	t.Parallel()
	v := &view{eventType: "user.session.start", actorID: "00u1", outcome: "SUCCESS",
		raw: func() []byte {
			return []byte(`{"client":{"geographicalContext":{"country":"France"}},"securityContext":{"isProxy":false,"asNumber":3215},` +
				`"target":[{"id":"lae1","type":"AuthenticatorEnrollment"},{"id":"00u9","type":"User","detailEntry":{"methodTypeUsed":"push"}}]}`)
		}}
	cases := []struct {
		f    string
		want bool
	}{
		{`eventType eq "user.session.start"`, true},
		{`eventType eq "user.session.end"`, false},
		{`eventType sw "user.session"`, true},
		{`eventType eq "x" or actor.id eq "00u1"`, true},
		{`eventType eq "x" or actor.id eq "00u1" and outcome.result eq "FAILURE"`, false},
		{`(eventType eq "x" or actor.id eq "00u1") and outcome.result eq "SUCCESS"`, true},
		{`not (outcome.result eq "SUCCESS")`, false},
		{`client.geographicalContext.country co "fra"`, true},
		{`securityContext.isProxy eq false`, true},
		{`securityContext.asNumber gt 3000 and securityContext.asNumber le 3215`, true},
		{`target pr`, true},
		{`target.id eq "00u9"`, true}, // any element of the array
		{`target.id eq "lae1"`, true},
		{`target.id eq "00u8"`, false},
		{`target.id ne "00u9"`, false}, // ne: no element equal
		{`target.id ne "00u8"`, true},
		{`target.type eq "User" and target.id sw "00u"`, true},
		{`target.detailEntry.methodTypeUsed eq "push"`, true},
		{`target.missing pr`, false},
		{`eventType eq "a" or eventType eq "b" or eventType eq "user.session.start"`, true},
		{`eventType sw "USER.SESSION"`, true},
		{`eventType sw "policy."`, false},
		{`actor.id ne "00u2"`, true},
		{`EVENTTYPE EQ "user.session.start"`, false}, // attribute names are case-sensitive paths
		{`eventType EQ "user.session.start" AND actor.id Eq "00u1"`, true},
		{`actor.alternateId eq "a \"quoted\" value"`, false},
	}
	for _, c := range cases {
		f, err := parseFilter(c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.f, err)
		}
		if got := f.match(v); got != c.want {
			t.Errorf("%s = %v, want %v", c.f, got, c.want)
		}
	}
	for _, bad := range []string{"", `eventType`, `eventType eq`, `eventType xx "a"`, `(eventType eq "a"`, `eventType eq "a")`,
		`eventType eq "unterminated`, `eventType eq bare`, `"quoted" eq "a"`, `eventType eq "a" and`} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`eventType eq "a"`, `(a eq "b" or c pr) and not d sw "e"`, `x gt 1.5`} {
		f.Add(s)
	}
	v := &view{raw: func() []byte { return []byte(`{"a":{"b":[1,2]},"c":"d"}`) }}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseFilter(s)
		if err == nil {
			flt.match(v)
		}
	})
}
