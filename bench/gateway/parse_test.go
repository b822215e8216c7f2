// Package gateway_test measures the event hook gateway's parse: Clarion's
// single-pass envelope scanner against decoding the same deliveries with
// encoding/json and with gjson, in one run:
//
//	go test -run '^$' -bench . -benchmem ./bench/gateway
package gateway_test

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"

	gen "github.com/clarion-itdr/clarion/bench/internal/deliveries"
	"github.com/clarion-itdr/clarion/ingest/gateway"
)

var ds = gen.Make(256, 1, 20)

func run(b *testing.B, parse func([]byte) int) {
	total, events := 0, 0
	for _, d := range ds {
		total += len(d.Body)
		events += d.Events
	}
	b.SetBytes(int64(total / len(ds)))
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n += parse(ds[i%len(ds)].Body)
	}
	b.StopTimer()
	// Report per event, the unit the gateway's target is in.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

func BenchmarkSplitEnvelope(b *testing.B) {
	run(b, func(body []byte) int {
		env, err := gateway.SplitEnvelope(body, func(gateway.EventRef) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		return env.Events
	})
}

// BenchmarkEncodingJSON decodes the envelope into raw events plus each
// event's uuid and actor: the same information SplitEnvelope yields.
func BenchmarkEncodingJSON(b *testing.B) {
	run(b, func(body []byte) int {
		var env struct {
			EventID string `json:"eventId"`
			Data    struct {
				Events []json.RawMessage `json:"events"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			b.Fatal(err)
		}
		for _, ev := range env.Data.Events {
			var e struct {
				UUID  string `json:"uuid"`
				Actor struct {
					ID          string `json:"id"`
					AlternateID string `json:"alternateId"`
				} `json:"actor"`
			}
			if err := json.Unmarshal(ev, &e); err != nil {
				b.Fatal(err)
			}
		}
		return len(env.Data.Events)
	})
}

// BenchmarkGJSON validates with gjson and walks the events with it.
func BenchmarkGJSON(b *testing.B) {
	run(b, func(body []byte) int {
		if !gjson.ValidBytes(body) {
			b.Fatal("invalid")
		}
		n := 0
		gjson.GetBytes(body, "data.events").ForEach(func(_, ev gjson.Result) bool {
			_ = ev.Get("uuid").String()
			_ = ev.Get("actor.id").String()
			_ = ev.Get("actor.alternateId").String()
			n++
			return true
		})
		return n
	})
}
