package scenario

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
)

// The realistic generator: a tenant whose traffic carries the IP
// geolocation artefacts of DESIGN.md "Real-world location artefacts"
// (country-level fixes, mobile-carrier gateways, a cloud security proxy, a
// corporate VPN used from five continents, missing geolocation), on-call
// staff and trips across many time zones, plus true attacks. It is the
// project's own model, separate from the simulator's (okta/sim/traffic),
// and its labels are computed from ground truth (where each user really
// is) by DESIGN.md "What each detector means", not by the detectors'
// code.

// RealConfig sizes a realistic scenario.
type RealConfig struct {
	Seed  uint64
	Users int       // default 200
	Days  int       // default 44
	Start time.Time // a Monday, default 2026-03-02
}

// city is a place users live in, travel to or attack from.
type city struct {
	Place
	Zone    string
	Weight  float64 // share of homes (0: never a home)
	Carrier string  // the city whose mobile gateway serves it ("" none)
}

type isp struct {
	name string
	asn  int
}

// Broadband and mobile networks by country.
var broadband = map[string]isp{
	"United States": {"Comcast Cable Communications, LLC", 7922}, "Canada": {"Rogers Communications Canada Inc.", 812},
	"Mexico": {"Telmex", 8151}, "United Kingdom": {"British Telecommunications PLC", 2856}, "France": {"Orange S.A.", 3215},
	"Germany": {"Deutsche Telekom AG", 3320}, "Spain": {"Telefonica de Espana", 3352}, "Netherlands": {"KPN B.V.", 1136},
	"Sweden": {"Telia Company AB", 3301}, "Poland": {"Orange Polska", 5617}, "Ireland": {"Eir", 5466},
	"India": {"Bharti Airtel Ltd.", 9498}, "Singapore": {"Singtel", 7473}, "Japan": {"NTT Communications", 4713},
	"South Korea": {"Korea Telecom", 4766}, "Hong Kong": {"HKT Limited", 4760}, "Israel": {"Bezeq International", 8551},
	"Australia": {"Telstra Limited", 1221}, "New Zealand": {"Spark New Zealand", 4771}, "Brazil": {"Claro S.A.", 28573},
	"Argentina": {"Telecom Argentina S.A.", 7303}, "Colombia": {"Colombia Movil", 27831}, "South Africa": {"Vodacom", 29975},
	"Nigeria": {"MTN Nigeria", 29465}, "Kenya": {"Safaricom", 33771}, "Russia": {"MTS PJSC", 8359},
	"Indonesia": {"Telkomsel", 23693}, "Vietnam": {"Viettel Group", 7552}, "Egypt": {"TE Data", 8452},
	"Turkey": {"Turk Telekom", 9121}, "Peru": {"Telefonica del Peru", 6147}, "Philippines": {"PLDT", 9299},
	"United Arab Emirates": {"Emirates Telecommunications", 5384}, "Ukraine": {"Kyivstar", 15895},
}

var mobile = map[string]isp{
	"United States": {"T-Mobile USA, Inc.", 21928}, "Canada": {"Bell Mobility", 36522}, "United Kingdom": {"EE Limited", 12576},
	"France": {"Bouygues Telecom", 5410}, "Germany": {"Vodafone GmbH", 3209}, "Spain": {"Vodafone Spain", 12430},
	"India": {"Reliance Jio Infocomm", 55836}, "Japan": {"NTT DOCOMO, INC.", 9605}, "Australia": {"Optus Mobile", 4804},
	"Brazil": {"TIM S/A", 26615},
}

// CountryDefaults are the points IP geolocation databases (MaxMind GeoLite2
// and those derived from it) give an address known only to its country.
var CountryDefaults = map[string][2]float64{
	"United States": {37.751, -97.822}, "Canada": {43.6319, -79.3716}, "Mexico": {19.4326, -99.1332},
	"United Kingdom": {51.4964, -0.1224}, "France": {48.8582, 2.3387}, "Germany": {51.2993, 9.491},
	"Spain": {40.4172, -3.684}, "Netherlands": {52.3824, 4.8995}, "Sweden": {59.3247, 18.056},
	"Poland": {52.2394, 21.0362}, "Ireland": {53.3472, -6.2439}, "India": {21.0, 78.0},
	"Singapore": {1.3667, 103.8}, "Japan": {35.69, 139.69}, "South Korea": {37.5112, 126.9741},
	"Hong Kong": {22.2578, 114.1657}, "Israel": {31.5, 34.75}, "Australia": {-33.494, 143.2104},
	"New Zealand": {-41.0, 174.0}, "Brazil": {-22.8305, -43.2192}, "Argentina": {-34.6022, -58.3845},
	"Colombia": {4.5981, -74.0758}, "South Africa": {-29.0, 24.0},
}

