package okta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrNonPublicAddress means the tenant's host name resolved only to
// addresses Clarion does not call (loopback, private, link-local such as
// the cloud metadata service 169.254.169.254, carrier-grade NAT,
// documentation and reserved ranges). The request was not sent. Not
// retriable: the tenant URL, or DNS, must change.
var ErrNonPublicAddress = errors.New("okta: the tenant resolves to a non-public address")

// Resolver resolves host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DefaultOktaDomains are the domains of Okta's own orgs, for
// Config.AllowedDomains: *.okta.com, *.oktapreview.com, *.okta-emea.com.
func DefaultOktaDomains() []string {
	return []string{"*.okta.com", "*.oktapreview.com", "*.okta-emea.com"}
}

// nonPublic are the prefixes a real Okta org never resolves to.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
		"2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddr reports whether Clarion may call ip for a real Okta org.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardedTransport returns base (cloned) with a dialer that resolves the
// host itself and connects only to public addresses, checking again in
// the dialer's Control function the address actually connected to. The
// address checked is the address dialled, never resolved twice, so a DNS
// answer that changes between check and connect (rebinding) cannot reach
// a private address. HTTP proxies from the environment are not used: the
// guard must see the address Clarion connects to.
func guardedTransport(base *http.Transport, r Resolver) *http.Transport {
	var t *http.Transport
	if base == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	} else {
		t = base.Clone()
	}
	t.Proxy = nil
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: controlPublic}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialPublic(ctx, d, r, network, addr)
	}
	t.DialTLSContext = nil
	return t
}

// dialPublic resolves addr's host with r and dials its public addresses in
// turn.
func dialPublic(ctx context.Context, d *net.Dialer, r Resolver, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if ips, err = r.LookupNetIP(ctx, ipNet, host); err != nil {
			return nil, err
		}
	}
	var refused []string
	var lastErr error
	for _, ip := range ips {
		if !PublicAddr(ip) {
			refused = append(refused, ip.String())
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w: %s resolved to %s", ErrNonPublicAddress, host, strings.Join(refused, ", "))
}

// controlPublic refuses a connection to a non-public address (a second
// check, on the address the socket is about to connect to).
func controlPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparseable address %q", ErrNonPublicAddress, address)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrNonPublicAddress, ap.Addr())
	}
	return nil
}

// domainAllowed reports whether host matches one of patterns: "*.okta.com"
// matches any name ending in .okta.com (not okta.com itself); anything
// else matches that exact name. Case and a trailing dot do not matter.
func domainAllowed(host string, patterns []string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p), "."))
		if suf, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(h, "."+suf) && len(h) > len(suf)+1 {
				return true
			}
		} else if p != "" && h == p {
			return true
		}
	}
	return false
}

// nonPublicError turns a refused dial into the error callers see: the
// tenant URL is the problem (KindTenantURL), not retriable.
func nonPublicError(e *Error) *Error {
	e.Kind, e.Retriable = KindTenantURL, false
	e.Summary = "the tenant's host name resolves to a non-public address; Clarion calls only public addresses: " + e.Err.Error()
	e.Fix = fixTenantURL
	return e
}
