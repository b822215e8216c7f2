package detect

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/clarion-itdr/clarion/okta/logevent"
	sc "github.com/clarion-itdr/clarion/processor/scenario"
)

// TestTenantContextRestores: the tenant context (places, networks, egress
// points) an engine builds incrementally equals the one rebuilt from the
// users' encoded states, and detaching every user empties it, so a
// restarted processor restores exactly what it had.
func TestTenantContextRestores(t *testing.T) {
	t.Parallel()
	eng := NewEngine(Params{})
	users := map[string]*User{}
	var res Result
	for _, s := range sc.Realistic(sc.RealConfig{Seed: 3, Users: 60, Days: 24}) {
		raw, _ := json.Marshal(s.Event())
		var ev logevent.Event
		if err := logevent.Parse(raw, &ev); err != nil {
			t.Fatal(err)
		}
		u := users[ev.UserKey()]
		if u == nil {
			u = &User{}
			users[ev.UserKey()] = u
		}
		eng.Process("t", u, &ev, &res)
	}
	want := eng.tenant("t")
	if len(want.egress) == 0 {
		t.Fatal("no egress counts learned")
	}
	learned := 0
	for k := range want.egress {
		if eng.egressKnown(want, k) {
			learned++
		}
	}
	if learned == 0 {
		t.Error("no egress point learned from the corporate VPN and the proxy")
	}
	back := NewEngine(Params{})
	for _, u := range users {
		var v User
		if err := v.UnmarshalBinary(u.AppendBinary(nil)); err != nil {
			t.Fatal(err)
		}
		back.Attach("t", &v)
	}
	got := back.tenant("t")
	if got.known != len(got.knownKeys) || got.known != want.known {
		t.Errorf("known egress points: restored %d (%d keys), incremental %d", got.known, len(got.knownKeys), want.known)
	}
	if got.users != want.users || !reflect.DeepEqual(got.places, want.places) || !reflect.DeepEqual(got.asns, want.asns) || !reflect.DeepEqual(got.egress, want.egress) {
		t.Errorf("restored tenant context differs: users %d/%d places %d/%d asns %d/%d egress %d/%d",
			got.users, want.users, len(got.places), len(want.places), len(got.asns), len(want.asns), len(got.egress), len(want.egress))
	}
	for _, u := range users {
		eng.Detach("t", u)
	}
	if want.known != 0 || len(want.knownKeys) != 0 {
		t.Errorf("detaching every user leaves %d known egress points", want.known)
	}
	if want.users != 0 || len(want.places) != 0 || len(want.asns) != 0 || len(want.egress) != 0 {
		t.Errorf("detaching every user leaves users %d places %d asns %d egress %d", want.users, len(want.places), len(want.asns), len(want.egress))
	}
}