func c(name, state, country string, lat, lon float64, zone string, w float64, carrier string) city {
	b := broadband[country]
	h := sha256.Sum256([]byte(name))
	return city{Place: Place{name, state, country, lat, lon, b.asn, b.name, fmt.Sprintf("%d.%d.", 20+h[0]%200, h[1])}, Zone: zone, Weight: w, Carrier: carrier}
}

var realCities = []city{
	// North America (the head office is in New York)
	c("New York", "New York", "United States", 40.7128, -74.0060, "America/New_York", 14, "Washington"),
	c("Boston", "Massachusetts", "United States", 42.3601, -71.0589, "America/New_York", 3, "New York"),
	c("Chicago", "Illinois", "United States", 41.8781, -87.6298, "America/Chicago", 4, "Detroit"),
	c("Austin", "Texas", "United States", 30.2672, -97.7431, "America/Chicago", 4, "Dallas"),
	c("Denver", "Colorado", "United States", 39.7392, -104.9903, "America/Denver", 3, "Salt Lake City"),
	c("Seattle", "Washington", "United States", 47.6062, -122.3321, "America/Los_Angeles", 3, "Portland"),
	c("San Francisco", "California", "United States", 37.7749, -122.4194, "America/Los_Angeles", 4, "Los Angeles"),
	c("Atlanta", "Georgia", "United States", 33.7490, -84.3880, "America/New_York", 3, "Charlotte"),
	c("Toronto", "Ontario", "Canada", 43.6532, -79.3832, "America/Toronto", 3, "Montreal"),
	c("Mexico City", "Ciudad de Mexico", "Mexico", 19.4326, -99.1332, "America/Mexico_City", 2, ""),
	// Europe
	c("London", "England", "United Kingdom", 51.5074, -0.1278, "Europe/London", 6, "Manchester"),
	c("Manchester", "England", "United Kingdom", 53.4808, -2.2426, "Europe/London", 2, "London"),
	c("Paris", "Ile-de-France", "France", 48.8566, 2.3522, "Europe/Paris", 4, "Lyon"),
	c("Berlin", "Berlin", "Germany", 52.5200, 13.4050, "Europe/Berlin", 4, "Frankfurt"),
	c("Munich", "Bavaria", "Germany", 48.1351, 11.5820, "Europe/Berlin", 2, "Frankfurt"),
	c("Madrid", "Madrid", "Spain", 40.4168, -3.7038, "Europe/Madrid", 3, "Barcelona"),
	c("Amsterdam", "North Holland", "Netherlands", 52.3676, 4.9041, "Europe/Amsterdam", 2, ""),
	c("Stockholm", "Stockholm", "Sweden", 59.3293, 18.0686, "Europe/Stockholm", 2, ""),
	c("Warsaw", "Mazovia", "Poland", 52.2297, 21.0122, "Europe/Warsaw", 2, ""),
	c("Dublin", "Leinster", "Ireland", 53.3498, -6.2603, "Europe/Dublin", 2, ""),
	// Asia
	c("Bangalore", "Karnataka", "India", 12.9716, 77.5946, "Asia/Kolkata", 5, "Chennai"),
	c("Mumbai", "Maharashtra", "India", 19.0760, 72.8777, "Asia/Kolkata", 2, "Hyderabad"),
	c("Singapore", "Singapore", "Singapore", 1.3521, 103.8198, "Asia/Singapore", 3, ""),
	c("Tokyo", "Tokyo", "Japan", 35.6762, 139.6503, "Asia/Tokyo", 3, "Osaka"),
	c("Seoul", "Seoul", "South Korea", 37.5665, 126.9780, "Asia/Seoul", 2, ""),
	c("Hong Kong", "Hong Kong", "Hong Kong", 22.3193, 114.1694, "Asia/Hong_Kong", 2, ""),
	c("Tel Aviv", "Tel Aviv", "Israel", 32.0853, 34.7818, "Asia/Jerusalem", 2, ""),
	// Oceania
	c("Sydney", "New South Wales", "Australia", -33.8688, 151.2093, "Australia/Sydney", 4, "Melbourne"),
	c("Melbourne", "Victoria", "Australia", -37.8136, 144.9631, "Australia/Melbourne", 2, "Sydney"),
	c("Auckland", "Auckland", "New Zealand", -36.8485, 174.7633, "Pacific/Auckland", 2, ""),
	// South America, Africa
	c("Sao Paulo", "Sao Paulo", "Brazil", -23.5505, -46.6333, "America/Sao_Paulo", 3, "Rio de Janeiro"),
	c("Buenos Aires", "Buenos Aires", "Argentina", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", 2, ""),
	c("Bogota", "Bogota D.C.", "Colombia", 4.7110, -74.0721, "America/Bogota", 1, ""),
	c("Johannesburg", "Gauteng", "South Africa", -26.2041, 28.0473, "Africa/Johannesburg", 2, ""),
	// Mobile gateways (never homes)
	c("Washington", "District of Columbia", "United States", 38.9072, -77.0369, "America/New_York", 0, ""),
	c("Detroit", "Michigan", "United States", 42.3314, -83.0458, "America/Detroit", 0, ""),
	c("Dallas", "Texas", "United States", 32.7767, -96.7970, "America/Chicago", 0, ""),
	c("Salt Lake City", "Utah", "United States", 40.7608, -111.8910, "America/Denver", 0, ""),
	c("Portland", "Oregon", "United States", 45.5152, -122.6784, "America/Los_Angeles", 0, ""),
	c("Los Angeles", "California", "United States", 34.0522, -118.2437, "America/Los_Angeles", 0, ""),
	c("Charlotte", "North Carolina", "United States", 35.2271, -80.8431, "America/New_York", 0, ""),
	c("Montreal", "Quebec", "Canada", 45.5019, -73.5674, "America/Toronto", 0, ""),
	c("Lyon", "Auvergne-Rhone-Alpes", "France", 45.7640, 4.8357, "Europe/Paris", 0, ""),
	c("Frankfurt", "Hesse", "Germany", 50.1109, 8.6821, "Europe/Berlin", 0, ""),
	c("Barcelona", "Catalonia", "Spain", 41.3874, 2.1686, "Europe/Madrid", 0, ""),
	c("Chennai", "Tamil Nadu", "India", 13.0827, 80.2707, "Asia/Kolkata", 0, ""),
	c("Hyderabad", "Telangana", "India", 17.3850, 78.4867, "Asia/Kolkata", 0, ""),
	c("Osaka", "Osaka", "Japan", 34.6937, 135.5023, "Asia/Tokyo", 0, ""),
	c("Rio de Janeiro", "Rio de Janeiro", "Brazil", -22.9068, -43.1729, "America/Sao_Paulo", 0, ""),
	// Trip destinations only
	c("Dubai", "Dubai", "United Arab Emirates", 25.2048, 55.2708, "Asia/Dubai", 0, ""),
	c("Honolulu", "Hawaii", "United States", 21.3069, -157.8583, "Pacific/Honolulu", 0, ""),
}

// Attackers' places (never homes nor trip destinations).
var attackCities = []city{
	c("Lagos", "Lagos", "Nigeria", 6.5244, 3.3792, "Africa/Lagos", 0, ""),
	c("Moscow", "Moscow", "Russia", 55.7558, 37.6173, "Europe/Moscow", 0, ""),
	c("Jakarta", "Jakarta", "Indonesia", -6.2088, 106.8456, "Asia/Jakarta", 0, ""),
	c("Ho Chi Minh City", "Ho Chi Minh", "Vietnam", 10.8231, 106.6297, "Asia/Ho_Chi_Minh", 0, ""),
	c("Cairo", "Cairo", "Egypt", 30.0444, 31.2357, "Africa/Cairo", 0, ""),
	c("Istanbul", "Istanbul", "Turkey", 41.0082, 28.9784, "Europe/Istanbul", 0, ""),
	c("Lima", "Lima", "Peru", -12.0464, -77.0428, "America/Lima", 0, ""),
	c("Manila", "Metro Manila", "Philippines", 14.5995, 120.9842, "Asia/Manila", 0, ""),
	c("Nairobi", "Nairobi", "Kenya", -1.2921, 36.8219, "Africa/Nairobi", 0, ""),
	c("Kyiv", "Kyiv", "Ukraine", 50.4501, 30.5234, "Europe/Kyiv", 0, ""),
}

// The tenant's egress points: the corporate VPN concentrator and the
// cloud security proxy's regional nodes (isProxy false, as Zscaler's are).
var (
	vpnPlace   = Place{"Ashburn", "Virginia", "United States", 39.0438, -77.4874, 14618, "Amazon.com, Inc.", ""}
	vpnIPs     = []string{"52.4.117.20", "52.4.117.21"}
	proxyISP   = isp{"Zscaler, Inc.", 22616}
	proxyNodes = []Place{
		{"Chicago", "Illinois", "United States", 41.8781, -87.6298, 22616, "Zscaler, Inc.", "136.226."},
		{"Frankfurt", "Hesse", "Germany", 50.1109, 8.6821, 22616, "Zscaler, Inc.", "165.225."},
		{"Singapore", "Singapore", "Singapore", 1.3521, 103.8198, 22616, "Zscaler, Inc.", "147.161."},
		{"Sydney", "New South Wales", "Australia", -33.8688, 151.2093, 22616, "Zscaler, Inc.", "165.225."},
		{"Sao Paulo", "Sao Paulo", "Brazil", -23.5505, -46.6333, 22616, "Zscaler, Inc.", "147.161."},
	}
)

// Scenario categories written beside expect.
const (
	CatBaseline    = "baseline"
	CatCountryFix  = "country_fix"
	CatCarrier     = "mobile_carrier"
	CatVPN         = "corporate_vpn"
	CatProxy       = "security_proxy"
	CatTrip        = "trip"
	CatOnCall      = "on_call"
	CatNoGeo       = "missing_geo"
	CatFailure     = "failure"
	CatAttackTrav  = "attack_travel"
	CatAttackFar   = "attack_far_place"
	CatAttackNight = "attack_night"
)

type realUser struct {
	id, login  string
	home       city
	ws, we     int // weekday sign-ins in [ws, we) local
	weekend    bool
	oncall     bool
	countryFix bool
	carrier    *city
	vpn        bool
	proxy      *Place
	homeIP     string
	v6         string
}

// truth is what the labeller knows about a generated sign-in.
type truth struct {
	s        Signin
	where    string // IANA zone where the user (or attacker) really is
	credible bool   // city-level and not an egress point
	attacker bool
	night    bool // an attack meant to be at night
}

// Realistic generates a realistic scenario: sign-ins in event order with
// labels and categories.
func Realistic(cfg RealConfig) []Signin {
	if cfg.Users == 0 {
		cfg.Users = 200
	}
	if cfg.Days == 0 {
		cfg.Days = 44
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	users := make([]*realUser, cfg.Users)
	var total float64
	for _, ct := range realCities {
		total += ct.Weight
	}
	byName := map[string]*city{}
	for i := range realCities {
		byName[realCities[i].City] = &realCities[i]
	}
	for i := range users {
		x := r.Float64() * total
		var home city
		for _, ct := range realCities {
			if x -= ct.Weight; x < 0 && ct.Weight > 0 {
				home = ct
				break
			}
		}
		if home.City == "" {
			home = realCities[0]
		}
		u := &realUser{
			id: fmt.Sprintf("00ur%06d", i), login: fmt.Sprintf("user%03d@clarion-real.example.com", i),
			home: home, ws: 7 + r.IntN(3), we: 16 + r.IntN(3),
			weekend: r.Float64() < 0.2, oncall: r.Float64() < 0.08,
		}
		h := sha256.Sum256([]byte(u.id))
		u.homeIP = fmt.Sprintf("%s%d.%d", home.IPPrefix, h[0], 1+h[1]%250)
		u.v6 = fmt.Sprintf("2a02:%x:%x:%x::%x", h[2], h[3], h[4], 1+h[5])
		if _, ok := CountryDefaults[home.Country]; ok && r.Float64() < 0.25 {
			u.countryFix = true
		}
		if home.Carrier != "" && r.Float64() < 0.35 {
			if _, ok := mobile[home.Country]; ok {
				u.carrier = byName[home.Carrier]
			}
		}
		switch x := r.Float64(); {
		case x < 0.4:
			u.vpn = true
		case x < 0.6:
			best := math.Inf(1)
			for k := range proxyNodes {
				if d := geo.DistanceKm(home.Lat, home.Lon, proxyNodes[k].Lat, proxyNodes[k].Lon); d < best {
					best, u.proxy = d, &proxyNodes[k]
				}
			}
		}
		users[i] = u
	}
	var all []truth
	for _, u := range users {
		all = append(all, genUser(r, u, cfg)...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].s.At.Before(all[j].s.At) })
	label(all)
	out := make([]Signin, len(all))
	for i := range all {
		out[i] = all[i].s
	}
	return out
}

func zoneOf(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func randIP(r *rand.Rand, prefix string) string {
	return fmt.Sprintf("%s%d.%d", prefix, r.IntN(256), 1+r.IntN(250))
}

// genUser generates one user's sign-ins (unlabelled) over the period.
func genUser(r *rand.Rand, u *realUser, cfg RealConfig) []truth {
	var out []truth
	homeZone := zoneOf(u.home.Zone)
	base := func(at time.Time, cat string) Signin {
		return Signin{UserID: u.id, Login: u.login, At: at, Place: u.home.Place, IP: u.homeIP, Category: cat}
	}
	// emit adds a sign-in of the user at place p (zone z) with its artefacts.
	// No sign-in while on a plane: earliest is when the traveller lands
	// (2 h at the airport + distance at 800 km/h + 1 h to the hotel).
	var earliest, last time.Time
	flight := func(a, b city) time.Duration {
		return 3*time.Hour + time.Duration(geo.DistanceKm(a.Lat, a.Lon, b.Lat, b.Lon)/800*float64(time.Hour))
	}
	emit := func(at time.Time, p city, onTrip bool, cat string) {
		if at.Before(earliest) {
			return
		}
		last = at
		s := base(at, cat)
		credible := true
		where := p.Zone
		switch {
		case onTrip:
			s.Place = p.Place
			h := sha256.Sum256([]byte(u.id + p.City))
			s.IP = fmt.Sprintf("%s%d.%d", p.IPPrefix, h[0], 1+h[1]%250)
		case u.proxy != nil:
			s.Place, s.IP, s.Category = *u.proxy, randIP(r, u.proxy.IPPrefix), CatProxy
			credible = false
		case u.carrier != nil && r.Float64() < 0.25:
			m := mobile[u.home.Country]
			s.Place, s.IP, s.ISP, s.ASN, s.Category = u.carrier.Place, randIP(r, "172.5"+fmt.Sprint(r.IntN(10))+"."), m.name, m.asn, CatCarrier
			s.Browser, s.OS, s.Device = "SAFARI", "iOS", "Mobile"
		case u.countryFix && r.Float64() < 0.4:
			d := CountryDefaults[u.home.Country]
			s.Place.Lat, s.Place.Lon, s.CountryFix, s.IP, s.Category = d[0], d[1], true, u.v6, CatCountryFix
			credible = false
		}
		if r.Float64() < 0.02 {
			s.NoGeo, s.Category, credible = true, CatNoGeo, false
		}
		if r.Float64() < 0.03 {
			f := s
			f.At, f.Failure, f.Category = at.Add(-time.Duration(30+r.IntN(90))*time.Second), true, CatFailure
			out = append(out, truth{s: f, where: where})
		}
		out = append(out, truth{s: s, where: where, credible: credible})
		// The corporate VPN: connected minutes after signing in.
		if u.vpn && (onTrip && r.Float64() < 0.7 || !onTrip && r.Float64() < 0.45) {
			v := base(at.Add(time.Duration(2+r.IntN(20))*time.Minute), CatVPN)
			v.Place, v.IP = vpnPlace, vpnIPs[r.IntN(len(vpnIPs))]
			if onTrip {
				v.Category = CatTrip
			}
			out = append(out, truth{s: v, where: where})
		}
	}
	// Trips: one or two, after the learning period, for users not behind the proxy.
	type trip struct {
		dest     city
		from, to time.Time // departure day, return day (local midnight at home)
	}
	var trips []trip
	if u.proxy == nil && r.Float64() < 0.35 {
		n := 1 + r.IntN(2)
		day := 16 + r.IntN(6)
		for k := 0; k < n && day < cfg.Days-8; k++ {
			var dest city
			for tries := 0; tries < 50; tries++ {
				d := realCities[r.IntN(len(realCities))]
				if d.City != u.home.City && d.Country != u.home.Country && geo.DistanceKm(u.home.Lat, u.home.Lon, d.Lat, d.Lon) > 1500 {
					dest = d
					break
				}
			}
			if dest.City == "" {
				break
			}
			from := cfg.Start.AddDate(0, 0, day)
			for wd := from.Weekday(); wd != time.Monday && wd != time.Tuesday && wd != time.Wednesday; wd = from.Weekday() {
				from = from.AddDate(0, 0, 1)
			}
			trips = append(trips, trip{dest, from, from.AddDate(0, 0, 2+r.IntN(3))})
			day += 8 + r.IntN(6)
		}
	}
	tripOn := func(d time.Time) *trip {
		for i := range trips {
			if !d.Before(trips[i].from) && !d.After(trips[i].to) {
				return &trips[i]
			}
		}
		return nil
	}
	for day := 0; day < cfg.Days; day++ {
		d := cfg.Start.AddDate(0, 0, day)
		tp := tripOn(d)
		loc, p := homeZone, u.home
		onTrip := tp != nil && d.After(tp.from) && d.Before(tp.to)
		if onTrip {
			loc, p = zoneOf(tp.dest.Zone), tp.dest
		}
		local := time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, loc)
		wd := local.Weekday()
		weekend := wd == time.Saturday || wd == time.Sunday
		switch {
		case tp != nil && d.Equal(tp.from):
			// Departure: a morning sign-in at home, then the flight.
			emit(time.Date(local.Year(), local.Month(), local.Day(), u.ws, r.IntN(50), 0, 0, homeZone), u.home, false, CatTrip)
			earliest = last.Add(flight(u.home, tp.dest))
		case tp != nil && d.Equal(tp.to):
			// Back home after the return flight.
			earliest = last.Add(flight(tp.dest, u.home))
			at := time.Date(local.Year(), local.Month(), local.Day(), u.we-1, r.IntN(50), 0, 0, homeZone)
			if at.Before(earliest) {
				at = earliest.Add(time.Duration(r.IntN(60)) * time.Minute)
			}
			emit(at, u.home, false, CatTrip)
		case weekend:
			if u.weekend && r.Float64() < 0.5 && !onTrip {
				emit(time.Date(local.Year(), local.Month(), local.Day(), 10+r.IntN(5), r.IntN(60), 0, 0, loc), p, false, CatBaseline)
			}
		default:
			n := 2 + r.IntN(3)
			for k := 0; k < n; k++ {
				span := (u.we - u.ws) * 60
				m := span * k / n
				m += r.IntN(max(1, span/n-25))
				at := time.Date(local.Year(), local.Month(), local.Day(), u.ws, 0, 0, 0, loc).Add(time.Duration(m) * time.Minute)
				cat := CatBaseline
				if onTrip {
					cat = CatTrip
				}
				emit(at, p, onTrip, cat)
			}
		}
		// On-call nights, at home.
		if u.oncall && !onTrip && r.Float64() < 0.3 {
			at := time.Date(local.Year(), local.Month(), local.Day(), r.IntN(5), r.IntN(60), 0, 0, homeZone)
			emit(at, u.home, false, CatOnCall)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].s.At.Before(out[j].s.At) })
	return append(out, attacks(r, u, cfg, out)...)
}

