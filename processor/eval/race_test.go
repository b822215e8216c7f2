//go:build race

package eval

// raceEnabled: the race detector slows the single-goroutine replay of the
// large simulator files ~15x and finds nothing there; they run without it.
const raceEnabled = true
