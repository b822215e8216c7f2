package clickhouse

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	binproto "github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	chproto "github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/clarion-itdr/clarion/sinks"
)

// Tables returns the tables the sink writes, in the order it inserts, each
// with the columns its INSERT names.
func Tables() map[string][]string {
	out := make(map[string][]string, len(tables))
	for _, t := range tables {
		out[t.name] = append([]string(nil), t.columns...)
	}
	return out
}

// WriteNative writes b's rows for table in ClickHouse's Native format (one
// block; what clickhouse-local, chdb and `INSERT ... FORMAT Native` read),
// with exactly the values Write would insert into a server of the modern
// or legacy dialect, column for column. Load it with
// `INSERT INTO db.table (<Tables()[table]>) SELECT * FROM file('f', Native)`:
// the block's types are the ones the values are built as (String, not
// LowCardinality(String); IPv6 or the address text), which the INSERT
// converts to the table's. It returns the number of rows written (a block
// of 0 rows when b has none for table).
func WriteNative(w io.Writer, table string, b *sinks.Batch, modern bool) (int, error) {
	for _, t := range tables {
		if t.name != table {
			continue
		}
		blk, err := t.block(b, modern)
		if err != nil {
			return 0, fmt.Errorf("native %s: %w", table, err)
		}
		var buf binproto.Buffer
		// Revision 0: no block info, no per-column serialization flags;
		// that is the Native format of files.
		if err := blk.Encode(&buf, 0); err != nil {
			return 0, fmt.Errorf("native %s: %w", table, err)
		}
		if _, err := w.Write(buf.Buf); err != nil {
			return 0, err
		}
		return blk.Rows(), nil
	}
	return 0, fmt.Errorf("native: the sink writes no table %q", table)
}

// nativeBlock builds one block of rows from cols' values.
func nativeBlock[T any](cols []column[T], rows []T, modern bool) (*chproto.Block, error) {
	blk := chproto.NewBlock()
	blk.ServerContext.Timezone = time.UTC
	for _, c := range cols {
		v := c.values(rows, modern)
		typ, err := nativeType(v, modern)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		if err := blk.AddColumn(c.name, chcolumn.Type(typ)); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		if _, err := blk.Columns[len(blk.Columns)-1].Append(v); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return blk, nil
}

// nativeType is the ClickHouse type a column's values are built as.
func nativeType(v any, modern bool) (string, error) {
	switch v.(type) {
	case []string:
		return "String", nil
	case [][]string:
		return "Array(String)", nil
	case []time.Time:
		if modern {
			return "DateTime64(3, 'UTC')", nil
		}
		return "DateTime('UTC')", nil
	case []netip.Addr:
		return "IPv6", nil
	case []float64:
		return "Float64", nil
	case []uint64:
		return "UInt64", nil
	case []uint32:
		return "UInt32", nil
	case []uint8:
		return "UInt8", nil
	case []uint16:
		return "UInt16", nil
	case []int64:
		return "Int64", nil
	case []int32:
		return "Int32", nil
	case []float32:
		return "Float32", nil
	case []bool:
		return "Bool", nil
	case [][]uint64:
		return "Array(UInt64)", nil
	}
	return "", fmt.Errorf("no Native type for %T (add it to nativeType)", v)
}
