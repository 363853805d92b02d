package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/api/contract"
)

// noDeviceLines are what CUDA programs say when the container is given no GPU: the CUDA runtime
// and driver API, PyTorch, TensorFlow, JAX, nvidia-smi and NVML. A driver/library version
// mismatch is left out: that is the node's driver, not a missing request.
var noDeviceLines = []*regexp.Regexp{
	regexp.MustCompile(`(?i)no CUDA-capable device is detected|cudaErrorNoDevice|CUDA_ERROR_NO_DEVICE`),
	regexp.MustCompile(`(?i)CUDA driver initialization failed|cuInit(?:\(\))? (?:failed|returned)|CUDA_ERROR_NOT_INITIALIZED|cudaErrorInitializationError`),
	regexp.MustCompile(`(?i)Found no NVIDIA driver on your system|torch\.cuda\.is_available\(\) (?:is|returned) False|CUDA is not available|No CUDA GPUs are available|no GPU(?:s)? (?:found|detected|available)`),
	regexp.MustCompile(`(?i)failed call to cuInit|Could not find cuda drivers on your machine|Unable to initialize backend 'cuda'|CUDA backend failed to initialize`),
	regexp.MustCompile(`(?i)NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver|NVML_ERROR_LIBRARY_NOT_FOUND|libnvidia-ml\.so\.1: cannot open shared object file|libcuda\.so\.1: cannot open shared object file`),
}

// notNoDevice are lines that look like noDeviceLines but say the node's driver is at fault.
var notNoDevice = regexp.MustCompile(`(?i)Driver/library version mismatch|driver version is insufficient|too old`)

// gpuResource says whether a resource name gives the container a GPU or a slice of one:
// nvidia.com/gpu, amd.com/gpu, a shared or renamed one (nvidia.com/gpu.shared), a MIG profile
// (nvidia.com/mig-1g.10gb).
func gpuResource(name string) bool {
	_, r, ok := strings.Cut(name, "/")
	return ok && (r == "gpu" || strings.HasPrefix(r, "gpu.") || strings.HasSuffix(r, "-gpu") || strings.HasPrefix(r, "mig-"))
}

// noGPURequested looks among the failure's lines for a CUDA program that finds no GPU and, when
// the failing container requests none (no resource named like a GPU or a MIG slice), names the
// request it lacks: the device plugin gives a container only the GPUs it asks for. Nil when no
// line says so or the container requests a GPU (the node or the driver is then at fault).
func (inv *investigation) noGPURequested(lines []string, f contract.Finding, container string) *contract.Cause {
	line := ""
	for _, l := range lines {
		if matchesAny(noDeviceLines, l) && !notNoDevice.MatchString(l) {
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
	name, gpus, ok := inv.gpuRequests(owner, container)
	if !ok || len(gpus) > 0 {
		return nil
	}
	ct := struct{ Name string }{name}
	field := fmt.Sprintf("%scontainers[%s].resources.limits[nvidia.com/gpu]", templatePrefix(parts[0]), ct.Name)
	return &contract.Cause{
		Category: contract.ApplicationConfig, Object: owner, Field: field,
		Summary:  fmt.Sprintf("container %s requests no GPU, so none is given to it; its CUDA runtime finds no device", ct.Name),
		Evidence: []string{line, fmt.Sprintf("%s: resources request no nvidia.com/gpu (nor any GPU or MIG resource)", ct.Name)},
		Fix:      &contract.Fix{Text: fmt.Sprintf(`add resources.limits["nvidia.com/gpu"] (or the MIG profile the cluster offers) to container %s of %s; restarting without it cannot help`, ct.Name, owner)},
	}
}

// specContainer is one container of a workload's pod template, as far as the engine reads it.
type specContainer struct {
	Name      string `yaml:"name"`
	Image     string `yaml:"image"`
	Resources struct {
		Limits   map[string]any `yaml:"limits"`
		Requests map[string]any `yaml:"requests"`
	} `yaml:"resources"`
}

// containerOf reads the container (by name; the only one when name is empty) of owner's pod
// template; ok is false when the spec cannot be read or the container is unknown.
func (inv *investigation) containerOf(owner, container string) (specContainer, bool) {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return specContainer{}, false
	}
	var spec struct {
		Containers []specContainer `yaml:"containers"`
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil || len(spec.Containers) == 0 {
		return specContainer{}, false
	}
	i := slices.IndexFunc(spec.Containers, func(c specContainer) bool { return c.Name == container })
	if i < 0 {
		if container != "" || len(spec.Containers) > 1 {
			return specContainer{}, false // which container failed is unknown
		}
		i = 0
	}
	return spec.Containers[i], true
}

// gpuRequests returns the name of the container (by name; the only one when name is empty) of
// owner's pod template and the GPU resources it asks for ("nvidia.com/mig-1g.10gb: 1"), in
// order; ok is false when the spec cannot be read or the container is unknown.
func (inv *investigation) gpuRequests(owner, container string) (string, []string, bool) {
	ct, ok := inv.containerOf(owner, container)
	if !ok {
		return "", nil, false
	}
	seen := map[string]bool{}
	var out []string
	for _, list := range []map[string]any{ct.Resources.Limits, ct.Resources.Requests} {
		var names []string
		for n := range list {
			if gpuResource(n) && !seen[n] {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			seen[n] = true
			out = append(out, fmt.Sprintf("%s: %v", n, list[n]))
		}
	}
	return ct.Name, out, true
}
