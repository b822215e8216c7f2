package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{7}, KeySize)
	for _, s := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw), " " + hex.EncodeToString(raw) + "\n"} {
		if _, err := ParseMasterKey(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "short", hex.EncodeToString(raw[:16]), hex.EncodeToString(raw) + "00"} {
		if _, err := ParseMasterKey(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k, _ := NewMasterKey(RandomBytes(KeySize))
	other, _ := NewMasterKey(RandomBytes(KeySize))
	sealed := k.Seal([]byte("private key"), []byte("ctx-a"))
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("plaintext visible")
	}
	if pt, err := k.Open(sealed, []byte("ctx-a")); err != nil || string(pt) != "private key" {
		t.Fatalf("%q %v", pt, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"other context": func() ([]byte, error) { return k.Open(sealed, []byte("ctx-b")) },
		"other key":     func() ([]byte, error) { return other.Open(sealed, []byte("ctx-a")) },
		"tampered":      func() ([]byte, error) { return k.Open(tampered, []byte("ctx-a")) },
		"truncated":     func() ([]byte, error) { return k.Open(sealed[:5], []byte("ctx-a")) },
	} {
		if _, err := f(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSecretHashAndTokens(t *testing.T) {
	t.Parallel()
	k, _ := NewMasterKey(RandomBytes(KeySize))
	other, _ := NewMasterKey(RandomBytes(KeySize))
	h := k.HashSecret([]byte("s"))
	if !k.CheckSecret([]byte("s"), h) || k.CheckSecret([]byte("t"), h) || other.CheckSecret([]byte("s"), h) {
		t.Fatal("hash check wrong")
	}
	if !EqualTokens("abc", "abc") || EqualTokens("abc", "abd") || EqualTokens("abc", "abcd") || EqualTokens("", "x") {
		t.Fatal("EqualTokens wrong")
	}
	if a, b := RandomToken(32), RandomToken(32); a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "master.key")
	k1, created, err := LoadOrCreateMasterKey("", p)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	k2, created, err := LoadOrCreateMasterKey("", p)
	if err != nil || created {
		t.Fatal(created, err)
	}
	if _, err := k2.Open(k1.Seal([]byte("x"), nil), nil); err != nil {
		t.Fatal("reloaded key differs")
	}
	envKey := hex.EncodeToString(RandomBytes(KeySize))
	k3, created, err := LoadOrCreateMasterKey(envKey, p)
	if err != nil || created {
		t.Fatal(err)
	}
	if _, err := k3.Open(k1.Seal([]byte("x"), nil), nil); err == nil {
		t.Fatal("the environment must win over the file")
	}
	tp := filepath.Join(dir, "admin-token")
	tok, created, err := LoadOrCreateToken("", tp)
	if err != nil || !created || len(tok) < 40 {
		t.Fatal(tok, created, err)
	}
	if again, _, _ := LoadOrCreateToken("", tp); again != tok {
		t.Fatal("token not persisted")
	}
	if env, _, _ := LoadOrCreateToken(" from-env ", tp); env != "from-env" {
		t.Fatal("env token")
	}
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	if _, _, err := LoadOrCreateToken("", filepath.Join(dir, "empty")); err == nil {
		t.Fatal("empty token file accepted")
	}
}
