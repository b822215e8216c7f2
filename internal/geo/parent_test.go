package geo

import "testing"

func TestParentOfMatchesH3(t *testing.T) {
	for _, p := range [][2]float64{{40.7128, -74.006}, {-36.8485, 174.7633}, {-13.85, -171.75}, {89.9, 0.1}, {51.5, -0.12}, {35.6762, 139.6503}} {
		c := CellAt(p[0], p[1], ResCity)
		for res := 0; res <= ResCity; res++ {
			if got, want := ParentOf(c, res), c.Parent(res); got != want {
				t.Errorf("%v res %d: %s, want %s", p, res, got, want)
			}
		}
	}
	if ParentOf(0, 4) != 0 || ParentOf(CellAt(1, 1, 4), 7) != 0 {
		t.Error("invalid inputs")
	}
}
