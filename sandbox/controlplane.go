package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// controlPlane starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
// kwok also serves the simulated kubelets' endpoint (Ports["kubelet"]), which the API server
// reaches for pods/log (see logs.go).
func (s *Sandbox) controlPlane(ctx context.Context) error {
	for _, name := range []string{"etcd", "etcdPeer", "apiserver", "kubelet"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.Ports[name] = p
	}
	p, err := newPKI(s.path("pki"))
	if err != nil {
		return fmt.Errorf("sandbox certificates: %w", err)
	}
	s.APIServer = fmt.Sprintf("https://127.0.0.1:%d", s.Ports["apiserver"])
	s.Kubeconfig = s.path("kubeconfig")
	if err := p.writeKubeconfig(s.Kubeconfig, s.APIServer); err != nil {
		return err
	}
	bin := func(n string) string { return filepath.Join(s.opts.BinDir, n) }

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcd"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcdPeer"])
	s.say("starting etcd on %s", etcdURL)
	if err := s.start("etcd", bin("etcd"), []string{
		"--name", "sandbox", "--data-dir", s.path("etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "sandbox=" + peerURL, "--unsafe-no-fsync",
	}, etcdURL+"/health"); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "etcd", etcdURL+"/health"); err != nil {
		return err
	}

	s.say("starting kube-apiserver on %s", s.APIServer)
	if err := s.start("kube-apiserver", bin("kube-apiserver"), []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(s.Ports["apiserver"]),
		"--tls-cert-file", p.ServingCert, "--tls-private-key-file", p.Serving, "--client-ca-file", p.CA,
		"--service-account-key-file", p.SAPub, "--service-account-signing-key-file", p.SAKey,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range", "10.96.0.0/16", "--authorization-mode", "Node,RBAC",
		"--allow-privileged=true", "--enable-priority-and-fairness=false", "--endpoint-reconciler-type", "none",
		// pods/log, exec and port-forward go to kwok's kubelet endpoint at the node's InternalIP.
		"--kubelet-preferred-address-types", "InternalIP", "--kubelet-certificate-authority", p.CA,
		"--kubelet-client-certificate", p.KubeletClientCert, "--kubelet-client-key", p.KubeletClient,
	}, ""); err != nil {
		return err
	}
	if err := s.connect(); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return err
	}
	if err := s.wait(ctx, "kube-apiserver to be ready", func(ctx context.Context) error {
		body, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v %s", err, strings.TrimSpace(string(body)))
		}
		return nil
	}, "kube-apiserver"); err != nil {
		return err
	}
	if err := s.installKwokLogsCRD(); err != nil {
		return err
	}

	s.say("starting kube-controller-manager and kube-scheduler")
	if err := s.start("kube-controller-manager", bin("kube-controller-manager"), []string{
		"--kubeconfig", s.Kubeconfig, "--controllers", "*,-serviceaccount-token", "--leader-elect=false",
		"--secure-port", "0", "--service-account-private-key-file", p.SAKey, "--root-ca-file", p.CA,
		"--use-service-account-credentials=false", "--node-monitor-grace-period", "50s",
	}, ""); err != nil {
		return err
	}
	if err := s.start("kube-scheduler", bin("kube-scheduler"), []string{
		"--kubeconfig", s.Kubeconfig, "--leader-elect=false", "--secure-port", "0",
	}, ""); err != nil {
		return err
	}

	stages, err := filepath.Glob(filepath.Join(s.opts.RepoRoot, "deploy", "sandbox", "stages", "*.yaml"))
	if err != nil || len(stages) == 0 {
		return fmt.Errorf("no kwok Stages in %s: is --repo-root an opsmesh clone?", filepath.Join(s.opts.RepoRoot, "deploy", "sandbox", "stages"))
	}
	logsCfg, err := s.preparePodLogs()
	if err != nil {
		return fmt.Errorf("sandbox pod logs: %w", err)
	}
	kwokCfg := s.path("kwok.yaml")
	if err := concatYAML(kwokCfg, append(stages, logsCfg)); err != nil {
		return err
	}
	kubelet := fmt.Sprintf("%s:%d", kubeletIP, s.Ports["kubelet"])
	s.say("starting kwok (simulated kubelets, their endpoint on %s) with %d stage files", kubelet, len(stages))
	return s.start("kwok", s.opts.KwokBin, []string{
		"--kubeconfig", s.Kubeconfig, "--config", kwokCfg,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", kwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds", "40", "--cidr", "10.0.0.0/16",
		// Every node's InternalIP and kubelet port (the node stages write them) is kwok's endpoint.
		"--node-ip", kubeletIP, "--node-port", fmt.Sprint(s.Ports["kubelet"]), "--server-address", kubelet,
		"--tls-cert-file", p.KubeletServingCert, "--tls-private-key-file", p.KubeletServing,
		// Pods' logs come from kwok Logs objects (SetPodLogs), the default from --config.
		"--enable-crds", "Logs",
	}, "http://"+kubelet+"/healthz")
}

// concatYAML writes the YAML files as one multi-document file.
func concatYAML(out string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(data)
		if !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
	}
	return os.WriteFile(out, []byte(b.String()), 0o600)
}

// waitHTTP waits until url answers 200.
func (s *Sandbox) waitHTTP(ctx context.Context, component, url string) error {
	return s.wait(ctx, component+" to answer "+url, func(ctx context.Context) error { return getOK(ctx, url) }, component)
}

func getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// wait polls fn until it succeeds, the timeout passes, or one of the components exits.
func (s *Sandbox) wait(ctx context.Context, what string, fn func(context.Context) error, components ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	start := time.Now()
	lastSay := start
	var last error
	for {
		for _, c := range components {
			if err := s.died(c); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		if last = fn(ctx); last == nil {
			return nil
		}
		if time.Since(lastSay) > 15*time.Second {
			s.say("still waiting for %s (%s): %v", what, time.Since(start).Round(time.Second), last)
			lastSay = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for %s: %v; logs in %s", s.opts.Timeout, what, last, s.path("logs"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
