package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
)

// The GPU resources NVIDIA's device plugin advertises.
const (
	resGPU    corev1.ResourceName = "nvidia.com/gpu"
	migPrefix                     = "nvidia.com/mig-"
)

// isGPU reports whether r is a whole GPU, a MIG slice or a shared GPU.
func isGPU(r corev1.ResourceName) bool {
	return r == resGPU || strings.HasPrefix(string(r), migPrefix) || r == "nvidia.com/gpu.shared"
}

// resList holds amounts in milli-units (a CPU core is 1000; a byte is 1000; a GPU is 1000), so
// that every resource adds up exactly in int64.
type resList map[corev1.ResourceName]int64

func toResList(l corev1.ResourceList) resList {
	out := resList{}
	for r, q := range l {
		out[r] = q.MilliValue()
	}
	return out
}

func (l resList) add(o resList) {
	for r, v := range o {
		l[r] += v
	}
}

// names returns the resources with a non-zero amount, cpu and memory first, then by name.
func (l resList) names() []corev1.ResourceName {
	var out []corev1.ResourceName
	for r, v := range l {
		if v != 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, compareResources)
	return out
}

func compareResources(a, b corev1.ResourceName) int {
	rank := func(r corev1.ResourceName) int {
		switch {
		case isGPU(r):
			return 0
		case r == corev1.ResourceCPU:
			return 1
		case r == corev1.ResourceMemory:
			return 2
		}
		return 3
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(string(a), string(b))
}

// podRequests is what the scheduler counts a pod as requesting: for each resource the larger of
// its app containers' sum (with restartable init containers, the sidecars) and its largest init
// container, plus the pod overhead. Requests default to limits, as the API server defaults them.
func podRequests(spec *corev1.PodSpec) resList {
	want := func(c *corev1.Container) resList {
		out := toResList(c.Resources.Requests)
		for r, q := range c.Resources.Limits {
			if _, ok := out[r]; !ok {
				out[r] = q.MilliValue()
			}
		}
		return out
	}
	sum := resList{}
	for i := range spec.Containers {
		sum.add(want(&spec.Containers[i]))
	}
	sidecars, initMax := resList{}, resList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		w := want(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.add(w) // runs beside the app containers, and beside later init containers
			continue
		}
		for r, v := range w {
			initMax[r] = max(initMax[r], v+sidecars[r])
		}
	}
	sum.add(sidecars)
	for r, v := range initMax {
		sum[r] = max(sum[r], v)
	}
	sum.add(toResList(spec.Overhead))
	for r, v := range sum {
		if v == 0 {
			delete(sum, r)
		}
	}
	return sum
}

// terminated reports whether a pod holds no resources any more.
func terminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func priorityOf(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// qty renders an amount of r in milli-units as a person writes it: cpu "500m" or "4", memory
// "16Gi", a GPU "8".
func qty(r corev1.ResourceName, milli int64) string {
	switch {
	case r == corev1.ResourceCPU:
		if milli%1000 == 0 {
			return strconv.FormatInt(milli/1000, 10)
		}
		return strconv.FormatInt(milli, 10) + "m"
	case r == corev1.ResourceMemory || r == corev1.ResourceEphemeralStorage || strings.HasPrefix(string(r), corev1.ResourceHugePagesPrefix):
		b := milli / 1000
		for _, u := range []struct {
			s string
			n int64
		}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
			if b >= u.n && b%u.n == 0 {
				return strconv.FormatInt(b/u.n, 10) + u.s
			}
		}
		if b >= 1<<30 {
			return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "Gi"
		}
		if b >= 1<<20 {
			return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "Mi"
		}
		return strconv.FormatInt(b, 10)
	}
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return apiresource.NewMilliQuantity(milli, apiresource.DecimalSI).String()
}

// shortRes names a resource in a table cell.
func shortRes(r corev1.ResourceName) string {
	return strings.TrimPrefix(string(r), "nvidia.com/")
}

// reqSummary renders a request list: "nvidia.com/gpu 8, cpu 16, memory 64Gi".
func reqSummary(l resList) string {
	var parts []string
	for _, r := range l.names() {
		parts = append(parts, fmt.Sprintf("%s %s", r, qty(r, l[r])))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// wholeUnits reports whether r is counted in whole units (devices): anything but cpu, memory,
// storage and hugepages.
func wholeUnits(r corev1.ResourceName) bool {
	switch {
	case r == corev1.ResourceCPU, r == corev1.ResourceMemory, r == corev1.ResourceEphemeralStorage,
		strings.HasPrefix(string(r), corev1.ResourceHugePagesPrefix):
		return false
	}
	return true
}
