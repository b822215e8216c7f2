package app

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
)

// securedCluster is a cluster with TLS, SCRAM and the ACLs of bus.ACLs,
// one principal per component, and an admin client.
type securedCluster struct {
	brokers  []string
	security func(component string) bus.Security
	admin    *kgo.Client
}

// TestComponentsUnderOwnPrincipals runs the scaled deployment's seven
// components as separate processes, each with its own principal over TLS
// and SCRAM-SHA-512 and only the ACLs of bus.ACLs: every one starts, the
// console creates an integration, the gateway accepts a delivery, and the
// processor and the sink consume it (their groups commit its offset).
// A component given no TLS/SASL options, or an ACL table missing what a
// component does, fails here. On kfake, and on the local Apache Kafka
// cluster's SASL_SSL listener when CLARION_TEST_KAFKA_SASL is set.
func TestComponentsUnderOwnPrincipals(t *testing.T) {
	t.Run("kfake", func(t *testing.T) {
		s := bustest.NewSecure(t, 3)
		opts, err := s.Security(bustest.AdminUser).Opts()
		if err != nil {
			t.Fatal(err)
		}
		admin := bustest.Client(t, s.Brokers, opts...)
		componentsUnderOwnPrincipals(t, securedCluster{brokers: s.Brokers, security: s.Security, admin: admin})
	})
	t.Run("kafka", func(t *testing.T) {
		sasl := os.Getenv(bustest.EnvSASL)
		if sasl == "" || len(bustest.RealBrokers()) == 0 {
			t.Skipf("%s and %s are not set (make kafka-up; see .ci/kafka.sh)", bustest.EnvSASL, bustest.EnvKafka)
		}
		creds := readCredentials(t, os.Getenv(bustest.EnvCredentials))
		c := bustest.New(t, 3) // takes the shared cluster: fresh topics
		ca := os.Getenv(bustest.EnvSASLCA)
		sec := func(component string) bus.Security {
			pass := creds["CLARION_KAFKA_SASL_PASSWORD_"+strings.ToUpper(component)]
			return bus.Security{CA: ca, SASLMechanism: bus.SASLScramSHA512, SASLUser: bus.PrincipalFor(component),
				Env: func(k string) (string, bool) { return pass, k == bus.EnvSASLPassword }}
		}
		componentsUnderOwnPrincipals(t, securedCluster{brokers: strings.Split(sasl, ","), security: sec, admin: bustest.Client(t, c.Brokers)})
	})
}

func componentsUnderOwnPrincipals(t *testing.T, c securedCluster) {
	key := strings.Repeat("cd", 32)
	apps := map[string]*App{}
	for _, target := range []string{TargetConsole, TargetGateway, TargetPoller, TargetProcessor, TargetSink, TargetTriage, TargetResponder} {
		a, stop := start(t, Config{DataDir: t.TempDir(), KafkaBrokers: c.brokers, Kafka: c.security(target),
			MasterKey: key, AdminToken: testAdminToken, Partitions: 3, LakeFlushInterval: 100 * time.Millisecond}, target)
		apps[target] = a
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("%s: %v", target, err)
			}
		})
	}
	in, secret, err := apps[TargetConsole].Store.Create(context.Background(),
		integration.CreateRequest{TenantURL: "https://a.okta.com", ClientID: "c"}, false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for postHook(t, "http://"+apps[TargetGateway].Addr()+"/hooks/okta/"+in.ID, secret, delivery("sec-1")) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never accepted a delivery for the console's integration")
		}
		time.Sleep(100 * time.Millisecond)
	}
	adm := kadm.NewClient(c.admin)
	for _, group := range []string{"clarion-processor", "clarion-sink-parquet"} {
		for {
			offs, err := adm.FetchOffsets(context.Background(), group)
			var n int64
			if err == nil {
				offs.Each(func(o kadm.OffsetResponse) {
					if o.Topic == bus.TopicEvents && o.Err == nil {
						n += o.At
					}
				})
			}
			if n >= 1 {
				break
			}
			if time.Now().After(deadline.Add(40 * time.Second)) {
				t.Fatalf("group %s never committed the delivered event (err %v)", group, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func readCredentials(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", bustest.EnvCredentials, err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}
