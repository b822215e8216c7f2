package record_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

func masterKey(t *testing.T, b byte) *secrets.MasterKey {
	t.Helper()
	raw := make([]byte, secrets.KeySize)
	for i := range raw {
		raw[i] = b
	}
	k, err := secrets.NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	mk := masterKey(t, 1)
	v, err := record.DeriveVerifier(mk)
	if err != nil {
		t.Fatal(err)
	}
	api, err := record.DeriveSigner(mk, record.SignerAPI)
	if err != nil {
		t.Fatal(err)
	}
	triage, _ := record.DeriveSigner(mk, record.SignerTriage)
	other, _ := record.DeriveSigner(masterKey(t, 2), record.SignerAPI) // another master key
	mkRec := func() *kgo.Record {
		return &kgo.Record{Topic: bus.TopicResponderRequests, Key: []byte("i/u"), Value: []byte(`{"type":"approve"}`)}
	}
	signed := func(s *record.Signer, edit func(*kgo.Record)) *kgo.Record {
		r := mkRec()
		s.OnProduceRecordBuffered(r)
		if edit != nil {
			edit(r)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		rec     *kgo.Record
		allowed []string
		want    error
	}{
		{"signed by the API", signed(api, nil), []string{record.SignerAPI}, nil},
		{"unsigned", mkRec(), []string{record.SignerAPI}, record.ErrUnsigned},
		{"signer not allowed for this record", signed(triage, nil), []string{record.SignerAPI}, record.ErrUntrustedSigner},
		{"another master key", signed(other, nil), []string{record.SignerAPI}, record.ErrBadSignature},
		{"value changed", signed(api, func(r *kgo.Record) { r.Value = []byte(`{"type":"reject"}`) }), []string{record.SignerAPI}, record.ErrBadSignature},
		{"key changed", signed(api, func(r *kgo.Record) { r.Key = []byte("i/v") }), []string{record.SignerAPI}, record.ErrBadSignature},
		{"copied to another topic", signed(api, func(r *kgo.Record) { r.Topic = bus.TopicEvents }), []string{record.SignerAPI}, record.ErrBadSignature},
		{"signer header renamed", signed(triage, func(r *kgo.Record) {
			for i := range r.Headers {
				if r.Headers[i].Key == record.HeaderSigner {
					r.Headers[i].Value = []byte(record.SignerAPI)
				}
			}
		}), []string{record.SignerAPI}, record.ErrBadSignature},
		{"signature repeated", signed(api, func(r *kgo.Record) { r.Headers = append(r.Headers, r.Headers...) }), []string{record.SignerAPI}, record.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.rec, tc.allowed...)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
	// Not one of the signer's topics: the hook leaves the record alone.
	r := &kgo.Record{Topic: bus.TopicAnomalies, Value: []byte("{}")}
	api.OnProduceRecordBuffered(r)
	if len(r.Headers) != 0 {
		t.Fatalf("signed a record on %s: %v", r.Topic, r.Headers)
	}
}

func TestPublicKeysRoundTrip(t *testing.T) {
	t.Parallel()
	mk := masterKey(t, 3)
	keys := map[string]ed25519.PublicKey{}
	for _, n := range record.Signers() {
		s, err := record.DeriveSigner(mk, n)
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = s.Public()
	}
	got, err := record.ParsePublicKeys(record.FormatPublicKeys(keys))
	if err != nil {
		t.Fatal(err)
	}
	for n, k := range keys {
		if !k.Equal(got[n]) {
			t.Fatalf("%s: key changed in the round trip", n)
		}
	}
	for _, bad := range []string{"processor", "nobody=AAAA", "api=notbase64!", "api=AAAA", "api=" + record.FormatPublicKeys(map[string]ed25519.PublicKey{"x": nil})} {
		if _, err := record.ParsePublicKeys(bad); err == nil {
			t.Errorf("ParsePublicKeys(%q) accepted", bad)
		}
	}
	if _, err := record.DeriveSigner(mk, "nobody"); err == nil {
		t.Fatal("DeriveSigner accepted an unknown signer")
	}
}

func TestSigningKeysRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := record.DeriveSigner(masterKey(t, 4), record.SignerTriage)
	if err != nil {
		t.Fatal(err)
	}
	got, err := record.ParseSigningKeys(record.SignerTriage + "=" + s.Seed())
	if err != nil || !got[record.SignerTriage].Public().Equal(s.Public()) || got[record.SignerTriage].Name() != record.SignerTriage {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"triage", "nobody=" + s.Seed(), "triage=AAAA", "triage=" + s.Seed() + ",triage=" + s.Seed()} {
		if _, err := record.ParseSigningKeys(bad); err == nil {
			t.Errorf("ParseSigningKeys(%q) accepted", bad)
		}
	}
}

// BenchmarkSignVerify: the cost a signed record adds to its writer and to
// each reader.
func BenchmarkSignVerify(b *testing.B) {
	mk, _ := secrets.NewMasterKey(make([]byte, secrets.KeySize))
	s, _ := record.DeriveSigner(mk, record.SignerProcessor)
	v, _ := record.DeriveVerifier(mk)
	val := make([]byte, 1500) // a typical alert
	b.Run("sign", func(b *testing.B) {
		for range b.N {
			r := &kgo.Record{Topic: bus.TopicAlerts, Key: []byte("int/00u1"), Value: val}
			s.OnProduceRecordBuffered(r)
		}
	})
	r := &kgo.Record{Topic: bus.TopicAlerts, Key: []byte("int/00u1"), Value: val}
	s.Sign(r)
	b.Run("verify", func(b *testing.B) {
		for range b.N {
			if _, err := v.Verify(r, record.SignerProcessor); err != nil {
				b.Fatal(err)
			}
		}
	})
}
