// Package geo wraps Uber's H3 grid and great-circle distance: the only place
// Clarion touches h3-go.
//
// Hazard: h3-go v4.1.0's GridDistance returns 0 for cells far apart (it
// reports failure as 0). Never use it for travel; use DistanceKm.
package geo

import (
	"math"

	"github.com/uber/h3-go/v4"
)

// Resolutions Clarion's baselines use.
const (
	ResRegion = 4 // about 1,770 km² a cell: a metro region
	ResCity   = 7 // about 5 km² a cell: part of a city
)

// Cell is an H3 cell index; 0 means none.
type Cell uint64

// ValidLatLon reports whether lat/lon are finite and within range, and not
// the (0,0) that some pipelines write for "unknown".
func ValidLatLon(lat, lon float64) bool {
	if math.IsNaN(lat) || math.IsNaN(lon) || math.IsInf(lat, 0) || math.IsInf(lon, 0) {
		return false
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return false
	}
	return !(lat == 0 && lon == 0)
}

// CellAt returns the H3 cell of lat/lon at res, or 0 when the point is not
// ValidLatLon or res is out of 0..15.
func CellAt(lat, lon float64, res int) Cell {
	if !ValidLatLon(lat, lon) || res < 0 || res > 15 {
		return 0
	}
	return Cell(h3.LatLngToCell(h3.NewLatLng(lat, lon), res))
}

// Parent returns c's ancestor at res (res must not exceed c's resolution).
func (c Cell) Parent(res int) Cell {
	if c == 0 {
		return 0
	}
	return Cell(h3.Cell(c).Parent(res))
}

// Resolution returns c's resolution.
func (c Cell) Resolution() int { return h3.Cell(c).Resolution() }

// String returns the cell's canonical hex form ("872a1072bffffff").
func (c Cell) String() string {
	if c == 0 {
		return ""
	}
	return h3.Cell(c).String()
}

// Center returns the cell's centre.
func (c Cell) Center() (lat, lon float64) {
	ll := h3.Cell(c).LatLng()
	return ll.Lat, ll.Lng
}

const earthRadiusKm = 6371.0088

// DistanceKm is the great-circle (haversine) distance between two points.
// It is exact across the antimeridian and near the poles.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	p1, p2 := lat1*rad, lat2*rad
	dp, dl := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}
