package eval

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarion-itdr/clarion/processor/detect"
)

// TestEdgeScenarios: Clarion gets every hand-written edge case right.
func TestEdgeScenarios(t *testing.T) {
	files, err := filepath.Glob("../testdata/edge-*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no edge scenarios: %v", err)
	}
	for _, fn := range files {
		t.Run(filepath.Base(fn), func(t *testing.T) {
			f, err := os.Open(fn)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := Run(f, ModeClarion)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range rep.Mistakes {
				t.Errorf("%s %s uuid %s line %d", m.Kind, m.Type, m.UUID, m.Line)
			}
		})
	}
}

func runFile(t *testing.T, fn, mode string) *Report {
	t.Helper()
	f, err := os.Open(fn)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(fn, ".gz") {
		zr, err := Open(fn)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	rep, err := Run(r, mode)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestBeatsBaselines: Clarion's impossible_travel F1 is never below either
// baseline's on any shipped file, and strictly above both on the edge cases
// together and on every simulator-generated file.
func TestBeatsBaselines(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*.jsonl*")
	var all bytes.Buffer
	for _, fn := range files {
		strict := strings.HasPrefix(filepath.Base(fn), "sim-") || strings.HasPrefix(filepath.Base(fn), "real-")
		if strict && raceEnabled {
			t.Logf("%s: skipped under -race", filepath.Base(fn))
			continue
		}
		f, err := Open(fn)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strict {
			all.Write(b)
		}
		compareOn(t, filepath.Base(fn), b, strict)
	}
	compareOn(t, "all edge files", all.Bytes(), true)
}

func compareOn(t *testing.T, name string, data []byte, strict bool) {
	t.Helper()
	run := func(mode string) Score {
		rep, err := Run(bytes.NewReader(data), mode)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Detectors[detect.TypeImpossibleTravel]
	}
	c := run(ModeClarion)
	if c.TP+c.FN == 0 {
		return
	}
	for _, m := range []string{ModeOktaVelocity, ModePanther} {
		b := run(m)
		t.Logf("%s: clarion f1 %.3f (tp %d fp %d fn %d), %s f1 %.3f (tp %d fp %d fn %d)", name, c.F1, c.TP, c.FP, c.FN, m, b.F1, b.TP, b.FP, b.FN)
		if c.F1 < b.F1 || (strict && c.F1 == b.F1) {
			t.Errorf("%s: clarion impossible_travel f1 %.3f does not beat %s %.3f", name, c.F1, m, b.F1)
		}
	}
}
