package runbook

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
)

// serviceAccountDir is where the kubelet mounts a pod's ServiceAccount token, CA bundle and
// namespace: what an in-cluster Kubernetes client reads.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// inClusterConfigLines are what Kubernetes clients say when they cannot load their in-cluster
// configuration: the token or CA file is absent, or the service address is unknown. A missing
// file under serviceAccountDir that the line names (open ...: no such file or directory) is
// found by path, whatever the client's words (see missingServiceAccountFile).
var inClusterConfigLines = []*regexp.Regexp{
	// client-go rest.InClusterConfig
	regexp.MustCompile(`unable to load in-cluster configuration`),
	// the Python client (kubernetes.config.incluster_config)
	regexp.MustCompile(`Service host/port is not set|Service token file does not (?:exist|exists)|Service certification file does not exist|Cannot read service account token`),
	// fabric8 and the official Java client, kubectl inside a pod
	regexp.MustCompile(`(?i)(?:could not (?:read|find|load) (?:the )?service ?account token|serviceaccount/token \(no such file or directory\)|in-cluster configuration (?:is )?not (?:found|available))`),
}

// missingFile finds "open PATH: no such file or directory" (and the other runtimes' ways of
// saying that a path does not exist) to tell a missing file from one it could not parse.
var missingFile = regexp.MustCompile(`(?i)no such file or directory|does not exist|not found|ENOENT|FileNotFoundError|NoSuchFileException`)

