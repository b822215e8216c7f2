package clickhouse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLS configures TLS on ClickHouse's native protocol (the secure port,
// 9440 by default; ClickHouse Cloud accepts only that). The server's
// certificate is always verified, against CAFile or the system roots.
type TLS struct {
	// Enabled turns TLS on. Setting CAFile or CertFile implies it.
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the server certificate.
	// Empty: the system roots (right for ClickHouse Cloud).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that authenticate clients by certificate. Optional; both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name the certificate must carry. Default: the
	// host of the address.
	ServerName string
}

// On reports whether t asks for TLS.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Config builds the client's tls.Config for a server at addr (host:port),
// or nil when TLS is off. Unreadable or invalid files are errors here, at
// start, not at the first connection.
func (t TLS) Config(addr string) (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("tls: address %q: %w", addr, err)
		}
		c.ServerName = host
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: CA file %s: no PEM certificate in it", t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("tls: a client certificate needs both the certificate and the key file")
	}
	return c, nil
}
