package source

import (
	"encoding/json"
	"errors"
	"fmt"
)

// stateVersion prefixes every encoded Source.
const stateVersion = 1

// AppendBinary appends s's changelog encoding (a version byte, then JSON).
func (s *Source) AppendBinary(dst []byte) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return dst, err
	}
	return append(append(dst, stateVersion), b...), nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (s *Source) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return errors.New("source: empty state")
	}
	if b[0] != stateVersion {
		return fmt.Errorf("source: state version %d, want %d", b[0], stateVersion)
	}
	*s = Source{}
	if err := json.Unmarshal(b[1:], s); err != nil {
		return fmt.Errorf("source: state: %w", err)
	}
	return nil
}
