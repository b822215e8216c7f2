package poller

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// samplesDir is the repository's one copy of the public Okta samples.
const samplesDir = "../../okta/logevent/testdata/samples"

// samplesPage joins the single-event Okta samples into a System Log page.
func samplesPage(t testing.TB) ([]byte, [][]byte) {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "user-*.json"))
	if len(files) == 0 {
		t.Fatal("no samples in " + samplesDir)
	}
	var elems [][]byte
	page := []byte("[")
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.TrimSpace(b)
		elems = append(elems, b)
		if i > 0 {
			page = append(page, ",\n"...)
		}
		page = append(page, b...)
	}
	return append(page, ']'), elems
}

func TestSplitPageSamplesByteForByte(t *testing.T) {
	t.Parallel()
	page, elems := samplesPage(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	pe, err := splitPage(page, "int", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(pe.records) != len(elems) || pe.skipped != 0 {
		t.Fatalf("%d records, %d skipped, want %d", len(pe.records), pe.skipped, len(elems))
	}
	for i, r := range pe.records {
		if !bytes.Equal(r.Value, elems[i]) {
			t.Errorf("record %d re-encoded", i)
		}
		var ev logevent.Event
		if err := logevent.Parse(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != "int/"+ev.UserKey() || bus.Header(r, bus.HeaderUUID) != ev.UUID || r.Topic != bus.TopicEvents {
			t.Errorf("record %d: key %q uuid %q", i, r.Key, bus.Header(r, bus.HeaderUUID))
		}
		if bus.Header(r, bus.HeaderReceivedAt) != "2026-01-02T03:04:05.006Z" || bus.Header(r, bus.HeaderSource) != "poll" {
			t.Errorf("headers %v", r.Headers)
		}
		if strings.Contains(string(elems[i]), `"id": "unknown"`) && !strings.HasPrefix(string(r.Key), "int/") {
			t.Errorf("unknown actor key %q", r.Key)
		}
	}
}

func TestSplitPageOddInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body             string
		records, skipped int
		err              bool
	}{
		{`[]`, 0, 0, false},
		{" [ ] ", 0, 0, false},
		{`[{"uuid":"a","actor":{"id":"unknown","alternateId":"x@y"}}, 1, "s", null, {"no":"uuid"}, {"uuid":7}]`, 1, 5, false},
		{`{"uuid":"a"}`, 0, 0, true},
		{`[{"uuid":"a"}`, 0, 0, true},
		{``, 0, 0, true},
		{`[{"uuid":"a\u00e9","published":"2024-01-01T00:00:00.000Z"},{"uuid":"b","published":"bogus"}]`, 2, 0, false},
	} {
		pe, err := splitPage([]byte(tc.body), "i", time.Now())
		if (err != nil) != tc.err || len(pe.records) != tc.records || pe.skipped != tc.skipped {
			t.Errorf("splitPage(%s) = %d records, %d skipped, err %v", tc.body, len(pe.records), pe.skipped, err)
		}
	}
	pe, _ := splitPage([]byte(`[{"uuid":"a","actor":{"id":"unknown","alternateId":"x@y"}}]`), "i", time.Now())
	if string(pe.records[0].Key) != "i/x@y" {
		t.Errorf("key %q", pe.records[0].Key)
	}
}

func FuzzSplitPage(f *testing.F) {
	page, _ := samplesPage(f)
	f.Add(page)
	f.Add([]byte(`[{"uuid":"a"},{"uuid":"b","actor":{"id":"x"}}]`))
	f.Add([]byte(`[1,2,{"uuid":""}]`))
	f.Add([]byte(`[{"uuid":"\ud800"}]`))
	f.Add([]byte(`[{"uuid":"a","uuid":"b","actor":{"id":"x","id":"y"}}]`))
	f.Add([]byte(`[{"uuid":"a\"b","actor":{"id":"unknown","alternateId":"\u00e9"}}] `))
	f.Add([]byte(`[-0.5e+3, true, false, null, [], {}, "x"]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pe, err := splitPage(body, "i", time.Unix(0, 0))
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		want := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '['
		if (err == nil) != want {
			t.Fatalf("splitPage(%q) err = %v, json.Valid says array: %v", body, err, want)
		}
		if err != nil {
			return
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			t.Fatal(err)
		}
		if len(pe.records)+pe.skipped != len(elems) {
			t.Fatalf("%d records + %d skipped for %d elements", len(pe.records), pe.skipped, len(elems))
		}
		for _, r := range pe.records {
			if !json.Valid(r.Value) || !bytes.Contains(body, r.Value) || r.Value[0] != '{' {
				t.Fatalf("record %q is not an object element of %q", r.Value, body)
			}
			var ev logevent.Event
			if err := logevent.Parse(r.Value, &ev); err != nil {
				t.Fatalf("record %q: %v", r.Value, err)
			}
			if bus.Header(r, bus.HeaderUUID) != ev.UUID || string(r.Key) != "i/"+ev.UserKey() {
				t.Fatalf("record %q: uuid header %q key %q; logevent says %q %q", r.Value, bus.Header(r, bus.HeaderUUID), r.Key, ev.UUID, ev.UserKey())
			}
		}
	})
}

// TestScanPageAgreesWithEncodingJSON mutates valid pages at random (a
// deterministic cheap fuzz that runs in every test run) and checks that
// the scanner accepts exactly what encoding/json.Valid accepts.
func TestScanPageAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	_, elems := samplesPage(t)
	seeds := [][]byte{append(append([]byte("["), elems[0]...), ']'), []byte(`[{"uuid":"a\"b","n":-0.5e+3,"x":[true,false,null,{}],"actor":{"id":"\u00e9"}}]`), []byte(` [ 1 , "x" ] `)}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("[]{}\",:\\/-+.eE0123456789tfnulraxb \t\n\u00e9")
	n := 10000
	if testing.Short() {
		n = 1000
	}
	for i := 0; i < n; i++ {
		b := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for k := rng.IntN(4) + 1; k > 0 && len(b) > 0; k-- {
			p := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[p] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				b = append(b[:p], b[p+1:]...)
			case 2:
				b = append(b[:p], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[p:]...)...)
			}
		}
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		want := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '['
		_, err := splitPage(b, "i", time.Unix(0, 0))
		if (err == nil) != want {
			t.Fatalf("splitPage(%q): err %v, json.Valid array %v", b, err, want)
		}
	}
}

func BenchmarkSplitPage(b *testing.B) {
	page, elems := samplesPage(b)
	// A page of 1000 events like Okta's, cycling through the samples.
	var body bytes.Buffer
	body.WriteByte('[')
	for i := 0; i < 1000; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		var compact bytes.Buffer
		json.Compact(&compact, elems[i%len(elems)])
		body.Write(compact.Bytes())
	}
	body.WriteByte(']')
	_ = page
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pe, err := splitPage(body.Bytes(), "bench", time.Unix(0, 0))
		if err != nil || len(pe.records) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}
