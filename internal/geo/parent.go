package geo

// ParentOf is Parent computed with bit operations on the H3 index (no cgo
// call): the resolution field is set to res and the digits finer than res
// to 7, as the H3 index format specifies. It returns 0 when c is 0 or res
// is finer than c's resolution.
func ParentOf(c Cell, res int) Cell {
	if c == 0 || res < 0 {
		return 0
	}
	h := uint64(c)
	cur := int(h >> 52 & 15)
	if res > cur {
		return 0
	}
	h = h&^(uint64(15)<<52) | uint64(res)<<52
	for r := res + 1; r <= cur; r++ {
		h |= uint64(7) << ((15 - r) * 3)
	}
	return Cell(h)
}
