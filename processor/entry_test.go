package processor

import (
	"testing"
	"unsafe"
)

// TestEntrySize guards the per-user memory bound: an entry plus Go's 8-byte
// allocation header must fit the 1,792-byte size class, so a user costs
// under 2 KiB with its key and map slot (see bench/detect StatePerUser).
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}) + 8; n > 1792 {
		t.Fatalf("entry is %d bytes with its header: over the 1,792-byte size class", n)
	}
}
