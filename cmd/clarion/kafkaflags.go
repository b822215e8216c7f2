package main

import (
	"github.com/spf13/pflag"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// kafkaFlags are the TLS and SASL flags of every command that takes
// --kafka-brokers. Secrets come only from the environment:
// CLARION_KAFKA_SASL_PASSWORD (plain, SCRAM), CLARION_KAFKA_SASL_TOKEN or
// CLARION_KAFKA_SASL_TOKEN_FILE (oauthbearer), the AWS_* variables
// (aws-msk-iam).
type kafkaFlags struct{ s bus.Security }

func (k *kafkaFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&k.s.TLS, "kafka-tls", false, "connect to Kafka with TLS (implied by --kafka-ca, --kafka-cert)")
	fs.StringVar(&k.s.CA, "kafka-ca", "", "PEM file of the CAs of the brokers' certificates (default: the system roots)")
	fs.StringVar(&k.s.Cert, "kafka-cert", "", "PEM client certificate for mutual TLS (with --kafka-key)")
	fs.StringVar(&k.s.Key, "kafka-key", "", "PEM private key of --kafka-cert")
	fs.StringVar(&k.s.SASLMechanism, "kafka-sasl-mechanism", "", "plain, scram-sha-256, scram-sha-512, oauthbearer or aws-msk-iam; the secret comes from $"+bus.EnvSASLPassword+" (plain, SCRAM), $"+bus.EnvSASLToken+" or $"+bus.EnvSASLTokenFile+" (oauthbearer), $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY[/$AWS_SESSION_TOKEN] (aws-msk-iam)")
	fs.StringVar(&k.s.SASLUser, "kafka-sasl-user", "", "SASL user (plain, SCRAM; the authorization id for oauthbearer)")
}
