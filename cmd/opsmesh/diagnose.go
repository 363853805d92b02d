package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

// diagnoseSubject turns KIND/NAME (in namespace ns) into the runtime's subject, the kind
// resolved as kubectl does (deploy, po, hpa, a CRD's short name) by kinds, the cluster's
// discovery; with kinds nil (no cluster reachable from here) the agents' runtime resolves it.
func diagnoseSubject(ctx context.Context, kinds runbook.Kinds, arg, ns string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok || strings.TrimSpace(kind) == "" || strings.TrimSpace(name) == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: give KIND/NAME, such as pod/web-0 or node/gpu-7 (the namespace is -n)", arg)
	}
	return runbook.Canonical(ctx, kinds, arg, ns)
}

func newDiagnoseCommand() *cobra.Command {
	var (
		k         kubeFlags
		natsURL   string
		natsCreds string
		agent     string
		question  string
		output    string
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "diagnose KIND/NAME",
		Short: "Ask the agents what is wrong with one object and print their diagnosis",
		Long: `Send one object to a coordinator Agent over A2A (NATS) and print its diagnosis: the root cause
with its evidence, the remediation plan it proposes (nothing is run), and each specialist's
finding. The agents run in opsmesh runtime (or opsmesh controller --runtime), reached at
--nats-url; the namespace of the object is -n, else the kubeconfig context's.`,
		Example: `  opsmesh diagnose pod/web-0 -n shop
  opsmesh diagnose deployment/trainer -n ml --agent opsmesh/incident-coordinator
  opsmesh diagnose node/gpu-7 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" && output != "yaml" {
				return fmt.Errorf("--output %q is not supported; use text, yaml or json", output)
			}
			ns := k.namespace
			var kinds runbook.Kinds
			if _, cfg, n, err := k.clientAndConfig(); err == nil {
				if ns == "" {
					ns = n
				}
				// Resolve the kind here when the cluster answers; else the runtime does.
				if shared, err := kubeaccess.NewShared(cmd.Context(), cfg, nil, nil); err == nil {
					if _, err := shared.Disco.ServerVersion(); err == nil {
						kinds = shared
					}
				}
			}
			if ns == "" {
				ns = "default"
			}
			subject, err := diagnoseSubject(cmd.Context(), kinds, args[0], ns)
			if err != nil {
				return err
			}
			opts := []nats.Option{nats.Name("opsmesh diagnose")}
			if natsCreds != "" {
				opts = append(opts, nats.UserCredentials(natsCreds))
			}
			nc, err := nats.Connect(natsURL, opts...)
			if err != nil {
				return fmt.Errorf("connecting to NATS at %s: %w (is opsmesh runtime running? point --nats-url at its NATS)", natsURL, err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			stop := spin(cmd.ErrOrStderr(), "asking "+agent+" about "+subject)
			d, _, err := ask.New(nc).Diagnose(ctx, ask.Request{Agent: agent, Subject: subject, Question: question})
			stop()
			if err != nil {
				if errors.Is(err, a2anats.ErrAgentNotAvailable) {
					return fmt.Errorf("%w (opsmesh agents list -A shows the Agents; --agent namespace/name picks one)", err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			if output == "text" {
				_, err = io.WriteString(w, d.Text())
				return err
			}
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			var v any
			_ = json.Unmarshal(b, &v)
			return printObject(w, output, v)
		},
	}
	k.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&natsURL, "nats-url", "nats://127.0.0.1:4222", "the NATS the opsmesh runtime serves agents on")
	fs.StringVar(&natsCreds, "nats-creds", "", "NATS credentials file (JWT and NKey seed) for --nats-url")
	fs.StringVar(&agent, "agent", "opsmesh/incident-coordinator", "the Agent to ask, namespace/name (a coordinator delegates to its specialists)")
	fs.StringVar(&question, "question", "", "what to ask about the object, in words (default: what is wrong with it)")
	fs.StringVarP(&output, "output", "o", "text", "text, yaml or json")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the diagnosis")
	return cmd
}

// spin shows a spinner with what on w (a terminal's stderr) until the returned stop is called.
// It writes nothing when w is not a terminal, so piped and captured output stays clean.
func spin(w io.Writer, what string) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		frames := `|/-\`
		t := time.NewTicker(120 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s", frames[i%len(frames)], what)
			select {
			case <-done:
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", len(what)+2))
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
