package triage

import (
	"encoding/json"

	"github.com/clarion-itdr/clarion/processor/detect"

	"github.com/clarion-itdr/clarion/internal/record"
)

// Alert is an alert on clarion.alerts: the processor's record
// (processor/detect.Alert), with the bytes it was read from.
type Alert struct {
	detect.Alert
	raw json.RawMessage // the record as written, for Update.Base
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

// The anomaly records triage reads are the processor's (clarion.anomalies).
// Their text fields (city, ISP, browser, OS, device) come from the Okta
// event and may be attacker controlled: they are data, never instructions.
type (
	Anomaly    = detect.Anomaly
	AnomalyRef = detect.AnomalyRef
	Evidence   = detect.Evidence
	SigninRef  = detect.SigninRef
)

// subject returns the sign-in an anomaly is about: the evidence sign-in
// whose uuid is the anomaly's event, else the last one.
func subject(a *Anomaly) *SigninRef {
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
