package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
)

// EnvKafkaControl names the script that kills and restarts a broker of the
// real cluster (deploy/kafka/kafka.sh kill N / start N).
const envKafkaControl = "CLARION_TEST_KAFKA_CONTROL"

// TestBrokerLoss: on the three-broker Apache Kafka cluster, two gateways
// and a processor, each under its own principal over SASL_SSL, take
// deliveries while the broker that leads the most partitions is SIGKILLed
// and later started again. Every delivery a gateway acknowledged (200) is
// in clarion.okta.events, and the processor consumes them all. Real
// cluster only, and by hand (CLARION_TEST_KAFKA_CONTROL=$PWD/deploy/kafka/kafka.sh
// with the variables of .ci/kafka.sh): it takes minutes, most of them the
// restarted broker catching up, too long for every CI run.
func TestBrokerLoss(t *testing.T) {
	control := os.Getenv(envKafkaControl)
	sasl := os.Getenv(bustest.EnvSASL)
	if control == "" || sasl == "" || len(bustest.RealBrokers()) == 0 {
		t.Skipf("%s, %s and %s are not set (.ci/kafka.sh sets them)", envKafkaControl, bustest.EnvSASL, bustest.EnvKafka)
	}
	creds := readCredentials(t, os.Getenv(bustest.EnvCredentials))
	c := bustest.New(t, 6)
	admin := bustest.Client(t, c.Brokers)
	adm := kadm.NewClient(admin)
	ca := os.Getenv(bustest.EnvSASLCA)
	sec := func(component string) bus.Security {
		pass := creds["CLARION_KAFKA_SASL_PASSWORD_"+strings.ToUpper(component)]
		return bus.Security{CA: ca, SASLMechanism: bus.SASLScramSHA512, SASLUser: bus.PrincipalFor(component),
			Env: func(k string) (string, bool) { return pass, k == bus.EnvSASLPassword }}
	}
	brokers := strings.Split(sasl, ",")
	key := strings.Repeat("ef", 32)
	cfg := func(component string) Config {
		return Config{DataDir: t.TempDir(), KafkaBrokers: brokers, Kafka: sec(component), MasterKey: key, AdminToken: testAdminToken, Partitions: 6}
	}
	con, _ := start(t, cfg(TargetConsole), TargetConsole)
	g1, _ := start(t, cfg(TargetGateway), TargetGateway)
	g2, _ := start(t, cfg(TargetGateway), TargetGateway)
	start(t, cfg(TargetProcessor), TargetProcessor)
	in, secret, err := con.Store.Create(context.Background(), integration.CreateRequest{TenantURL: "https://a.okta.com", ClientID: "c"}, false)
	if err != nil {
		t.Fatal(err)
	}
	gateways := []*App{g1, g2}

	// The broker leading the most partitions of Clarion's topics.
	md, err := adm.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	leads := map[int32]int{}
	for _, td := range md.Topics {
		if strings.HasPrefix(td.Topic, "clarion.") {
			for _, p := range td.Partitions {
				leads[p.Leader]++
			}
		}
	}
	victim, most := int32(-1), -1
	for id, n := range leads {
		if n > most || n == most && id < victim {
			victim, most = id, n
		}
	}
	run := func(args ...string) {
		out, err := exec.Command("bash", append([]string{control}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", control, args, err, out)
		}
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			run("start", fmt.Sprint(victim))
		}
		waitISR(t, adm)
	})

	acked := map[string]bool{}
	deliver := func(from, to int) {
		for i := from; i < to; i++ {
			uuid := fmt.Sprintf("loss-%04d", i)
			deadline := time.Now().Add(60 * time.Second)
			for {
				g := gateways[i%2]
				if postHook(t, "http://"+g.Addr()+"/hooks/okta/"+in.ID, secret, delivery(uuid)) == 200 {
					acked[uuid] = true
					break
				}
				if time.Now().After(deadline) { // Okta would retry, then the poller repair
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	deliver(0, 50)
	t.Logf("SIGKILL broker %d (leads %d partitions)", victim, most)
	run("kill", fmt.Sprint(victim))
	deliver(50, 150)
	run("start", fmt.Sprint(victim))
	restarted = true
	deliver(150, 200)
	if len(acked) < 150 {
		t.Fatalf("only %d of 200 deliveries acknowledged with one broker of three down", len(acked))
	}

	got := map[string]int{}
	for _, r := range bustest.ConsumeAll(t, c.Brokers, bus.TopicEvents, 60*time.Second) {
		got[bus.Header(r, bus.HeaderUUID)]++
	}
	for uuid := range acked {
		if got[uuid] == 0 {
			t.Errorf("acknowledged delivery %s is not in %s", uuid, bus.TopicEvents)
		}
	}
	// The processor consumes everything (its group commits the end offsets).
	deadline := time.Now().Add(90 * time.Second)
	for {
		ends, err1 := adm.ListEndOffsets(context.Background(), bus.TopicEvents)
		offs, err2 := adm.FetchOffsets(context.Background(), "clarion-processor")
		done := err1 == nil && err2 == nil
		if done {
			ends.Each(func(o kadm.ListedOffset) {
				if c, ok := offs.Lookup(bus.TopicEvents, o.Partition); o.Offset > 0 && (!ok || c.At < o.Offset) {
					done = false
				}
			})
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the processor did not consume every event after the broker came back")
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d deliveries acknowledged, %d records, broker %d killed and restarted", len(acked), len(got), victim)
}

// waitISR waits until every partition of the cluster has its full replica
// set in sync again, so the tests after this one find a whole cluster.
func waitISR(t *testing.T, adm *kadm.Client) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		md, err := adm.Metadata(context.Background())
		ok := err == nil && len(md.Brokers) == 3
		if ok {
			for _, td := range md.Topics {
				for _, p := range td.Partitions {
					if len(p.ISR) < len(p.Replicas) || p.Leader < 0 {
						ok = false
					}
				}
			}
		}
		if ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("the cluster did not recover its in-sync replicas within 5 minutes")
}
