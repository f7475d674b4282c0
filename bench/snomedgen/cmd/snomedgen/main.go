// Command snomedgen writes a synthetic SNOMED CT RF2 snapshot release the size of a national
// edition, for load and query benchmarks:
//
//	go run ./bench/snomedgen/cmd/snomedgen -out DIR -concepts 600000
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/concord-health/concord/bench/snomedgen"
)

func main() {
	out := flag.String("out", "", "directory to write the release into")
	n := flag.Int("concepts", 600000, "concepts to generate")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "snomedgen: -out is required")
		os.Exit(2)
	}
	start := time.Now()
	info, err := snomedgen.Generate(*out, snomedgen.Config{Concepts: *n, Seed: *seed})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d concepts, %d descriptions, %d relationships, %d map rows in %v\n",
		info.Dir, info.Concepts, info.Descriptions, info.Relationships, info.MapRows, time.Since(start).Round(time.Millisecond))
}
