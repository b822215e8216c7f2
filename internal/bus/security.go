package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms Security.SASLMechanism accepts.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
	SASLOAuthBearer = "oauthbearer"
	SASLAWSMSKIAM   = "aws-msk-iam"
)

// Environment variables that hold Kafka secrets. Secrets never come from
// flags (they would show in the process list and shell history).
const (
	// EnvSASLPassword is the password of plain and SCRAM.
	EnvSASLPassword = "CLARION_KAFKA_SASL_PASSWORD"
	// EnvSASLToken is an OAUTHBEARER token; EnvSASLTokenFile names a file
	// holding one, read at every (re)authentication so a sidecar can
	// rotate it.
	EnvSASLToken     = "CLARION_KAFKA_SASL_TOKEN"
	EnvSASLTokenFile = "CLARION_KAFKA_SASL_TOKEN_FILE"
)

// Security is how a client connects to Kafka: TLS and SASL. The zero value
// is plaintext without authentication (the embedded broker). Secrets are
// read from the environment (Env, default os.LookupEnv) when Opts is
// called, never from flags.
type Security struct {
	// TLS turns TLS on. CA, Cert or Key imply it.
	TLS bool
	// CA is a PEM file of the CAs that sign the brokers' certificates.
	// Empty: the system roots.
	CA string
	// Cert and Key are PEM files of a client certificate for mutual TLS;
	// both or neither.
	Cert, Key string
	// ServerName overrides the name checked in the brokers' certificates.
	// Empty: the host of each broker address.
	ServerName string
	// SASLMechanism is one of plain, scram-sha-256, scram-sha-512,
	// oauthbearer, aws-msk-iam; empty: no SASL.
	SASLMechanism string
	// SASLUser is the user of plain and SCRAM (the password is
	// $CLARION_KAFKA_SASL_PASSWORD), and the optional authorization id of
	// oauthbearer.
	SASLUser string
	// Env looks up environment variables. Default os.LookupEnv.
	Env func(string) (string, bool)
}

// Enabled reports whether s asks for TLS or SASL.
func (s Security) Enabled() bool { return s.usesTLS() || s.SASLMechanism != "" }

func (s Security) usesTLS() bool { return s.TLS || s.CA != "" || s.Cert != "" || s.Key != "" }

func (s Security) env(k string) string {
	look := s.Env
	if look == nil {
		look = os.LookupEnv
	}
	v, _ := look(k)
	return v
}

// Opts returns the franz-go options for s: a TLS dialer and a SASL
// mechanism. It checks what can be checked without a broker (files parse,
// secrets present) and names the flag or variable at fault.
func (s Security) Opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.usesTLS() {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASLMechanism != "" {
		m, err := s.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: --kafka-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: --kafka-ca %s holds no PEM certificate", s.CA)
		}
		cfg.RootCAs = pool
	}
	if (s.Cert == "") != (s.Key == "") {
		return nil, errors.New("kafka tls: --kafka-cert and --kafka-key go together")
	}
	if s.Cert != "" {
		c, err := tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

func (s Security) mechanism() (sasl.Mechanism, error) {
	mech := strings.ToLower(s.SASLMechanism)
	switch mech {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		pass := s.env(EnvSASLPassword)
		if s.SASLUser == "" {
			return nil, fmt.Errorf("kafka sasl %s: --kafka-sasl-user is required", mech)
		}
		if pass == "" {
			return nil, fmt.Errorf("kafka sasl %s: $%s is empty", mech, EnvSASLPassword)
		}
		switch mech {
		case SASLPlain:
			return plain.Auth{User: s.SASLUser, Pass: pass}.AsMechanism(), nil
		case SASLScramSHA256:
			return scram.Auth{User: s.SASLUser, Pass: pass}.AsSha256Mechanism(), nil
		default:
			return scram.Auth{User: s.SASLUser, Pass: pass}.AsSha512Mechanism(), nil
		}
	case SASLOAuthBearer:
		tok, file := s.env(EnvSASLToken), s.env(EnvSASLTokenFile)
		if tok == "" && file == "" {
			return nil, fmt.Errorf("kafka sasl oauthbearer: set $%s or $%s", EnvSASLToken, EnvSASLTokenFile)
		}
		zid := s.SASLUser
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			if tok != "" {
				return oauth.Auth{Zid: zid, Token: tok}, nil
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return oauth.Auth{}, fmt.Errorf("kafka sasl oauthbearer: token file: %w", err)
			}
			t := strings.TrimSpace(string(b))
			if t == "" {
				return oauth.Auth{}, fmt.Errorf("kafka sasl oauthbearer: token file %s is empty", file)
			}
			return oauth.Auth{Zid: zid, Token: t}, nil
		}), nil
	case SASLAWSMSKIAM:
		// The AWS SDK's standard variables; a session token for temporary
		// credentials (an assumed role, a pod identity) is optional.
		a := aws.Auth{
			AccessKey:    s.env("AWS_ACCESS_KEY_ID"),
			SecretKey:    s.env("AWS_SECRET_ACCESS_KEY"),
			SessionToken: s.env("AWS_SESSION_TOKEN"),
			UserAgent:    "clarion",
		}
		if a.AccessKey == "" || a.SecretKey == "" {
			return nil, errors.New("kafka sasl aws-msk-iam: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY are required")
		}
		return a.AsManagedStreamingIAMMechanism(), nil
	default:
		return nil, fmt.Errorf("kafka sasl: unknown mechanism %q (plain, scram-sha-256, scram-sha-512, oauthbearer, aws-msk-iam)", s.SASLMechanism)
	}
}

