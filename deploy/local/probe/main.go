// Command probe waits until one local dependency is really ready, for the scripts in
// deploy/local: "probe kafka --addr 127.0.0.1:9092 --wait 120s" exits 0 once a Metadata
// request lists a broker, and 1 with the last error once the wait is over.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ordo-platform/ordo/internal/health"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "", "host:port (kafka: comma-separated brokers; clickhouse: native port)")
	url := fs.String("url", "", "postgres URL")
	wait := fs.Duration("wait", 30*time.Second, "how long to keep trying")
	_ = fs.Parse(os.Args[2:])

	var c health.Checker
	switch os.Args[1] {
	case "postgres":
		c = health.Postgres(*url)
	case "kafka":
		c = health.Kafka(strings.Split(*addr, ","))
	case "clickhouse":
		c = health.ClickHouse(*addr)
	default:
		usage()
	}
	each := min(*wait, 5*time.Second)
	if err := health.Wait(context.Background(), c, *wait, each); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	fmt.Println(c.Name(), "ready")
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe postgres|kafka|clickhouse [--addr A] [--url U] [--wait D]")
	os.Exit(2)
}
