//go:build race

package eval

// raceEnabled: the race detector slows the single-goroutine replay of the
// large simulator and realistic files ~15x and finds nothing there; they
// run without it (make test runs TestF1 and TestBeatsBaselines again without -race).
const raceEnabled = true
