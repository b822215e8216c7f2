package okta

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Grant and assertion constants of OAuth 2.0 client credentials with
// private_key_jwt (RFC 7523), as Okta documents them for service apps.
const (
	grantClientCredentials = "client_credentials"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	dpopJWTType            = "dpop+jwt"
	// assertionLifetime is how far ahead a client assertion expires. Okta
	// accepts up to an hour; five minutes limits the use of a leaked one.
	assertionLifetime = 5 * time.Minute
)

// assertionSigner signs client assertions (private_key_jwt).
type assertionSigner struct {
	signer jose.Signer
}

func newAssertionSigner(key crypto.Signer, keyID string) (*assertionSigner, error) {
	alg, err := algFor(key)
	if err != nil {
		return nil, fmt.Errorf("okta: client key: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if keyID != "" {
		opts = opts.WithHeader("kid", keyID)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("okta: client key: %w", err)
	}
	return &assertionSigner{signer: s}, nil
}

// assertion returns a client assertion JWT for tokenURL: iss = sub =
// clientID, aud = tokenURL, iat = now, exp = now + 5 min, a unique jti.
func (a *assertionSigner) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{tokenURL},
		IssuedAt: jwt.NewNumericDate(now),
		// Okta rejects assertions whose iat is ahead of its clock; it has
		// no nbf requirement, so none is sent.
		Expiry: jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID:     secrets.RandomToken(18),
	}
	return jwt.Signed(a.signer).Claims(claims).Serialize()
}

// dpopSigner signs DPoP proofs (RFC 9449) with the integration's DPoP key,
// embedding its public JWK in each proof's header.
type dpopSigner struct {
	signer jose.Signer
}

func newDPoPSigner(key crypto.Signer) (*dpopSigner, error) {
	alg, err := algFor(key)
	if err != nil {
		return nil, fmt.Errorf("okta: DPoP key: %w", err)
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	opts := (&jose.SignerOptions{}).WithType(dpopJWTType).WithHeader("jwk", pub)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("okta: DPoP key: %w", err)
	}
	return &dpopSigner{signer: s}, nil
}

type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// proof returns a DPoP proof for a request: htm = method, htu = the URL
// without query and fragment, iat = now, a unique jti, and ath (the
// base64url SHA-256 of accessToken) and nonce when given.
func (d *dpopSigner) proof(method string, u *url.URL, accessToken, nonce string, now time.Time) (string, error) {
	c := dpopClaims{
		JTI:   secrets.RandomToken(18),
		HTM:   method,
		HTU:   htu(u),
		IAT:   now.Unix(),
		Nonce: nonce,
	}
	if accessToken != "" {
		c.ATH = AccessTokenHash(accessToken)
	}
	return jwt.Signed(d.signer).Claims(c).Serialize()
}

// AccessTokenHash is the DPoP ath claim: base64url (no padding) of the
// SHA-256 of the access token's ASCII bytes.
func AccessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// htu is the DPoP htu of u: scheme, host and path, no query or fragment.
func htu(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// algFor picks the JWS algorithm for a private key: RS256 for RSA, ES256
// for P-256 (the algorithms Okta documents for service apps and DPoP).
func algFor(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("RSA key shorter than 2048 bits")
		}
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("only P-256 EC keys are supported")
		}
		return jose.ES256, nil
	case nil:
		return "", errors.New("no key")
	}
	return "", fmt.Errorf("unsupported key type %T", key)
}
