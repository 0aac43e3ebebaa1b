package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/loadgen"
)

// benchScenario is one load valet bench can send: a POST to path,
// authenticated as client, with a token of the format token in the body
// when it is an introspection. target is issue 4's goal as a fraction of the
// baseline's requests per second.
type benchScenario struct {
	name, path, client, token string
	target                    float64
	success                   string // a successful answer contains this
}

// benchScenarios run in this order. The baseline sends the client-credentials
// request to the bare handler and always runs first: every figure is a
// ratio to it.
var benchScenarios = []benchScenario{
	{name: "baseline", path: "/token", client: "jwt", success: `"access_token"`},
	{name: "cc-jwt", path: "/token", client: "jwt", target: 0.35, success: `"access_token"`},
	{name: "cc-opaque", path: "/token", client: "opaque", target: 0.50, success: `"access_token"`},
	{name: "introspect-jwt", path: "/introspect", client: "rs", token: "jwt", target: 0.40, success: `"active":true`},
	{name: "introspect-opaque", path: "/introspect", client: "rs", token: "opaque", target: 0.40, success: `"active":true`},
}

type benchFlags struct {
	duration, warmup    time.Duration
	concurrency, rounds int
	scenarios           []string
	asJSON, serverOnly  bool
	target, baseline    string
	adminToken, cpuProf string
	pid                 int
	accessTokenWrites   string
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Valet's throughput as a fraction of what this machine can serve",
		Long: `Measure Valet on this machine. In one run, bench loads a bare net/http handler
that answers the same POST with a 200-byte JSON body (the baseline: the
ceiling of this machine), then Valet's token and introspection endpoints, and
reports each as requests per second, latency and a ratio to the baseline.
Ratios, not raw figures, compare from one machine to another.

With no flags bench starts both servers in this process: Valet in its
zero-configuration form on a temporary SQLite data directory, on 127.0.0.1.
The load generator shares the CPUs with them, and it loads both alike.
To give the server CPUs of its own, run "valet bench --server-only" under
taskset and point a second "valet bench --target ..." at it (the first
prints the command). Only loopback addresses are ever loaded.`,
		Example: `  valet bench
  valet bench --duration 30s --rounds 3 --json
  valet bench --scenario cc-opaque --access-token-writes queued   # the opt-in of configuration.md
  taskset -c 1 valet bench --server-only      # then run the command it prints under taskset -c 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runBench(ctx, cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "measured time of each scenario")
	fl.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	fl.IntVar(&f.concurrency, "concurrency", defaultBenchConcurrency(), "concurrent connections, each with one request in flight")
	fl.IntVar(&f.rounds, "rounds", 1, "run every scenario this many times, alternating, and report the median ratio; 3 or more on a busy machine")
	fl.StringSliceVar(&f.scenarios, "scenario", nil, "scenarios to run besides the baseline (default all): cc-jwt, cc-opaque, introspect-jwt, introspect-opaque")
	fl.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fl.StringVar(&f.cpuProf, "cpuprofile", "", "write a CPU profile of each run to PREFIX-SCENARIO.pprof (for go tool pprof); it covers the server only when bench started it")
	fl.BoolVar(&f.serverOnly, "server-only", false, "start the baseline and Valet, print how to load them from another process, and serve until interrupted")
	fl.StringVar(&f.target, "target", "", "load the Valet already running at this loopback URL, such as http://127.0.0.1:8080; its clients are registered through --admin-url")
	fl.StringVar(&f.baseline, "baseline-url", "", "with --target: the baseline URL that valet bench --server-only printed (default: a baseline in this process)")
	fl.StringVar(&f.adminToken, "admin-token", "", "with --target: the admin token (default: VALET_ADMIN_TOKEN, else the admin-token file in --data)")
	fl.StringVar(&f.accessTokenWrites, "access-token-writes", "committed", "access_token_writes of the Valet bench starts: committed (the zero-configuration form) or queued (the opt-in)")
	fl.IntVar(&f.pid, "pid", 0, "with --target: the server's process ID, to report its resident memory and to tell its CPU time from other processes")
	return cmd
}

// defaultBenchConcurrency is near the connection count that gave the
// highest baseline on the 2-core machine of docs/performance.md: 16; 32
// added 5% at twice the latency.
func defaultBenchConcurrency() int { return 8 * runtime.GOMAXPROCS(0) }

func runBench(ctx context.Context, cmd *cobra.Command, f *benchFlags) error {
	scenarios, err := f.validate(cmd)
	if err != nil {
		return err
	}
	var tg *benchTargets
	if f.target == "" {
		tg, err = startBenchServers(ctx, f.accessTokenWrites)
	} else {
		tg, err = connectBenchTarget(cmd, f)
	}
	if err != nil {
		return err
	}
	defer tg.close()
	if f.serverOnly {
		return tg.serveUntilDone(ctx, cmd.OutOrStdout(), f.asJSON)
	}

	progress := cmd.ErrOrStderr()
	b := &benchRun{flags: f, targets: tg, http: &http.Client{Timeout: 10 * time.Second}, progress: progress}
	if err := b.register(ctx); err != nil {
		return tg.explain(err)
	}
	defer b.unregister()
	var mem *loadgen.MemorySampler
	if tg.memory != nil {
		mem = &loadgen.MemorySampler{Read: tg.memory}
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go mem.Run(mctx, 250*time.Millisecond)
	}

	fmt.Fprintf(progress, "bench: %s\nbench: %d connections; each run %v of warm-up, then %v measured\n",
		tg.where, f.concurrency, f.warmup, f.duration)
	var runs []loadgen.Scenario
	for _, s := range scenarios {
		runs = append(runs, loadgen.Scenario{Name: s.name, Prepare: func(context.Context) (loadgen.Config, error) {
			return b.prepare(s, len(scenarios))
		}})
	}
	cmps, err := loadgen.Compare(ctx, runs[0], runs[1:], f.rounds, func(_, _ int, _ string, r *loadgen.Result, ratio float64) {
		fmt.Fprintf(progress, " %.0f req/s, %.1f%% of the baseline, p99 %s, %d errors", r.RPS(), ratio*100, ms(msf(r.P99)), r.Errors)
		if r.OtherCPU >= 0 {
			fmt.Fprintf(progress, ", other processes %.0f%% of the CPU", r.OtherCPU*100)
		}
		fmt.Fprintln(progress)
		b.stopProfile()
	})
	b.stopProfile()
	if ctx.Err() != nil {
		return errors.New("interrupted: nothing to report")
	}
	if err != nil {
		fmt.Fprintln(progress)
		return tg.explain(err)
	}

	rep := &benchReport{Machine: loadgen.ThisMachine(), Where: tg.where, Concurrency: f.concurrency,
		Duration: f.duration.Seconds(), Warmup: f.warmup.Seconds(), Rounds: f.rounds}
	for i, c := range cmps {
		rep.Scenarios = append(rep.Scenarios, newBenchResult(scenarios[i], c))
	}
	if mem != nil {
		if maxRSS, last, err := mem.Result(); err != nil {
			fmt.Fprintln(progress, "bench: cannot read resident memory:", err)
		} else {
			rep.Memory = &benchMemory{Process: tg.memoryOf, MaxRSSMB: mb(maxRSS), HWMMB: mb(last.Peak)}
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.print(cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	for _, r := range rep.Scenarios {
		if r.Errors > 0 {
			return tg.explain(fmt.Errorf("%s: %d of %d requests failed, so its figures do not count; the first: %s", r.Name, r.Errors, r.Requests, r.FirstError))
		}
	}
	return nil
}

func (f *benchFlags) validate(cmd *cobra.Command) ([]benchScenario, error) {
	lc := loadgen.Config{Concurrency: f.concurrency, Duration: f.duration, Warmup: f.warmup,
		NewRequest: func(int) (*http.Request, error) { return nil, nil }}
	if err := lc.Validate(); err != nil {
		return nil, fmt.Errorf("%v (set --concurrency, --duration and --warmup)", err)
	}
	if f.rounds < 1 || f.rounds > 20 {
		return nil, fmt.Errorf("--rounds %d: want 1 to 20", f.rounds)
	}
	switch {
	case f.serverOnly && (f.target != "" || f.baseline != ""):
		return nil, errors.New("--server-only starts the servers that --target and --baseline-url name: use one or the other")
	case f.target == "" && (f.baseline != "" || f.adminToken != "" || f.pid != 0 || cmd.Flags().Changed("admin-url")):
		return nil, errors.New("--baseline-url, --admin-url, --admin-token and --pid describe a server given by --target; without --target, bench starts its own")
	case f.target != "" && cmd.Flags().Changed("access-token-writes"):
		return nil, errors.New("--access-token-writes sets up the Valet bench starts; a Valet given by --target runs with its own configuration (VALET_ACCESS_TOKEN_WRITES)")
	case f.accessTokenWrites != "committed" && f.accessTokenWrites != "queued":
		return nil, fmt.Errorf("--access-token-writes %q: want committed or queued", f.accessTokenWrites)
	}
	for flag, u := range map[string]string{"--target": f.target, "--baseline-url": f.baseline} {
		if u == "" {
			continue
		}
		if err := loadgen.CheckTarget(u); err != nil {
			return nil, fmt.Errorf("%s: %v; run bench on the server's machine", flag, err)
		}
	}
	for _, name := range f.scenarios {
		if !slices.ContainsFunc(benchScenarios[1:], func(s benchScenario) bool { return s.name == name }) {
			return nil, fmt.Errorf("--scenario %q: want cc-jwt, cc-opaque, introspect-jwt or introspect-opaque (the baseline always runs)", name)
		}
	}
	want := benchScenarios[:1:1]
	for _, s := range benchScenarios[1:] {
		if len(f.scenarios) == 0 || slices.Contains(f.scenarios, s.name) {
			want = append(want, s)
		}
	}
	return want, nil
}

// benchRun holds what the scenarios share: the registered clients.
type benchRun struct {
	flags     *benchFlags
	targets   *benchTargets
	http      *http.Client
	progress  io.Writer
	step      int // runs prepared so far, for the progress lines
	admin     *adminConn
	clients   map[string]string // "jwt", "opaque", "rs" (the resource server) -> Authorization header
	ids       []string
	profiling *os.File // the CPU profile being written
}

// register registers the three clients bench uses through the admin API: a
// confidential client-credentials client for each token format, and one
// that plays the resource server calling /introspect.
func (b *benchRun) register(ctx context.Context) error {
	b.admin = &adminConn{Client: &admin.Client{BaseURL: b.targets.adminURL, Token: b.targets.adminToken, HTTP: b.http},
		tokenFrom: b.targets.adminTokenFrom}
	b.clients = map[string]string{}
	for _, c := range []struct{ key, format string }{{"jwt", "jwt"}, {"opaque", "opaque"}, {"rs", "jwt"}} {
		reg, _, err := b.admin.CreateClient(ctx, admin.ClientMetadata{
			ClientName: "valet bench (" + c.key + ")", GrantTypes: []string{"client_credentials"},
			ResponseTypes: []string{}, RedirectURIs: []string{}, Scope: "bench",
			TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: c.format,
		})
		if err != nil {
			return fmt.Errorf("register the bench client %q: %w", c.key, b.admin.explain(err))
		}
		b.ids = append(b.ids, reg.ClientID)
		// RFC 6749 §2.3.1: both halves form-encoded, then Basic.
		b.clients[c.key] = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(reg.ClientID)+":"+url.QueryEscape(reg.ClientSecret)))
	}
	return nil
}

// unregister deletes the bench clients, so that a server given by --target
// is left as it was.
func (b *benchRun) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range b.ids {
		b.admin.DeleteClient(ctx, id)
	}
}

// newRequest returns a builder of the POST a scenario sends.
func (b *benchRun) newRequest(base string, s benchScenario, body []byte) func(int) (*http.Request, error) {
	header := http.Header{"Authorization": {b.clients[s.client]}, "Content-Type": {"application/x-www-form-urlencoded"}}
	return func(int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+s.path, bytes.NewReader(body))
		if err == nil {
			req.Header = header.Clone()
		}
		return req, err
	}
}

// once sends a scenario's request once and returns the answer's body, or an
// error that says what went wrong, before any load is sent.
func (b *benchRun) once(s benchScenario, newReq func(int) (*http.Request, error)) ([]byte, error) {
	req, err := newReq(0)
	if err != nil {
		return nil, err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %v (is the server listening there?)", req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(s.success)) {
		return nil, fmt.Errorf("POST %s answered %d %s; nothing was measured (does this Valet serve %s to client-credentials clients?)",
			req.URL, resp.StatusCode, bytes.TrimSpace(raw), s.path)
	}
	return raw, nil
}

// prepare readies one run of s: a fresh token for an introspection (it must
// outlive the run), one request to check the answer, and a CPU profile when
// asked for.
func (b *benchRun) prepare(s benchScenario, perRound int) (loadgen.Config, error) {
	b.step++
	fmt.Fprintf(b.progress, "bench: round %d/%d [%d/%d] %s ...", (b.step-1)/perRound+1, b.flags.rounds, (b.step-1)%perRound+1, perRound, s.name)
	base, body := b.targets.valet, []byte("grant_type=client_credentials")
	if s.name == "baseline" {
		base = b.targets.baseline
	}
	if s.token != "" {
		cc := benchScenario{path: "/token", client: s.token, success: `"access_token"`}
		raw, err := b.once(cc, b.newRequest(b.targets.valet, cc, body))
		if err != nil {
			return loadgen.Config{}, fmt.Errorf("get a token to introspect: %w", err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" {
			return loadgen.Config{}, fmt.Errorf("the token response has no access_token: %s", raw)
		}
		if isJWT := strings.Count(tok.AccessToken, ".") == 2; isJWT != (s.token == "jwt") {
			return loadgen.Config{}, fmt.Errorf("the %s client received a token of the other format; does this Valet read access_token_format?", s.token)
		}
		body = []byte("token=" + url.QueryEscape(tok.AccessToken) + "&token_type_hint=access_token")
	}
	newReq := b.newRequest(base, s, body)
	if _, err := b.once(s, newReq); err != nil {
		return loadgen.Config{}, err
	}
	if b.flags.cpuProf != "" {
		if err := b.profile(s.name); err != nil {
			return loadgen.Config{}, err
		}
	}
	success := []byte(s.success)
	return loadgen.Config{
		Concurrency: b.flags.concurrency, Duration: b.flags.duration, Warmup: b.flags.warmup,
		NewRequest: newReq, CPUOf: b.targets.cpuOf,
		Check: func(status int, body []byte) bool { return status == http.StatusOK && bytes.Contains(body, success) },
	}, nil
}

// profile starts the CPU profile of the run about to start; the progress
// callback stops it when the run ends.
func (b *benchRun) profile(name string) error {
	f, err := os.Create(fmt.Sprintf("%s-%s.pprof", b.flags.cpuProf, name))
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	b.profiling = f
	return nil
}

func (b *benchRun) stopProfile() {
	if b.profiling != nil {
		pprof.StopCPUProfile()
		b.profiling.Close()
		b.profiling = nil
	}
}

// benchReport is what bench prints, as a table or, with --json, as is.
type benchReport struct {
	Machine     loadgen.Machine `json:"machine"`
	Where       string          `json:"where"`
	Concurrency int             `json:"concurrency"`
	Duration    float64         `json:"duration_seconds"`
	Warmup      float64         `json:"warmup_seconds"`
	Rounds      int             `json:"rounds"`
	Scenarios   []*benchResult  `json:"scenarios"`
	Memory      *benchMemory    `json:"memory,omitempty"`
}

// benchResult is one scenario: the median round's figures, with the spread
// of the ratio over the rounds, and the requests and errors of all rounds.
type benchResult struct {
	Name           string        `json:"name"`
	RPS            float64       `json:"rps"`
	Ratio          float64       `json:"ratio_to_baseline"`
	RatioMin       float64       `json:"ratio_min"`
	RatioMax       float64       `json:"ratio_max"`
	Target         float64       `json:"target_ratio,omitempty"`
	Requests       int64         `json:"requests"`
	Errors         int64         `json:"errors"`
	ErrorsByStatus map[int]int64 `json:"errors_by_status,omitempty"`
	FirstError     string        `json:"first_error,omitempty"`
	// Latencies in milliseconds, within 1% (loadgen's histogram).
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// OtherCPU is the share of the machine's CPU that other processes (and
	// the hypervisor) took during the median round; OtherCPUMax the most of
	// any round. -1: not measured (--target without --pid).
	OtherCPU    float64 `json:"other_cpu"`
	OtherCPUMax float64 `json:"other_cpu_max"`
}

func newBenchResult(s benchScenario, c *loadgen.Comparison) *benchResult {
	return &benchResult{Name: s.name, RPS: c.RPS(), Ratio: c.Ratio, RatioMin: c.RatioMin, RatioMax: c.RatioMax,
		Target: s.target, Requests: c.AllRequests, Errors: c.AllErrors, ErrorsByStatus: c.ErrorsByStatus,
		FirstError: c.FirstError, P50: msf(c.P50), P90: msf(c.P90), P99: msf(c.P99), Max: msf(c.Max),
		OtherCPU: c.OtherCPU, OtherCPUMax: c.OtherCPUMax}
}

type benchMemory struct {
	Process  string  `json:"process"`
	MaxRSSMB float64 `json:"max_vmrss_mb"` // the largest VmRSS sampled under load
	HWMMB    float64 `json:"vmhwm_mb"`
}

func (r *benchReport) print(w io.Writer) error {
	fmt.Fprintf(w, "%d CPUs (%s), GOMAXPROCS %d, %s; %d connections, %gs per run, %d round(s)\n\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GOMAXPROCS, r.Machine.Go, r.Concurrency, r.Duration, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SCENARIO\tREQ/S\tP50\tP99\tERRORS\tOTHER CPU\tVS BASELINE\tTARGET\t")
	busiest := -1.0
	for _, s := range r.Scenarios {
		target, ratio := "-", fmt.Sprintf("%.1f%%", s.Ratio*100)
		if s.Target > 0 {
			target = fmt.Sprintf("≥%.0f%% %s", s.Target*100, map[bool]string{true: "met", false: "MISSED"}[s.Ratio >= s.Target])
		}
		if r.Rounds > 1 && s.Target > 0 {
			ratio = fmt.Sprintf("%.1f%% (%.1f–%.1f)", s.Ratio*100, s.RatioMin*100, s.RatioMax*100)
		}
		other := "?"
		if s.OtherCPU >= 0 {
			other = fmt.Sprintf("%.0f%%", s.OtherCPU*100)
		}
		busiest = max(busiest, s.OtherCPUMax)
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", s.Name, s.RPS, ms(s.P50), ms(s.P99), s.Errors, other, ratio, target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if busiest > 0.10 {
		fmt.Fprintf(w, "\nWarning: other processes took up to %.0f%% of the machine's CPU during a run (OTHER CPU): the figures measure them too. Run again when the machine is quiet, or with --rounds 5.\n", busiest*100)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\nResident memory under load (%s): %.0f MB at most (VmRSS, sampled), %.0f MB high-water mark (VmHWM); target ≤ 150 MB.\n",
			m.Process, m.MaxRSSMB, m.HWMMB)
	}
	_, err := fmt.Fprintln(w, "\nThe ratio is the figure that carries from one machine to another: both servers are loaded the same way, in the same run.")
	return err
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(v float64) string { return fmt.Sprintf("%.2fms", v) }

func mb(b int64) float64 { return float64(b) / (1 << 20) }
