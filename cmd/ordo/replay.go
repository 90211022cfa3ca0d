package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/term"

	"github.com/ordo-platform/ordo/projections"
)

func init() { registerCommand(replayCmd) }

func replayCmd() *cobra.Command {
	var (
		projection  string
		target      string
		list        bool
		dropRetired bool
		pageSize    int
	)
	cmd := &cobra.Command{
		Use:   "replay (--projection NAME | --target NAME | --list | --drop-retired --projection NAME)",
		Short: "Rebuild a read model from the event store into a new version and switch over atomically",
		Long: `Rebuilds a projection from the Postgres event store (never from Kafka) into a new version of
its tables while the active version keeps serving, catches up with live traffic, then switches
over in one transaction. A killed rebuild resumes from its checkpoint when run again; a second
rebuild of the same projection is refused while one runs. Replays write only read-model tables:
they publish nothing, and cannot send notifications, take payments or run saga steps.

Projections: ` + strings.Join(projections.Names(), ", ") + `. Other rebuildable targets (--target): ` + targetNames() + `.`,
		Example: `  ordo replay --projection orders
  ordo replay --list
  ordo replay --projection orders --drop-retired
  ordo replay --target analytics`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{projection != "" && !dropRetired, target != "", list, dropRetired} {
				if set {
					n++
				}
			}
			if n != 1 || (dropRetired && projection == "") {
				_ = cmd.Usage()
				return errUsage
			}
			e, err := loadEnv()
			if err != nil {
				return err
			}
			d, err := openDeps(cmd.Context(), e, "replay")
			if err != nil {
				return err
			}
			defer d.close()
			out := cmd.OutOrStdout()
			switch {
			case list:
				return replayList(cmd.Context(), out, d)
			case target != "":
				i := slices.IndexFunc(replayTargets, func(t replayTarget) bool { return t.Name == target })
				if i < 0 {
					return fmt.Errorf("replay: no target %q (known: %s)", target, targetNames())
				}
				return replayTargets[i].Run(cmd, d)
			case dropRetired:
				dropped, err := projections.DropRetired(cmd.Context(), d.pool, projection)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: dropped retired versions %v\n", projection, dropped)
				return nil
			default:
				return replayProjection(cmd.Context(), out, d, projection, pageSize)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&projection, "projection", "", "projection to rebuild: "+strings.Join(projections.Names(), ", "))
	f.StringVar(&target, "target", "", "another replay target to run: "+targetNames())
	f.BoolVar(&list, "list", false, "show each projection's active version, position and lag")
	f.BoolVar(&dropRetired, "drop-retired", false, "drop the tables of the projection's retired versions")
	f.IntVar(&pageSize, "page-size", 50000, "events per read, write and checkpoint")
	return cmd
}

func targetNames() string {
	if len(replayTargets) == 0 {
		return "none registered"
	}
	var names []string
	for _, t := range replayTargets {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// replayProjection runs one rebuild with a progress bar on a terminal and plain
// progress lines otherwise.
func replayProjection(ctx context.Context, out io.Writer, d *deps, name string, pageSize int) error {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var (
		bar       *progressbar.ProgressBar
		lastLine  time.Time
		lastPhase string
	)
	progress := func(p projections.RebuildProgress) {
		total := int64(-1)
		if p.Remaining >= 0 {
			total = p.RunEvents + p.Remaining
		}
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(out),
					progressbar.OptionSetDescription(fmt.Sprintf("%s v%d", p.Projection, p.Version)),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true))
			}
			if total >= 0 && total != bar.GetMax64() {
				bar.ChangeMax64(total)
			}
			bar.Describe(fmt.Sprintf("%s v%d %s", p.Projection, p.Version, p.Phase))
			_ = bar.Set64(p.RunEvents)
			return
		}
		if p.Phase == lastPhase && time.Since(lastLine) < 2*time.Second {
			return
		}
		lastPhase, lastLine = p.Phase, time.Now()
		rate := float64(p.RunEvents) / max(p.Elapsed.Seconds(), 1e-3)
		eta := "?"
		if p.Remaining >= 0 && rate > 0 {
			eta = (time.Duration(float64(p.Remaining) / rate * float64(time.Second))).Round(time.Second).String()
		}
		pct := ""
		if total > 0 {
			pct = fmt.Sprintf(" (%.1f%%)", 100*float64(p.RunEvents)/float64(total))
		}
		fmt.Fprintf(out, "%s v%d %-8s %d events%s, %.0f events/s, ETA %s, position %d\n",
			p.Projection, p.Version, p.Phase, p.RunEvents, pct, rate, eta, p.Position)
	}
	res, err := projections.Rebuild(ctx, d.pool, d.store, name, projections.RebuildOptions{
		PageSize: pageSize, Progress: progress, Log: d.log,
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(out)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("replay %s interrupted; run it again to resume from its checkpoint", name)
		}
		return err
	}
	resumed := ""
	if res.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(out, "%s: version %d active (was %d)%s: %d events in %s = %.0f events/s, %d applied; switch-over held the live projector for %s\n",
		res.Projection, res.Version, res.Previous, resumed, res.Events, res.Duration.Round(time.Millisecond), res.Rate(),
		res.Applied, res.SwitchDuration.Round(time.Millisecond))
	return nil
}

// replayList prints every projection's versions, with the Kafka lag of the active one
// (records on its topics not yet applied).
func replayList(ctx context.Context, out io.Writer, d *deps) error {
	sts, err := projections.List(ctx, d.pool)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(d.kafka)
	var topics []string
	for _, s := range sts {
		for _, v := range s.Versions {
			for _, o := range v.Offsets {
				topics = append(topics, o.Topic)
			}
		}
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	var ends kadm.ListedOffsets
	if len(topics) > 0 {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ends, err = adm.ListEndOffsets(lctx, topics...)
		cancel()
		if err != nil {
			ends = nil
		}
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tACTIVE\tPOSITION\tLAG (records)\tBUILDING\tGROUP")
	for _, s := range sts {
		active, building := "-", "-"
		position, lag := "-", "-"
		if a, ok := s.Active(); ok {
			active = fmt.Sprintf("v%d", a.Version)
			position = fmt.Sprint(a.Position)
			if ends != nil {
				var n int64
				for _, o := range a.Offsets {
					if end, ok := ends.Lookup(o.Topic, o.Partition); ok && end.Err == nil {
						n += max(0, end.Offset-o.NextOffset)
					}
				}
				lag = fmt.Sprint(n)
			} else if len(a.Offsets) == 0 {
				lag = "not started"
			} else {
				lag = "? (kafka unreachable)"
			}
		}
		if b, ok := s.Building(); ok {
			building = fmt.Sprintf("v%d at %d (%d events)", b.Version, b.Position, b.Events)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, active, position, lag, building, s.Group)
	}
	return w.Flush()
}
