package xid

import (
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	want := []struct {
		code    int
		verdict Verdict
		action  Action
		says    string
	}{
		{13, Healthy, RestartApp, "application"},
		{31, Healthy, RestartApp, "memory"},
		{43, Healthy, RestartApp, "restart the application"},
		{45, Healthy, None, "earlier error"},
		{48, Failed, ResetGPU, "uncorrectable"},
		{61, Degraded, ResetGPU, "breakpoint"},
		{62, Failed, ResetGPU, "halted"},
		{63, Degraded, ResetGPU, "remapping"},
		{64, Failed, RMA, "RMA"},
		{68, Healthy, RestartApp, "video decode"},
		{69, Healthy, RestartApp, "invalid command"},
		{74, Degraded, ResetGPU, "NVLink"},
		{79, Failed, DrainReboot, "PCIe"},
		{92, Degraded, None, "persists"},
		{94, Degraded, RestartApp, "contained"},
		{95, Failed, ResetGPU, "could not be contained"},
		{109, Degraded, RestartApp, "repeats"},
		{119, Failed, ResetGPU, "drain and reboot"},
		{120, Failed, ResetGPU, "GPU System Processor"},
		{154, Failed, DrainReboot, "node reboot"},
	}
	if got := len(Codes()); got != len(want) {
		t.Errorf("the catalog holds %d codes, the test checks %d: add the new ones here", got, len(want))
	}
	for _, w := range want {
		e := Lookup(w.code)
		if !e.Known || e.Code != w.code {
			t.Errorf("XID %d: not in the catalog", w.code)
			continue
		}
		if e.Verdict != w.verdict || e.Action != w.action {
			t.Errorf("XID %d (%s): verdict %s, action %s; want %s, %s", w.code, e.Name, e.Verdict, e.Action, w.verdict, w.action)
		}
		if !strings.Contains(e.Reason, w.says) {
			t.Errorf("XID %d: reason %q does not say %q", w.code, e.Reason, w.says)
		}
	}
}

func TestUnknownXID(t *testing.T) {
	e := Lookup(999)
	if e.Known || e.Verdict != Degraded || e.Action != None || !strings.Contains(e.Reason, "XID 999") {
		t.Errorf("Lookup(999) = %+v; want an unknown entry, degraded, that says to look XID 999 up", e)
	}
}

func TestNames(t *testing.T) {
	if Failed.String() != "failed" || RMA.String() != "contact support / RMA" || DrainReboot.String() != "drain and reboot the node" {
		t.Errorf("names: %s %s %s", Failed, RMA, DrainReboot)
	}
	if Codes()[0] != 13 || Codes()[len(Codes())-1] != 154 {
		t.Errorf("Codes() not sorted: %v", Codes())
	}
}
