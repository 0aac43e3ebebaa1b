package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDeleteExpiredInBatches leaves more expired rows than one DELETE
// removes: DeleteExpired must loop, count them all, and keep the live ones.
func TestDeleteExpiredInBatches(t *testing.T) {
	for _, tc := range []struct {
		table  string
		insert string // of one row from an ID and an expiry
		delete func(db *DB, ctx context.Context, now time.Time) (int, error)
	}{
		{"revocations", "INSERT INTO revocations (id, expires_at) VALUES (?, ?)",
			func(db *DB, ctx context.Context, now time.Time) (int, error) {
				return db.Store().Revocations.DeleteExpired(ctx, now)
			}},
		{"access_tokens", `INSERT INTO access_tokens (digest, id, grant_id, client_id, subject, scopes, audience, created_at, expires_at)
			VALUES (?, 'jti', '', 'c', 'c', '[]', '[]', 0, ?)`,
			func(db *DB, ctx context.Context, now time.Time) (int, error) {
				return db.Store().Access.DeleteExpired(ctx, now)
			}},
	} {
		t.Run(tc.table, func(t *testing.T) {
			backends(t, func(t *testing.T, db *DB) { deleteInBatches(t, db, tc.table, tc.insert, tc.delete) })
		})
	}
}

func deleteInBatches(t *testing.T, db *DB, table, insert string, deleteExpired func(*DB, context.Context, time.Time) (int, error)) {
	ctx := t.Context()
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	const expired, live = 2*deleteBatch + 7, 3
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO clients (id, secret_digest, metadata, created_at) VALUES ('c', '', '{}', 0)"); err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, db.q(insert))
	if err != nil {
		t.Fatal(err)
	}
	for i := range expired + live {
		exp := now.Add(-time.Duration(i) * time.Second) // i == 0 expires at now: expired
		if i >= expired {
			exp = now.Add(time.Duration(i) * time.Second)
		}
		if _, err := stmt.ExecContext(ctx, fmt.Sprintf("row-%d", i), micros(exp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	n, err := deleteExpired(db, ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != expired {
		t.Errorf("DeleteExpired = %d, want %d", n, expired)
	}
	var left int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != live {
		t.Errorf("%d rows left, want the %d live ones", left, live)
	}
}
