package source

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// attemptVersion prefixes every encoded Attempt on TopicAttempts.
const attemptVersion = 1

// AppendBinary appends a's encoding on TopicAttempts: a version byte, then
// varints and length-prefixed strings.
func (a *Attempt) AppendBinary(dst []byte) []byte {
	dst = append(dst, attemptVersion)
	dst = binary.AppendVarint(dst, a.T)
	dst = append(dst, a.Flags)
	dst = binary.AppendUvarint(dst, uint64(a.ASN))
	dst = binary.BigEndian.AppendUint64(dst, a.FP)
	for _, s := range [...]string{a.UUID, a.User, a.Login, a.IP, a.Subject, a.UA, a.DTHash} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

var errAttempt = errors.New("source: truncated or malformed attempt")

// UnmarshalBinary decodes what AppendBinary wrote.
func (a *Attempt) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != attemptVersion {
		return errAttempt
	}
	b = b[1:]
	t, n := binary.Varint(b)
	if n <= 0 || len(b) < n+1 {
		return errAttempt
	}
	a.T, a.Flags = t, b[n]
	b = b[n+1:]
	asn, n := binary.Uvarint(b)
	if n <= 0 || asn > math.MaxUint32 || len(b) < n+8 {
		return errAttempt
	}
	a.ASN = uint32(asn)
	a.FP = binary.BigEndian.Uint64(b[n:])
	b = b[n+8:]
	for _, p := range [...]*string{&a.UUID, &a.User, &a.Login, &a.IP, &a.Subject, &a.UA, &a.DTHash} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return errAttempt
		}
		*p = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return errAttempt
	}
	return nil
}
