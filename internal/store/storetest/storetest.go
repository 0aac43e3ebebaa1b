package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// test is one subtest of the contract, run on a fresh store.
type test struct {
	group, name string
	run         func(t *testing.T, st valet.Store)
}

// tests is the contract, in the order Run runs it.
var tests = []test{
	{"Store", "AllFields", testAllFields},
	{"Store", "Ping", testPing},
	{"Times", "RoundTripUTC", testTimesRoundTripUTC},
	{"Clients", "CRUD", testClientsCRUD},
	{"Clients", "NotFoundAndExists", testClientsErrors},
	{"Clients", "UpdateAbort", testClientsUpdateAbort},
	{"Clients", "UpdateIsAtomic", testClientsUpdateIsAtomic},
	{"Clients", "NilAndEmptyLists", testClientsNilAndEmptyLists},
	{"Users", "CRUD", testUsersCRUD},
	{"Users", "NotFoundAndExists", testUsersErrors},
	{"Users", "UpdateAbort", testUsersUpdateAbort},
	{"Users", "Claims", testUsersClaims},
	{"Sessions", "CRUD", testSessionsCRUD},
	{"Sessions", "SIDUnique", testSessionsSIDUnique},
	{"Sessions", "Expiry", testSessionsExpiry},
	{"Sessions", "DeleteByUser", testSessionsDeleteByUser},
	{"Consents", "PutGetDelete", testConsents},
	{"Codes", "CreateGet", testCodesCreateGet},
	{"Codes", "ConsumeOnce", testCodesConsumeOnce},
	{"Codes", "ConsumeRefused", testCodesConsumeRefused},
	{"Codes", "DeleteExpired", testCodesDeleteExpired},
	{"Refresh", "CreateGet", testRefreshCreateGet},
	{"Refresh", "RotateOnce", testRefreshRotateOnce},
	{"Refresh", "RotateRefused", testRefreshRotateRefused},
	{"Refresh", "RevokeFamily", testRefreshRevokeFamily},
	{"Refresh", "RevokeFor", testRefreshRevokeFor},
	{"Refresh", "DeleteExpired", testRefreshDeleteExpired},
	{"Access", "CRUD", testAccessCRUD},
	{"Access", "DeleteExpired", testAccessDeleteExpired},
	{"Revocations", "AddAnyRevoked", testRevocations},
	{"Replays", "UseOnce", testReplaysUseOnce},
	{"Replays", "DeleteExpired", testReplaysDeleteExpired},
	{"Keys", "CreateList", testKeysCreateList},
	{"Keys", "CreateFirst", testKeysCreateFirst},
	{"Keys", "Retire", testKeysRetire},
	{"Keys", "Rotate", testKeysRotate},
	{"Keys", "RotateOnce", testKeysRotateOnce},
	{"Keys", "RotateFirstKey", testKeysRotateFirstKey},
	{"Keys", "DeleteExpired", testKeysDeleteExpired},
	{"Cascade", "DeleteClient", testCascadeClient},
	{"Cascade", "DeleteUser", testCascadeUser},
	{"Errors", "UnknownReference", testUnknownReference},
}

// Run runs the storage contract against stores made by newStore, which must
// return an empty, migrated store and close it via t.Cleanup. Every leaf
// subtest (Clients/CRUD, Codes/ConsumeOnce, ...) gets a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) valet.Store) {
	var groups []string
	byGroup := map[string][]test{}
	for _, tc := range tests {
		if _, ok := byGroup[tc.group]; !ok {
			groups = append(groups, tc.group)
		}
		byGroup[tc.group] = append(byGroup[tc.group], tc)
	}
	for _, g := range groups {
		t.Run(g, func(t *testing.T) {
			for _, tc := range byGroup[g] {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
			}
		})
	}
}

// zone is a location other than UTC: a store that keeps the caller's
// location, or reads its own back as local time, fails the comparisons.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 is the "now" of most tests, at microsecond precision, the precision
// every store keeps.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 891234000, zone)

// errBoom is what Update callbacks return to abort.
var errBoom = errors.New("storetest: callback refused")

