package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Scenario is one load of a comparison.
type Scenario struct {
	Name string
	// Prepare returns the configuration of one run of the scenario. It is
	// called before every run, so that it can fetch credentials that must
	// outlive the run and check that the target answers as it should.
	Prepare func(ctx context.Context) (Config, error)
}

// Comparison is what Compare measured of one scenario.
type Comparison struct {
	Name string
	// Result is the median round's: the one whose Ratio is the median.
	*Result
	// Ratio is the scenario's requests per second over the baseline's in
	// the same round; 1 for the baseline itself. RatioMin and RatioMax are
	// the extremes over all rounds.
	Ratio, RatioMin, RatioMax float64
	// Requests and Errors of every round together; ErrorsByStatus and
	// FirstError likewise.
	AllRequests, AllErrors int64
	// OtherCPUMax is the largest Result.OtherCPU of all rounds; -1 when
	// it was not measured.
	OtherCPUMax float64
}

// Compare runs the baseline and then each scenario, rounds times over, and
// returns one Comparison for the baseline and one for each scenario, in
// order. Pairing every run with the baseline of its own round keeps a ratio
// honest on a machine whose speed drifts (another job starts, a CPU
// throttles): the drift moves both sides. progress, when not nil, hears of
// each run as it ends.
func Compare(ctx context.Context, baseline Scenario, scenarios []Scenario, rounds int,
	progress func(round, index int, name string, r *Result, ratio float64)) ([]*Comparison, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("rounds %d: want at least 1", rounds)
	}
	all := append([]Scenario{baseline}, scenarios...)
	runs := make([][]*Comparison, len(all)) // by scenario, then round
	for round := range rounds {
		var base float64
		for i, s := range all {
			c, err := s.Prepare(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			r, err := Run(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			if i == 0 {
				base = r.RPS()
			}
			ratio := 0.0
			if base > 0 {
				ratio = r.RPS() / base
			}
			runs[i] = append(runs[i], &Comparison{Name: s.Name, Result: r, Ratio: ratio})
			if progress != nil {
				progress(round, i, s.Name, r, ratio)
			}
		}
	}
	out := make([]*Comparison, len(all))
	for i, rs := range runs {
		out[i] = median(rs)
	}
	return out, nil
}

// median returns the run with the median ratio, with the spread and the
// counts of all runs.
func median(runs []*Comparison) *Comparison {
	byRatio := slices.Clone(runs)
	slices.SortStableFunc(byRatio, func(a, b *Comparison) int { return cmp.Compare(a.Ratio, b.Ratio) })
	m := *byRatio[len(byRatio)/2]
	res := *m.Result
	res.ErrorsByStatus = map[int]int64{}
	res.FirstError = ""
	m.Result = &res
	m.RatioMin, m.RatioMax = byRatio[0].Ratio, byRatio[len(byRatio)-1].Ratio
	m.OtherCPUMax = -1
	for _, r := range runs { // in the order they ran, for FirstError
		m.OtherCPUMax = max(m.OtherCPUMax, r.OtherCPU)
		m.AllRequests += r.Requests
		m.AllErrors += r.Errors
		for s, n := range r.ErrorsByStatus {
			res.ErrorsByStatus[s] += n
		}
		if res.FirstError == "" {
			res.FirstError = r.FirstError
		}
	}
	return &m
}

// Machine describes where a benchmark ran, for its report.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
}

// ThisMachine describes the machine this process runs on; the CPU model
// comes from /proc/cpuinfo, "unknown" elsewhere.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), CPUModel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
