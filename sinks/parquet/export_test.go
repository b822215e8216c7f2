package parquet

// SetHook installs a function called at each stage of a flush.
func SetHook(s *Sink, f func(stage string)) { s.hook = f }