// race runs fn(0) to fn(n-1) in n goroutines released together by a barrier
// once all have started, and waits for all of them. fn must not call
// t.Fatal; it records results for the caller to check.
func race(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			<-start
			fn(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// warm has n callers run fn at once before a race, so that a backend with a
// connection pool has n connections open: otherwise the first racer may
// finish before the others have connected, and a race goes unseen.
func warm(t *testing.T, n int, fn func() error) {
	t.Helper()
	errs := make([]error, n)
	race(n, func(i int) { errs[i] = fn() })
	for _, err := range errs {
		ok(t, "warming up", err)
	}
}

// fill sets every exported field of the struct *v to a distinct non-zero
// value derived from tag, so that a store which drops a field, including one
// added to the vocabulary after this suite was written, fails a round trip.
func fill(t *testing.T, v any, tag string) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f, sf := rv.Field(i), rv.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		name := tag + "-" + sf.Name
		switch {
		case sf.Type == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(t0.Add(time.Duration(i+1) * time.Minute)))
		case sf.Type.Kind() == reflect.String:
			f.SetString(name + " ünï\"'")
		case sf.Type == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{name + "-1", name + "-2"}))
		case sf.Type == reflect.TypeFor[[]byte]():
			f.Set(reflect.ValueOf(append([]byte(name), 0, 0xff)))
		case sf.Type.Kind() == reflect.Bool:
			f.SetBool(true)
		case sf.Type == reflect.TypeFor[map[string]any]():
			f.Set(reflect.ValueOf(jsonObject(name)))
		default:
			t.Fatalf("storetest: fill does not know how to fill %s.%s (%s); teach it", rv.Type(), sf.Name, sf.Type)
		}
	}
}

// jsonObject is a map of every kind of JSON value, as encoding/json decodes
// them with UseNumber: numbers are json.Number, kept exactly as written. A
// store that reads numbers as float64 rounds the integer above 2^53; one that
// normalizes them (jsonb) rewrites the fraction.
func jsonObject(tag string) map[string]any {
	return map[string]any{
		tag:       tag + " ünï\"'\u2028<>&",
		"integer": json.Number("12345678901234567891"),
		"number":  json.Number("-1.50e-7"),
		"true":    true,
		"false":   false,
		"null":    nil,
		"list":    []any{"a", json.Number("1"), false, nil, []any{}},
		"object":  map[string]any{"nested": map[string]any{}, "": "empty key"},
	}
}

// inUTC returns a copy of the struct *v with every time converted to UTC and
// its monotonic reading dropped, for reflect.DeepEqual. If got is set, it
// also reports any non-zero time that is not in UTC.
func inUTC(t *testing.T, v any, got bool) any {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	for i := range cp.NumField() {
		f := cp.Field(i)
		if f.Type() != reflect.TypeFor[time.Time]() || !f.CanSet() {
			continue
		}
		tm := f.Interface().(time.Time)
		if got && !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s.%s = %v is in %v; stores return UTC", rv.Type(), rv.Type().Field(i).Name, tm, tm.Location())
		}
		f.Set(reflect.ValueOf(tm.UTC()))
	}
	return cp.Interface()
}

// same reports, as a test error, any difference between the struct pointers
// want and got other than their times' locations; got's times must be UTC.
func same[T any](t *testing.T, what string, want, got *T) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got nil, want %+v", what, *want)
		return
	}
	w, g := inUTC(t, want, false), inUTC(t, got, true)
	if !reflect.DeepEqual(w, g) {
		t.Errorf("%s differs:\n got %+v\nwant %+v", what, g, w)
	}
}

// is fails the test unless errors.Is(err, target).
func is(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// ok fails the test if err is not nil.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ids[T any](items []*T, id func(*T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func testAllFields(t *testing.T, st valet.Store) {
	v := reflect.ValueOf(st)
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Errorf("Store.%s is nil; every field must be set", v.Type().Field(i).Name)
		}
	}
}

func testPing(t *testing.T, st valet.Store) {
	if st.Ping == nil {
		t.Fatal("Store.Ping is nil")
	}
	ok(t, "Ping", st.Ping(t.Context()))
}
