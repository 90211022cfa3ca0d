package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/internal/loadgen"
)

func init() { registerCommand(loadgenCmd) }

func loadgenCmd() *cobra.Command {
	cfg := loadgen.Config{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Drive realistic order traffic at an Ordo API and report latency percentiles and errors",
		Long: `Creates a catalogue (as the admin given) and a pool of customers, then starts operations at
--rate per second for --duration: browse the catalogue, look at products, place orders with a
mix of payment tokens (70% tok_visa, 15% tok_mastercard, 8% declined, 5% fraud, 2% timeout),
look at orders, cancel some, register new customers. Arrivals are open loop: a slow server
does not slow them down. The admin password is read from ORDO_LOADGEN_ADMIN_PASSWORD.

Rate limits apply to the generated traffic like to any client: raise ORDO_RATE_* on the
server for heavy runs, or read the http_429 lines as what they are.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.AdminPassword = os.Getenv("ORDO_LOADGEN_ADMIN_PASSWORD")
			if err := cfg.Validate(); err != nil {
				return err
			}
			rep, err := loadgen.New(cfg).Run(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			rep.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "API base URL")
	f.Float64Var(&cfg.Rate, "rate", 50, "operations started per second")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to drive traffic")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", 200, "most operations in flight at once")
	f.IntVar(&cfg.Customers, "customers", 50, "customers registered during setup")
	f.IntVar(&cfg.Products, "products", 100, "products created during setup")
	f.Int64Var(&cfg.Stock, "stock", 100000, "units of stock per product")
	f.StringVar(&cfg.AdminEmail, "admin-email", "admin@ordo.local", "admin that creates the catalogue")
	f.DurationVar(&cfg.WaitTerminal, "wait-terminal", 0, "after the run, wait up to this long for every placed order to end confirmed or cancelled")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the operation mix")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&cfg.OrdersOnly, "orders-only", false, "every arrival places an order (--rate is then orders per second)")
	return cmd
}
