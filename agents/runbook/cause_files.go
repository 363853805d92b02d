package runbook

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
)

// absPath finds absolute file paths in a line: after a start, a space, a quote, '=' or ':'.
var absPath = regexp.MustCompile(`(?:^|[\s"'=(\[,])(/(?:[A-Za-z0-9._@+-]+/)*[A-Za-z0-9._@+-]+)`)

// pathsIn are the absolute paths a text names, in order.
func pathsIn(s string) []string {
	var out []string
	for _, m := range absPath.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// podFiles is what a pod template says about where its files come from.
type podFiles struct {
	Containers     []fileContainer `yaml:"containers"`
	InitContainers []fileContainer `yaml:"initContainers"`
	Volumes        []struct {
		Name      string          `yaml:"name"`
		ConfigMap *sourceProjects `yaml:"configMap"`
		Secret    *sourceProjects `yaml:"secret"`
		Projected *struct {
			Sources []struct {
				ConfigMap *sourceProjects `yaml:"configMap"`
				Secret    *sourceProjects `yaml:"secret"`
			} `yaml:"sources"`
		} `yaml:"projected"`
	} `yaml:"volumes"`
}

// fileContainer is what a container says about the files it reads: its command line, env values
// and mounts.
type fileContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Value string `yaml:"value"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

// all are the pod's containers and init containers (an init container that renders a
// configuration fails on its files as an application does).
func (pf podFiles) all() []fileContainer { return slices.Concat(pf.Containers, pf.InitContainers) }

// sourceProjects is a ConfigMap or Secret volume source: its object and the keys it projects.
type sourceProjects struct {
	Name       string `yaml:"name"`
	SecretName string `yaml:"secretName"`
	Items      []struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	} `yaml:"items"`
}

// configMapsOf are the ConfigMaps volume name gives its files: its own, or a projected volume's.
func (pf podFiles) configMapsOf(name string) []string {
	var out []string
	for _, v := range pf.Volumes {
		if v.Name != name {
			continue
		}
		if v.ConfigMap != nil && v.ConfigMap.Name != "" {
			out = append(out, v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil && src.ConfigMap.Name != "" {
					out = append(out, src.ConfigMap.Name)
				}
			}
		}
	}
	return out
}

// mountedHolding finds, among the ConfigMap volumes the container mounts (in namespace ns), the
// key whose value holds token: the file the container reads it from. A Secret's values are never
// read.
func (inv *investigation) mountedHolding(pf podFiles, container, ns, token string) (fileSource, bool) {
	for _, src := range inv.mountedConfigMaps(pf, container, ns) {
		data, _ := inv.configMapData(ns, src.name)
		for _, k := range slices.Sorted(maps.Keys(data)) {
			if (src.key != "" && src.key != k) || !strings.Contains(data[k], token) {
				continue
			}
			if src.key == "" {
				src.key, src.file = k, path.Join(src.mountPath, k)
			}
			return src, true
		}
	}
	return fileSource{}, false
}

// configMapData reads the data of ConfigMap ns/name; ok is false when it cannot be read.
func (inv *investigation) configMapData(ns, name string) (map[string]string, bool) {
	return inv.objectData("configmap", ns, name)
}

// objectData is the data of ConfigMap or Secret ns/name (kind "configmap" or "secret") as
// resource_get gives it — a Secret's values redacted to their shape — with a ConfigMap's
// binaryData keys beside; ok is false when it cannot be read.
func (inv *investigation) objectData(kind, ns, name string) (map[string]string, bool) {
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": kind, "namespace": ns, "name": name}, &o) {
		return nil, false
	}
	var obj struct {
		Data       map[string]string `yaml:"data"`
		BinaryData map[string]string `yaml:"binaryData"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &obj) != nil {
		return nil, false
	}
	if obj.Data == nil {
		obj.Data = map[string]string{}
	}
	for k, v := range obj.BinaryData {
		obj.Data[k] = v
	}
	return obj.Data, true
}