// attacks plans at most one attack per user, after the learning period:
// a stolen session used from far away within the hour (impossible travel),
// a sign-in from a far place with hours between it and the user's own
// sign-ins (a new far place), or a night sign-in from the user's own city
// (a day worker's credentials used at night).
func attacks(r *rand.Rand, u *realUser, cfg RealConfig, own []truth) []truth {
	x := r.Float64()
	if x >= 0.45 {
		return nil
	}
	after := cfg.Start.AddDate(0, 0, 17+r.IntN(cfg.Days-22))
	farFromUser := func(minKm, maxKm float64) (city, bool) {
		for tries := 0; tries < 50; tries++ {
			a := attackCities[r.IntN(len(attackCities))]
			ok := true
			for _, t := range own {
				if t.s.NoGeo {
					continue
				}
				if d := geo.DistanceKm(t.s.Place.Lat, t.s.Place.Lon, a.Lat, a.Lon); d < minKm || (t.credible && d > maxKm && maxKm > 0) {
					ok = false
					break
				}
			}
			if ok {
				return a, true
			}
		}
		return city{}, false
	}
	var anchor *truth
	for i := range own {
		t := &own[i]
		if t.s.At.After(after) && t.credible && !t.s.Failure && t.s.Category == CatBaseline {
			anchor = t
			break
		}
	}
	if anchor == nil {
		return nil
	}
	mk := func(a city, at time.Time, cat string) []truth {
		s := Signin{UserID: u.id, Login: u.login, At: at, Place: a.Place, IP: randIP(r, a.IPPrefix), Category: cat, Browser: "FIREFOX", OS: "Windows"}
		var out []truth
		for k := 0; k < r.IntN(4); k++ {
			f := s
			f.At, f.Failure = at.Add(-time.Duration(4-k)*time.Minute), true
			out = append(out, truth{s: f, where: a.Zone, attacker: true})
		}
		return append(out, truth{s: s, where: a.Zone, credible: true, attacker: true, night: cat == CatAttackNight})
	}
	switch {
	case x < 0.22:
		a, ok := farFromUser(4000, 0)
		if !ok {
			return nil
		}
		return mk(a, anchor.s.At.Add(time.Duration(15+r.IntN(45))*time.Minute), CatAttackTrav)
	case x < 0.32:
		// Between two of the user's sign-ins at least 7 hours apart (a
		// night), 800 to 3,500 km from every place the user uses.
		for i := range own {
			if !own[i].s.At.After(after) || i+1 >= len(own) {
				continue
			}
			gap := own[i+1].s.At.Sub(own[i].s.At)
			if gap < 14*time.Hour {
				continue
			}
			a, ok := farFromUser(800, 3500)
			if !ok {
				return nil
			}
			return mk(a, own[i].s.At.Add(gap/2), CatAttackFar)
		}
		return nil
	default:
		// A day worker's credentials at night, from the user's own city.
		if u.oncall {
			return nil
		}
		loc := zoneOf(u.home.Zone)
		d := anchor.s.At.In(loc)
		at := time.Date(d.Year(), d.Month(), d.Day(), 1+r.IntN(3), r.IntN(60), 0, 0, loc)
		if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday || wd == time.Monday {
			at = at.AddDate(0, 0, 2)
		}
		a := u.home
		a.Place.ISP, a.Place.ASN, a.IPPrefix = "DigitalOcean, LLC", 14061, "159.89."
		return mk(a, at, CatAttackNight)
	}
}

