package wnproto

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on every Linux
// architecture Go supports; proc(5)).
const userHZ = 100

// ProcUsage is the CPU time and memory of one process, read from /proc.
type ProcUsage struct {
	PID         int     `json:"pid"`
	UserSeconds float64 `json:"user_s"`
	SysSeconds  float64 `json:"sys_s"`
	RSSKiB      int64   `json:"vmrss_kib"`
	HWMKiB      int64   `json:"vmhwm_kib"`
}

// ReadProcUsage reads utime and stime (fields 14 and 15 of /proc/<pid>/stat, all threads) and
// VmRSS / VmHWM (/proc/<pid>/status) of a process. pid 0 means this process.
func ReadProcUsage(pid int) (ProcUsage, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	} else {
		pid = os.Getpid()
	}
	u := ProcUsage{PID: pid}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return u, err
	}
	// The command name (field 2) is parenthesised and may contain spaces: split after it.
	s := string(stat)
	close := strings.LastIndexByte(s, ')')
	if close < 0 {
		return u, fmt.Errorf("%s/stat: no command name", dir)
	}
	fields := strings.Fields(s[close+1:])
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return u, fmt.Errorf("%s/stat: %d fields", dir, len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("%s/stat: bad utime/stime", dir)
	}
	u.UserSeconds = float64(utime) / userHZ
	u.SysSeconds = float64(stime) / userHZ
	f, err := os.Open(dir + "/status")
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &u.RSSKiB
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &u.HWMKiB
		default:
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 {
			*dst, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	return u, sc.Err()
}
