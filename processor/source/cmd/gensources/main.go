// Command gensources writes the labelled tenant-wide scenario files
// (processor/source.Generate) that `clarion eval` scores per incident.
//
//	go run ./processor/source/cmd/gensources -seed 1 -out processor/testdata/sources-seed1.jsonl.gz
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/clarion-itdr/clarion/processor/source"
)

func main() {
	seed := flag.Uint64("seed", 1, "random seed")
	users := flag.Int("users", 300, "users in the tenant")
	days := flag.Int("days", 4, "days of traffic")
	out := flag.String("out", "", "output file (.gz compresses); default stdout")
	flag.Parse()
	if err := run(*seed, *users, *days, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gensources:", err)
		os.Exit(1)
	}
}

func run(seed uint64, users, days int, out string) error {
	w := os.Stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	o := source.GenOptions{Seed: seed, Users: users, Days: days}
	if !strings.HasSuffix(out, ".gz") {
		return source.Generate(w, o)
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err := source.Generate(zw, o); err != nil {
		return err
	}
	return zw.Close()
}
