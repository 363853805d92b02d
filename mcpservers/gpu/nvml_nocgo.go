//go:build !cgo

package gpu

// ErrNoCgo says this binary cannot load NVML.
var ErrNoCgo = errorString("this opsmesh binary was built without cgo, so NVML (and simulated GPUs, which use go-nvml) are unavailable: build it with CGO_ENABLED=1")

type errorString string

func (e errorString) Error() string { return string(e) }