// tokenNotMounted looks among the failure's lines for an in-cluster client that finds no
// ServiceAccount token (a file under serviceAccountDir that does not exist, or the client's own
// word that it cannot load its in-cluster configuration) and, when the pod is not given one,
// names why: the ServiceAccount's or the pod template's automountServiceAccountToken: false, or a
// volume the container mounts over the token's directory. Nil when no line says so or the token
// is mounted (the cause is then elsewhere).
//
// The tools may hide automountServiceAccountToken's value (its name ends in Token, which the
// redaction of credentials blanks): a value seen as hidden is taken as false when the failing pod
// mounts no token (podHasToken), or, without the pod to read, when the line names a missing file
// of the token's directory — a pod given the token has it there.
func (inv *investigation) tokenNotMounted(lines []string, f contract.Finding, pod string) *contract.Cause {
	line, fileMissing := "", false
	for _, l := range lines {
		if missingServiceAccountFile(l) != "" {
			line, fileMissing = l, true
			break
		}
		if matchesAny(inClusterConfigLines, l) {
			line = l
			break
		}
	}
	if line == "" {
		return nil
	}
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return nil
	}
	kind, ns := parts[0], parts[1]
	text := inv.specText(kind, ns, parts[2])
	var spec struct {
		Automount          *string `yaml:"automountServiceAccountToken"`
		ServiceAccountName string  `yaml:"serviceAccountName"`
		ServiceAccount     string  `yaml:"serviceAccount"`
		Containers         []struct {
			Name         string `yaml:"name"`
			VolumeMounts []struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
		} `yaml:"containers"`
		Volumes []struct {
			Name      string `yaml:"name"`
			Projected *struct {
				Sources []struct {
					ServiceAccountToken *struct{} `yaml:"serviceAccountToken"`
				} `yaml:"sources"`
			} `yaml:"projected"`
		} `yaml:"volumes"`
	}
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return nil
	}
	prefix := templatePrefix(kind)
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = spec.ServiceAccount
	}
	if sa == "" {
		sa = "default"
	}
	fix := fmt.Sprintf("set automountServiceAccountToken: true on the pod template of %s (or on ServiceAccount %s/%s), or mount a projected serviceAccountToken volume at %s; restarting cannot help", owner, ns, sa, serviceAccountDir)
	c := &contract.Cause{Category: contract.ApplicationConfig, Evidence: []string{line}, Fix: &contract.Fix{Text: fix}}
	// A volume of the container's own at (or above) the token's directory hides what the kubelet
	// mounts there, unless it is a projected token itself.
	for _, ct := range spec.Containers {
		if f.Container != "" && ct.Name != f.Container {
			continue
		}
		for _, m := range ct.VolumeMounts {
			mp := path.Clean(m.MountPath)
			if mp != serviceAccountDir && !strings.HasPrefix(serviceAccountDir, mp+"/") {
				continue
			}
			projectsToken := false
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.Projected != nil {
					for _, s := range v.Projected.Sources {
						projectsToken = projectsToken || s.ServiceAccountToken != nil
					}
				}
			}
			if projectsToken {
				return nil // the token is there, under the pod's own volume
			}
			c.Object, c.Field = owner, fmt.Sprintf("%scontainers[%s].volumeMounts[%s]", prefix, ct.Name, m.Name)
			c.Summary = fmt.Sprintf("container %s mounts volume %s at %s, which hides the ServiceAccount token the kubelet mounts at %s, so its Kubernetes client cannot authenticate", ct.Name, m.Name, m.MountPath, serviceAccountDir)
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: volumeMount %s at %s", ct.Name, m.Name, m.MountPath))
			c.Fix.Text = fmt.Sprintf("mount volume %s elsewhere than %s, or project a serviceAccountToken into it; restarting cannot help", m.Name, m.MountPath)
			return c
		}
	}
	for _, v := range spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					return nil // a token the pod projects itself
				}
			}
		}
	}
	// hidden: what a value the tools blank stands for (see above)
	hidden := func() string {
		if has, read := inv.podHasToken(ns, pod); read {
			if has {
				return "true"
			}
			c.Evidence = append(c.Evidence, fmt.Sprintf("pod %s mounts no ServiceAccount token (no projected serviceAccountToken volume at %s)", pod, serviceAccountDir))
			return "false"
		}
		if fileMissing {
			return "false"
		}
		return ""
	}
	switch boolValue(spec.Automount, hidden) {
	case "false":
		c.Object, c.Field = owner, prefix+"automountServiceAccountToken"
		c.Summary = fmt.Sprintf("the pod template sets automountServiceAccountToken: false, so no ServiceAccount token is mounted at %s and the container's Kubernetes client cannot authenticate", serviceAccountDir)
		c.Evidence = append(c.Evidence, prefix+"automountServiceAccountToken: false")
		return c
	case "true":
		return nil // the pod asks for the token whatever its ServiceAccount says
	case "hidden":
		return nil // set, but to what cannot be told
	}
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": "serviceaccount", "namespace": ns, "name": sa}, &o) {
		return nil
	}
	var obj struct {
		Automount *string `yaml:"automountServiceAccountToken"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &obj) != nil || boolValue(obj.Automount, hidden) != "false" {
		return nil
	}
	c.Object, c.Field = fmt.Sprintf("serviceaccount/%s/%s", ns, sa), "automountServiceAccountToken"
	c.Summary = fmt.Sprintf("ServiceAccount %s sets automountServiceAccountToken: false and the pod template of %s does not set it, so no token is mounted at %s and the container's Kubernetes client cannot authenticate", sa, owner, serviceAccountDir)
	c.Evidence = append(c.Evidence, fmt.Sprintf("serviceaccount/%s/%s: automountServiceAccountToken: false; the pod template leaves it unset", ns, sa))
	return c
}

// boolValue reads a boolean field as the tools give it: "true", "false", "" when unset, or, for a
// value they blank, what hidden says it stands for ("hidden" when it cannot tell).
func boolValue(v *string, hidden func() string) string {
	switch {
	case v == nil:
		return ""
	case strings.EqualFold(*v, "true") || strings.EqualFold(*v, "false"):
		return strings.ToLower(*v)
	}
	if h := hidden(); h != "" {
		return h
	}
	return "hidden"
}

// podHasToken says whether pod ns/name mounts a ServiceAccount token (a projected volume with a
// serviceAccountToken source, as the kubelet's kube-api-access-* volume is); read is false when
// the pod cannot be read.
func (inv *investigation) podHasToken(ns, name string) (has, read bool) {
	if name == "" {
		return false, false
	}
	var o contract.ObjectYAML
	if _, ok := inv.where["resource_get"]; !ok || !inv.callData("resource_get", map[string]any{"kind": "pod", "namespace": ns, "name": name}, &o) {
		return false, false
	}
	var pod struct {
		Spec struct {
			Volumes []struct {
				Projected *struct {
					Sources []struct {
						ServiceAccountToken *struct{} `yaml:"serviceAccountToken"`
					} `yaml:"sources"`
				} `yaml:"projected"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &pod) != nil {
		return false, false
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					return true, true
				}
			}
		}
	}
	return false, true
}

