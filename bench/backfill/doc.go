// Package backfill measures `clarion backfill`: System Log pages read over
// HTTP with DPoP-signed requests, split into records byte for byte and
// produced to Kafka (the in-process kfake broker), in events per second.
//
// Run:
//
//		go test -run '^$' -bench . -benchtime 1x -timeout 20m ./bench/backfill/
//
//	  - BenchmarkBackfillSim1M imports 1,000,000 events from the simulated
//	    Okta org (okta/sim) with its rate limit off: the measurement.
//	    The sim renders every page in the same process, so its cost is in the
//	    figure.
//	  - BenchmarkBackfill1M imports 1,000,000 events (2.2 KB each, Okta's
//	    ListLogs example) from a log server that answers from a prepared page
//	    template, with no rate limit and no sleeps: Clarion's own reading,
//	    parsing and producing.
//	  - BenchmarkReadOnly1M reads the same pages without parsing or
//	    producing: the baseline that shows what splitting and Kafka cost.
//
// Each reports events/s against the 50,000 events/s target.
package backfill
