package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/agents/ask"
)

func newChatCommand() *cobra.Command {
	var (
		natsURL   string
		natsCreds string
		agent     string
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Talk to an Agent: each line you type is a question, each answer its diagnosis",
		Long: `An interactive session with one Agent over A2A (NATS). Each line is sent as a message: a
question in words ("why is training-job-7 pending?"), or one object as kind/namespace/name
(pod/shop/web-0, node/gpu-7) to investigate it. A spinner runs while the agent works. End with
exit, quit or Ctrl-D. Lines can be piped in: echo 'pod/shop/web-0' | opsmesh chat.`,
		Example: `  opsmesh chat --agent opsmesh/incident-coordinator
  printf 'pod/shop/web-0\nnode/gpu-7\n' | opsmesh chat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []nats.Option{nats.Name("opsmesh chat")}
			if natsCreds != "" {
				opts = append(opts, nats.UserCredentials(natsCreds))
			}
			nc, err := nats.Connect(natsURL, opts...)
			if err != nil {
				return fmt.Errorf("connecting to NATS at %s: %w (is opsmesh runtime running? point --nats-url at its NATS)", natsURL, err)
			}
			defer nc.Close()
			ctx := cmd.Context()
			c := ask.New(nc)
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err = c.Card(dctx, agent)
			cancel()
			if err != nil {
				return fmt.Errorf("agent %s: %w (opsmesh agents list -A shows the Agents; --agent namespace/name picks one)", agent, err)
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			interactive := isTerminal(errOut)
			if interactive {
				fmt.Fprintf(errOut, "Talking to %s. Ask a question, or name an object (pod/ns/name); exit to leave.\n", agent)
			}
			in := bufio.NewScanner(cmd.InOrStdin())
			in.Buffer(make([]byte, 64<<10), 64<<10)
			for {
				if interactive {
					fmt.Fprint(errOut, "> ")
				}
				if !in.Scan() {
					return in.Err()
				}
				line := strings.TrimSpace(in.Text())
				switch line {
				case "":
					continue
				case "exit", "quit":
					return nil
				}
				answer, err := chatTurn(ctx, c, agent, line, timeout, errOut)
				if err != nil {
					// One failed turn does not end the session.
					fmt.Fprintf(out, "error: %v\n", err)
					continue
				}
				fmt.Fprintln(out, strings.TrimRight(answer, "\n"))
			}
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&natsURL, "nats-url", "nats://127.0.0.1:4222", "the NATS the opsmesh runtime serves agents on")
	fs.StringVar(&natsCreds, "nats-creds", "", "NATS credentials file (JWT and NKey seed) for --nats-url")
	fs.StringVar(&agent, "agent", "opsmesh/incident-coordinator", "the Agent to talk to, namespace/name")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for each answer")
	return cmd
}

// chatTurn sends one line to the agent, as typed, and returns its answer's text.
func chatTurn(ctx context.Context, c *ask.Client, agent, line string, timeout time.Duration, spinTo io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := spin(spinTo, agent+" is working")
	d, _, err := c.Diagnose(ctx, ask.Request{Agent: agent, Text: line})
	stop()
	if err != nil {
		return "", err
	}
	return d.Text(), nil
}
