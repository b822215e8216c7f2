package record

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Signers: the components whose records can make Clarion act. Each signs
// the records it writes on the topics SignedTopics names, and every reader
// that acts on such a record checks the signature first (docs/trust.md).
const (
	// SignerProcessor signs alerts (clarion.alerts) and anomalies.
	SignerProcessor = "processor"
	// SignerTriage signs verdict updates and proposals.
	SignerTriage = "triage"
	// SignerResponder signs action versions (clarion.actions) and its
	// action_required updates.
	SignerResponder = "responder"
	// SignerAPI signs what people do through the API: approvals,
	// rejections, analysts' proposals and feedback.
	SignerAPI = "api"
)

// Signers lists every signer name.
func Signers() []string {
	return []string{SignerProcessor, SignerTriage, SignerResponder, SignerAPI}
}

// Record headers carrying a signature.
const (
	HeaderSigner    = "clarion_signer"
	HeaderSignature = "clarion_sig"
)

// SignedTopics are the topics each signer signs its records on. On
// clarion.okta.events only alert updates (header source=clarion) are
// signed: raw Okta events are not Clarion's to vouch for.
func SignedTopics(signer string) []string {
	switch signer {
	case SignerProcessor:
		return []string{bus.TopicAlerts, bus.TopicAnomalies}
	case SignerTriage:
		return []string{bus.TopicEvents, bus.TopicResponderRequests, bus.TopicTriage}
	case SignerAPI:
		return []string{bus.TopicEvents, bus.TopicResponderRequests}
	case SignerResponder:
		return []string{bus.TopicEvents, bus.TopicActions}
	}
	return nil
}

// Verification errors. Each names why a record was refused; readers count
// refusals by these (ReasonOf).
var (
	ErrUnsigned        = errors.New("record: unsigned")
	ErrUntrustedSigner = errors.New("record: signer not trusted for this record")
	ErrBadSignature    = errors.New("record: bad signature")
)

// ReasonOf is a short label for a verification error, for metrics:
// unsigned, untrusted_signer, bad_signature.
func ReasonOf(err error) string {
	switch {
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.Is(err, ErrUntrustedSigner):
		return "untrusted_signer"
	default:
		return "bad_signature"
	}
}

// sigPurpose prefixes every signed message, so a Clarion record signature
// can never be mistaken for a signature over anything else.
const sigPurpose = "clarion record signature v1"

// message is what a signature covers: the purpose, the signer, the topic,
// the key and the value, each length-prefixed. The topic binds a signature
// to where the record was written: a record copied to another topic does
// not verify there.
func message(signer, topic string, key, value []byte) []byte {
	b := make([]byte, 0, len(sigPurpose)+len(signer)+len(topic)+len(key)+len(value)+20)
	for _, p := range [][]byte{[]byte(sigPurpose), []byte(signer), []byte(topic), key, value} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// Deriver derives key material; *secrets.MasterKey implements it.
type Deriver interface {
	Derive(purpose string, n int) ([]byte, error)
}

// seedPurpose is the HKDF info of a signer's key seed.
func seedPurpose(signer string) string { return "clarion record signing key v1/" + signer }

// DeriveSigner returns signer's signing key derived from the master key:
// every component holding the same master key derives the same key pair,
// so the one-binary mode needs no configuration.
func DeriveSigner(k Deriver, signer string) (*Signer, error) {
	if !slices.Contains(Signers(), signer) {
		return nil, fmt.Errorf("record: unknown signer %q", signer)
	}
	seed, err := k.Derive(seedPurpose(signer), ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return NewSigner(signer, ed25519.NewKeyFromSeed(seed)), nil
}

// DeriveVerifier returns a Verifier trusting the public keys of every
// signer, derived from the master key.
func DeriveVerifier(k Deriver) (*Verifier, error) {
	keys := map[string]ed25519.PublicKey{}
	for _, n := range Signers() {
		s, err := DeriveSigner(k, n)
		if err != nil {
			return nil, err
		}
		keys[n] = s.Public()
	}
	return NewVerifier(keys)
}

// Signer signs the records one component writes. It is a franz-go hook
// (kgo.HookProduceRecordBuffered): add Opt() to a producer's options and
// every record that client produces on the signer's topics carries
// HeaderSigner and HeaderSignature.
type Signer struct {
	name   string
	key    ed25519.PrivateKey
	topics []string
}

// NewSigner returns a signer named name with private key key, signing on
// SignedTopics(name).
func NewSigner(name string, key ed25519.PrivateKey) *Signer {
	return &Signer{name: name, key: key, topics: SignedTopics(name)}
}

// Name is the signer's name.
func (s *Signer) Name() string { return s.name }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Opt is the client option that makes a franz-go client sign with s.
func (s *Signer) Opt() kgo.Opt { return kgo.WithHooks(s) }

// OnProduceRecordBuffered signs r if its topic is one of the signer's
// (franz-go calls it in Produce, before the record is sized or buffered).
func (s *Signer) OnProduceRecordBuffered(r *kgo.Record) {
	if slices.Contains(s.topics, r.Topic) && (r.Topic != bus.TopicEvents || IsUpdate(r)) {
		s.Sign(r)
	}
}

// Sign sets r's signature headers (replacing any it had) over r's topic,
// key and value.
func (s *Signer) Sign(r *kgo.Record) {
	sig := ed25519.Sign(s.key, message(s.name, r.Topic, r.Key, r.Value))
	r.Headers = slices.DeleteFunc(r.Headers, func(h kgo.RecordHeader) bool {
		return h.Key == HeaderSigner || h.Key == HeaderSignature
	})
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: HeaderSigner, Value: []byte(s.name)},
		kgo.RecordHeader{Key: HeaderSignature, Value: []byte(base64.RawStdEncoding.EncodeToString(sig))})
}

