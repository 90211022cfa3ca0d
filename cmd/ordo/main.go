// Command ordo is the one binary of the Ordo platform: a subcommand per role (serve,
// relay, project, saga, analytics, notify, all) and per operator task (migrate, replay,
// users, bench, loadgen).
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:]))
}
