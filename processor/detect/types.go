package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/clarion-itdr/clarion/internal/record"
)

// Anomaly types (DESIGN.md). Their order is part of the state encoding:
// append only.
const (
	TypeImpossibleTravel = "impossible_travel"
	TypeUnusualLocation  = "unusual_location"
	TypeUnusualTime      = "unusual_time"
	TypeNewDevice        = "new_device"
	TypeNewNetwork       = "new_network"
	TypeAnonymizingProxy = "anonymizing_proxy"
)

// Types lists every anomaly type in bit order.
var typeNames = [...]string{
	TypeImpossibleTravel, TypeUnusualLocation, TypeUnusualTime,
	TypeNewDevice, TypeNewNetwork, TypeAnonymizingProxy,
}

// Types returns every anomaly type Clarion's detectors produce.
func Types() []string { return append([]string(nil), typeNames[:]...) }

const (
	tTravel uint8 = iota
	tLocation
	tTime
	tDevice
	tNetwork
	tProxy
	nTypes
)

// weight of each type in an alert's severity.
var typeWeight = [nTypes]float64{3, 1.5, 0.75, 1, 1, 1.5}

// UserRef names the user an anomaly or alert is about (the records' shared type).
type UserRef = record.UserRef

// SigninRef is a sign-in quoted as evidence.
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
	// Precision of the fix: city, region, country (a country's default
	// point) or none.
	Precision string `json:"precision,omitempty"`
	// Egress: the sign-in came through one of the tenant's egress points
	// (learned or declared), so it says nothing about where the user is.
	Egress string `json:"egress,omitempty"`
}

// Evidence is what a detector compared. Fields not relevant to a type are omitted.
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
	ZoneFrom        string      `json:"time_zone_from,omitempty"`
	HourShare       *float64    `json:"hour_of_week_share,omitempty"`
	HourOfDayShare  *float64    `json:"hour_of_day_share,omitempty"`
	KnownDevices    int         `json:"known_devices,omitempty"`
	KnownNetworks   int         `json:"known_networks,omitempty"`
	FailuresBefore  int         `json:"failures_before,omitempty"`
	ThreatSuspected bool        `json:"threat_suspected,omitempty"`
	ReducedBy       []string    `json:"score_reduced_by,omitempty"`
	FamiliarPlaces  []bool      `json:"familiar,omitempty"`
}

// Anomaly is one detector's finding about one sign-in. Written to
// clarion.anomalies as JSON.
type Anomaly struct {
	ID            string   `json:"id"`
	Type          string   `json:"type"`
	IntegrationID string   `json:"integration_id"`
	User          UserRef  `json:"user"`
	EventUUID     string   `json:"event_uuid"`
	Published     string   `json:"published"`
	Score         float64  `json:"score"`
	Evidence      Evidence `json:"evidence"`
	Sentence      string   `json:"sentence"`
	AlertID       string   `json:"alert_id,omitempty"`

	idb [16]byte
	typ uint8
	t   int64
}

// AnomalyRef names an anomaly inside an alert.
type AnomalyRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Alert statuses, dispositions, severities and required actions (DESIGN.md alert model).
const (
	StatusNew          = "New"
	DispositionUnknown = "Unknown"
	SeverityCritical   = "Critical"
	SeverityHigh       = "High"
	SeverityMedium     = "Medium"
	SeverityLow        = "Low"
	ActionNone         = "none"
)

// Alert groups one user's anomalies within a window. Its id is derived from
// its dedup key; Version grows with every update so sinks keep the latest.
type Alert struct {
	ID            string  `json:"id"`
	DedupKey      string  `json:"dedup_key"`
	IntegrationID string  `json:"integration_id"`
	User          UserRef `json:"user"`
	Status        string  `json:"status"`
	Disposition   string  `json:"disposition"`
	Severity      string  `json:"severity"`
	// DetectionSeverity is computed from the anomalies' scores only;
	// Severity is the triage verdict's when there is one.
	DetectionSeverity string       `json:"detection_severity"`
	Confidence        float64      `json:"confidence"`
	ActionRequired    string       `json:"action_required"`
	Feedback          string       `json:"feedback,omitempty"`
	TriagedBy         string       `json:"triaged_by,omitempty"`
	Anomalies         []AnomalyRef `json:"anomalies"`
	AnomalyCount      int          `json:"anomaly_count"`
	Types             []string     `json:"types"`
	FirstSeen         string       `json:"first_seen"`
	LastSeen          string       `json:"last_seen"`
	Version           uint32       `json:"version"`
	Summary           string       `json:"summary"`
}

// anomalyID is hash(event id, detector): deterministic across replays.
func anomalyID(ev eventID, typ uint8) [16]byte {
	h := sha256.New()
	h.Write(ev.b[:])
	h.Write([]byte{ev.kind, '/'})
	h.Write([]byte(typeNames[typ]))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func hex16(b [16]byte) string { return hex.EncodeToString(b[:]) }
