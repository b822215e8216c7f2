package processor

// The scenario files `clarion eval` and the tests use: the hand-written
// edge cases and the files generated from the simulator's traffic model.
//go:generate go run ./cmd/genscenarios -out testdata
