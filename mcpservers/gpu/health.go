package gpu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xid"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (a *NodeAgent) healthTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "gpu_health",
			Description: "Per GPU a verdict (healthy, degraded, failed) and a recommended action (none, restart the application, reset the GPU, " +
				"drain and reboot the node, contact support / RMA) with the reason, from ECC errors, remapped rows, retired pages, " +
				"NVLink state and errors, XID events since the last reset (NVIDIA's XID catalog) and the driver's recovery action.",
			Effect: mcptool.Read,
			Params: append(selectParams(), outputParam()),
		}, a.gpuHealth),
		mcptool.NewData(mcptool.Spec{
			Name:        "xid_events",
			Description: "XID events the GPUs reported since the agent started, newest first, each with the XID catalog's verdict, action and reason.",
			Effect:      mcptool.Read,
			Params: append(selectParams(),
				mcp.WithInteger("limit", mcp.Description("most events to return (default 50)"), mcp.Min(1), mcp.Max(maxXIDs))),
		}, a.xidEvents),
	}
}

// assessment is a GPU's verdict, action and the reasons for them.
type assessment struct {
	verdict xid.Verdict
	action  xid.Action
	reasons []string
	xids    []int // XIDs among the reasons, in order
	// read is the evidence read from the GPU, for the structured content; nil when the GPU
	// could not be opened.
	read *contract.GPUHealthDetail
}

func (s *assessment) add(v xid.Verdict, act xid.Action, reason string) {
	s.verdict = max(s.verdict, v)
	s.action = max(s.action, act)
	s.reasons = append(s.reasons, reason)
}

func (s *assessment) addXID(e xid.Entry, prefix string) {
	if !slices.Contains(s.xids, e.Code) {
		s.xids = append(s.xids, e.Code)
	}
	s.add(e.Verdict, e.Action, fmt.Sprintf("%sXID %d (%s): %s", prefix, e.Code, e.Name, e.Reason))
}

