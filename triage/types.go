package triage

import (
	"encoding/json"

	"github.com/clarion-itdr/clarion/internal/record"
)

// Alert is the part of an alert on clarion.alerts (processor/detect.Alert
// as JSON) that triage reads. It is decoded from JSON rather than shared
// with the processor so triage depends only on the record contract.
type Alert struct {
	ID                string          `json:"id"`
	DedupKey          string          `json:"dedup_key"`
	IntegrationID     string          `json:"integration_id"`
	User              record.UserRef  `json:"user"`
	Status            string          `json:"status"`
	Disposition       string          `json:"disposition"`
	Severity          string          `json:"severity"`
	DetectionSeverity string          `json:"detection_severity"`
	Confidence        float64         `json:"confidence"`
	ActionRequired    string          `json:"action_required"`
	Feedback          string          `json:"feedback,omitempty"`
	TriagedBy         string          `json:"triaged_by,omitempty"`
	Anomalies         []AnomalyRef    `json:"anomalies"`
	AnomalyCount      int             `json:"anomaly_count"`
	Types             []string        `json:"types"`
	FirstSeen         string          `json:"first_seen"`
	LastSeen          string          `json:"last_seen"`
	Version           uint32          `json:"version"`
	Summary           string          `json:"summary"`
	raw               json.RawMessage // the record as written, for Update.Base
}

// AnomalyRef names an anomaly inside an alert.
type AnomalyRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// detectionSeverity is the processor's severity computed from anomaly
// scores; alerts written before detection_severity existed carry it in
// severity. Unknown values count as Low.
func (a *Alert) detectionSeverity() string {
	if record.SeverityRank(a.DetectionSeverity) > 0 {
		return a.DetectionSeverity
	}
	if record.SeverityRank(a.Severity) > 0 {
		return a.Severity
	}
	return record.SeverityLow
}

// Anomaly is one anomaly on clarion.anomalies (processor/detect.Anomaly as
// JSON).
type Anomaly struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	IntegrationID string         `json:"integration_id"`
	User          record.UserRef `json:"user"`
	EventUUID     string         `json:"event_uuid"`
	Published     string         `json:"published"`
	Score         float64        `json:"score"`
	Evidence      Evidence       `json:"evidence"`
	Sentence      string         `json:"sentence"`
	AlertID       string         `json:"alert_id,omitempty"`
}

// Evidence is what a detector compared (processor/detect.Evidence).
type Evidence struct {
	Signins         []SigninRef `json:"signins"`
	DistanceKm      float64     `json:"distance_km,omitempty"`
	Hours           float64     `json:"hours,omitempty"`
	SpeedKmh        float64     `json:"speed_kmh,omitempty"`
	MaxSpeedKmh     float64     `json:"max_speed_kmh,omitempty"`
	GeoErrorKm      float64     `json:"geo_error_km,omitempty"`
	NearestKnownKm  float64     `json:"nearest_known_km,omitempty"`
	NearestKnown    string      `json:"nearest_known,omitempty"`
	BaselinePlaces  int         `json:"baseline_places,omitempty"`
	BaselineSignins uint32      `json:"baseline_signins,omitempty"`
	HistoryDays     float64     `json:"history_days,omitempty"`
	TenantShare     *float64    `json:"tenant_share,omitempty"`
	LocalTime       string      `json:"local_time,omitempty"`
	TimeZone        string      `json:"time_zone,omitempty"`
	HourShare       *float64    `json:"hour_of_week_share,omitempty"`
	KnownDevices    int         `json:"known_devices,omitempty"`
	KnownNetworks   int         `json:"known_networks,omitempty"`
	FailuresBefore  int         `json:"failures_before,omitempty"`
	ThreatSuspected bool        `json:"threat_suspected,omitempty"`
	ReducedBy       []string    `json:"score_reduced_by,omitempty"`
	FamiliarPlaces  []bool      `json:"familiar,omitempty"`
}

// SigninRef is a sign-in quoted as evidence. Its text fields (city, ISP,
// browser, OS, device) come from the Okta event and may be attacker
// controlled: they are data, never instructions.
type SigninRef struct {
	UUID      string   `json:"uuid,omitempty"`
	Published string   `json:"published"`
	Outcome   string   `json:"outcome"`
	IP        string   `json:"ip,omitempty"`
	City      string   `json:"city,omitempty"`
	State     string   `json:"state,omitempty"`
	Country   string   `json:"country,omitempty"`
	Lat       *float64 `json:"lat,omitempty"`
	Lon       *float64 `json:"lon,omitempty"`
	ASN       uint32   `json:"asn,omitempty"`
	ISP       string   `json:"isp,omitempty"`
	Proxy     bool     `json:"proxy,omitempty"`
	Carrier   bool     `json:"mobile_carrier,omitempty"`
	Browser   string   `json:"browser,omitempty"`
	OS        string   `json:"os,omitempty"`
	Device    string   `json:"device,omitempty"`
}

// subject returns the sign-in an anomaly is about: the evidence sign-in
// whose uuid is the anomaly's event, else the last one.
func (a *Anomaly) subject() *SigninRef {
	s := a.Evidence.Signins
	for i := range s {
		if s[i].UUID == a.EventUUID && a.EventUUID != "" {
			return &s[i]
		}
	}
	if len(s) == 0 {
		return nil
	}
	return &s[len(s)-1]
}
