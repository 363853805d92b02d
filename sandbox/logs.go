package sandbox

// Container logs. The sandbox serves them as kubelets do, so that kubectl logs and the cluster
// tool server's pod_logs read them through the API server's pods/log subresource:
//
//   - kwok serves the simulated kubelets' endpoint (/containerLogs and the rest) on
//     127.0.0.1:Ports["kubelet"] with a certificate from the sandbox's CA, and gives every node
//     that address (InternalIP) and port (daemonEndpoints.kubeletEndpoint); the API server
//     reaches it by InternalIP and verifies it with the CA (controlplane.go).
//   - kwok reads a pod's log from the file that a kwok Logs object (kwok.x-k8s.io/v1alpha1,
//     named after the pod, in its namespace) names for the container: logsFile for the current
//     container, previousLogsFile for kubectl logs --previous. SetPodLogs writes those files and
//     the Logs object. A pod without one gets an empty log (a ClusterLogs in kwok's config
//     points every other container at an empty file), never an error.
//
// The files are in CRI log format (what a kubelet reads from its container runtime) under the
// state directory's podlogs/<namespace>/<pod>/<pod UID>/.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	// kubeletIP is every simulated node's InternalIP, where kwok serves the kubelet endpoint.
	kubeletIP = "127.0.0.1"
	// podLogsDir is the state directory's folder of container log files.
	podLogsDir = "podlogs"
	// emptyLogFile, in podLogsDir, is the log of every container without logs set.
	emptyLogFile = "empty.log"
	// kwokLogsConfig is the state directory's file with kwok's default ClusterLogs.
	kwokLogsConfig = "kwok-logs.yaml"
	kwokGroup      = "kwok.x-k8s.io"
	kwokVersion    = "v1alpha1"
	// podLogsWait bounds how long SetPodLogs waits for the API server to serve the lines set.
	podLogsWait = 15 * time.Second
)

// SetPodLogs makes lines the log of the container of pod namespace/pod ("": its first
// container) as the API server serves it (kubectl logs, pod_logs): the current container's, or
// with previous the last terminated one's (kubectl logs --previous). Each call replaces what an
// earlier one set for the same pod, container and previous; a line with line breaks is several
// lines. When the pod is on a node, SetPodLogs returns once the API server serves the lines.
// The logs belong to this pod: a new pod of the same name starts with none — except that a pod
// being replaced while they are set (a StatefulSet's rolling update of pod-0, whose new pod keeps
// the name) has them set again on its successor, up to three times. Calls for one pod must not
// run at the same time.
func (s *Sandbox) SetPodLogs(ctx context.Context, namespace, pod, container string, previous bool, lines []string) error {
	var err error
	for range 3 {
		var uid types.UID
		if uid, err = s.setPodLogs(ctx, namespace, pod, container, previous, lines); err == nil || uid == "" {
			return err
		}
		// a successor of the same name (or the pod still going away): set them on it
		if !s.replaced(ctx, namespace, pod, uid) {
			return err
		}
	}
	return err
}

