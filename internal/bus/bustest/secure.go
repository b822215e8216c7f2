package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Secure is a kfake cluster secured as a production one: TLS (a CA made
// for the test), SCRAM-SHA-512, ACLs enforced, one user per component
// (bus.PrincipalFor) holding exactly bus.ACLs, and Clarion's topics created
// by an admin, as `make kafka-up` does.
type Secure struct {
	*kfake.Cluster
	Brokers []string
	// CA is the path of the CA's PEM file.
	CA string
}

// Admin is the super user of a Secure cluster.
const (
	AdminUser = "admin"
	adminPass = "admin-pw"
)

// Password returns the password of component's user on a Secure cluster.
func (s *Secure) Password(component string) string { return "pw-" + component }

// Security returns the client settings of component's principal (the
// admin's for AdminUser).
func (s *Secure) Security(component string) bus.Security {
	user, pass := bus.PrincipalFor(component), s.Password(component)
	if component == AdminUser {
		user, pass = AdminUser, adminPass
	}
	return bus.Security{CA: s.CA, SASLMechanism: bus.SASLScramSHA512, SASLUser: user,
		Env: func(k string) (string, bool) { return pass, k == bus.EnvSASLPassword }}
}

// NewSecure starts a Secure cluster with partitions partitions per data
// topic (0: 3), closed when the test ends.
func NewSecure(t testing.TB, partitions int32) *Secure {
	t.Helper()
	if partitions <= 0 {
		partitions = 3
	}
	ca, srv, _, _ := PKI(t, t.TempDir())
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.TLS(srv), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-512", AdminUser, adminPass)}
	s := &Secure{CA: ca}
	for _, c := range bus.Components() {
		opts = append(opts, kfake.User("SCRAM-SHA-512", bus.PrincipalFor(c), s.Password(c)))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	s.Cluster, s.Brokers = c, c.ListenAddrs()
	sopts, err := s.Security(AdminUser).Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(sopts, kgo.SeedBrokers(s.Brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(partitions)); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	if err := bus.ApplyACLs(ctx, kadm.NewClient(cl), bus.ACLs(), nil); err != nil {
		t.Fatalf("acls: %v", err)
	}
	return s
}
