package geo

import (
	"math"
	"testing"
)

func TestDistanceKm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{"same point", 43.65, -79.34, 43.65, -79.34, 0, 1e-9},
		{"toronto-london", 43.6532, -79.3832, 51.5074, -0.1278, 5710, 15},
		{"across the date line", 64.2, 179.5, 64.2, -179.5, 48.6, 1},
		{"auckland-honolulu", -36.85, 174.76, 21.31, -157.86, 7080, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := DistanceKm(tc.lat1, tc.lon1, tc.lat2, tc.lon2)
			if math.Abs(got-tc.want) > tc.tol {
				t.Fatalf("DistanceKm = %.1f, want %.1f±%.1f", got, tc.want, tc.tol)
			}
		})
	}
}

func TestCellAt(t *testing.T) {
	t.Parallel()
	c := CellAt(43.6567, -79.34, ResCity)
	if c == 0 || c.Resolution() != ResCity {
		t.Fatalf("cell %v res %d", c, c.Resolution())
	}
	if p := c.Parent(ResRegion); p.Resolution() != ResRegion || CellAt(43.6567, -79.34, ResRegion) != p {
		t.Fatalf("parent %v", p)
	}
	lat, lon := c.Center()
	if DistanceKm(lat, lon, 43.6567, -79.34) > 3 {
		t.Fatalf("centre %f,%f too far", lat, lon)
	}
	for _, bad := range [][2]float64{{0, 0}, {91, 0}, {0, 181}, {math.NaN(), 1}} {
		if CellAt(bad[0], bad[1], ResCity) != 0 {
			t.Errorf("CellAt(%v) should be 0", bad)
		}
	}
}