// keysOf are the keys of ConfigMap or Secret ns/name (kind "configmap" or "secret"), sorted; read
// is false when it cannot be read. A Secret's values are never read here, only its keys.
func (inv *investigation) keysOf(kind, ns, name string) (keys []string, read bool) {
	data, ok := inv.objectData(kind, ns, name)
	if !ok {
		return nil, false
	}
	return slices.Sorted(maps.Keys(data)), true
}

// fileSource is the ConfigMap or Secret key a file in a container comes from.
type fileSource struct {
	kind, name, key, mountPath, file string
}

// word is the kind as a sentence names it: ConfigMap or Secret.
func (s fileSource) word() string {
	if s.kind == "secret" {
		return "Secret"
	}
	return "ConfigMap"
}

// sourceOf finds the ConfigMap or Secret key that the file p, as the container sees it, comes
// from: the volume mounted at the longest prefix of p, the key (or the item whose path) is the
// rest of p. ok is false for a path on any other volume or on none.
func (pf podFiles) sourceOf(container, p string) (fileSource, bool) {
	p = path.Clean(p)
	var best fileSource
	bestLen := -1
	for _, ct := range pf.all() {
		if container != "" && ct.Name != container {
			continue
		}
		for _, m := range ct.VolumeMounts {
			mp := path.Clean(m.MountPath)
			rel := ""
			switch {
			case p == mp && m.SubPath != "":
				rel = m.SubPath // a single key mounted as a file
			case strings.HasPrefix(p, mp+"/"):
				rel = strings.TrimPrefix(p, mp+"/")
				if m.SubPath != "" {
					rel = m.SubPath + "/" + rel
				}
			default:
				continue
			}
			if len(mp) <= bestLen {
				continue
			}
			if src, ok := pf.volumeKey(m.Name, rel); ok {
				src.mountPath, src.file = m.MountPath, p
				best, bestLen = src, len(mp)
			}
		}
	}
	return best, bestLen >= 0
}

// volumeKey is the ConfigMap or Secret key behind the relative path rel of volume name.
func (pf podFiles) volumeKey(name, rel string) (fileSource, bool) {
	for _, v := range pf.Volumes {
		if v.Name != name {
			continue
		}
		type src struct {
			kind string
			s    *sourceProjects
		}
		var srcs []src
		if v.ConfigMap != nil {
			srcs = append(srcs, src{"configmap", v.ConfigMap})
		}
		if v.Secret != nil {
			srcs = append(srcs, src{"secret", v.Secret})
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					srcs = append(srcs, src{"configmap", s.ConfigMap})
				}
				if s.Secret != nil {
					srcs = append(srcs, src{"secret", s.Secret})
				}
			}
		}
		for _, s := range srcs {
			obj := s.s.Name
			if s.kind == "secret" && s.s.SecretName != "" {
				obj = s.s.SecretName
			}
			if len(s.s.Items) > 0 {
				for _, it := range s.s.Items {
					if it.Path == rel {
						return fileSource{kind: s.kind, name: obj, key: it.Key}, true
					}
				}
				continue
			}
			// without items every key is a file named after it, at the top of the volume
			if !strings.Contains(rel, "/") && rel != "" {
				return fileSource{kind: s.kind, name: obj, key: rel}, true
			}
		}
	}
	return fileSource{}, false
}

// fileCauses are the cause categories a file the workload is given can carry: a configuration
// the application refuses, credentials or a trust bundle it cannot use, or a crash on reading it.
var fileCauses = map[string]bool{
	contract.ApplicationConfig:   true,
	contract.ApplicationError:    true,
	contract.CredentialsRejected: true,
}

