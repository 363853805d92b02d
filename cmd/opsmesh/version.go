package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/api/v1alpha1"
)

// versionInfo is what `opsmesh version` reports.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
	APIVersion string `json:"apiVersion"`
}

func currentVersion() versionInfo {
	v := versionInfo{
		Version:    version,
		Commit:     commit,
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		APIVersion: v1alpha1.GroupVersion.String(),
	}
	// A binary built with `go install github.com/opsmesh/opsmesh/cmd/opsmesh@vX` carries its
	// module version even without the Makefile's ldflags.
	if v.Version == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the opsmesh version, its commit and the API version it serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case "":
				fmt.Fprintf(cmd.OutOrStdout(), "opsmesh %s (commit %s, %s, %s), API %s\n",
					v.Version, v.Commit, v.GoVersion, v.Platform, v.APIVersion)
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			default:
				return fmt.Errorf("--output %q is not supported; use --output json, or leave it out for one line", output)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: one line)")
	return cmd
}