// Verifier checks record signatures against the public key of each signer
// it trusts.
type Verifier struct {
	keys map[string]ed25519.PublicKey
}

// NewVerifier trusts keys (signer name → public key).
func NewVerifier(keys map[string]ed25519.PublicKey) (*Verifier, error) {
	v := &Verifier{keys: map[string]ed25519.PublicKey{}}
	for n, k := range keys {
		if !slices.Contains(Signers(), n) {
			return nil, fmt.Errorf("record: unknown signer %q", n)
		}
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("record: public key of %s is %d bytes, want %d", n, len(k), ed25519.PublicKeySize)
		}
		v.keys[n] = slices.Clone(k)
	}
	return v, nil
}

// Verify checks that r is signed by one of allowed, with that signer's
// key, over r's topic, key and value. It returns the signer. The error
// wraps ErrUnsigned, ErrUntrustedSigner or ErrBadSignature.
func (v *Verifier) Verify(r *kgo.Record, allowed ...string) (string, error) {
	var signer, sig string
	n := 0
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSigner:
			signer = string(h.Value)
			n++
		case HeaderSignature:
			sig = string(h.Value)
			n++
		}
	}
	if signer == "" || sig == "" {
		return "", ErrUnsigned
	}
	if n != 2 {
		return "", fmt.Errorf("%w: repeated signature headers", ErrBadSignature)
	}
	if !slices.Contains(allowed, signer) {
		return signer, fmt.Errorf("%w: %q on %s", ErrUntrustedSigner, signer, r.Topic)
	}
	key, ok := v.keys[signer]
	if !ok {
		return signer, fmt.Errorf("%w: no key for %q", ErrUntrustedSigner, signer)
	}
	raw, err := base64.RawStdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return signer, fmt.Errorf("%w: undecodable", ErrBadSignature)
	}
	if !ed25519.Verify(key, message(signer, r.Topic, r.Key, r.Value), raw) {
		return signer, ErrBadSignature
	}
	return signer, nil
}

// FormatPublicKeys renders keys as ParsePublicKeys reads them:
// "signer=base64,..." in signer order.
func FormatPublicKeys(keys map[string]ed25519.PublicKey) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + base64.RawStdEncoding.EncodeToString(keys[n]))
	}
	return b.String()
}

// ParsePublicKeys reads "signer=base64(ed25519 public key),..." (std
// base64, padding optional), as a split deployment configures the keys it
// trusts.
func ParsePublicKeys(s string) (map[string]ed25519.PublicKey, error) {
	out := map[string]ed25519.PublicKey{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, b64, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("record: public key %q is not signer=base64", part)
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(Signers(), name) {
			return nil, fmt.Errorf("record: unknown signer %q (want one of %s)", name, strings.Join(Signers(), ", "))
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(b64), "="))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("record: public key of %s is not base64 of %d bytes", name, ed25519.PublicKeySize)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("record: public key of %s given twice", name)
		}
		out[name] = raw
	}
	return out, nil
}

// ParseSigningKeys reads "signer=base64(32-byte Ed25519 seed),..." (as
// CLARION_SIGNING_KEYS holds a split component's own signing key) into
// signers.
func ParseSigningKeys(s string) (map[string]*Signer, error) {
	out := map[string]*Signer{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, b64, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || !slices.Contains(Signers(), name) {
			return nil, fmt.Errorf("record: signing key entry is not signer=base64 for one of %s", strings.Join(Signers(), ", "))
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(b64), "="))
		if err != nil || len(raw) != ed25519.SeedSize {
			return nil, fmt.Errorf("record: signing key of %s is not base64 of %d bytes", name, ed25519.SeedSize)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("record: signing key of %s given twice", name)
		}
		out[name] = NewSigner(name, ed25519.NewKeyFromSeed(raw))
	}
	return out, nil
}

// Seed returns the signer's private seed, base64 (for distributing a
// component's key; never log it).
func (s *Signer) Seed() string { return base64.RawStdEncoding.EncodeToString(s.key.Seed()) }
