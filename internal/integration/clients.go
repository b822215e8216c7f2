package integration

import (
	"errors"
	"fmt"
	"sync"

	"github.com/clarion-itdr/clarion/okta"
)

// ErrUnknownIntegration means no integration has the id asked for. Not
// retriable until the integration is created.
var ErrUnknownIntegration = errors.New("integration: unknown integration")

// Lookup finds integrations by id (*Store implements it).
type Lookup interface {
	Get(id string) (*Integration, bool)
}

// Clients hands out one Okta API client per integration, built on first use
// from the registry (its keys decrypted with the store's master key) and
// cached, so tokens and rate-limit state are shared by every caller.
// Triage and the responder use it. Safe for concurrent use.
type Clients struct {
	store *Store
	base  okta.Config

	mu      sync.Mutex
	clients map[string]*okta.Client
}

// NewClients returns Clients over store; base carries the settings common
// to every client (HTTP client, retries, user agent).
func NewClients(store *Store, base okta.Config) *Clients {
	return &Clients{store: store, base: base, clients: map[string]*okta.Client{}}
}

// Client returns the Okta client of integration id.
func (c *Clients) Client(id string) (*okta.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[id]; cl != nil {
		return cl, nil
	}
	in, ok := c.store.Get(id)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownIntegration, id)
	}
	cl, err := in.OktaClient(c.store.MasterKey(), c.base)
	if err != nil {
		return nil, err
	}
	c.clients[id] = cl
	return cl, nil
}
