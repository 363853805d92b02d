package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opsmesh/opsmesh/agents/knowledge"
)

// runbooksFlag registers --runbooks: directories of runbook files the runbook engine adds to its
// built-in knowledge.
func runbooksFlag(fs *pflag.FlagSet) *[]string {
	return fs.StringSlice("runbooks", nil, "directories of runbook files (*.yaml; docs/runbooks.md) the runbook engine uses before its built-in ones (comma-separated or repeated)")
}

func newRunbooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbooks",
		Short: "Check and list runbooks: error signatures, follow-up checks, causes and actions as data",
		Long: `Runbooks are opsmesh's diagnostic knowledge as data (docs/runbooks.md): a signature over the
lines a failure leaves, the cause it points to, the follow-up checks that find the object at
fault, and the action to propose. The runbook engine uses the built-in ones and those of the
directories given to opsmesh runtime/controller --runbooks.`,
	}
	check := &cobra.Command{
		Use:   "check DIR|FILE...",
		Short: "Validate runbook files and test every runbook against its own examples",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			var failed []string
			for _, path := range args {
				files := []string{path}
				if st, err := os.Stat(path); err != nil {
					return err
				} else if st.IsDir() {
					files = nil
					for _, ext := range []string{"*.yaml", "*.yml"} {
						m, _ := filepath.Glob(filepath.Join(path, ext))
						files = append(files, m...)
					}
				}
				for _, f := range files {
					data, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					s, err := knowledge.Parse(f, data)
					if err != nil {
						failed = append(failed, err.Error())
						continue
					}
					for _, r := range s.Runbooks() {
						n++
						if err := r.Check(); err != nil {
							failed = append(failed, f+": "+err.Error())
						}
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d problem(s):\n%s", len(failed), strings.Join(failed, "\n"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d runbook(s) OK: each loads and matches its examples\n", n)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list [DIR...]",
		Short: "List the runbooks the engine would use, in the order it tries them",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := knowledge.Load(args...)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tCAUSE\tFOLLOW-UP\tACTION")
			for _, r := range s.Runbooks() {
				var follow []string
				for _, c := range r.Follow {
					follow = append(follow, c.Tool)
				}
				action := r.Action.Kind
				if action == "" {
					action = knowledge.ActionNone
				}
				if r.Action.Tool != "" {
					action += " " + r.Action.Tool
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Name, r.Cause.Category, strings.Join(follow, ","), action)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(check, list)
	return cmd
}
