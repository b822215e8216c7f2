package okta

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers every name with addrs and counts the lookups.
type fakeResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	n     atomic.Int64
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, _ string) ([]netip.Addr, error) {
	r.n.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netip.Addr
	for _, a := range r.addrs {
		if network == "ip" || (network == "ip4") == a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	return out, nil
}

func (r *fakeResolver) set(addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs = nil
	for _, a := range addrs {
		r.addrs = append(r.addrs, netip.MustParseAddr(a))
	}
}

// countingListener accepts connections on loopback and counts them: the
// proof that nothing connected.
func countingListener(t *testing.T, network, addr string) (port int, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback listener: %v", network, err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

// TestDialOnlyPublicAddresses: a tenant name that passes every URL rule
// but resolves to the cloud metadata address, a private network or
// loopback is refused when the connection is made (after resolution, so
// no later DNS answer can slip through); nothing connects, and the error
// is a non-retriable tenant URL error, returned at once.
func TestDialOnlyPublicAddresses(t *testing.T) {
	t.Parallel()
	ck, dk, _ := keys(t)
	port4, acc4 := countingListener(t, "tcp4", "127.0.0.1:0")
	port6, acc6 := countingListener(t, "tcp6", "[::1]:0")
	for _, tc := range []struct {
		name  string
		addrs []string
		port  int
	}{
		{"cloud metadata", []string{"169.254.169.254"}, 443},
		{"private network", []string{"10.1.2.3"}, 443},
		{"IPv6 loopback, listening", []string{"::1"}, port6},
		{"IPv4 loopback, listening", []string{"127.0.0.1"}, port4},
		{"IPv4-mapped loopback", []string{"::ffff:127.0.0.1"}, port4},
		{"all of them", []string{"169.254.169.254", "10.1.2.3", "::1", "127.0.0.1"}, port4},
		{"carrier-grade NAT", []string{"100.64.1.1"}, 443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &fakeResolver{}
			res.set(tc.addrs...)
			c, err := New(Config{TenantURL: "https://acme.okta.com:" + strconv.Itoa(tc.port), ClientID: "0oa", KeyID: "k",
				ClientKey: ck, DPoPKey: dk, Resolver: res, Logger: quiet(), MaxRetries: 4, RetryBackoff: time.Minute})
			if err != nil {
				t.Fatalf("New: %v (the URL itself is fine)", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err = c.GetUser(ctx, "00u1")
			var oe *Error
			if !errors.Is(err, ErrNonPublicAddress) || !errors.As(err, &oe) || oe.Kind != KindTenantURL || oe.Retriable {
				t.Fatalf("GetUser: %v, want a non-retriable ErrNonPublicAddress", err)
			}
			if res.n.Load() == 0 {
				t.Fatal("the resolver was never asked: the check did not run at connect time")
			}
		})
	}
	if n := acc4.Load() + acc6.Load(); n != 0 {
		t.Fatalf("%d connections reached loopback", n)
	}
}

// TestInsecureReachesLoopback: a test tenant (Insecure) may use loopback,
// as the simulated org does.
func TestInsecureReachesLoopback(t *testing.T) {
	t.Parallel()
	ck, dk, _ := keys(t)
	port, acc := countingListener(t, "tcp4", "127.0.0.1:0")
	c, err := New(Config{TenantURL: "http://127.0.0.1:" + strconv.Itoa(port), Insecure: true, ClientID: "0oa", KeyID: "k",
		ClientKey: ck, DPoPKey: dk, Logger: quiet(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetUser(t.Context(), "00u1") // the listener hangs up: an error, after connecting
	if acc.Load() == 0 {
		t.Fatal("an insecure test tenant did not reach loopback")
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "34.199.0.1": true, "2606:4700::1111": true,
		"169.254.169.254": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "127.0.0.1": false,
		"0.0.0.0": false, "100.64.0.1": false, "198.18.0.1": false, "203.0.113.5": false, "224.0.0.1": false,
		"255.255.255.255": false, "::1": false, "::": false, "fe80::1": false, "fd00::1": false, "::ffff:10.0.0.1": false,
		"::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "2002:a00:1::": false, "2001:db8::1": false, "ff02::1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestAllowedDomains(t *testing.T) {
	t.Parallel()
	ck, dk, _ := keys(t)
	allowed := append(DefaultOktaDomains(), "login.acme.example")
	for raw, ok := range map[string]bool{
		"https://acme.okta.com":                 true,
		"https://ACME.oktapreview.com":          true,
		"https://acme.okta-emea.com":            true,
		"https://login.acme.example":            true,
		"https://okta.com":                      false,
		"https://acme.okta.com.evil.example":    false,
		"https://evilokta.com":                  false,
		"https://other.acme.example":            false,
		"https://acme.okta.com.":                true,
		"https://sub.login.acme.example":        false,
		"https://acme-admin.okta.com":           true,
		"https://acme.oktapreview.com.evil.com": false,
	} {
		_, err := New(Config{TenantURL: raw, AllowedDomains: allowed, ClientID: "0oa", ClientKey: ck, DPoPKey: dk})
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrTenantURL)) {
			t.Errorf("New(%q): %v, allowed %v", raw, err, ok)
		}
	}
}
