package clickhouse_test

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	binproto "github.com/ClickHouse/ch-go/proto"
	chproto "github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
)

// TestWriteNative decodes what WriteNative wrote with the driver's own
// block decoder: every table's columns in insert order, the row values, the
// dialect's time and IP types. (The cross-engine test in deploy/ loads the
// same blocks into ClickHouse 26.9.)
func TestWriteNative(t *testing.T) {
	t.Parallel()
	pub := time.Date(2026, 11, 28, 21, 12, 19, 456e6, time.UTC)
	b := &sinks.Batch{
		Events: []sinks.EventRow{
			{KafkaPartition: 2, KafkaOffset: 7, UUID: "u1", Published: pub, IP: "89.187.219.85", ActorLogin: "laura.kim2@example.com"},
			{UUID: "u2", Published: pub.Add(time.Second), IP: "not an ip"},
		},
		Alerts: []sinks.AlertRow{{ID: "al-1", Version: 3, AnomalyIDs: []string{"an-1", "an-2"}}},
	}
	for _, modern := range []bool{true, false} {
		for table, cols := range clickhouse.Tables() {
			var buf bytes.Buffer
			n, err := clickhouse.WriteNative(&buf, table, b, modern)
			if err != nil {
				t.Fatal(err)
			}
			blk := chproto.NewBlock()
			if err := blk.Decode(binproto.NewReader(&buf), 0); err != nil {
				t.Fatalf("%s: decode: %v", table, err)
			}
			if blk.Rows() != n || !slices.Equal(blk.ColumnsNames(), cols) {
				t.Fatalf("%s: %d rows, columns %v; want %d, %v", table, blk.Rows(), blk.ColumnsNames(), n, cols)
			}
			if table != sinks.TableEvents {
				continue
			}
			col := func(name string) int { return slices.Index(cols, name) }
			if got := blk.Columns[col("uuid")].Row(0, false); got != "u1" {
				t.Errorf("uuid %v", got)
			}
			if got := blk.Columns[col("kafka_offset")].Row(0, false); got != uint64(7) {
				t.Errorf("kafka_offset %v", got)
			}
			got := blk.Columns[col("published")].Row(0, false).(time.Time)
			want := pub
			if !modern {
				want = pub.Truncate(time.Second)
			}
			if !got.Equal(want) {
				t.Errorf("modern=%v published %v, want %v", modern, got, want)
			}
			ipType, ip := blk.Columns[col("ip")].Type(), blk.Columns[col("ip")].Row(0, false)
			switch {
			case modern && (ipType != "IPv6" || !net.IP.Equal(ip.(net.IP), net.ParseIP("::ffff:89.187.219.85"))):
				t.Errorf("modern ip %s %v", ipType, ip)
			case !modern && (ipType != "String" || ip != "89.187.219.85"):
				t.Errorf("legacy ip %s %v", ipType, ip)
			}
		}
	}
	if _, err := clickhouse.WriteNative(&bytes.Buffer{}, "nope", b, true); err == nil {
		t.Error("WriteNative accepted an unknown table")
	}
}
