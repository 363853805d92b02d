package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/alertmanager"
)

// platform starts the controller (with the runtime and embedded NATS), a simulated node agent
// per GPU node and the MCP gateway, applies the samples and waits for them to be Ready.
func (s *Sandbox) platform(ctx context.Context) error {
	for _, name := range []string{"nats", "gateway", "webhook", "controllerProbe"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.Ports[name] = p
	}
	s.NATSURL = fmt.Sprintf("nats://127.0.0.1:%d", s.Ports["nats"])
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d/mcp", s.Ports["gateway"])
	s.WebhookURL = fmt.Sprintf("http://127.0.0.1:%d%s", s.Ports["webhook"], alertmanager.Path)
	s.GatewayTokenFile, s.WebhookTokenFile, s.AgentTokenFile = s.path("gateway-token"), s.path("webhook-token"), s.path("agent-token")
	for _, f := range []string{s.GatewayTokenFile, s.WebhookTokenFile, s.AgentTokenFile} {
		if err := os.WriteFile(f, []byte(newToken()+"\n"), 0o600); err != nil {
			return err
		}
	}
	probe := fmt.Sprintf("127.0.0.1:%d", s.Ports["controllerProbe"])
	s.say("starting the opsmesh controller with the agent runtime and embedded NATS (%s)", s.NATSURL)
	if err := s.start("controller", s.opts.Opsmesh, []string{"controller", "--runtime",
		"--kubeconfig", s.Kubeconfig, "--leader-elect", "--leader-election-namespace", Namespace, "--identity", "sandbox-controller",
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", s.Ports["nats"]), "--nats-data-dir", s.path("nats"),
		"--webhook-listen", fmt.Sprintf("127.0.0.1:%d", s.Ports["webhook"]), "--webhook-token-file", s.WebhookTokenFile,
		"--health-probe-bind-address", probe, "--metrics-bind-address", "0", "--node-agent-token-file", s.AgentTokenFile,
		// kwok gives pods their new state within seconds of a fix, so a problem still found
		// after 45 s is not going away (a real cluster's default is 3m).
		"--verify-timeout", VerifyTimeout.String(),
	}, "http://"+probe+"/readyz"); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "controller", "http://"+probe+"/readyz"); err != nil {
		return err
	}

	for _, n := range s.GPUNodes {
		faults := s.faultFile(n)
		if err := os.WriteFile(faults, []byte("# Faults injected into "+n+"'s simulated GPUs (opsmesh sandbox fault); the agent re-reads this file.\ngpus: []\n"), 0o600); err != nil {
			return err
		}
		listen := strings.TrimSuffix(strings.TrimPrefix(s.Agents[n], "http://"), "/mcp")
		s.say("starting the simulated GPU node agent of %s on %s", n, listen)
		if err := s.start("gpu-agent-"+n, s.opts.Opsmesh, []string{"mcp", "gpu", "--simulate=dgxh100", "--node-name", n,
			"--transport", "http", "--listen", listen, "--token-file", s.AgentTokenFile,
			"--fault-file", faults, "--nats-url", s.NATSURL,
		}, "http://"+listen+"/healthz"); err != nil {
			return err
		}
	}
	gw := strings.TrimSuffix(strings.TrimPrefix(s.GatewayURL, "http://"), "/mcp")
	s.say("starting the MCP gateway on %s", s.GatewayURL)
	if err := s.start("gateway", s.opts.Opsmesh, []string{"mcp", "gateway", "--transport", "http", "--listen", gw,
		"--token-file", s.GatewayTokenFile, "--kubeconfig", s.Kubeconfig, "--nats-url", s.NATSURL,
		"--node-agent-token-file", s.AgentTokenFile,
	}, "http://"+gw+"/healthz"); err != nil {
		return err
	}
	for _, c := range s.Components {
		if c.Health != "" {
			if err := s.waitHTTP(ctx, c.Name, c.Health); err != nil {
				return err
			}
		}
	}

	samples := filepath.Join(s.opts.RepoRoot, "deploy", "samples")
	var files []string
	for _, pattern := range []string{"toolserver-*.yaml", "agent-*.yaml"} {
		m, err := filepath.Glob(filepath.Join(samples, pattern))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return fmt.Errorf("no sample Agents or ToolServers in %s", samples)
	}
	s.say("applying %d sample Agents and ToolServers into namespace %s", len(files), Namespace)
	for _, f := range files {
		if err := s.apply(ctx, f, Namespace); err != nil {
			return err
		}
	}
	if err := s.wait(ctx, "the sample Agents and ToolServers to be Ready", s.samplesReady, "controller"); err != nil {
		return err
	}
	return s.save()
}

// VerifyTimeout is the sandbox controller's --verify-timeout.
const VerifyTimeout = 45 * time.Second

func (s *Sandbox) faultFile(node string) string { return s.path("faults", node+".yaml") }

// samplesReady succeeds when every Agent and ToolServer in Namespace is Ready.
func (s *Sandbox) samplesReady(ctx context.Context) error {
	var ts opsv1.ToolServerList
	if err := s.Client.List(ctx, &ts, client.InNamespace(Namespace)); err != nil {
		return err
	}
	var agents opsv1.AgentList
	if err := s.Client.List(ctx, &agents, client.InNamespace(Namespace)); err != nil {
		return err
	}
	if len(ts.Items) == 0 || len(agents.Items) == 0 {
		return fmt.Errorf("no Agents or ToolServers in namespace %s yet", Namespace)
	}
	var waiting []string
	for _, t := range ts.Items {
		if c := meta.FindStatusCondition(t.Status.Conditions, opsv1.ConditionReady); c == nil || c.Status != "True" {
			waiting = append(waiting, "ToolServer "+t.Name+notReady(c))
		}
	}
	for _, a := range agents.Items {
		if c := meta.FindStatusCondition(a.Status.Conditions, opsv1.ConditionReady); c == nil || c.Status != "True" {
			waiting = append(waiting, "Agent "+a.Name+notReady(c))
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("not Ready: %s", strings.Join(waiting, "; "))
	}
	return nil
}

// notReady says why, from a Ready condition (nil: none yet).
func notReady(c *metav1.Condition) string {
	if c == nil {
		return " (no Ready condition yet)"
	}
	return " (" + c.Reason + ": " + c.Message + ")"
}