// RealTypes are the anomaly types a realistic scenario labels (and so the
// ones `clarion eval` scores on it).
var RealTypes = []string{travel, location, hour}

func isEgress(s Signin) bool {
	return s.ASN == vpnPlace.ASN && s.Place.City == vpnPlace.City || s.Place.ASN == proxyISP.asn
}

// label sets Expect on every sign-in of all (in event order) from ground
// truth, by DESIGN.md "What each detector means": learning periods of 10
// successful sign-ins over 7 days (14 for time); places within 100 km are
// familiar; a place where at least 10 % of the tenant's users (and 3) sign
// in is common; travel needs more than 1000 km/h after 100 km of allowance
// between credible neighbours (city-level, not an egress point); local
// time is where the user (or the attacker) really is.
func label(all []truth) {
	// Tenant-common places as of a time: users whose first city-level
	// sign-in at the city came before it, against the users with a
	// successful sign-in before it.
	cityFirst := map[string]map[string]time.Time{}
	userFirst := map[string]time.Time{}
	for i := range all {
		s := all[i].s
		if s.Failure {
			continue
		}
		if _, ok := userFirst[s.UserID]; !ok {
			userFirst[s.UserID] = s.At
		}
		if s.NoGeo || s.CountryFix {
			continue
		}
		k := s.Place.City + "/" + s.Place.Country
		if cityFirst[k] == nil {
			cityFirst[k] = map[string]time.Time{}
		}
		if _, ok := cityFirst[k][s.UserID]; !ok {
			cityFirst[k][s.UserID] = s.At
		}
	}
	firsts := make([]time.Time, 0, len(userFirst))
	for _, t := range userFirst {
		firsts = append(firsts, t)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i].Before(firsts[j]) })
	common := func(s Signin) bool {
		n := 0
		for _, t := range cityFirst[s.Place.City+"/"+s.Place.Country] {
			if t.Before(s.At) {
				n++
			}
		}
		users := sort.Search(len(firsts), func(i int) bool { return !firsts[i].Before(s.At) })
		return n >= max(3, int(math.Ceil(0.1*float64(users))))
	}
	perUser := map[string][]int{}
	for i := range all {
		all[i].credible = all[i].credible && !all[i].s.NoGeo && !all[i].s.CountryFix && !isEgress(all[i].s)
		perUser[all[i].s.UserID] = append(perUser[all[i].s.UserID], i)
	}
	for _, idx := range perUser {
		var first time.Time
		succ := 0
		// familiarBefore: a credible fix of the user within 100 km, before
		// position k in idx, other than except.
		familiarBefore := func(k int, s Signin, except int) bool {
			for _, j := range idx[:k] {
				t := all[j]
				if j == except || !t.credible || t.s.Failure {
					continue
				}
				if geo.DistanceKm(t.s.Place.Lat, t.s.Place.Lon, s.Place.Lat, s.Place.Lon) <= 100 {
					return true
				}
			}
			return false
		}
		for k, i := range idx {
			t := &all[i]
			s := &t.s
			if s.Failure {
				continue
			}
			learnedLoc := succ >= 10 && s.At.Sub(first) >= 7*24*time.Hour
			learnedTime := succ >= 10 && s.At.Sub(first) >= 14*24*time.Hour
			if succ == 0 {
				first = s.At
			}
			succ++
			var exp []string
			add := func(typ string, target *Signin) {
				for _, e := range target.Expect {
					if e == typ {
						return
					}
				}
				target.Expect = append(target.Expect, typ)
			}
			if learnedLoc && t.credible {
				famS := familiarBefore(k, *s, -1) || common(*s)
				// The credible neighbours in event time.
				var nbrs []int
				for kk := k - 1; kk >= 0; kk-- {
					if n := all[idx[kk]]; n.credible && !n.s.Failure {
						nbrs = append(nbrs, kk)
						break
					}
				}
				for kk := k + 1; kk < len(idx); kk++ {
					if n := all[idx[kk]]; n.credible && !n.s.Failure {
						nbrs = append(nbrs, kk)
						break
					}
				}
				for _, kk := range nbrs {
					n := &all[idx[kk]].s
					if n.IP == s.IP {
						continue
					}
					d := geo.DistanceKm(n.Place.Lat, n.Place.Lon, s.Place.Lat, s.Place.Lon)
					dt := math.Abs(s.At.Sub(n.At).Hours())
					if d-100 <= dt*1000 {
						continue
					}
					// Familiarity of each end as of the later of the two.
					var famN bool
					if kk < k {
						famN = familiarBefore(k, *n, idx[kk]) || common(*n)
					} else {
						famN = familiarBefore(kk, *n, idx[kk]) || common(*n)
						famS = familiarBefore(kk, *s, i) || common(*s)
					}
					if !famS {
						add(travel, s)
					}
					if !famN {
						add(travel, n)
					}
				}
				if !familiarBefore(k, *s, -1) && !common(*s) {
					add(location, s)
				}
			}
			if learnedTime && unusualHour(all, idx[:k], s.At.In(zoneOf(t.where))) {
				exp = append(exp, hour)
			}
			for _, e := range exp {
				add(e, s)
			}
		}
	}
}

// unusualHour: the user's earlier successful sign-ins (prior, in the local
// time where the user really was) have none within two hours of lt's hour
// on lt's kind of day (weekdays pooled, weekends pooled); a history with
// at least three night sign-ins (22:00 to 05:59) makes nights usual.
func unusualHour(all []truth, prior []int, lt time.Time) bool {
	weekend := func(t time.Time) bool { return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday }
	around, total, nights := 0, 0, 0
	for _, j := range prior {
		t := all[j]
		if t.s.Failure {
			continue
		}
		x := t.s.At.In(zoneOf(t.where))
		total++
		if h := x.Hour(); h >= 22 || h < 6 {
			nights++
		}
		if weekend(x) != weekend(lt) {
			continue
		}
		if d := (x.Hour() - lt.Hour() + 24) % 24; d <= 2 || d >= 22 {
			around++
		}
	}
	if h := lt.Hour(); (h >= 22 || h < 6) && nights >= 3 {
		return false
	}
	return total > 0 && around == 0
}
