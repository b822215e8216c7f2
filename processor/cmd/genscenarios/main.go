// Command genscenarios writes the scenario files under processor/testdata:
// the hand-written edge cases (processor/scenario) and files generated from
// the simulator's traffic model (okta/sim/traffic), and the realistic files
// from the project's own generator of geolocation artefacts (processor/scenario.Realistic).
//
//	go run ./processor/cmd/genscenarios -out processor/testdata
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/clarion-itdr/clarion/processor/scenario"
)

func main() {
	out := flag.String("out", "processor/testdata", "directory to write into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genscenarios:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	edges := scenario.Edges()
	names := make([]string, 0, len(edges))
	for n := range edges {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := write(filepath.Join(dir, n), func(w *bufio.Writer) error { return scenario.Write(w, edges[n]) }); err != nil {
			return err
		}
	}
	if err := writeSim(dir); err != nil {
		return err
	}
	return writeReal(dir)
}

func write(path string, fn func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := fn(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	fmt.Println("wrote", path)
	return f.Close()
}
