package traffic

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

func all(t *testing.T, cfg Config) ([]Event, *Model) {
	t.Helper()
	m := New(cfg)
	var out []Event
	for {
		e, ok := m.Next()
		if !ok {
			return out, m
		}
		out = append(out, e)
	}
}

func TestTables(t *testing.T) {
	t.Parallel()
	if len(cities) > 64 {
		t.Fatal("more than 64 cities: the visited bitmask overflows")
	}
	for i := range cities {
		if _, err := time.LoadLocation(cities[i].TZ); err != nil {
			t.Errorf("%s: %v", cities[i].Name, err)
		}
		if cities[i].Mobile < 0 || cities[i].MobileGeo < 0 || len(cities[i].Broadband) == 0 {
			t.Errorf("%s: networks missing", cities[i].Name)
		}
		for j := i + 1; j < len(cities); j++ {
			if d := geo.DistanceKm(cities[i].Lat, cities[i].Lon, cities[j].Lat, cities[j].Lon); d < 150 {
				t.Errorf("%s and %s are %.0f km apart", cities[i].Name, cities[j].Name, d)
			}
		}
	}
	for i, n := range networks {
		if n.ASN == 0 || n.ASOrg == "" {
			t.Errorf("network %d incomplete", i)
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 7, Users: 60, Days: 10, AppSignOns: true}
	a, _ := all(t, cfg)
	b, _ := all(t, cfg)
	if len(a) != len(b) || len(a) < 1000 {
		t.Fatalf("%d vs %d events", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) || a[i].Attack != b[i].Attack || !slices.Equal(a[i].Expect, b[i].Expect) {
			t.Fatalf("event %d differs", i)
		}
	}
	cfg.Seed = 8
	c, _ := all(t, cfg)
	if len(c) > 0 && bytes.Equal(a[0].Raw, c[0].Raw) {
		t.Fatal("another seed gives the same traffic")
	}
}

// TestEventsAndLabels checks the shape of every event and that each label
// holds by its rule, recomputed here independently from the events alone.
func TestEventsAndLabels(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 3, Users: 80, Days: 28, AttackRate: 0.02, AppSignOns: true}
	evs, m := all(t, cfg)
	end := m.End()
	start := m.Config().Start
	type succ struct {
		ev logevent.Event
		i  int
	}
	byUser := map[string][]succ{}
	parsed := make([]logevent.Event, len(evs))
	counts := map[string]int{}
	attacks := map[string]int{}
	seen := map[string]bool{}
	for i, e := range evs {
		if !json.Valid(e.Raw) {
			t.Fatalf("event %d: invalid JSON", i)
		}
		ev := &parsed[i]
		if err := logevent.Parse(e.Raw, ev); err != nil {
			t.Fatal(err)
		}
		if seen[ev.UUID] {
			t.Fatalf("duplicate uuid %s", ev.UUID)
		}
		seen[ev.UUID] = true
		if !ev.Published.Equal(e.Published) || e.Published.Before(start) || !e.Published.Before(end) {
			t.Fatalf("event %d published %v", i, e.Published)
		}
		if i > 0 && e.Published.Before(evs[i-1].Published) {
			t.Fatalf("event %d out of order", i)
		}
		if e.UserID != ev.UserKey() || e.UserID == "" {
			t.Fatalf("UserID %q, key %q", e.UserID, ev.UserKey())
		}
		if !ev.HasGeo || ev.ASN == 0 || ev.DeviceFingerprint == "" || ev.IP == "" || ev.UserAgent == "" {
			t.Fatalf("event %d lacks context: %s", i, e.Raw)
		}
		if len(e.Expect) > 0 && !(ev.Success() && ev.EventType == logevent.EventTypeSessionStart) {
			t.Fatalf("labels on a non-subject event: %s", e.Raw)
		}
		for _, x := range e.Expect {
			counts[x]++
		}
		if e.Attack != "" && ev.EventType == logevent.EventTypeSessionStart {
			attacks[e.Attack]++
		}
		if (ev.IsProxy || ev.ThreatSuspected) != slices.Contains(e.Expect, AnonymizingProxy) && ev.Success() && ev.EventType == logevent.EventTypeSessionStart {
			t.Fatalf("anonymizing_proxy label disagrees with isProxy/threatSuspected: %s", e.Raw)
		}
		if ev.Success() && ev.EventType == logevent.EventTypeSessionStart {
			byUser[e.UserID] = append(byUser[e.UserID], succ{*ev, i})
		}
	}
	t.Logf("%d events, labels %v, attack events %v", len(evs), counts, attacks)
	for _, k := range []string{ImpossibleTravel, UnusualLocation, UnusualTime, NewDevice, NewNetwork, AnonymizingProxy} {
		if counts[k] == 0 {
			t.Errorf("no %s label at all", k)
		}
	}
	for _, k := range []string{AttackCredentialStuffing, AttackSessionTheft, AttackImpossibleTravel, AttackAnonymizingProxy} {
		if attacks[k] == 0 {
			t.Errorf("no %s attack", k)
		}
	}

	// Recompute the location, travel, device and network rules per user.
	tenant := map[[2]float64]map[string]bool{}
	type key struct{ lat, lon float64 }
	cityCache := map[key][2]float64{}
	cityOf := func(ev *logevent.Event) [2]float64 {
		if c, ok := cityCache[key{ev.Lat, ev.Lon}]; ok {
			return c
		}
		for _, c := range cities {
			if geo.DistanceKm(c.Lat, c.Lon, ev.Lat, ev.Lon) < 60 {
				cityCache[key{ev.Lat, ev.Lon}] = [2]float64{c.Lat, c.Lon}
				return [2]float64{c.Lat, c.Lon}
			}
		}
		t.Fatalf("no city near %v,%v", ev.Lat, ev.Lon)
		return [2]float64{}
	}
	// Tenant commonness needs all users' history in published order.
	type item struct {
		user string
		k    int
	}
	var order []item
	for u, ss := range byUser {
		for k := range ss {
			order = append(order, item{u, k})
		}
	}
	slices.SortFunc(order, func(a, b item) int { return byUser[a.user][a.k].i - byUser[b.user][b.k].i })
	common := max(TenantCommonMin, (cfg.Users+9)/10)
	impossiblePair := func(a, b *logevent.Event) bool {
		if a.IP == b.IP {
			return false
		}
		h := b.Published.Sub(a.Published).Abs().Hours()
		return geo.DistanceKm(a.Lat, a.Lon, b.Lat, b.Lon) > GeoAllowanceKm+MaxTravelKmh*h
	}
	for _, it := range order {
		ss := byUser[it.user]
		cur := &ss[it.k].ev
		e := evs[ss[it.k].i]
		hist := ss[:it.k]
		c := cityOf(cur)
		learned := len(hist) >= LearningSignIns && cur.Published.Sub(hist[0].ev.Published) >= LearningDays*24*time.Hour
		familiar := len(tenant[c]) >= common
		devSeen, asnSeen := false, false
		for _, h := range hist {
			if !familiar && cityOf(&h.ev) == c {
				familiar = true
			}
			devSeen = devSeen || h.ev.DeviceFingerprint == cur.DeviceFingerprint
			asnSeen = asnSeen || h.ev.ASN == cur.ASN
		}
		want := map[string]bool{
			UnusualLocation: learned && !familiar,
			NewDevice:       learned && !devSeen,
			NewNetwork:      learned && !asnSeen,
		}
		it2 := learned && !familiar && ((it.k > 0 && impossiblePair(&ss[it.k-1].ev, cur)) || (it.k+1 < len(ss) && impossiblePair(cur, &ss[it.k+1].ev)))
		want[ImpossibleTravel] = it2
		for k, w := range want {
			if slices.Contains(e.Expect, k) != w {
				t.Fatalf("%s: %s label %v, rule says %v (learned %v familiar %v)\n%s", cur.UUID, k, !w, w, learned, familiar, e.Raw)
			}
		}
		if slices.Contains(e.Expect, ImpossibleTravel) {
			// The sanity check of the brief: > 1000 km/h to a neighbour.
			fast := false
			for _, k := range []int{it.k - 1, it.k + 1} {
				if k >= 0 && k < len(ss) {
					n := &ss[k].ev
					h := n.Published.Sub(cur.Published).Abs().Hours()
					d := geo.DistanceKm(n.Lat, n.Lon, cur.Lat, cur.Lon)
					fast = fast || (n.IP != cur.IP && d/h > 1000)
				}
			}
			if !fast {
				t.Fatalf("impossible_travel without a > 1000 km/h neighbour: %s", cur.UUID)
			}
		}
		if tenant[c] == nil {
			tenant[c] = map[string]bool{}
		}
		tenant[c][it.user] = true
	}

	// Recompute unusual_time from what the events show: each sign-in's hour
	// in the zone of its city, or in the home zone when it came through the
	// VPN egress (Zscaler), the phone carrier's gateway city or an
	// anonymising exit (isProxy).
	homes := map[string]*City{}
	for _, u := range m.Users() {
		for i := range cities {
			if cities[i].Name == u.HomeCity {
				homes[u.ID] = &cities[i]
			}
		}
	}
	zoneOf := func(user string, ev *logevent.Event) *time.Location {
		home := homes[user]
		c := cityOf(ev)
		name := ""
		for i := range cities {
			if cities[i].Lat == c[0] && cities[i].Lon == c[1] {
				name = cities[i].TZ
				if ev.IsProxy || ev.ASN == int64(networks[nZscaler].ASN) || (i == home.MobileGeo && ev.ASN == int64(networks[home.Mobile].ASN)) {
					name = home.TZ
				}
			}
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	timeLabels, travelling, away := 0, 0, 0
	for user, ss := range byUser {
		if homes[user] == nil {
			t.Fatalf("%s: no home", user)
		}
		var hours [2][24]int
		nights := 0
		for k := range ss {
			cur := &ss[k].ev
			e := evs[ss[k].i]
			loc := zoneOf(user, cur)
			lt := cur.Published.In(loc)
			wk := 0
			if lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
				wk = 1
			}
			night := lt.Hour() >= NightFromHour && lt.Hour() < NightToHour
			want := false
			if k >= LearningSignIns && cur.Published.Sub(ss[0].ev.Published) >= TimeLearningDays*24*time.Hour {
				want = true
				for d := -TimeWindowHours; d <= TimeWindowHours; d++ {
					if hours[wk][(lt.Hour()+d+24)%24] > 0 {
						want = false
					}
				}
				if night && nights >= OnCallNights {
					want = false
				}
			}
			if got := slices.Contains(e.Expect, UnusualTime); got != want {
				t.Fatalf("%s: unusual_time label %v, rule says %v (%s in %s)\n%s", cur.UUID, got, want, lt.Format("Mon 15:04"), loc, e.Raw)
			}
			if want {
				timeLabels++
				if loc.String() != homes[user].TZ {
					away++
				}
			}
			if loc.String() != homes[user].TZ {
				travelling++
			}
			hours[wk][lt.Hour()]++
			if night {
				nights++
			}
		}
	}
	t.Logf("unusual_time: %d labels, %d of them away from the home zone; %d sign-ins away from it", timeLabels, away, travelling)
	if travelling == 0 {
		t.Error("no sign-in outside the home zone: the zone rule is not exercised")
	}
}

// TestBenignTravelIsPossible: business trips, commutes, carrier and VPN
// hops almost never look like impossible travel under the rules (the rare
// exception: a VPN sign-in at the head office just before a trip).
func TestBenignTravelIsPossible(t *testing.T) {
	t.Parallel()
	evs, _ := all(t, Config{Seed: 5, Users: 60, Days: 40, AttackRate: 0.0001})
	labelled, trips := 0, 0
	for _, e := range evs {
		var ev logevent.Event
		if err := logevent.Parse(e.Raw, &ev); err != nil {
			t.Fatal(err)
		}
		if !ev.Success() || e.Attack != "" {
			continue
		}
		if slices.Contains(e.Expect, ImpossibleTravel) {
			labelled++
		}
		if slices.Contains(e.Expect, UnusualLocation) {
			trips++
		}
	}
	t.Logf("%d benign unusual_location (trips), %d benign impossible_travel", trips, labelled)
	if trips == 0 {
		t.Fatal("no business trip in 60 days")
	}
	if labelled > 3 {
		t.Fatalf("%d benign sign-ins labelled impossible_travel", labelled)
	}
}

func TestSampleShape(t *testing.T) {
	t.Parallel()
	// Every key of the Okta documentation's sample is present in ours.
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "okta-samples", "user-session-start-success.okta-docs.json"))
	if err != nil {
		t.Skip("samples not available:", err)
	}
	var sample map[string]any
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	m := New(Config{Users: 5, Days: 2})
	e, ok := m.Next()
	if !ok {
		t.Fatal("no event")
	}
	var ours map[string]any
	if err := json.Unmarshal(e.Raw, &ours); err != nil {
		t.Fatal(err)
	}
	for k := range sample {
		if _, ok := ours[k]; !ok && k != "device" {
			t.Errorf("key %q missing", k)
		}
	}
	dd := ours["debugContext"].(map[string]any)["debugData"].(map[string]any)
	for k, v := range dd {
		if _, ok := v.(string); !ok {
			t.Errorf("debugData.%s is not a string", k)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"plain", `q"uote\back`, "tab\tnl\n\x01", "é ü 東京", "bad\xffutf8", "\u2028"} {
		b := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s: %v", s, b, err)
		}
		if want := string(bytes.ToValidUTF8([]byte(s), []byte("\ufffd"))); got != want {
			t.Fatalf("%q round-trips to %q", want, got)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\\c\x00")
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid(AppendJSONString(nil, s)) {
			t.Fatalf("invalid JSON for %q", s)
		}
	})
}
