package source

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/clarion-itdr/clarion/processor/scenario"
)

// GenOptions shapes a generated tenant-wide scenario (Generate).
type GenOptions struct {
	Seed  uint64
	Users int // default 300
	Days  int // default 4
}

// genEvent is one line of a generated scenario.
type genEvent struct {
	s        scenario.Signin
	ua, dt   string
	unknown  bool
	expect   string
	incident string
}

// Generate writes a labelled scenario for the source types: a tenant
// whose users sign in from home, through an office NAT and a VPN egress
// (both shared by over a hundred users, with mistypes and forgotten
// passwords), a help desk signing in as a few users, a shared kiosk, and
// conference Wi-Fi; and attacks: password sprays from one IP (6 to 40
// users, some slow, some followed by a success) and from rotating IPs
// sharing a device token, and credential stuffing (leaked lists with
// logins that do not exist) from one to four IPs. Each attack is an
// incident: its lines carry "incident" and expect its type. The traffic
// model is this generator's own, not the simulated org's.
func Generate(w io.Writer, o GenOptions) error {
	if o.Users <= 0 {
		o.Users = 300
	}
	if o.Days <= 0 {
		o.Days = 4
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	home := []scenario.Place{scenario.NewYork, scenario.Newark, scenario.Boston, scenario.Chicago, scenario.Denver, scenario.Atlanta}
	office := scenario.NewYork
	office.ISP, office.ASN = "Acme Corp", 64512
	const officeIP, vpnIP, helpIP, kioskIP, confIP = "198.51.100.10", "198.51.100.200", "198.51.100.77", "198.51.100.90", "203.0.113.50"
	type user struct {
		id, login string
		place     scenario.Place
		mode      int // 0 home, 1 office NAT, 2 VPN
		ua, dt    string
	}
	users := make([]user, o.Users)
	uas := []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Safari/537.36 Edg/123.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	}
	for i := range users {
		u := &users[i]
		u.id = fmt.Sprintf("00u%07d", i)
		u.login = fmt.Sprintf("user%03d@acme.example", i)
		u.place = home[r.IntN(len(home))]
		u.mode = []int{0, 1, 1, 2}[r.IntN(4)]
		u.ua = uas[r.IntN(len(uas))]
		u.dt = scenario.UUID("dt", u.id)[:22]
	}
	var evs []genEvent
	n := 0
	add := func(g genEvent) {
		n++
		if g.s.UUID == "" {
			g.s.UUID = scenario.UUID("gen", fmt.Sprint(o.Seed), fmt.Sprint(n))
		}
		evs = append(evs, g)
	}
	signin := func(u *user, at time.Time, ip string, fail bool) {
		add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: at, Place: u.place, IP: ip, Failure: fail}, ua: u.ua, dt: u.dt})
	}
	ipOf := func(u *user) string {
		switch u.mode {
		case 1:
			return officeIP
		case 2:
			return vpnIP
		}
		return ""
	}
	// Background: one or two sign-ins a workday; 8% mistype once to four
	// times first; 1% fail and give up (forgot the password).
	for d := 0; d < o.Days; d++ {
		day := start.AddDate(0, 0, d)
		for i := range users {
			u := &users[i]
			k := 1 + r.IntN(2)
			for j := 0; j < k; j++ {
				at := day.Add(time.Duration(13*60+r.IntN(9*60)) * time.Minute).Add(time.Duration(r.IntN(60)) * time.Second)
				if j == 0 && r.IntN(3) == 0 {
					at = day.Add(13*time.Hour + time.Duration(r.IntN(20))*time.Minute) // the morning rush
				}
				ip := ipOf(u)
				switch x := r.IntN(100); {
				case x < 8:
					for f := 0; f < 1+r.IntN(4); f++ {
						signin(u, at, ip, true)
						at = at.Add(time.Duration(5+r.IntN(40)) * time.Second)
					}
					signin(u, at, ip, false)
				case x < 9:
					signin(u, at, ip, true)
				default:
					signin(u, at, ip, false)
				}
			}
		}
		// Password-expiry morning at the office: a dozen users fail once
		// or twice in ten minutes, then get it right.
		if d == 1 {
			at := day.Add(13*time.Hour + 30*time.Minute)
			m := 0
			for i := range users {
				u := &users[i]
				if u.mode != 1 || m >= 14 {
					continue
				}
				m++
				t := at.Add(time.Duration(r.IntN(600)) * time.Second)
				signin(u, t, officeIP, true)
				signin(u, t.Add(time.Duration(20+r.IntN(100))*time.Second), officeIP, false)
			}
		}
		// Help desk: two agents sign in as up to five users they support
		// (some failures, most succeed), every day.
		for a := 0; a < 2; a++ {
			for j := 0; j < 5; j++ {
				u := &users[r.IntN(len(users))]
				t := day.Add(time.Duration(14*60+r.IntN(6*60)) * time.Minute)
				if r.IntN(3) == 0 {
					signin(u, t, helpIP, true)
					t = t.Add(time.Minute)
				}
				signin(u, t, helpIP, false)
			}
		}
		// A shared kiosk (one device token) used by 20 users, some mistype.
		kdt := scenario.UUID("kiosk")[:22]
		for j := 0; j < 20; j++ {
			u := &users[r.IntN(len(users))]
			t := day.Add(time.Duration(15*60+j*7) * time.Minute)
			if r.IntN(4) == 0 {
				add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: office, IP: kioskIP, Failure: true}, ua: uas[1], dt: kdt})
				t = t.Add(30 * time.Second)
			}
			add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: office, IP: kioskIP}, ua: uas[1], dt: kdt})
		}
		// Conference Wi-Fi on day 2: 25 travelling users in an hour, a few failures.
		if d == 2 {
			for j := 0; j < 25; j++ {
				u := &users[j*7%len(users)]
				t := day.Add(16*time.Hour + time.Duration(r.IntN(3600))*time.Second)
				if r.IntN(5) == 0 {
					add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: scenario.London, IP: confIP, Failure: true}, ua: u.ua, dt: u.dt})
					t = t.Add(40 * time.Second)
				}
				add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: scenario.London, IP: confIP}, ua: u.ua, dt: u.dt})
			}
		}
	}
	// Attacks.
	abroad := []scenario.Place{scenario.Moscow, scenario.Lagos, scenario.Amsterdam, scenario.Tokyo}
	inc := 0
	pick := func(k int) []*user {
		var out []*user
		for _, i := range r.Perm(len(users))[:k] {
			out = append(out, &users[i])
		}
		return out
	}
	attackIP := func(p scenario.Place) string {
		return fmt.Sprintf("%s%d.%d", p.IPPrefix, 1+r.IntN(250), 1+r.IntN(250))
	}
	for d := 0; d < o.Days; d++ {
		day := start.AddDate(0, 0, d)
		for k := 0; k < 10; k++ {
			inc++
			id := fmt.Sprintf("s%d-%d", o.Seed, inc)
			p := abroad[r.IntN(len(abroad))]
			t := day.Add(time.Duration(r.IntN(23*60)) * time.Minute)
			ua := "python-requests/2.31.0"
			if r.IntN(2) == 0 {
				ua = uas[r.IntN(len(uas))]
			}
			dt := scenario.UUID("atk", id)[:22]
			kind := k % 5
			switch kind {
			case 0, 1, 2: // password spray from one IP
				ip := attackIP(p)
				nu := []int{6, 8, 9, 12, 20, 40}[r.IntN(6)]
				gap := time.Duration(5+r.IntN(40)) * time.Second
				victims := pick(nu)
				for _, u := range victims {
					for a := 0; a < 1+r.IntN(2); a++ {
						add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: p, IP: ip, Failure: true}, ua: ua, dt: dt, expect: TypePasswordSpray, incident: id})
						t = t.Add(gap)
					}
				}
				if r.IntN(3) == 0 {
					u := victims[r.IntN(len(victims))]
					t = t.Add(time.Duration(r.IntN(120)) * time.Minute)
					add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: p, IP: ip}, ua: ua, dt: dt, expect: TypePasswordSpray, incident: id})
				}
			case 3: // password spray from rotating IPs sharing a device token
				ips := make([]string, 4+r.IntN(8))
				for i := range ips {
					ips[i] = attackIP(p)
				}
				for _, u := range pick(10 + r.IntN(30)) {
					add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: p, IP: ips[r.IntN(len(ips))], Failure: true}, ua: ua, dt: dt, expect: TypePasswordSpray, incident: id})
					t = t.Add(time.Duration(3+r.IntN(20)) * time.Second)
				}
			case 4: // credential stuffing: a leaked list, one to four IPs
				ips := make([]string, 1+r.IntN(4))
				for i := range ips {
					ips[i] = attackIP(p)
				}
				if r.IntN(3) == 0 {
					dt = "" // no device token: the IP is the only key
					ips = ips[:1]
				}
				victims := pick(8 + r.IntN(25))
				for j, u := range victims {
					g := genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t, Place: p, IP: ips[r.IntN(len(ips))], Failure: true}, ua: ua, dt: dt, expect: TypeCredentialStuffing, incident: id}
					if j%3 == 1 {
						g.unknown = true
						g.s.UserID = "unknown"
						g.s.Login = fmt.Sprintf("%s.%d@acme.example", []string{"jsmith", "admin", "mary", "bob", "sales"}[r.IntN(5)], r.IntN(1000))
					}
					add(g)
					t = t.Add(time.Duration(2+r.IntN(15)) * time.Second)
				}
				if r.IntN(2) == 0 {
					u := victims[0]
					add(genEvent{s: scenario.Signin{UserID: u.id, Login: u.login, At: t.Add(time.Minute), Place: p, IP: ips[0]}, ua: ua, dt: dt, expect: TypeCredentialStuffing, incident: id})
				}
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].s.At.Before(evs[j].s.At) })
	for i := range evs {
		g := &evs[i]
		ev := g.s.Event()
		cl := ev["client"].(map[string]any)
		cl["userAgent"] = map[string]any{"rawUserAgent": g.ua, "os": "Unknown", "browser": "UNKNOWN"}
		if g.dt != "" {
			ev["debugContext"].(map[string]any)["debugData"].(map[string]any)["dtHash"] = g.dt
		}
		if g.unknown {
			ev["actor"].(map[string]any)["displayName"] = "unknown"
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		l := struct {
			Event    json.RawMessage `json:"event"`
			Expect   []string        `json:"expect"`
			Incident string          `json:"incident,omitempty"`
		}{Event: b, Expect: []string{}, Incident: g.incident}
		if g.expect != "" {
			l.Expect = []string{g.expect}
		}
		lb, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(lb, '\n')); err != nil {
			return err
		}
	}
	return nil
}