// Failure kinds Explain names.
const (
	FailTLS            = "TLS"
	FailAuthentication = "authentication"
	FailAuthorization  = "authorization"
)

// ConnError is a Kafka error explained: which of TLS, authentication or
// authorization failed, and on what (a topic, a group, a transactional
// id, the cluster). It unwraps to the client's error.
type ConnError struct {
	Kind     string // FailTLS, FailAuthentication or FailAuthorization
	Resource string // e.g. `topic "clarion.alerts"`; may be empty
	Err      error
}

func (e *ConnError) Error() string {
	var hint string
	switch e.Kind {
	case FailTLS:
		hint = " (check --kafka-tls, --kafka-ca and that the address is the TLS listener)"
	case FailAuthentication:
		hint = " (check --kafka-sasl-mechanism, --kafka-sasl-user and $" + EnvSASLPassword + ")"
	case FailAuthorization:
		hint = " (the principal lacks an ACL: see docs/kafka.md)"
	}
	on := ""
	if e.Resource != "" {
		on = " on " + e.Resource
	}
	return fmt.Sprintf("kafka %s failed%s: %v%s", e.Kind, on, e.Err, hint)
}

func (e *ConnError) Unwrap() error { return e.Err }

// Explain wraps err as a *ConnError when it is a TLS, authentication or
// authorization failure, naming topic (when not empty) as the resource of
// a topic authorization failure. Other errors, and nil, come back as they
// are.
func Explain(err error, topic string) error {
	if err == nil {
		return nil
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		return err
	}
	kind, res := classify(err)
	if kind == "" {
		return err
	}
	if res == "" && topic != "" && kind == FailAuthorization {
		res = fmt.Sprintf("topic %q", topic)
	}
	if errors.Is(err, kerr.TopicAuthorizationFailed) && topic != "" {
		res = fmt.Sprintf("topic %q", topic)
	}
	return &ConnError{Kind: kind, Resource: res, Err: err}
}

func classify(err error) (kind, resource string) {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return FailAuthorization, ""
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return FailAuthorization, "a consumer group"
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return FailAuthorization, "a transactional id"
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return FailAuthorization, "the cluster"
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.Is(err, kerr.IllegalSaslState):
		return FailAuthentication, ""
	}
	var (
		rh  tls.RecordHeaderError
		ae  tls.AlertError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
	)
	if errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &hn) || errors.As(err, &inv) {
		return FailTLS, ""
	}
	// A TLS client on a plaintext listener ends in an EOF right after the
	// dial (franz-go's ErrFirstReadEOF says so), a plaintext client on a
	// TLS listener reads a TLS alert as a huge response size (franz-go's
	// message names the TLS alert record).
	msg := strings.ToLower(err.Error())
	var eof *kgo.ErrFirstReadEOF
	if errors.As(err, &eof) && strings.Contains(msg, "sasl") {
		return FailAuthentication, ""
	}
	if errors.As(err, &eof) || strings.Contains(msg, "tls") || strings.Contains(msg, "x509:") {
		return FailTLS, ""
	}
	if strings.Contains(msg, "sasl") && strings.Contains(msg, "authenticat") {
		return FailAuthentication, ""
	}
	return "", ""
}

// Check connects with cl and reports, explained, whether the cluster
// answers: it is the first thing a component does, so a wrong CA or
// password fails at start with a clear message instead of in retries.
func Check(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := cl.Ping(ctx)
	if err == nil {
		return nil
	}
	var ne net.Error
	if kind, _ := classify(err); kind == "" && errors.As(err, &ne) {
		return fmt.Errorf("kafka: no broker answered: %w", err)
	}
	return Explain(err, "")
}
