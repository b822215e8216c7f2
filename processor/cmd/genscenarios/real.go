package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/clarion-itdr/clarion/processor/scenario"
)

// realFile is one scenario file from the realistic generator
// (processor/scenario.Realistic), which is separate from the simulator's
// traffic model.
type realFile struct {
	name   string
	cfg    scenario.RealConfig
	jitter bool
}

var realFiles = []realFile{
	{name: "real-seed1.jsonl.gz", cfg: scenario.RealConfig{Seed: 1, Users: 200, Days: 44}},
	{name: "real-seed2-delivery.jsonl.gz", cfg: scenario.RealConfig{Seed: 2, Users: 200, Days: 44}, jitter: true},
}

func writeReal(dir string) error {
	for _, rf := range realFiles {
		ss := scenario.Realistic(rf.cfg)
		if rf.jitter {
			ss = deliverSignins(ss, rf.cfg.Seed)
		}
		path := filepath.Join(dir, rf.name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
		w := bufio.NewWriter(zw)
		hdr, _ := json.Marshal(map[string]any{"types": scenario.RealTypes})
		w.Write(append(hdr, '\n'))
		if err := scenario.Write(w, ss); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println("wrote", path, len(ss), "events")
	}
	return nil
}

// deliverSignins applies deliver's late and duplicate delivery to sign-ins.
func deliverSignins(ss []scenario.Signin, seed uint64) []scenario.Signin {
	return jitter(ss, func(s scenario.Signin) time.Time { return s.At }, seed)
}
