package bus

import (
	"testing"
	"time"
)

// TestTopicsBounded: every topic Clarion creates is compacted or has a
// retention, except clarion.actions (see TopicsWith); the events
// retention is configurable.
func TestTopicsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   TopicOptions
		events string
	}{
		{"defaults", TopicOptions{}, "172800000"},
		{"one day", TopicOptions{EventsRetention: 24 * time.Hour}, "86400000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, s := range TopicsWith(tc.opts) {
				pol, ret := s.Configs["cleanup.policy"], s.Configs["retention.ms"]
				switch {
				case s.Name == TopicActions:
					if s.Configs != nil {
						t.Errorf("%s: configs %v", s.Name, s.Configs)
					}
				case pol != nil && *pol == "compact":
				case pol != nil && *pol == "delete" && ret != nil:
					if s.Name == TopicEvents && *ret != tc.events {
						t.Errorf("events retention %s, want %s", *ret, tc.events)
					}
				default:
					t.Errorf("%s is unbounded: %v", s.Name, s.Configs)
				}
			}
		})
	}
}
