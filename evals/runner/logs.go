package runner

// A scenario's setup.logs: the container logs the sandbox serves for the scenario's pods, which
// the agents read with pod_logs as from a kubelet.

import (
	"context"
	"fmt"
	"time"
)

// PodLogs serves container logs for pods; the sandbox implements it (its kwok answers the API
// server's pods/log with them). The runner finds it on Config.Faults.
type PodLogs interface {
	// SetPodLogs makes lines the log of the container ("": the first) of pod namespace/pod: the
	// current container's, or with previous the last terminated one's. It returns once the API
	// server serves them (for a pod on a node).
	SetPodLogs(ctx context.Context, namespace, pod, container string, previous bool, lines []string) error
}

// logsPodWait bounds the wait for the pods a setup.logs entry picks to exist.
const logsPodWait = time.Minute

// podLogs returns what serves container logs on this cluster, nil when nothing does.
func (a *attempt) podLogs() PodLogs {
	pl, _ := a.r.cfg.Faults.(PodLogs)
	return pl
}

// logsCannotRun says why the scenario's setup.logs cannot be served here ("" when they can).
func (a *attempt) logsCannotRun() string {
	if len(a.s.Setup.Logs) > 0 && a.podLogs() == nil {
		return "needs container logs set (setup.logs): only the sandbox serves them (opsmesh sandbox up)"
	}
	return ""
}

// logs sets the scenario's setup.logs: each entry's lines become the log of its container in
// every pod it picks (in the scenario's namespace unless it names another), once those pods
// exist. The lines were expanded (${NAMESPACE} and the others) when the scenario was read, and
// the entries validated (scenario.Parse).
func (a *attempt) logs(ctx context.Context) error {
	if len(a.s.Setup.Logs) == 0 {
		return nil
	}
	pl := a.podLogs()
	if pl == nil {
		return fmt.Errorf("scenario %s: %s", a.s.Name, a.logsCannotRun())
	}
	for i, l := range a.s.Setup.Logs {
		ref := l.Pod
		if ref.Kind == "" {
			ref.Kind = "Pod"
		}
		where := fmt.Sprintf("scenario %s: setup.logs[%d] (%s", a.s.Name, i, ref)
		if l.Container != "" {
			where += " container " + l.Container
		}
		if l.Previous {
			where += ", previous"
		}
		where += ")"
		pctx, cancel := context.WithTimeout(ctx, logsPodWait)
		pods, err := a.pick(pctx, ref)
		expired := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil && expired && len(pods) == 0 {
			return fmt.Errorf("%s: no such pod after %s; does pod.name or pod.selector match a pod of the setup?", where, logsPodWait)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, p := range pods {
			if err := pl.SetPodLogs(ctx, p.GetNamespace(), p.GetName(), l.Container, l.Previous, l.Lines); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}
