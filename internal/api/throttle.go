package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ThrottleConfig configures a Throttle. Zero values take the defaults named.
type ThrottleConfig struct {
	// Free is how many failures a client may make before it must wait.
	// Default 5.
	Free int
	// Base is the first wait after Free failures; each further failure
	// doubles it. Default 1 s.
	Base time.Duration
	// Max caps the wait. Default 15 min.
	Max time.Duration
	// Forget drops a client's failures this long after its last one.
	// Default 1 h.
	Forget time.Duration
	// MaxClients bounds the clients remembered; past it the oldest are
	// forgotten. Default 100 000.
	MaxClients int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Throttle slows down guessing per client: after Free failures a client
// waits Base, then twice as long after each further failure, up to Max. A
// success clears the client. Other clients are not affected, so one
// attacker cannot lock everyone out. Safe for concurrent use.
type Throttle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	clients map[string]*strikes
}

type strikes struct {
	fails int
	last  time.Time
	until time.Time
}

// NewThrottle returns a throttle for cfg.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Free <= 0 {
		cfg.Free = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max <= 0 {
		cfg.Max = 15 * time.Minute
	}
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, clients: map[string]*strikes{}}
}

// Wait reports how long client must still wait before its next attempt
// (0: it may try now).
func (t *Throttle) Wait(client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.clients[client]
	if !ok {
		return 0
	}
	now := t.cfg.Now()
	if now.Sub(s.last) >= t.cfg.Forget {
		delete(t.clients, client)
		return 0
	}
	if d := s.until.Sub(now); d > 0 {
		return d
	}
	return 0
}

// Fail counts a failed attempt by client and returns the wait it now has.
func (t *Throttle) Fail(client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	s, ok := t.clients[client]
	if !ok || now.Sub(s.last) >= t.cfg.Forget {
		if len(t.clients) >= t.cfg.MaxClients {
			t.evict(now)
		}
		s = &strikes{}
		t.clients[client] = s
	}
	s.fails++
	s.last = now
	if s.fails < t.cfg.Free {
		return 0
	}
	wait := t.cfg.Base
	for i := s.fails - t.cfg.Free; i > 0 && wait < t.cfg.Max; i-- {
		wait *= 2
	}
	wait = min(wait, t.cfg.Max)
	s.until = now.Add(wait)
	return wait
}

// Succeed clears client's failures.
func (t *Throttle) Succeed(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, client)
}

// evict makes room: it forgets clients whose failures are old or who are
// not waiting now, then, if still full, arbitrary others (an attacker
// with that many addresses gains little from being forgotten). Called
// with mu held.
func (t *Throttle) evict(now time.Time) {
	for k, s := range t.clients {
		if now.Sub(s.last) >= t.cfg.Forget || !now.Before(s.until) {
			delete(t.clients, k)
		}
	}
	for k := range t.clients {
		if len(t.clients) < t.cfg.MaxClients {
			return
		}
		delete(t.clients, k)
	}
}

// ClientKey names the client of r for throttling: its IP address (an
// IPv6 address by its /64, which one host usually holds whole). When the
// direct peer is one of trusted (a reverse proxy), the last address in
// X-Forwarded-For that is not itself trusted is used instead.
func ClientKey(r *http.Request, trusted []netip.Prefix) string {
	ip := peerAddr(r.RemoteAddr)
	if ip.IsValid() && inPrefixes(ip, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			ip = h.Unmap()
			if !inPrefixes(ip, trusted) {
				break
			}
		}
	}
	if !ip.IsValid() {
		return r.RemoteAddr
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
