package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBench runs valet bench end to end, briefly: it starts the baseline and
// a zero-configuration valet serve, registers its clients, and reports every
// scenario without an error. It asserts counts, never speed.
func TestBench(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	out, errOut, err := runValet(t, "", "bench", "--duration", "300ms", "--warmup", "0s", "--concurrency", "2", "--json")
	if err != nil {
		t.Fatalf("valet bench: %v\n%s", err, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		if s.Requests == 0 || s.Errors != 0 || s.RPS <= 0 {
			t.Errorf("%s: %d requests, %d errors (%s)", s.Name, s.Requests, s.Errors, s.FirstError)
		}
	}
	if strings.Join(names, " ") != "baseline cc-jwt cc-opaque introspect-jwt introspect-opaque" || rep.Scenarios[0].Ratio != 1 {
		t.Errorf("scenarios %v, baseline ratio %v", names, rep.Scenarios[0].Ratio)
	}
	if rep.Memory == nil || rep.Memory.MaxRSSMB <= 0 {
		t.Errorf("no resident memory reported: %+v", rep.Memory)
	}
	if !strings.Contains(errOut, "[5/5] introspect-opaque") {
		t.Errorf("no progress line per scenario:\n%s", errOut)
	}
}

func TestBenchRefusesOtherHosts(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--target", "http://10.0.0.1:8080"},
		{"bench", "--target", "http://127.0.0.1:1", "--baseline-url", "http://example.com"},
		{"bench", "--target", "http://127.0.0.1:1", "--admin-url", "http://192.0.2.1:8081", "--admin-token", "x"},
	} {
		_, _, err := runValet(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("valet %s: %v, want a refusal", strings.Join(args, " "), err)
		}
	}
}

// TestBenchQueuedWrites runs the opaque scenarios against the opt-in
// access_token_writes: queued, and checks the flag's refusals.
func TestBenchQueuedWrites(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	out, errOut, err := runValet(t, "", "bench", "--duration", "300ms", "--warmup", "0s", "--concurrency", "2", "--json",
		"--scenario", "cc-opaque,introspect-opaque", "--access-token-writes", "queued")
	if err != nil {
		t.Fatalf("valet bench: %v\n%s", err, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Scenarios) != 3 {
		t.Fatalf("scenarios %+v", rep.Scenarios)
	}
	for _, s := range rep.Scenarios {
		if s.Requests == 0 || s.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (%s)", s.Name, s.Requests, s.Errors, s.FirstError)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--access-token-writes", "later"}, "want committed or queued"},
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--access-token-writes", "queued"}, "its own configuration"},
	} {
		if _, _, err := runValet(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("valet %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
