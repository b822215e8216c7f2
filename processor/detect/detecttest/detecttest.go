// Package detecttest builds detection state for tests and benchmarks.
package detecttest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/detect"
	sc "github.com/clarion-itdr/clarion/processor/scenario"
)

// SteadyUser builds a user at steady state with full rings: 400 sign-ins
// over two months from 12 places, 10 browsers and as many networks, and an
// open alert. It is the user the 2 KiB state bound is measured on.
func SteadyUser(t testing.TB) *detect.User {
	t.Helper()
	eng := detect.NewEngine(detect.Params{})
	var res detect.Result
	u := &detect.User{}
	places := []sc.Place{sc.NewYork, sc.Boston, sc.Chicago, sc.Denver, sc.Atlanta, sc.London, sc.Moscow, sc.Lagos, sc.Amsterdam, sc.Auckland, sc.Tokyo, sc.Honolulu}
	browsers := []string{"CHROME", "FIREFOX", "SAFARI", "EDGE", "OPERA", "BRAVE", "VIVALDI", "ARC", "LYNX", "TOR"}
	t0 := time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC)
	for i := 0; i < 400; i++ {
		s := sc.Signin{UserID: "00usteady", Login: "a.rather.long.login.name@some-company.example.com", At: t0.Add(time.Duration(i) * 3 * time.Hour), Place: places[0]}
		if i%5 == 0 {
			s.Place = places[(i/5)%len(places)]
			s.Browser = browsers[(i/5)%len(browsers)]
		}
		raw, _ := json.Marshal(s.Event())
		var ev logevent.Event
		if err := logevent.Parse(raw, &ev); err != nil {
			t.Fatal(err)
		}
		eng.Process("0oa1234567890", u, &ev, &res)
	}
	return u
}
