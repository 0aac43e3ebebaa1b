package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMedianKeepsTheMiddleRunAndCountsAll(t *testing.T) {
	runs := []*Comparison{
		{Name: "s", Ratio: 0.5, Result: &Result{Requests: 10, Errors: 0, P50: 5, ErrorsByStatus: map[int]int64{}, OtherCPU: 0.01}},
		{Name: "s", Ratio: 0.2, Result: &Result{Requests: 20, Errors: 2, P50: 2, ErrorsByStatus: map[int]int64{503: 2}, FirstError: "first", OtherCPU: 0.3}},
		{Name: "s", Ratio: 0.4, Result: &Result{Requests: 30, Errors: 1, P50: 4, ErrorsByStatus: map[int]int64{503: 1}, FirstError: "second", OtherCPU: 0.02}},
	}
	m := median(runs)
	if m.Ratio != 0.4 || m.P50 != 4 || m.RatioMin != 0.2 || m.RatioMax != 0.5 || m.OtherCPU != 0.02 || m.OtherCPUMax != 0.3 {
		t.Errorf("median %+v, want the 0.4 run with spread 0.2 to 0.5", m)
	}
	if m.AllRequests != 60 || m.AllErrors != 3 || m.ErrorsByStatus[503] != 3 || m.FirstError != "first" {
		t.Errorf("totals %d requests, %d errors, %v, %q", m.AllRequests, m.AllErrors, m.ErrorsByStatus, m.FirstError)
	}
	if runs[2].ErrorsByStatus[503] != 1 || runs[2].FirstError != "second" {
		t.Error("median changed the runs it was given")
	}
}

func TestCompare(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write(CeilingBody)
	}))
	defer srv.Close()
	prepared := map[string]int{}
	scenario := func(name, path string) Scenario {
		return Scenario{Name: name, Prepare: func(context.Context) (Config, error) {
			prepared[name]++
			return Config{Concurrency: 2, Duration: 100 * time.Millisecond, NewRequest: func(int) (*http.Request, error) {
				return http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("x=1"))
			}}, nil
		}}
	}
	type heard struct {
		round, index int
		name         string
		requests     int64
		ratio        float64
	}
	var runs []heard
	out, err := Compare(context.Background(), scenario("base", "/"), []Scenario{scenario("same", "/"), scenario("fail", "/fail")}, 3,
		func(round, index int, name string, r *Result, ratio float64) {
			runs = append(runs, heard{round, index, name, r.Requests, ratio})
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 9 || len(out) != 3 {
		t.Fatalf("heard %d runs, got %d comparisons; want 9 and 3", len(runs), len(out))
	}
	for i, h := range runs {
		if h.round != i/3 || h.index != i%3 || h.name != []string{"base", "same", "fail"}[i%3] {
			t.Errorf("run %d: %+v, out of order", i, h)
		}
	}
	for _, name := range []string{"base", "same", "fail"} {
		if prepared[name] != 3 {
			t.Errorf("%s prepared %d times, want once a round", name, prepared[name])
		}
	}
	for i, c := range out {
		var sum int64
		for _, h := range runs {
			if h.index == i {
				sum += h.requests
			}
		}
		if c.AllRequests != sum || !(c.RatioMin <= c.Ratio && c.Ratio <= c.RatioMax) {
			t.Errorf("%s: %d requests in all, heard %d; ratio %v not within [%v, %v]", c.Name, c.AllRequests, sum, c.Ratio, c.RatioMin, c.RatioMax)
		}
	}
	if b := out[0]; b.Ratio != 1 || b.RatioMin != 1 || b.RatioMax != 1 || b.AllErrors != 0 || b.OtherCPUMax != -1 {
		t.Errorf("baseline %+v: want ratio 1 and no errors", b)
	}
	if f := out[2]; f.AllErrors != f.AllRequests || f.ErrorsByStatus[503] != f.AllRequests || !strings.Contains(f.FirstError, "503") {
		t.Errorf("failing scenario: %d errors of %d, %v, %q", f.AllErrors, f.AllRequests, f.ErrorsByStatus, f.FirstError)
	}
}

func TestCompareStopsAtAFailedPreparation(t *testing.T) {
	fails := Scenario{Name: "introspect", Prepare: func(context.Context) (Config, error) { return Config{}, errors.New("no token") }}
	base := Scenario{Name: "base", Prepare: func(context.Context) (Config, error) {
		return Config{}, fmt.Errorf("unreachable")
	}}
	_, err := Compare(context.Background(), fails, []Scenario{base}, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "introspect: no token") {
		t.Fatalf("got %v, want the scenario's name and its error", err)
	}
	if _, err := Compare(context.Background(), base, nil, 0, nil); err == nil {
		t.Fatal("zero rounds accepted")
	}
}

func TestThisMachine(t *testing.T) {
	m := ThisMachine()
	if m.CPUs < 1 || m.GOMAXPROCS < 1 || !strings.HasPrefix(m.Go, "go") || m.CPUModel == "" {
		t.Fatalf("implausible %+v", m)
	}
}
