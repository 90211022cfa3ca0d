package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/internal/telemetry"
)

// errUsage marks errors already explained to the user; execute prints nothing more.
var errUsage = errors.New("usage")

func execute(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdin, os.Stdout)
}

// run runs the command line args until ctx ends (a signal, or a test that is done).
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) int {
	root := &cobra.Command{
		Use:           "ordo",
		Short:         "Ordo: an event-sourced, Kafka-centric commerce platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(roleCommands()...)
	root.AddCommand(migrateCmd())
	for _, c := range commands {
		root.AddCommand(c())
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "ordo:", err)
		}
		return 1
	}
	return 0
}

// newLogger returns the process logger: JSON lines on stderr at ORDO_LOG_LEVEL.
func newLogger(level slog.Level) *slog.Logger {
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
}
