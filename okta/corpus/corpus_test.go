package corpus_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/clarion-itdr/clarion/okta/corpus"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

var update = flag.Bool("update", false, "rewrite testdata/parsed.golden.jsonl from the parser's current output")

const (
	corpusDir  = "testdata/public-corpus"
	goldenFile = "testdata/parsed.golden.jsonl"
)

func load(t testing.TB) []corpus.Event {
	t.Helper()
	evs, err := corpus.Load(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 329 {
		t.Fatalf("%d corpus events, SOURCES.md lists 329", len(evs))
	}
	return evs
}

// golden is one line of the golden file: where the event comes from and
// what the parser read (or why it refused it).
type golden struct {
	Source       string          `json:"source"`
	Line         int             `json:"line"`
	UUIDAssigned bool            `json:"uuid_assigned,omitempty"`
	Error        string          `json:"error,omitempty"`
	Event        *logevent.Event `json:"event,omitempty"`
}

// TestParseCorpus: every public event parses, but for the lowercased
// exports, which are refused with ErrLowercased; the fields read match the
// golden file (go test ./okta/corpus -run TestParseCorpus -update rewrites
// it), and the fields real events carry are read where they are.
func TestParseCorpus(t *testing.T) {
	t.Parallel()
	evs := load(t)
	var out bytes.Buffer
	var lowercased, fromChain, risk, dtHash, root, device, assigned int
	for _, e := range evs {
		var ev logevent.Event
		g := golden{Source: e.Source, Line: e.Line, UUIDAssigned: e.UUIDAssigned}
		if e.UUIDAssigned {
			assigned++
		}
		switch err := logevent.Parse(e.Raw, &ev); {
		case errors.Is(err, logevent.ErrLowercased):
			lowercased++
			g.Error = err.Error()
		case err != nil:
			t.Errorf("%s:%d: %v", e.Source, e.Line, err)
			continue
		default:
			if ev.UUID != e.UUID {
				t.Errorf("%s:%d: uuid %q, want %q", e.Source, e.Line, ev.UUID, e.UUID)
			}
			g.Event = &ev
			var client struct {
				Client struct {
					IP *string `json:"ipAddress"`
				} `json:"client"`
			}
			_ = json.Unmarshal(e.Raw, &client)
			if ev.IP != "" && (client.Client.IP == nil || *client.Client.IP == "null") {
				fromChain++
			}
			if ev.RiskLevel != "" {
				risk++
			}
			if ev.DTHash != "" {
				dtHash++
			}
			if ev.RootSessionID != "" {
				root++
			}
			if ev.DeviceID != "" || ev.DeviceName != "" {
				device++
			}
		}
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	t.Logf("%d events: %d lowercased (refused), %d uuids assigned, address from ipChain %d, logOnlySecurityData risk %d, dtHash %d, rootSessionId %d, device %d",
		len(evs), lowercased, assigned, fromChain, risk, dtHash, root, device)
	for name, n := range map[string]int{"lowercased": lowercased, "uuid assigned": assigned, "address from ipChain": fromChain,
		"logOnlySecurityData risk": risk, "dtHash": dtHash, "rootSessionId": root, "device": device} {
		if n == 0 {
			t.Errorf("no corpus event with %s: the parser misses a field real events carry", name)
		}
	}
	if *update {
		if err := os.WriteFile(goldenFile, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, out.Bytes()) {
		got := bytes.Split(out.Bytes(), []byte("\n"))
		exp := bytes.Split(want, []byte("\n"))
		for i := range max(len(got), len(exp)) {
			var g, w []byte
			if i < len(got) {
				g = got[i]
			}
			if i < len(exp) {
				w = exp[i]
			}
			if !bytes.Equal(g, w) {
				t.Fatalf("%s line %d differs (rerun with -update if the change is intended):\n got %s\nwant %s", goldenFile, i+1, g, w)
			}
		}
	}
}

// TestLoadAssignsUniqueUUIDs: every event has a uuid of its own, and an
// assigned one is what the parser reads (it is the object's last key).
func TestLoadAssignsUniqueUUIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, e := range load(t) {
		where := e.Source + ":" + strconv.Itoa(e.Line)
		if prev, ok := seen[e.UUID]; ok {
			t.Fatalf("uuid %s of %s:%d already used by %s", e.UUID, e.Source, e.Line, prev)
		}
		seen[e.UUID] = where
		if !json.Valid(e.Raw) {
			t.Fatalf("%s:%d: invalid JSON after uuid assignment", e.Source, e.Line)
		}
		var m map[string]any
		_ = json.Unmarshal(e.Raw, &m)
		if m["uuid"] != e.UUID {
			t.Fatalf("%s:%d: uuid %v, want %s", e.Source, e.Line, m["uuid"], e.UUID)
		}
	}
}
