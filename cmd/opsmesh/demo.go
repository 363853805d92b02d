package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opsmesh/opsmesh/sandbox"
	"github.com/opsmesh/opsmesh/sandbox/demo"
)

// demoFaults gives opsmesh demo its fault injector for the cluster at kubeconfig (the sandbox
// provides one); nil, or a nil Faults, skips the XID scenario.
type demoFaults func(ctx context.Context, kubeconfig string, cfg *rest.Config) (demo.Faults, error)

// sandboxKubeconfig is where opsmesh sandbox up writes its kubeconfig.
func sandboxKubeconfig() string {
	return filepath.Join(sandbox.DefaultStateDir(), "kubeconfig")
}

// sandboxFaults is the XID injector of the sandbox whose kubeconfig is kubeconfig (its state
// directory holds both), or nil for any other cluster.
func sandboxFaults(ctx context.Context, kubeconfig string, _ *rest.Config) (demo.Faults, error) {
	sb, err := sandboxOf(ctx, kubeconfig)
	if sb == nil {
		return nil, err
	}
	return sb, nil
}

// sandboxOf is the sandbox whose kubeconfig is kubeconfig (its state directory holds both), or
// nil for any other cluster.
func sandboxOf(ctx context.Context, kubeconfig string) (*sandbox.Sandbox, error) {
	if kubeconfig == "" {
		return nil, nil
	}
	dir := filepath.Dir(kubeconfig)
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		return nil, nil
	}
	sb, err := sandbox.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("the sandbox in %s: %w", dir, err)
	}
	return sb, nil
}

// sandboxOrKubeconfig loads the Kubernetes configuration of --kubeconfig, else $KUBECONFIG,
// else the sandbox's when it exists, else ~/.kube/config; path is the file used ("" for the
// default rules).
func sandboxOrKubeconfig(kubeconfig, kubeContext string) (path string, cfg *rest.Config, err error) {
	path = kubeconfig
	env := os.Getenv("KUBECONFIG")
	if path == "" && env != "" && !strings.Contains(env, string(os.PathListSeparator)) {
		// one file: named, so that the sandbox's own kubeconfig there is known as the sandbox's
		path = env
	}
	if path == "" && env == "" {
		if p := sandboxKubeconfig(); p != "" {
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return "", nil, fmt.Errorf("loading the Kubernetes configuration: %w (start the sandbox with opsmesh sandbox up, or pass --kubeconfig)", err)
	}
	return path, cfg, nil
}

func newDemoCommand(faults demoFaults) *cobra.Command {
	var (
		kubeconfig, kubeContext string
		nonInteractive          bool
		timeout                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Provoke four incidents on a cluster and watch the agents diagnose and fix them",
		Long: `Create, in namespaces of its own (demo-inference, demo-training, demo-batch), four incidents
that need different specialists: an inference service crashlooping on a bad config (rolled back
once the demo approves it with opsmesh approve), a training Job pending for GPUs, an XID 79 on a
simulated GPU under a training Job (cordoned automatically, the drain waits), and an OOMKilled
worker (its memory raise waits). Show each Incident's phases, agents, diagnosis and actions live,
then a summary table; exit 0 when every scenario reached its expected state.

The cluster must run opsmesh controller --runtime with the sample Agents in namespace opsmesh:
the sandbox does (opsmesh sandbox up), and its kubeconfig is the default when present. On
another cluster the XID scenario is skipped (it needs simulated GPUs). Everything simulated is
labelled so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: give a positive duration, such as 5m", timeout)
			}
			path, cfg, err := sandboxOrKubeconfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var f demo.Faults
			if faults != nil {
				if f, err = faults(ctx, path, cfg); err != nil {
					return fmt.Errorf("the sandbox's fault injector: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			interactive, width := false, 0
			if file, ok := out.(*os.File); ok && !nonInteractive && term.IsTerminal(int(file.Fd())) {
				interactive = true
				if w, _, err := term.GetSize(int(file.Fd())); err == nil {
					width = w
				}
			}
			_, err = demo.Run(ctx, demo.Config{RestConfig: cfg, Out: out, Faults: f, Interactive: interactive, Width: width, Timeout: timeout})
			if errors.Is(ctx.Err(), context.Canceled) && err != nil {
				return fmt.Errorf("interrupted: %w", err)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else the sandbox's ~/.cache/opsmesh/sandbox/kubeconfig when present, else ~/.kube/config)")
	fs.StringVar(&kubeContext, "context", "", "the kubeconfig context to use")
	fs.BoolVar(&nonInteractive, "non-interactive", false, "print one line per change instead of redrawing a table (the default when the output is not a terminal)")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long the scenarios may take in all")
	return cmd
}
