package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// cpuTimes is a reading of the machine's CPU time and of some processes'
// share of it, in clock ticks, from /proc.
type cpuTimes struct {
	total uint64 // every state
	busy  uint64 // user, nice, system and steal: time spent on processes, ours or not
	own   uint64 // the measured processes' user and system time
}

// readCPU reads /proc/stat and the user and system time of pids (0 is this
// process).
func readCPU(pids []int) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	t, err := parseProcStat(b)
	if err != nil {
		return cpuTimes{}, err
	}
	for _, pid := range pids {
		path := "/proc/self/stat"
		if pid != 0 {
			path = "/proc/" + strconv.Itoa(pid) + "/stat"
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return cpuTimes{}, err
		}
		n, err := parsePidStat(b)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("%s: %w", path, err)
		}
		t.own += n
	}
	return t, nil
}

// parseProcStat reads the first line of /proc/stat: "cpu user nice system
// idle iowait irq softirq steal ...". Steal, time the hypervisor gave to
// other machines, counts as busy: it was not ours either. Interrupt time
// does not: much of it is the loopback traffic of the measurement itself,
// which the kernel charges to no process.
func parseProcStat(b []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t cpuTimes
	for i, s := range f[1:9] {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %v", err)
		}
		t.total += n
		switch i {
		case 0, 1, 2, 7: // user, nice, system, steal
			t.busy += n
		}
	}
	return t, nil
}

// parsePidStat returns utime+stime from /proc/PID/stat, whose second field,
// the command name, may hold spaces and parentheses: the fields are counted
// from the last ')'.
func parsePidStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected content %q", b)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected content %q", b)
	}
	var sum uint64
	for _, s := range f[11:13] { // fields 14 and 15: utime, stime
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// otherShare is the fraction of the machine's CPU time between a and b that
// went to processes other than the measured ones, or to the hypervisor's
// steal.
func otherShare(a, b cpuTimes) float64 {
	total := float64(b.total - a.total)
	if total <= 0 {
		return 0
	}
	other := float64(b.busy-a.busy) - float64(b.own-a.own)
	return max(0, min(1, other/total))
}
