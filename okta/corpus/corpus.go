// Package corpus loads the public Okta System Log events Clarion keeps as
// fixtures (testdata/public-corpus: 329 events from 12 public sources, with
// SOURCES.md naming each repository and commit). They are real events with
// real quirks (placeholder timestamps and addresses, missing or reused
// uuids, ipChain-only addresses, lowercased exports); the tests in this
// package send every one through the gateway, the parser, the processor and
// both sinks.
package corpus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Event is one corpus event.
type Event struct {
	Source string // the events/<source>.jsonl file's source name
	Line   int    // 1-based line in that file
	// Raw is the event's JSON as the source wrote it, but for the uuid:
	// when the source has none, or one an earlier event of the corpus
	// already used, Raw ends with a fresh deterministic "uuid" key (the
	// last of duplicate keys wins, in Clarion as in encoding/json).
	Raw []byte
	// UUID is the event's uuid in Raw; UUIDAssigned says Load chose it.
	UUID         string
	UUIDAssigned bool
}

// Load reads every event of the corpus in dir (the directory holding
// events/), in source then line order.
func Load(dir string) ([]Event, error) {
	files, err := filepath.Glob(filepath.Join(dir, "events", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus: no events/*.jsonl under %s", dir)
	}
	slices.Sort(files)
	seen := map[string]bool{}
	var out []Event
	for _, f := range files {
		src := filepath.Base(f)
		src = src[:len(src)-len(".jsonl")]
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			raw := bytes.TrimSpace(sc.Bytes())
			if len(raw) == 0 {
				continue
			}
			if !json.Valid(raw) || raw[0] != '{' || raw[len(raw)-1] != '}' {
				return nil, fmt.Errorf("corpus: %s line %d is not a JSON object", src, line)
			}
			ev := Event{Source: src, Line: line, Raw: slices.Clone(raw)}
			var head struct {
				UUID any `json:"uuid"`
			}
			_ = json.Unmarshal(raw, &head)
			if u, ok := head.UUID.(string); ok && u != "" && !seen[u] {
				ev.UUID = u
			} else {
				ev.UUID = stableUUID(src, line)
				ev.UUIDAssigned = true
				ev.Raw = appendUUID(ev.Raw, ev.UUID)
			}
			seen[ev.UUID] = true
			out = append(out, ev)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", src, err)
		}
	}
	return out, nil
}

// stableUUID is a version-4-shaped uuid derived from the event's place in
// the corpus, so that golden files do not change from run to run.
func stableUUID(source string, line int) string {
	h := sha256.Sum256([]byte("clarion-corpus\x00" + source + "\x00" + strconv.Itoa(line)))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// appendUUID adds "uuid" as the object's last key.
func appendUUID(raw []byte, uuid string) []byte {
	body := bytes.TrimRight(raw[:len(raw)-1], " \t\r\n")
	out := append([]byte(nil), body...)
	if len(bytes.TrimSpace(body)) > 1 { // not "{"
		out = append(out, ',')
	}
	out = append(out, `"uuid":"`...)
	out = append(out, uuid...)
	return append(out, `"}`...)
}
