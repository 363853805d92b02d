package gpu

import (
	"strconv"
	"strings"
)

// ClockEventReasons are NVML's clock-event (throttle) reason bits with the names gpu_metrics
// prints, in bit order.
var ClockEventReasons = []struct {
	Name string
	Bit  uint64
}{
	{"GpuIdle", 0x1},
	{"ApplicationsClocksSetting", 0x2},
	{"SwPowerCap", 0x4},
	{"HwSlowdown", 0x8},
	{"SyncBoost", 0x10},
	{"SwThermalSlowdown", 0x20},
	{"HwThermalSlowdown", 0x40},
	{"HwPowerBrakeSlowdown", 0x80},
	{"DisplayClockSetting", 0x100},
}

// ClockEventBit returns the bit of a clock-event reason name.
func ClockEventBit(name string) (uint64, bool) {
	for _, r := range ClockEventReasons {
		if r.Name == name {
			return r.Bit, true
		}
	}
	return 0, false
}

// ClockEventNames decodes a clock-event reason mask: "none" for 0, names joined by ",", and any
// bit without a name in hex.
func ClockEventNames(mask uint64) string {
	if mask == 0 {
		return "none"
	}
	var names []string
	for _, r := range ClockEventReasons {
		if mask&r.Bit != 0 {
			names = append(names, r.Name)
			mask &^= r.Bit
		}
	}
	if mask != 0 {
		names = append(names, "0x"+strconv.FormatUint(mask, 16))
	}
	return strings.Join(names, ",")
}
