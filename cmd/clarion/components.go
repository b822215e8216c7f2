package main

import (
	"log/slog"

	"github.com/clarion-itdr/clarion/internal/app"
)

// wireComponents adds the background components of a target to a (the
// poller, processor and sinks, as they land).
func wireComponents(a *app.App, f *runFlags, log *slog.Logger) error {
	return nil
}
