package bus

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka broker (franz-go's kfake) for the
// one-machine mode. With a data dir it persists topics, offsets and
// transactions, so events survive a restart.
type Embedded struct {
	c *kfake.Cluster
}

// StartEmbedded starts a single-broker cluster listening on addr
// ("127.0.0.1:9092"; port 0 picks a free port) with state under dataDir
// (empty: memory only). Topics are created by EnsureTopics, not on demand.
//
// Hazard: kfake keeps all data in memory as well as on disk; it suits one
// machine's worth of traffic, not a long retention of a large org.
func StartEmbedded(dataDir, addr string) (*Embedded, error) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded kafka address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded kafka port %q: %w", portS, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("clarion-embedded"),
		kfake.DefaultNumPartitions(6),
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(a)
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if dataDir != "" {
		dir := filepath.Join(dataDir, "kafka")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("bus: embedded kafka data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: start embedded kafka on %s: %w", addr, err)
	}
	return &Embedded{c: c}, nil
}

// Addrs returns the listen addresses, to use as seed brokers.
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Close stops the broker, flushing persisted state.
func (e *Embedded) Close() { e.c.Close() }
