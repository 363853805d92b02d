//go:build cgo

package simulate

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"time"
)

// Follow re-reads the fault file at path every interval until ctx ends and loads it into the
// node when its content changes (Load), so faults can be injected into a running simulated
// agent: a new XID in the file is reported, and published, as a new XID event. A file that
// cannot be read or parsed is logged and leaves the current faults as they are.
func (n *Node) Follow(ctx context.Context, path string, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The first tick loads the file as it is then, even if it changed between the node's New and
	// this goroutine's start (loading the faults the node already has changes nothing).
	var last []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			log.Warn("fault file unreadable; keeping the current faults", "faultFile", path, "error", err)
			continue
		}
		first := last == nil
		if !first && bytes.Equal(data, last) {
			continue
		}
		last = data
		f, err := ParseFaults(data, NodeGPUs)
		if err != nil {
			log.Warn("fault file refused; keeping the current faults", "faultFile", path, "error", err)
			continue
		}
		events, err := n.Load(f)
		if err != nil {
			log.Warn("fault file refused; keeping the current faults", "faultFile", path, "error", err)
			continue
		}
		codes := make([]int, 0, len(events))
		for _, e := range events {
			codes = append(codes, e.Code)
		}
		msg := "fault file reloaded (simulated GPUs)"
		if first {
			msg = "following the fault file (simulated GPUs)"
		}
		log.Info(msg, "faultFile", path, "gpus", len(f.GPUs), "newXIDs", len(events), "xidCodes", codes)
	}
}