// replaced says whether pod namespace/name is now another pod than uid, or is being deleted
// (waiting, within podLogsWait, for its successor).
func (s *Sandbox) replaced(ctx context.Context, namespace, name string, uid types.UID) bool {
	ctx, cancel := context.WithTimeout(ctx, podLogsWait)
	defer cancel()
	for {
		var p corev1.Pod
		err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &p)
		switch {
		case err == nil && p.UID != uid && p.DeletionTimestamp == nil:
			return true
		case err != nil && !apierrors.IsNotFound(err):
			return false
		case err == nil && p.UID == uid && p.DeletionTimestamp == nil:
			return false // the same pod, alive: replacing is not why its logs are not served
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// setPodLogs is one SetPodLogs on the pod of that name now; it returns the pod's UID ("" when it
// could not be read).
func (s *Sandbox) setPodLogs(ctx context.Context, namespace, pod, container string, previous bool, lines []string) (types.UID, error) {
	var p corev1.Pod
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &p); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("setting the logs of pod %s/%s: the pod does not exist; create it first", namespace, pod)
		}
		return "", fmt.Errorf("setting the logs of pod %s/%s: %w", namespace, pod, err)
	}
	if p.DeletionTimestamp != nil {
		return p.UID, fmt.Errorf("setting the logs of pod %s/%s: the pod is being deleted", p.Namespace, p.Name)
	}
	c, err := logContainer(&p, container)
	if err != nil {
		return p.UID, err
	}
	dir := s.path(podLogsDir, p.Namespace, p.Name, string(p.UID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p.UID, fmt.Errorf("setting the logs of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	current, prev := logFiles(dir, c)
	file, other := current, prev
	if previous {
		file, other = prev, current
	}
	if err := writeAtomic(file, criLog(lines, time.Now())); err != nil {
		return p.UID, fmt.Errorf("writing the log of pod %s/%s container %s: %w", p.Namespace, p.Name, c, err)
	}
	// kwok opens both files of a container it has an entry for: the other one must exist.
	if f, err := os.OpenFile(other, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return p.UID, fmt.Errorf("writing the log of pod %s/%s container %s: %w", p.Namespace, p.Name, c, err)
	}
	obj, err := kwokLogs(&p, dir, s.path(podLogsDir, emptyLogFile))
	if err != nil {
		return p.UID, err
	}
	if err := s.Client.Patch(ctx, obj, client.Apply, fieldOwner, client.ForceOwnership); err != nil {
		return p.UID, fmt.Errorf("applying kwok's Logs %s/%s (the files kwok serves pod %s/%s's logs from): %w; is the sandbox's kwok Logs CRD installed (opsmesh sandbox up installs it)?", p.Namespace, p.Name, p.Namespace, p.Name, err)
	}
	if p.Spec.NodeName == "" {
		return p.UID, nil // served once it is scheduled; pod_logs reads no log of an unscheduled pod
	}
	return p.UID, s.waitPodLogs(ctx, &p, c, previous, servedLog(lines))
}

// waitPodLogs waits until the API server serves want as the container's (previous) log.
func (s *Sandbox) waitPodLogs(ctx context.Context, p *corev1.Pod, container string, previous bool, want string) error {
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, podLogsWait)
	defer cancel()
	var got string
	var last error
	for {
		raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
		if err == nil && string(raw) == want {
			return nil
		}
		got, last = string(raw), err
		select {
		case <-ctx.Done():
			what := "log"
			if previous {
				what = "previous log"
			}
			detail := fmt.Sprintf("it serves %q", truncate(got, 200))
			if last != nil {
				detail = last.Error()
			}
			return fmt.Errorf("the API server does not serve the %s set for pod %s/%s container %s %s after it was written: %s; see kwok's log %s",
				what, p.Namespace, p.Name, container, podLogsWait, detail, s.path("logs", "kwok.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logContainer is the container named, or the pod's first container when name is "".
func logContainer(p *corev1.Pod, name string) (string, error) {
	var all []string
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			all = append(all, c.Name)
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	switch {
	case name == "" && len(p.Spec.Containers) > 0:
		return p.Spec.Containers[0].Name, nil
	case name != "" && slices.Contains(all, name):
		return name, nil
	}
	return "", fmt.Errorf("setting the logs of pod %s/%s: it has no container %q; its containers are %s", p.Namespace, p.Name, name, strings.Join(all, ", "))
}

// logFiles are the files of container c's current and previous logs in dir.
func logFiles(dir, c string) (current, previous string) {
	return filepath.Join(dir, c+".log"), filepath.Join(dir, c+".previous.log")
}

// criLog is lines in CRI log format (RFC 3339 time, stream, tag F for a full line, the line), as
// a container runtime writes them and kwok reads them; the lines are stamped from at on, a
// microsecond apart.
func criLog(lines []string, at time.Time) []byte {
	var b strings.Builder
	at = at.UTC()
	for i, l := range splitLines(lines) {
		b.WriteString(at.Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano))
		b.WriteString(" stdout F ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// servedLog is what the API server serves for lines: each line and a line end.
func servedLog(lines []string) string {
	var b strings.Builder
	for _, l := range splitLines(lines) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// splitLines splits lines with line breaks into several (a final line break ends a line, it
// does not start an empty one).
func splitLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.Split(strings.TrimSuffix(l, "\n"), "\n")...)
	}
	return out
}

// kwokLogs is the kwok Logs object of pod p: an entry for each container with files in dir,
// and a default entry (other containers) that serves the empty file.
func kwokLogs(p *corev1.Pod, dir, empty string) (*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the log files of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	var logs []any
	for _, e := range entries { // sorted by name
		c, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || strings.HasSuffix(c, ".previous") || strings.HasPrefix(c, ".") {
			continue
		}
		current, previous := logFiles(dir, c)
		logs = append(logs, map[string]any{"containers": []any{c}, "logsFile": current, "previousLogsFile": previous})
	}
	logs = append(logs, map[string]any{"logsFile": empty, "previousLogsFile": empty})
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kwokGroup + "/" + kwokVersion, "kind": "Logs",
		"metadata": map[string]any{"namespace": p.Namespace, "name": p.Name, "labels": map[string]any{SimulatedLabel: "true"}},
		"spec":     map[string]any{"logs": logs},
	}}
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}})
	return u, nil
}

// writeAtomic replaces path's contents with data (kwok may be reading the old file).
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// preparePodLogs empties the state directory's podlogs folder, writes the empty log and kwok's
// default ClusterLogs (every container without a Logs entry gets the empty log, current and
// previous), and returns the path of that config file, to add to kwok's --config.
func (s *Sandbox) preparePodLogs() (string, error) {
	dir := s.path(podLogsDir)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	empty := filepath.Join(dir, emptyLogFile)
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return "", err
	}
	cfg := s.path(kwokLogsConfig)
	if err := os.WriteFile(cfg, []byte(kwokDefaultLogs(empty)), 0o600); err != nil {
		return "", err
	}
	return cfg, nil
}

