package sandbox

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/kubernetes"
)

// ComponentStatus is one component's line in a Report.
type ComponentStatus struct {
	Component
	Running bool
	// Healthy is true when the component answers its health URL (or, without one, runs).
	Healthy bool
	Detail  string
}

// Report is what Status finds.
type Report struct {
	State      State
	Components []ComponentStatus
}

// Healthy reports whether every component runs and is healthy.
func (r Report) Healthy() bool {
	for _, c := range r.Components {
		if !c.Running || !c.Healthy {
			return false
		}
	}
	return len(r.Components) > 0
}

// Status reports each component of the sandbox in stateDir: whether its process runs and
// whether it answers its health check.
func Status(ctx context.Context, stateDir string) (Report, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	st, err := readState(stateDir)
	if err != nil {
		return Report{}, err
	}
	r := Report{State: *st}
	for _, c := range st.Components {
		cs := ComponentStatus{Component: c, Running: alive(c.PID)}
		switch {
		case !cs.Running:
			cs.Detail = "not running; see " + c.Log
		case c.Name == "kube-apiserver":
			if err := apiserverReady(ctx, st); err != nil {
				cs.Detail = "running, not ready: " + err.Error()
			} else {
				cs.Healthy, cs.Detail = true, "ready ("+st.APIServer+"/readyz)"
			}
		case c.Health == "":
			cs.Healthy, cs.Detail = true, "running"
		default:
			if err := getOK(ctx, c.Health); err != nil {
				cs.Detail = "running, not healthy: " + err.Error()
			} else {
				cs.Healthy, cs.Detail = true, "healthy ("+c.Health+")"
			}
		}
		r.Components = append(r.Components, cs)
	}
	return r, nil
}

// Print writes the report as a table, then how to reach the sandbox.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE")
	for _, c := range r.Components {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Name, c.PID, c.Detail)
	}
	_ = tw.Flush()
	st := r.State
	word := "healthy"
	if !r.Healthy() {
		word = "NOT healthy"
	}
	if !st.Ready {
		word += " (still starting, or Up failed)"
	}
	fmt.Fprintf(w, "sandbox in %s, started %s ago: %s\n", st.Dir, time.Since(st.StartedAt).Round(time.Second), word)
}

// PrintAccess writes how to reach the sandbox with kubectl and an MCP client, and how to stop it.
func (s *Sandbox) PrintAccess(w io.Writer) {
	token, err := s.GatewayToken()
	if err != nil {
		token = "(unreadable: " + err.Error() + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The opsmesh sandbox runs (simulated nodes: %s; simulated GPU nodes: %s).\n",
		strings.Join(s.CPUNodes, ", "), strings.Join(s.GPUNodes, ", "))
	fmt.Fprintf(&b, "  kubectl:      export KUBECONFIG=%s\n", s.Kubeconfig)
	fmt.Fprintf(&b, "  MCP gateway:  %s\n", s.GatewayURL)
	fmt.Fprintf(&b, "  token:        %s   (header Authorization: Bearer <token>; file %s)\n", token, s.GatewayTokenFile)
	fmt.Fprintf(&b, "  logs:         %s\n", s.path("logs"))
	fmt.Fprintf(&b, "  inject a GPU fault: opsmesh sandbox fault --node %s --gpu 3 --xid 79\n", s.GPUNodes[0])
	fmt.Fprintf(&b, "  stop it:      opsmesh sandbox down\n")
	_, _ = io.WriteString(w, b.String())
}

// apiserverReady asks the sandbox's API server for /readyz with the sandbox's kubeconfig.
func apiserverReady(ctx context.Context, st *State) error {
	s := &Sandbox{State: *st}
	if err := s.connect(); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}
