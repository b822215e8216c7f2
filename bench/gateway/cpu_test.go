package gateway_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/ingest/gateway"
)

// threadCPU is the calling thread's CPU time: steadier than wall time on a
// machine shared with other work.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSplitEnvelopeCPU reports SplitEnvelope's CPU time per event and per
// byte (run with -v; it asserts nothing about speed).
func TestSplitEnvelopeCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events, bytes := 0, 0
	c0 := threadCPU()
	for r := 0; r < 100; r++ {
		for _, d := range ds {
			env, err := gateway.SplitEnvelope(d.Body, func(gateway.EventRef) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			events += env.Events
			bytes += len(d.Body)
		}
	}
	cpu := threadCPU() - c0
	t.Logf("SplitEnvelope: %.0f ns CPU/event, %.0f MB per CPU-second", float64(cpu.Nanoseconds())/float64(events), float64(bytes)/cpu.Seconds()/1e6)
}
