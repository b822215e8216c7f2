package record

// Subject kinds: who or what an anomaly (and later an alert) is about.
const (
	// SubjectUser: one user, named by the record's "user" (every
	// per-user anomaly; records without "subject" are about a user).
	SubjectUser = "user"
	// SubjectSource: one source of sign-in attempts (a spray, credential
	// stuffing), named by Subject.Source. The record's "user".id then
	// carries the source key, so readers that know only "user" still key
	// it apart from every real user.
	SubjectSource = "source"
)

// Subject is an anomaly's subject, in the "subject" field. It is new and
// optional: a record without it is about its "user" (SubjectUser).
type Subject struct {
	Kind   string     `json:"kind"`
	Source *SourceRef `json:"source,omitempty"`
}

// SourceRef names a source of sign-in attempts.
type SourceRef struct {
	// Key is the stage's source key: "ip:<address>", or
	// "fp:<asn>:<fingerprint>" for a network and client fingerprint (user
	// agent and debugData.dtHash) that rotating infrastructure shares.
	Key  string   `json:"key"`
	Kind string   `json:"kind"` // "ip" or "fp"
	ASN  uint32   `json:"asn,omitempty"`
	IPs  []string `json:"ips,omitempty"`
}
