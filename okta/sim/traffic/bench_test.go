package traffic

import "testing"

func BenchmarkNextRecord(b *testing.B) {
	m := New(Config{Days: 3650, Users: 200})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := m.NextRecord(); !ok {
			b.Fatal("end")
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	m := New(Config{Days: 30, Users: 200})
	r, _ := m.NextRecord()
	var buf []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = m.AppendJSON(buf[:0], &r)
	}
	b.SetBytes(int64(len(buf)))
}
