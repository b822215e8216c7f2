package geo

import (
	"sync"
	"time"

	"github.com/ringsaturn/tzf"
)

// zones is the process-wide time-zone finder and location cache. The finder
// is immutable once built (about 0.5 s and tens of MB the first time), so it
// is shared rather than rebuilt per caller.
var zones = sync.OnceValues(func() (*zoneCache, error) {
	f, err := tzf.NewDefaultFinder()
	if err != nil {
		return nil, err
	}
	return &zoneCache{f: f, locs: map[string]*time.Location{}}, nil
})

type zoneCache struct {
	f    tzf.F
	mu   sync.Mutex
	locs map[string]*time.Location
}

// ZoneName returns the IANA time-zone name at lat/lon ("Europe/Paris"), or ""
// when the point is invalid, at sea without a zone, or the finder failed to load.
func ZoneName(lat, lon float64) string {
	if !ValidLatLon(lat, lon) {
		return ""
	}
	z, err := zones()
	if err != nil {
		return ""
	}
	return z.f.GetTimezoneName(lon, lat)
}

// LoadZone returns the *time.Location for an IANA name, cached; nil when the
// name is empty or unknown to the system's zone database.
func LoadZone(name string) *time.Location {
	if name == "" {
		return nil
	}
	if name == "UTC" {
		return time.UTC
	}
	z, err := zones()
	if err != nil {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if l, ok := z.locs[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = nil
	}
	z.locs[name] = l
	return l
}
