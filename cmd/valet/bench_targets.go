package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/loadgen"
)

// benchTargets are the two servers bench loads and what it knows of them.
type benchTargets struct {
	baseline, valet string // base URLs
	adminURL        string
	adminToken      string
	adminTokenFrom  string                         // for error messages
	where           string                         // for a person: where the servers run
	memory          func() (loadgen.Memory, error) // nil when the server's memory cannot be read
	memoryOf        string
	cpuOf           []int  // the processes bench measures, for loadgen.Config.CPUOf; nil when unknown
	dataDir         string // when bench started Valet: its data directory, with its log
	keepData        bool   // an error happened: leave the log for the operator
	closers         []func()
}

func (t *benchTargets) close() {
	for _, c := range slices.Backward(t.closers) {
		c()
	}
}

// explain points an error of a run against bench's own Valet at its log,
// which is then kept.
func (t *benchTargets) explain(err error) error {
	if t.dataDir == "" {
		return err
	}
	t.keepData = true
	return fmt.Errorf("%w\n(Valet's log is kept in %s)", err, filepath.Join(t.dataDir, "valet.log"))
}

// startBaseline serves the ceiling handler on 127.0.0.1, with the same
// http.Server settings as Valet's listeners, so only the handler differs.
func (t *benchTargets) startBaseline() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the baseline: %w", err)
	}
	srv := newHTTPServer(loadgen.CeilingHandler(), slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn))
	go srv.Serve(ln)
	t.baseline = "http://" + ln.Addr().String()
	t.closers = append(t.closers, func() { srv.Close() })
	return nil
}

// startBenchServers starts the baseline and a zero-configuration `valet
// serve` in this process: a temporary data directory (SQLite, generated
// secret and admin token), 127.0.0.1 ports, and its log in a file there, as
// a deployment would write it.
func startBenchServers(ctx context.Context, accessTokenWrites string) (t *benchTargets, err error) {
	dir, err := os.MkdirTemp("", "valet-bench-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary data directory: %w (set TMPDIR to a writable directory)", err)
	}
	t = &benchTargets{dataDir: dir, cpuOf: []int{0}, memory: func() (loadgen.Memory, error) { return loadgen.ReadMemory(0) },
		memoryOf: "this process: load generator, baseline and Valet together"}
	t.closers = append(t.closers, func() {
		if !t.keepData {
			os.RemoveAll(dir)
		}
	})
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if err := t.startBaseline(); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "valet.log"))
	if err != nil {
		return nil, err
	}
	t.closers = append(t.closers, func() { logFile.Close() })

	c := defaultConfig()
	c.Data, c.Addr, c.AdminAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	c.AccessTokenWrites = accessTokenWrites
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	type addrs struct{ public, admin net.Addr }
	ready, done := make(chan addrs, 1), make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil { // a wiring mistake: report it, and clean up
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- serve(sctx, c, logFile, func(p, a net.Addr) { ready <- addrs{p, a} })
	}()
	var served error
	t.closers = append(t.closers, func() {
		cancel()
		if served == nil {
			<-done
		}
	})
	select {
	case a := <-ready:
		t.valet, t.adminURL = "http://"+a.public.String(), "http://"+a.admin.String()
	case served = <-done:
		return nil, t.explain(fmt.Errorf("start valet serve: %v", served))
	case <-time.After(time.Minute):
		return nil, t.explain(errors.New("valet serve did not start within a minute"))
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		return nil, err
	}
	t.adminToken, t.adminTokenFrom = strings.TrimSpace(string(tok)), "the data directory bench made"
	t.where = fmt.Sprintf("baseline and valet serve (SQLite in %s) in this process, beside the load generator", dir)
	return t, nil
}

// connectBenchTarget describes a Valet that runs already, and the baseline
// beside it, or starts a baseline in this process.
func connectBenchTarget(cmd *cobra.Command, f *benchFlags) (*benchTargets, error) {
	adminURL, _ := cmd.Flags().GetString("admin-url")
	if err := loadgen.CheckTarget(adminURL); err != nil {
		return nil, fmt.Errorf("--admin-url: %v", err)
	}
	t := &benchTargets{valet: strings.TrimRight(f.target, "/"), adminURL: strings.TrimRight(adminURL, "/"),
		adminToken: f.adminToken, adminTokenFrom: "--admin-token", baseline: strings.TrimRight(f.baseline, "/")}
	if t.adminToken == "" {
		conn, err := connectAdmin(cmd) // VALET_ADMIN_TOKEN, else the admin-token file in --data
		if err != nil {
			return nil, fmt.Errorf("%v; or pass --admin-token", err)
		}
		t.adminToken, t.adminTokenFrom = conn.Token, conn.tokenFrom
	}
	t.where = "Valet at " + t.valet + ", baseline at " + t.baseline
	if t.baseline == "" {
		if err := t.startBaseline(); err != nil {
			return nil, err
		}
		t.where = "Valet at " + t.valet + "; baseline in this process, beside the load generator (give --baseline-url to run it where Valet runs)"
	}
	if f.pid != 0 {
		t.memory = func() (loadgen.Memory, error) { return loadgen.ReadMemory(f.pid) }
		t.memoryOf = fmt.Sprintf("process %d: the server", f.pid)
		t.cpuOf = []int{0, f.pid}
	}
	return t, nil
}

// serveUntilDone is --server-only: print how to load the servers from
// another process, then serve until interrupted.
func (t *benchTargets) serveUntilDone(ctx context.Context, out io.Writer, asJSON bool) error {
	pid := os.Getpid()
	if asJSON {
		json.NewEncoder(out).Encode(map[string]any{"baseline_url": t.baseline, "target": t.valet,
			"admin_url": t.adminURL, "data": t.dataDir, "pid": pid})
	} else {
		fmt.Fprintf(out, "Serving until interrupted (Ctrl-C):\n  baseline  %s\n  valet     %s (admin API %s, data %s)\n\n", t.baseline, t.valet, t.adminURL, t.dataDir)
		fmt.Fprintf(out, "Load them from another process, on other CPUs, for example:\n  taskset -c 0 valet bench --target %s --baseline-url %s --admin-url %s --data %s --pid %d\n",
			t.valet, t.baseline, t.adminURL, t.dataDir, pid)
	}
	<-ctx.Done()
	return nil
}
