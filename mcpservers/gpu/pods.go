package gpu

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// CgroupPods maps a process to its pod from /proc/<pid>/cgroup: the kubelet puts each pod in a
// cgroup named for its UID, and each container in one named for its container ID.
type CgroupPods struct {
	// Root is the proc file system, /proc.
	Root string
}

var (
	podUID      = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)
	containerID = regexp.MustCompile(`([0-9a-f]{64})(?:\.scope)?$`)
)

// PodOf returns "uid <pod UID>" and the container ID's first 12 characters.
func (c CgroupPods) PodOf(pid uint32) (string, string, bool) {
	f, err := os.Open(filepath.Join(c.Root, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		m := podUID.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, "kubepods") {
			continue
		}
		uid := strings.ReplaceAll(m[1], "_", "-")
		container := "unknown container"
		if cm := containerID.FindStringSubmatch(line); cm != nil {
			container = cm[1][:12]
		}
		return "uid " + uid, container, true
	}
	return "", "", false
}
