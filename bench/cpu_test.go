package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on every
// Linux the bench runs on).
const clockTick = 10 * time.Millisecond

// cpuSample is what the CPUs had done at one moment: the CPU time of the
// bench's own processes (this one, the door's, and those named: the
// broker, the central side), and the machine's busy and total time over
// all its CPUs, from /proc.
type cpuSample struct {
	at          time.Time
	self, other time.Duration // this process's; the others named
	busy, total time.Duration
}

// sampleCPU reads the CPU times of this process and of pids and the
// machine's; ok is false where /proc is not at hand.
func sampleCPU(pids ...int) (cpuSample, bool) {
	s := cpuSample{at: time.Now()}
	var err error
	if s.self, err = procCPU(os.Getpid()); err != nil {
		return s, false
	}
	for _, p := range pids {
		d, err := procCPU(p)
		if err != nil {
			return s, false
		}
		s.other += d
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return s, false
	}
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return s, false
		}
		s.total += time.Duration(n) * clockTick
		if i != 3 && i != 4 { // idle, iowait
			s.busy += time.Duration(n) * clockTick
		}
	}
	return s, true
}

// procCPU returns the user and system CPU time of process pid.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the fields after the command, which is in parentheses and may hold
	// spaces: state is the 3rd field, utime the 14th and stime the 15th
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var d time.Duration
	for _, v := range f[11:13] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		d += time.Duration(n) * clockTick
	}
	return d, nil
}

// until returns how many CPUs this process and the others kept busy on
// average between s and later, and the share of all the machine's CPU
// time that anything used, in per cent.
func (s cpuSample) until(later cpuSample) (self, other, busy float64) {
	d := float64(later.at.Sub(s.at))
	self, other = float64(later.self-s.self)/d, float64(later.other-s.other)/d
	if total := later.total - s.total; total > 0 {
		busy = 100 * float64(later.busy-s.busy) / float64(total)
	}
	return self, other, busy
}