func (a *NodeAgent) gpuHealth(_ context.Context, args outputArgs) (contract.GPUHealthReport, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.GPUHealthReport{}, "", err
	}
	out := contract.GPUHealthReport{Node: a.cfg.NodeName, GPUs: []contract.GPUHealth{}, Simulated: a.lib.Simulated()}
	var blocks []string
	counts := map[xid.Verdict]int{}
	for _, i := range idx {
		s, detail := a.assess(i)
		out.GPUs = append(out.GPUs, contract.GPUHealth{Index: i, UUID: detail[0], Verdict: s.verdict.String(), Action: s.action.String(), Reasons: s.reasons, XIDs: s.xids, Detail: s.read})
		counts[s.verdict]++
		head := fmt.Sprintf("GPU %d %s: %s; action: %s", i, detail[0], s.verdict, s.action)
		lines := append([]string{head}, detail[1:]...)
		for _, r := range s.reasons {
			lines = append(lines, "  reason: "+r)
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	if args.Output == "json" {
		text, err := asJSON(out)
		return out, text, err
	}
	summary := fmt.Sprintf("%d GPUs: %d healthy, %d degraded, %d failed\n", len(idx), counts[xid.Healthy], counts[xid.Degraded], counts[xid.Failed])
	return out, mcptool.Cap(summary+strings.Join(blocks, "\n")+"\n", a.cfg.MaxBytes), nil
}

// assess reads one GPU's health; detail[0] is its UUID, the rest are indented lines of evidence.
func (a *NodeAgent) assess(i int) (assessment, []string) {
	var s assessment
	d, err := a.lib.Device(i)
	if err != nil {
		s.add(xid.Failed, xid.DrainReboot, "NVML cannot open the GPU: "+err.Error())
		return s, []string{"?"}
	}
	uuid, err := d.UUID()
	s.read = &contract.GPUHealthDetail{}
	if errors.Is(err, ErrGPULost) {
		s.read.Lost = true
		s.addXID(xid.Lookup(79), "NVML reports the GPU lost, as for ")
		for _, e := range a.xidsOf(i, true) {
			if e.Code != 79 {
				s.addXID(xid.Lookup(e.Code), "")
			}
		}
		return s, []string{"(UUID unreadable)", "  state: lost, fell off the bus; every NVML call fails"}
	}
	detail := []string{value(err, "%s", uuid)}

	ecc, err := d.ECC()
	detail = append(detail, "  ecc: "+value(err, "volatile %d corrected / %d uncorrected; aggregate %d corrected / %d uncorrected",
		ecc.VolatileCorrected, ecc.VolatileUncorrected, ecc.AggregateCorrected, ecc.AggregateUncorrected))
	if err == nil {
		s.read.ECC = &contract.ECCCounts{VolatileCorrected: ecc.VolatileCorrected, VolatileUncorrected: ecc.VolatileUncorrected,
			AggregateCorrected: ecc.AggregateCorrected, AggregateUncorrected: ecc.AggregateUncorrected}
	}
	if err == nil && ecc.VolatileUncorrected > 0 {
		s.add(xid.Degraded, xid.ResetGPU, fmt.Sprintf("%d uncorrectable ECC errors since the driver loaded: reset the GPU so that the faulty rows are remapped", ecc.VolatileUncorrected))
	}

	rows, err := d.RemappedRows()
	detail = append(detail, "  remapped rows: "+value(err, "correctable %d, uncorrectable %d, pending %s, failure %s",
		rows.Correctable, rows.Uncorrectable, yesNo(rows.Pending), yesNo(rows.Failure)))
	if err == nil {
		s.read.RemappedRows = &contract.RemappedRows{Correctable: rows.Correctable, Uncorrectable: rows.Uncorrectable, Pending: rows.Pending, Failure: rows.Failure}
	}
	if err == nil && rows.Failure {
		s.add(xid.Failed, xid.RMA, "row remapping failed (no spare rows left): take the GPU out of service and contact support for an RMA")
	} else if err == nil && rows.Pending {
		s.add(xid.Degraded, xid.ResetGPU, "a row remapping is pending: reset the GPU when it is idle to apply it")
	}

	pages, err := d.RetiredPages()
	if errors.Is(err, ErrNotSupported) {
		detail = append(detail, "  retired pages: n/a (this GPU remaps rows instead)")
	} else {
		detail = append(detail, "  retired pages: "+value(err, "single-bit %d, double-bit %d, pending %s", pages.SingleBit, pages.DoubleBit, yesNo(pages.Pending)))
		if err == nil && pages.Pending {
			s.add(xid.Degraded, xid.ResetGPU, "a page retirement is pending: reset the GPU when it is idle to apply it")
		}
	}

	links, err := d.NVLinks()
	if err != nil {
		detail = append(detail, "  nvlink: "+value(err, ""))
	} else {
		var down []string
		var replay, recovery, crc uint64
		for _, l := range links {
			if !l.Up {
				down = append(down, fmt.Sprint(l.Link))
				s.read.NVLinkDown = append(s.read.NVLinkDown, l.Link)
			}
			replay, recovery, crc = replay+l.Replay, recovery+l.Recovery, crc+l.CRC
		}
		s.read.NVLinks = len(links)
		slices.Sort(s.read.NVLinkDown)
		line := fmt.Sprintf("  nvlink: %d/%d links up; errors replay %d, recovery %d, crc %d", len(links)-len(down), len(links), replay, recovery, crc)
		if len(down) > 0 {
			line += "; down: " + strings.Join(down, ",")
			s.add(xid.Degraded, xid.ResetGPU, fmt.Sprintf("NVLink links %s are down: reset the GPU and check the NVLink/NVSwitch fabric; contact support if they stay down", strings.Join(down, ",")))
		}
		detail = append(detail, line)
	}

	if mask, err := d.ClockEventReasons(); err == nil {
		// Slowdowns that mean the GPU cannot hold its clocks under load: heat, or the board's
		// hardware or power brake. (Idle, power cap and application clocks are normal.)
		var slow []string
		thermal := false
		for _, name := range []string{"HwThermalSlowdown", "SwThermalSlowdown", "HwSlowdown", "HwPowerBrakeSlowdown"} {
			if bit, _ := ClockEventBit(name); mask&bit != 0 {
				slow = append(slow, name)
				thermal = thermal || strings.Contains(name, "Thermal")
			}
		}
		if len(slow) > 0 {
			temp := ""
			if c, err := d.Temperature(); err == nil {
				temp = fmt.Sprintf(" at %d °C", c)
			}
			detail = append(detail, "  clocks held down by: "+strings.Join(slow, ", ")+temp)
			what, check := "hardware slowdown", "the node's power supply and cooling"
			if thermal {
				what, check = "thermal throttling", "the node's cooling (fans, airflow, inlet temperature, a blocked heatsink)"
			}
			s.add(xid.Degraded, xid.None, fmt.Sprintf("%s: clocks are held down by %s%s, so work on this GPU runs slower: check %s; contact support if it persists at normal temperatures", what, strings.Join(slow, ", "), temp, check))
		}
	}

	if act, err := d.RecoveryAction(); err == nil && act != "none" {
		detail = append(detail, "  driver recovery action: "+act)
		v, ac := xid.Degraded, xid.ResetGPU
		if strings.Contains(act, "reboot") {
			v, ac = xid.Failed, xid.DrainReboot
		}
		s.add(v, ac, "the driver asks for: "+act)
	} else if err == nil {
		detail = append(detail, "  driver recovery action: none")
	}

	events := a.xidsOf(i, true)
	if len(events) > 0 {
		var list []string
		seen := map[int]bool{}
		for k, e := range events {
			if k < 5 {
				list = append(list, fmt.Sprintf("%d at %s", e.Code, e.Time.UTC().Format(time.RFC3339)))
			}
			if !seen[e.Code] {
				seen[e.Code] = true
				s.addXID(xid.Lookup(e.Code), "")
			}
		}
		more := ""
		if len(events) > 5 {
			more = fmt.Sprintf(" (and %d older)", len(events)-5)
		}
		detail = append(detail, "  xids since the last reset: "+strings.Join(list, ", ")+more)
	}
	return s, detail
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type xidArgs struct {
	gpuArgs
	Limit int `json:"limit,omitempty"`
}

func (a *NodeAgent) xidEvents(_ context.Context, args xidArgs) (contract.XIDEvents, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.XIDEvents{}, "", err
	}
	limit := args.Limit
	if limit == 0 {
		limit = 50
	}
	var events []XIDEvent
	for _, e := range a.xidsOf(-1, false) {
		if slices.Contains(idx, e.Index) || (e.Index < 0 && args.Index == nil && args.UUID == "") {
			events = append(events, e)
		}
	}
	a.mu.Lock()
	watchErr, dropped := a.watchErr, a.dropped
	a.mu.Unlock()
	out := contract.XIDEvents{
		Node: a.cfg.NodeName, Since: a.started.UTC().Format(time.RFC3339), Events: []contract.XIDEvent{},
		Truncated: max(len(events)-limit, 0), Dropped: dropped, Publishing: a.natsStatus(), Simulated: a.lib.Simulated(),
	}
	var b strings.Builder
	if watchErr != nil {
		out.WatchError = watchErr.Error()
		fmt.Fprintf(&b, "warning: XID events are not being watched: %v\n", watchErr)
	}
	b.WriteString(a.natsStatus() + "\n")
	if len(events) == 0 {
		fmt.Fprintf(&b, "no XID events since the agent started at %s\n", a.started.UTC().Format(time.RFC3339))
		return out, b.String(), nil
	}
	fmt.Fprintf(&b, "%d XID events since the agent started, newest first\n", len(events))
	t := mcptool.Table{Header: []string{"TIME", "GPU", "XID", "NAME", "VERDICT", "ACTION"}}
	var codes []int
	for k, e := range events {
		if k == limit {
			break
		}
		entry := xid.Lookup(e.Code)
		when := e.Time.UTC().Format(time.RFC3339)
		out.Events = append(out.Events, contract.XIDEvent{
			Time: when, Index: e.Index, UUID: e.UUID, Code: e.Code,
			Name: entry.Name, Verdict: entry.Verdict.String(), Action: entry.Action.String(), Reason: entry.Reason,
		})
		t.Add(when, fmt.Sprint(e.Index), fmt.Sprint(e.Code), entry.Name, entry.Verdict.String(), entry.Action.String())
		if !slices.Contains(codes, e.Code) {
			codes = append(codes, e.Code)
		}
	}
	b.WriteString(t.Render(a.cfg.MaxBytes))
	if len(events) > limit {
		fmt.Fprintf(&b, "… %d older events left out (raise limit)\n", len(events)-limit)
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "(%d older events were dropped: the agent keeps the last %d)\n", dropped, maxXIDs)
	}
	b.WriteString("reasons:\n")
	for _, c := range codes {
		fmt.Fprintf(&b, "  XID %d: %s\n", c, xid.Lookup(c).Reason)
	}
	return out, mcptool.Cap(b.String(), a.cfg.MaxBytes), nil
}
