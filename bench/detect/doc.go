// Package detect benchmarks Clarion's detection hot path: parsing a
// LogEvent, updating the user's state and running every detector, per
// event; the state's size per user at a million users; and, in the same
// run, the baseline of decoding the same events with encoding/json alone.
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/detect   (quick)
//	go test -run '^$' -bench . -benchmem ./bench/detect         (figures)
package detect
