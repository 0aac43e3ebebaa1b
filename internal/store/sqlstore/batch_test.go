package sqlstore

import (
	"fmt"
	"testing"
	"time"
)

// TestDeleteExpiredInBatches leaves more expired rows than one DELETE
// removes: DeleteExpired must loop, count them all, and keep the live ones.
func TestDeleteExpiredInBatches(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
		const expired, live = 2*deleteBatch + 7, 3
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		stmt, err := tx.PrepareContext(ctx, db.q("INSERT INTO revocations (id, expires_at) VALUES (?, ?)"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range expired + live {
			exp := now.Add(-time.Duration(i) * time.Second) // i == 0 expires at now: expired
			if i >= expired {
				exp = now.Add(time.Duration(i) * time.Second)
			}
			if _, err := stmt.ExecContext(ctx, fmt.Sprintf("jti-%d", i), micros(exp)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		n, err := db.Store().Revocations.DeleteExpired(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != expired {
			t.Errorf("DeleteExpired = %d, want %d", n, expired)
		}
		var left int
		if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM revocations").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != live {
			t.Errorf("%d rows left, want the %d live ones", left, live)
		}
	})
}