// mountedSource follows a file the failure names (the signature's path, a path in its line or in
// the setting that carries it) to the ConfigMap or Secret key mounted there, which becomes the
// object at fault: a malformed routes.yaml is fixed in its ConfigMap, and a restart reads it
// again unchanged. When the failure names no file, and the cause is a configuration the
// application refuses, the one mounted ConfigMap or Secret file that the container's arguments,
// env values or log (others) name is taken. It reports whether it moved the cause.
//
// Failing both, token — the setting the program refuses — is looked for in the files the
// container mounts from ConfigMaps: the one that holds it is the source.
func (inv *investigation) mountedSource(c *contract.Cause, f contract.Finding, named, others []string, token string) bool {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if len(parts) != 3 || !fileCauses[c.Category] || elsewhere(c.Object, owner) {
		return false
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	var pf podFiles
	if text == "" || yaml.Unmarshal([]byte(text), &pf) != nil || len(pf.Volumes) == 0 {
		return false
	}
	pick := func(paths []string) (fileSource, bool) {
		for _, p := range paths {
			if src, ok := pf.sourceOf(f.Container, p); ok {
				return src, true
			}
		}
		return fileSource{}, false
	}
	src, ok := pick(named)
	if !ok && c.Category == contract.ApplicationConfig {
		for _, ct := range pf.all() {
			if f.Container == "" || ct.Name == f.Container {
				for _, a := range slices.Concat(ct.Command, ct.Args) {
					others = append(others, pathsIn(a)...)
				}
				for _, e := range ct.Env {
					others = append(others, pathsIn(e.Value)...)
				}
			}
		}
		// no file named by the failure: the one mounted ConfigMap or Secret file the
		// container is pointed at (several leave it open)
		var found []fileSource
		for _, p := range others {
			if s, ok := pf.sourceOf(f.Container, p); ok && !slices.ContainsFunc(found, func(x fileSource) bool { return x.kind == s.kind && x.name == s.name && x.key == s.key }) {
				found = append(found, s)
			}
		}
		if len(found) == 1 {
			src, ok = found[0], true
		}
	}
	if !ok && len(token) >= 3 {
		// no file named at all: the mounted ConfigMap file that holds the setting the program
		// refuses (query_cache_type in a my.cnf under conf.d, a value in a bootstrap YAML)
		src, ok = inv.mountedHolding(pf, f.Container, parts[1], token)
	}
	if !ok {
		return false
	}
	word := src.word()
	if keys, read := inv.keysOf(src.kind, parts[1], src.name); read && !slices.Contains(keys, src.key) {
		// the file would be that key, and the object has no such key: the program opens a
		// name the mount does not give (config.yaml where the key is config.yml)
		c.Category = contract.ApplicationConfig
		c.Object, c.Field = fmt.Sprintf("%s/%s/%s", src.kind, parts[1], src.name), "data"
		there := "it has no keys"
		if len(keys) > 0 {
			there = "its keys: " + strings.Join(keys[:min(len(keys), 10)], ", ")
		}
		c.Summary = clip(fmt.Sprintf("%s; %s would be key %s of %s %s (mounted at %s), which has no such key (%s): the file the program opens is not there", c.Summary, src.file, src.key, word, src.name, src.mountPath, there), 1000)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s is mounted at %s; %s", word, src.name, src.mountPath, there))
		c.Fix = &contract.Fix{Text: fmt.Sprintf("name the key %s in %s %s (or point the program at the file the key gives)", src.key, word, src.name)}
		return true
	}
	if c.Category == contract.ApplicationError {
		// the application fails on what it reads from the file: the file is at fault
		c.Category = contract.ApplicationConfig
	}
	c.Object, c.Field = fmt.Sprintf("%s/%s/%s", src.kind, parts[1], src.name), fmt.Sprintf("data[%s]", src.key)
	c.Summary = clip(fmt.Sprintf("%s; %s is key %s of %s %s (mounted at %s): fix it there", c.Summary, src.file, src.key, word, src.name, src.mountPath), 1000)
	c.Evidence = append(c.Evidence, fmt.Sprintf("%s is mounted from %s %s key %s", src.file, word, src.name, src.key))
	if c.Fix != nil && c.Fix.Tool != "" {
		c.Fix = &contract.Fix{Text: fmt.Sprintf("correct key %s of %s %s; the pods read it again when they restart", src.key, word, src.name)}
	}
	return true
}

// revisionNote adds what the workload's latest revision changed (the analyzer's "the latest
// revision (N) changed container C: ..." evidence) to a cause in the workload itself: a crash
// that began with a revision is explained by what that revision brought, whether or not the
// signature could say which setting it was.
func revisionNote(c *contract.Cause, f contract.Finding) {
	if !elsewhere(c.Object, ownerOf(f)) {
		c.Summary = withRevision(c.Summary, f)
	}
}

// withRevision is summary and, when the finding's evidence says what the latest revision
// changed, "; it began with the latest revision (N), which changed ...".
func withRevision(summary string, f contract.Finding) string {
	for _, e := range f.Evidence {
		if strings.HasPrefix(e, "the latest revision") && strings.Contains(e, " changed ") {
			if strings.Contains(summary, e) {
				return summary
			}
			return clip(summary+"; it began with "+strings.Replace(e, " changed ", ", which changed ", 1), 1000)
		}
	}
	return summary
}

// latestImageNote says, of an application's own failure (ApplicationError or ApplicationConfig
// in the workload itself) whose container runs a moving tag (":latest", or no tag, which means
// latest), that each new pod may pull another version than the one that worked — unless the
// revision note already says what image changed.
func (inv *investigation) latestImageNote(c *contract.Cause, f contract.Finding) {
	if (c.Category != contract.ApplicationError && c.Category != contract.ApplicationConfig) || elsewhere(c.Object, ownerOf(f)) {
		return
	}
	if phrase, ev := inv.latestImage(c.Summary, f); phrase != "" {
		c.Summary = clip(c.Summary+phrase, 1000)
		c.Evidence = append(c.Evidence, ev)
	}
}

// latestImage is "; its image X uses the moving tag latest, ..." when the failing container of
// f's workload runs ":latest" or an untagged image and summary does not already say what image
// changed, with its evidence; "" otherwise.
func (inv *investigation) latestImage(summary string, f contract.Finding) (string, string) {
	owner := ownerOf(f)
	if strings.Contains(summary, "image ") {
		return "", ""
	}
	image := inv.imageOf(owner, f.Container)
	if image == "" || strings.Contains(image, "@") {
		return "", ""
	}
	name := image
	if i := strings.LastIndexByte(image, '/'); i >= 0 {
		name = image[i+1:]
	}
	_, tag, _ := strings.Cut(name, ":")
	switch tag {
	case "latest":
		return fmt.Sprintf("; its image %s uses the moving tag latest, so a new pod may have pulled another version than the one that worked (pin a version or a digest)", image),
			fmt.Sprintf("%s: container image %s", owner, image)
	case "":
		return fmt.Sprintf("; its image %s has no tag (it means latest, a moving tag), so a new pod may have pulled another version than the one that worked (pin a version or a digest)", image),
			fmt.Sprintf("%s: container image %s", owner, image)
	}
	return "", ""
}

// imageOf is the image of the container (by name; the only one when name is empty) of owner's
// pod template, "" when unknown.
func (inv *investigation) imageOf(owner, container string) string {
	ct, _ := inv.containerOf(owner, container)
	return ct.Image
}

// hitPattern is the runbook's pattern of the settings that govern its failure (nil when none).
func hitPattern(h knowledge.Hit) *regexp.Regexp { return h.SettingPattern() }

// namedInFile says where the workload names what a check found at fault in another object (a
// Service that does not exist, a port it lacks) when no env value or argument carries it: the
// mounted ConfigMap or Secret file the failure's line names ("... in
// /etc/nginx/conf.d/default.conf:15"). The object at fault stays the check's.
func (inv *investigation) namedInFile(c *contract.Cause, f contract.Finding, line string) {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 {
		return
	}
	paths := pathsIn(line)
	if len(paths) == 0 {
		return
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	var pf podFiles
	if text == "" || yaml.Unmarshal([]byte(text), &pf) != nil {
		return
	}
	for _, p := range paths {
		src, ok := pf.sourceOf(f.Container, strings.TrimRight(p, ":0123456789"))
		if !ok {
			continue
		}
		word := src.word()
		c.Summary = clip(fmt.Sprintf("%s; the workload names it in %s, key %s of %s %s (mounted at %s)", c.Summary, src.file, src.key, word, src.name, src.mountPath), 1000)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s is mounted from %s %s key %s", src.file, word, src.name, src.key))
		return
	}
}
