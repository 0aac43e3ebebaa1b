package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/store/sqltest"
)

// benchGoroutines is how many goroutines each parallel benchmark runs, about
// what a loaded token endpoint has in flight.
const benchGoroutines = 16

// openTB opens and migrates url for a benchmark or test, closed at its end.
func openTB(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

// benchBackends runs fn on SQLite and, when VALET_TEST_POSTGRES is set, on
// PostgreSQL.
func benchBackends(b *testing.B, fn func(b *testing.B, db *DB)) {
	b.Run("sqlite", func(b *testing.B) {
		fn(b, openTB(b, "sqlite://"+b.TempDir()+"/valet.db"))
	})
	if os.Getenv("VALET_TEST_POSTGRES") != "" {
		b.Run("postgres", func(b *testing.B) {
			fn(b, openTB(b, sqltest.FreshSchema(b, sqltest.PostgresURL(b))))
		})
	}
}

// parallel runs body on benchGoroutines goroutines.
func parallel(b *testing.B, body func(pb *testing.PB)) {
	b.SetParallelism(max(1, benchGoroutines/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(body)
}

var benchNow = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

func benchClient(b testing.TB, st valet.Store, id string) {
	b.Helper()
	c := &valet.Client{ID: id, SecretDigest: "digest", Name: "Bench", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"read", "write"}, TokenEndpointAuthMethod: "client_secret_basic", CreatedAt: benchNow}
	if err := st.Clients.Create(context.Background(), c); err != nil {
		b.Fatal(err)
	}
}

// benchDigest is a digest shaped like a real one, base64url HMAC-SHA-256:
// 43 characters, in no order, so inserts land all over the index.
func benchDigest(format string, args ...any) string {
	sum := sha256.Sum256(fmt.Appendf(nil, format, args...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func benchToken(digest, clientID string) *valet.AccessToken {
	return &valet.AccessToken{Digest: digest, ID: "jti-" + digest, ClientID: clientID, Subject: clientID,
		Scopes: []string{"read"}, Audience: []string{"https://api.example"},
		CreatedAt: benchNow, ExpiresAt: benchNow.Add(time.Hour)}
}

func BenchmarkClientsGet(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		st := db.Store()
		benchClient(b, st, "bench")
		parallel(b, func(pb *testing.PB) {
			for pb.Next() {
				if _, err := st.Clients.Get(context.Background(), "bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkAccessGet(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		st := db.Store()
		benchClient(b, st, "bench")
		const n = 1024
		for i := range n {
			if err := st.Access.Create(context.Background(), benchToken(benchDigest("tok-%d", i), "bench")); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		parallel(b, func(pb *testing.PB) {
			for pb.Next() {
				d := benchDigest("tok-%d", next.Add(1)%n)
				if _, err := st.Access.Get(context.Background(), d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkAccessCreate(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		st := db.Store()
		benchClient(b, st, "bench")
		var next atomic.Int64
		run := time.Now().UnixNano() // b.N grows over runs on the same database
		parallel(b, func(pb *testing.PB) {
			for pb.Next() {
				t := benchToken(benchDigest("new-%d-%d", run, next.Add(1)), "bench")
				if err := st.Access.Create(context.Background(), t); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkRevocationsAnyRevoked(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		st := db.Store()
		for i := range 1024 {
			if err := st.Revocations.Add(context.Background(), fmt.Sprintf("rev-%d", i), benchNow.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		parallel(b, func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				// A JWT's jti and its grant: the introspection check.
				if _, err := st.Revocations.AnyRevoked(context.Background(), fmt.Sprintf("jti-%d", i), fmt.Sprintf("rev-%d", i%2048)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
