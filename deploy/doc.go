// Package deploy holds Clarion's deployment files: deploy/compose.yaml (Kafka,
// ClickHouse, Grafana, Prometheus and every Clarion component as its own
// service), Grafana provisioning and dashboards (grafana/), and Prometheus
// configuration and alerting rules (prometheus/). The Go test in this
// directory runs every Grafana panel's SQL against a real ClickHouse.
package deploy
