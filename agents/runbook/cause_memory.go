package runbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/opsmesh/opsmesh/api/contract"
)

// runtimeMemory reads a language runtime's own memory budget from a setting: the Go runtime's
// GOMEMLIMIT, the JVM's -Xmx, Node.js's --max-old-space-size (MiB). A runtime told it may hold
// more than the container's limit grows past it and is killed there (OOMKilled) before it
// collects; GOGC=off without a GOMEMLIMIT below the limit never collects at all.
var (
	goMemLimit   = regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?\s*$`)
	jvmXmx       = regexp.MustCompile(`(?:^|\s)-Xmx(\d+)([kKmMgGtT]?)\b`)
	nodeOldSpace = regexp.MustCompile(`--max-old-space-size=(\d+)\b`)
)

// setting is one value a container is given, and where: its env (inline, or a ConfigMap's key),
// or its command line.
type setting struct {
	name, value string
	configMap   string // the ConfigMap it comes from ("" when inline or an argument)
	key         string // its key there
}

// runtimeMemoryCause names the setting that lets a container's runtime outgrow its memory limit
// (limit, as the finding quotes it) — GOMEMLIMIT above it or GOGC=off, an -Xmx or a
// --max-old-space-size at or above it — in its env, the ConfigMaps it takes env from, or its
// arguments; nil when none does. The object at fault is that ConfigMap, or the workload's
// container setting.
func (inv *investigation) runtimeMemoryCause(f contract.Finding, list, container, limit string) *contract.Cause {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	lim, err := resource.ParseQuantity(limit)
	if len(parts) != 3 || err != nil || lim.Value() <= 0 {
		return nil
	}
	settings := inv.containerSettings(parts, list, container)
	var gogcOff *setting
	var goLimit int64 = -1
	for i, s := range settings {
		switch {
		case s.name == "GOGC" && strings.EqualFold(strings.TrimSpace(s.value), "off"):
			gogcOff = &settings[i]
		case s.name == "GOMEMLIMIT":
			if m := goMemLimit.FindStringSubmatch(s.value); m != nil {
				n, _ := strconv.ParseFloat(m[1], 64)
				goLimit = int64(n * float64(map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]))
				if goLimit > lim.Value() {
					return inv.memoryCause(f, parts, list, container, s, limit, fmt.Sprintf("GOMEMLIMIT=%s tells the Go runtime it may hold %s, above the container's memory limit of %s, so it does not collect before the kernel kills it at the limit%s",
						strings.TrimSpace(s.value), strings.TrimSpace(s.value), limit, gogcNote(gogcOff)))
				}
			}
		}
		if m := jvmXmx.FindStringSubmatch(s.value); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			n *= map[string]int64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(m[2])]
			if n >= lim.Value() {
				return inv.memoryCause(f, parts, list, container, s, limit, fmt.Sprintf("-Xmx%s%s gives the JVM a heap as large as the container's memory limit of %s or larger, with no room for its off-heap memory, so the kernel kills it at the limit", m[1], m[2], limit))
			}
		}
		if m := nodeOldSpace.FindStringSubmatch(s.value); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if n<<20 >= lim.Value() {
				return inv.memoryCause(f, parts, list, container, s, limit, fmt.Sprintf("--max-old-space-size=%s lets Node.js grow its heap to %s MiB, as large as the container's memory limit of %s or larger, so the kernel kills it at the limit", m[1], m[1], limit))
			}
		}
	}
	if gogcOff != nil && (goLimit < 0 || goLimit > lim.Value()) {
		return inv.memoryCause(f, parts, list, container, *gogcOff, limit, fmt.Sprintf("GOGC=off turns the Go garbage collector off and no GOMEMLIMIT below the container's memory limit of %s brings it back, so the heap only grows until the kernel kills it at the limit", limit))
	}
	return nil
}

func gogcNote(off *setting) string {
	if off == nil {
		return ""
	}
	return " (and GOGC=off leaves GOMEMLIMIT as the only trigger of a collection)"
}

// memoryCause is the cause runtimeMemoryCause names: setting s, where it comes from.
func (inv *investigation) memoryCause(f contract.Finding, parts []string, list, container string, s setting, limit, summary string) *contract.Cause {
	prefix := "spec.template.spec."
	if parts[0] == "pod" {
		prefix = "spec."
	}
	c := &contract.Cause{Category: contract.ApplicationConfig, Object: ownerOf(f), Summary: summary}
	switch {
	case s.configMap != "":
		c.Object, c.Field = fmt.Sprintf("configmap/%s/%s", parts[1], s.configMap), fmt.Sprintf("data[%s]", s.key)
		c.Summary += fmt.Sprintf("; %s comes from key %s of ConfigMap %s", s.name, s.key, s.configMap)
		c.Evidence = []string{fmt.Sprintf("ConfigMap %s: %s: %s", s.configMap, s.key, clip(s.value, 200))}
	case s.name == "args" || s.name == "command":
		c.Field = fmt.Sprintf("%s%s[%s].%s", prefix, list, container, s.name)
		c.Evidence = []string{fmt.Sprintf("%s: %s %s", container, s.name, clip(s.value, 200))}
	default:
		c.Field = fmt.Sprintf("%s%s[%s].env[%s]", prefix, list, container, s.name)
		c.Evidence = []string{fmt.Sprintf("%s: env %s=%s", container, s.name, clip(s.value, 200))}
	}
	c.Evidence = append(c.Evidence, fmt.Sprintf("%s%s[%s].resources.limits.memory: %s", prefix, list, container, limit))
	c.Fix = &contract.Fix{Text: fmt.Sprintf("set the runtime's budget below the memory limit of %s (GOMEMLIMIT about 90%% of it, -Xmx or MaxRAMPercentage leaving room for off-heap memory), or raise the limit above it; raising the limit alone leaves the runtime free to grow again", limit)}
	return c
}

// containerSettings are the settings container (of list: containers or initContainers) of
// workload parts is given: its env entries (inline values, ConfigMap keys) and its arguments,
// env values before the ConfigMaps of its envFrom. A Secret's values are never read.
func (inv *investigation) containerSettings(parts []string, list, container string) []setting {
	spec, ok := inv.containersSpec(parts)
	if !ok {
		return nil
	}
	all := spec.Containers
	if list == "initContainers" {
		all = spec.InitContainers
	}
	var out []setting
	for _, ct := range all {
		if ct.Name != container {
			continue
		}
		for _, e := range ct.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
				r := e.ValueFrom.ConfigMapKeyRef
				if data, ok := inv.configMapData(parts[1], r.Name); ok {
					if v, ok := data[r.Key]; ok {
						out = append(out, setting{name: e.Name, value: v, configMap: r.Name, key: r.Key})
					}
				}
			case e.ValueFrom == nil:
				out = append(out, setting{name: e.Name, value: e.Value})
			}
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef == nil {
				continue
			}
			data, _ := inv.configMapData(parts[1], ef.ConfigMapRef.Name)
			for _, k := range slices.Sorted(maps.Keys(data)) {
				out = append(out, setting{name: ef.Prefix + k, value: data[k], configMap: ef.ConfigMapRef.Name, key: k})
			}
		}
		if len(ct.Command) > 0 {
			out = append(out, setting{name: "command", value: strings.Join(ct.Command, " ")})
		}
		if len(ct.Args) > 0 {
			out = append(out, setting{name: "args", value: strings.Join(ct.Args, " ")})
		}
	}
	return out
}

// oomCause is the cause of an OOMKilled finding nothing more precise explained: a runtime told it
// may hold more than its container's limit (runtimeMemoryCause), else the limit itself.
func (inv *investigation) oomCause(f contract.Finding) *contract.Cause {
	c := memoryLimitCause(f)
	if c == nil {
		return nil
	}
	for _, e := range f.Evidence {
		if m := oomLimit.FindStringSubmatch(e); m != nil {
			if rc := inv.runtimeMemoryCause(f, m[1], m[2], m[3]); rc != nil {
				rc.Summary = fmt.Sprintf("container %s is killed (OOMKilled, exit 137) at its memory limit of %s: %s", m[2], m[3], rc.Summary)
				return rc
			}
			break
		}
	}
	return c
}

// envContainer is what a container's spec says of the settings it is given: its command line,
// env entries and envFrom sources.
type envContainer struct {
	Name    string     `yaml:"name"`
	Command []string   `yaml:"command"`
	Args    []string   `yaml:"args"`
	Env     []envEntry `yaml:"env"`
	EnvFrom []struct {
		Prefix       string                 `yaml:"prefix"`
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
}

// envContainers are a pod spec's containers and init containers, as envContainer reads them.
type envContainers struct {
	Containers     []envContainer `yaml:"containers"`
	InitContainers []envContainer `yaml:"initContainers"`
}

// containersSpec reads the containers of workload parts (kind, ns, name); ok is false when its
// spec cannot be read.
func (inv *investigation) containersSpec(parts []string) (envContainers, bool) {
	var spec envContainers
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return envContainers{}, false
	}
	return spec, true
}