// kwokDefaultLogs is kwok's config document that serves the file empty as the log (current and
// previous) of every container without an entry in a Logs object.
func kwokDefaultLogs(empty string) string {
	return fmt.Sprintf(`# Written by opsmesh sandbox: containers whose logs were not set (SetPodLogs) have an empty log.
apiVersion: %s/%s
kind: ClusterLogs
metadata:
  name: opsmesh-sandbox-default
spec:
  logs:
  - logsFile: %q
    previousLogsFile: %q
`, kwokGroup, kwokVersion, empty, empty)
}

// installKwokLogsCRD installs kwok's Logs kind, which kwok (--enable-crds=Logs) watches for the
// files it serves pods' logs from.
func (s *Sandbox) installKwokLogsCRD() error {
	if _, err := envtest.InstallCRDs(s.Config, envtest.CRDInstallOptions{
		CRDs: []*apiextensionsv1.CustomResourceDefinition{kwokLogsCRD()}, MaxTime: s.opts.Timeout,
	}); err != nil {
		return fmt.Errorf("installing kwok's Logs CRD: %w", err)
	}
	return nil
}

// kwokLogsCRD is kwok's Logs kind (sigs.k8s.io/kwok pkg/apis/v1alpha1 logs_types.go) with the
// fields kwok reads.
func kwokLogsCRD() *apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	log := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "Log names the files a pod's containers' logs are read from.",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"containers":       {Type: "array", Description: "the containers (none: every other container)", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &str}},
			"logsFile":         {Type: "string", Description: "the current container's log, in CRI log format"},
			"previousLogsFile": {Type: "string", Description: "the previous container's log, in CRI log format"},
			"follow":           {Type: "boolean"},
		},
	}
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "logs." + kwokGroup, Labels: map[string]string{SimulatedLabel: "true"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: kwokGroup,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Logs", ListKind: "LogsList", Plural: "logs", Singular: "logs"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: kwokVersion, Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:        "object",
					Description: "Logs (kwok) names the files the simulated kubelets serve a pod's container logs from.",
					Required:    []string{"spec"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": str, "kind": str, "metadata": {Type: "object"},
						"spec": {Type: "object", Required: []string{"logs"}, Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"logs": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &log}},
						}},
						"status": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
}