// missingServiceAccountFile is the file under serviceAccountDir that line says does not exist
// ("" when it names none): a path under a mount the pod does not have.
func missingServiceAccountFile(line string) string {
	if !missingFile.MatchString(line) {
		return ""
	}
	for _, p := range pathsIn(line) {
		if p = path.Clean(p); p == serviceAccountDir || strings.HasPrefix(p, serviceAccountDir+"/") {
			return p
		}
	}
	return ""
}

// templatePrefix is where the pod spec lies in an object of kind: spec. for a pod, the Job
// template's pod template for a CronJob, spec.template.spec. for the other workloads.
func templatePrefix(kind string) string {
	switch kind {
	case "pod":
		return "spec."
	case "cronjob":
		return "spec.jobTemplate.spec.template.spec."
	}
	return "spec.template.spec."
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// notGiven is the cause when the failure's lines say the container lacks what the pod spec does
// not give it: a ServiceAccount token (tokenNotMounted), a GPU (noGPURequested). Nil otherwise.
func (inv *investigation) notGiven(lines []string, f contract.Finding, ctx knowledge.Context) *contract.Cause {
	if c := inv.tokenNotMounted(lines, f, ctx.Pod); c != nil {
		return c
	}
	return inv.noGPURequested(lines, f, ctx.Container)
}

// tokenWords are the words of a line about a rejected identity token rather than a password.
var tokenWords = regexp.MustCompile(`(?i)audience|\baud\b|IdentityToken|web ?identity|\bjwt\b|OpenIDConnect|service ?account token`)

// projectedToken names, for credentials an identity provider refuses in words of a token's
// audience or identity, the projected ServiceAccount token the pod presents: the volume, its
// audience and its path. It reports whether the pod has one (and the cause now names it).
func (inv *investigation) projectedToken(c *contract.Cause, f contract.Finding, line string) bool {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if c.Category != contract.CredentialsRejected || len(parts) != 3 || elsewhere(c.Object, owner) || !tokenWords.MatchString(line) {
		return false
	}
	var spec struct {
		Volumes []struct {
			Name      string `yaml:"name"`
			Projected *struct {
				Sources []struct {
					ServiceAccountToken *struct {
						Audience string `yaml:"audience"`
						Path     string `yaml:"path"`
					} `yaml:"serviceAccountToken"`
				} `yaml:"sources"`
			} `yaml:"projected"`
		} `yaml:"volumes"`
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return false
	}
	prefix := "spec.template.spec."
	if parts[0] == "pod" {
		prefix = "spec."
	}
	for _, v := range spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for i, src := range v.Projected.Sources {
			t := src.ServiceAccountToken
			if t == nil {
				continue
			}
			aud := t.Audience
			if aud == "" {
				aud = "the API server's own (none set)"
			} else {
				aud = fmt.Sprintf("%q", aud)
			}
			c.Field = fmt.Sprintf("%svolumes[%s].projected.sources[%d].serviceAccountToken.audience", prefix, v.Name, i)
			c.Summary = clip(fmt.Sprintf("%s; the pod presents the projected ServiceAccount token of volume %s (file %s), whose audience is %s", c.Summary, v.Name, t.Path, aud), 1000)
			c.Evidence = append(c.Evidence, fmt.Sprintf("volume %s: projected serviceAccountToken audience %s, path %s", v.Name, aud, t.Path))
			return true
		}
	}
	return false
}
