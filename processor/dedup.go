package processor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Exact dedup by event uuid. The per-user state (processor/detect) only
// remembers a user's last few sign-ins; a copy of an event arriving later
// than that (the poller re-reading what the hook delivered, a re-run of
// `clarion backfill`) would be counted again. Each partition therefore
// keeps the uuids of every event it processed, bucketed by the event's
// day (published, UTC), for Config.DedupHorizon of event time behind the
// partition's watermark. An event older than the horizon is not processed
// at all (counted as too_old): Okta keeps its System Log 90 days, the
// default horizon, so no backfill can deliver an event the set has
// forgotten.
//
// The set lives in the changelog next to the users: each batch writes,
// per day it touched, one record keyed dedupPrefix + day + "/" + the
// batch's first input offset holding the uuids it added; a day past the
// horizon is deleted with tombstones for its records. Restore reads them
// back, so the set survives restarts and rebalances with the state.

// dedupPrefix starts the changelog keys of dedup records. User keys are
// integration/user and never start with a NUL byte.
const dedupPrefix = "\x00dedup/"

// uuidKey is a uuid in 16 bytes: the UUID itself when it is one (Okta's
// are), else the first 16 bytes of its SHA-256.
type uuidKey [16]byte

func keyOfUUID(s string) uuidKey {
	var k uuidKey
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
		if _, err := hex.Decode(k[:], []byte(h)); err == nil {
			return k
		}
	}
	sum := sha256.Sum256([]byte("uuid:" + s))
	copy(k[:], sum[:16])
	return k
}

// dedupDay is one day's uuids and the changelog keys that hold them.
type dedupDay struct {
	ids  map[uuidKey]struct{}
	keys []string // changelog records of this day
	add  []uuidKey
}

// dedupSet is a partition's uuids over the horizon.
type dedupSet struct {
	days map[int64]*dedupDay // key: unix day
}

func newDedupSet() *dedupSet { return &dedupSet{days: map[int64]*dedupDay{}} }

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

// seen reports whether id was processed on day.
func (s *dedupSet) seen(day int64, id uuidKey) bool {
	d := s.days[day]
	if d == nil {
		return false
	}
	_, ok := d.ids[id]
	return ok
}

func (s *dedupSet) day(day int64) *dedupDay {
	d := s.days[day]
	if d == nil {
		d = &dedupDay{ids: map[uuidKey]struct{}{}}
		s.days[day] = d
	}
	return d
}

// insert adds id on day and queues it for the changelog.
func (s *dedupSet) insert(day int64, id uuidKey) {
	d := s.day(day)
	d.ids[id] = struct{}{}
	d.add = append(d.add, id)
}

// len returns the number of uuids held.
func (s *dedupSet) len() int {
	n := 0
	for _, d := range s.days {
		n += len(d.ids)
	}
	return n
}

// flush returns the changelog records for the uuids added since the last
// flush (key, value), named after the batch's first input offset, and
// tombstone keys for the days before minDay, which it forgets.
func (s *dedupSet) flush(firstOffset int64, minDay int64, emit func(key string, value []byte)) {
	days := make([]int64, 0, len(s.days))
	for day := range s.days {
		days = append(days, day)
	}
	sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
	for _, day := range days {
		d := s.days[day]
		if day < minDay {
			for _, k := range d.keys {
				emit(k, nil)
			}
			delete(s.days, day)
			continue
		}
		if len(d.add) == 0 {
			continue
		}
		key := dedupPrefix + strconv.FormatInt(day, 10) + "/" + strconv.FormatInt(firstOffset, 10)
		v := make([]byte, 0, 16*len(d.add))
		for _, id := range d.add {
			v = append(v, id[:]...)
		}
		emit(key, v)
		d.keys = append(d.keys, key)
		d.add = d.add[:0]
	}
}

var errDedupRecord = errors.New("bad dedup record")

// restore installs a dedup changelog record (a tombstone removes its key).
func (s *dedupSet) restore(key string, value []byte) error {
	rest := strings.TrimPrefix(key, dedupPrefix)
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return errDedupRecord
	}
	day, err := strconv.ParseInt(rest[:i], 10, 64)
	if err != nil || len(value)%16 != 0 {
		return errDedupRecord
	}
	d := s.day(day)
	if value == nil {
		// Tombstones come only for whole expired days.
		delete(s.days, day)
		return nil
	}
	d.keys = append(d.keys, key)
	for off := 0; off < len(value); off += 16 {
		var id uuidKey
		copy(id[:], value[off:off+16])
		d.ids[id] = struct{}{}
	}
	return nil
}
