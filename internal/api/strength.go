package api

import (
	"fmt"
	"math"
)

// MinTokenBits is the least estimated entropy CheckTokenStrength accepts:
// a generated token (32 random bytes, 43 base64 characters) has about 200
// by this estimate; a 32-character random hex string about 120.
const MinTokenBits = 100

// MinTokenLength is the shortest configured token accepted.
const MinTokenLength = 24

// TokenBits estimates a token's entropy in bits: its length times the
// Shannon entropy of its characters. Repetitions and small alphabets score
// low; it is an upper bound for tokens people make up, so the threshold is
// generous to random ones.
func TokenBits(tok string) float64 {
	if tok == "" {
		return 0
	}
	n := map[rune]int{}
	total := 0
	for _, r := range tok {
		n[r]++
		total++
	}
	h := 0.0
	for _, c := range n {
		p := float64(c) / float64(total)
		h -= p * math.Log2(p)
	}
	return h * float64(total)
}

// CheckTokenStrength refuses a configured token (CLARION_ADMIN_TOKEN) that
// is short or guessable; generated tokens always pass.
func CheckTokenStrength(tok string) error {
	if len(tok) < MinTokenLength {
		return fmt.Errorf("api: the admin token is %d characters; use at least %d random ones (or leave it unset to generate one)", len(tok), MinTokenLength)
	}
	if b := TokenBits(tok); b < MinTokenBits {
		return fmt.Errorf("api: the admin token looks guessable (about %.0f bits; want %d); use a random one, e.g. openssl rand -base64 32", b, MinTokenBits)
	}
	return nil
}
