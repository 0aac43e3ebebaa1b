package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
)

// users is the valet.UserStore; the username column is UNIQUE.
type users struct{ db *DB }

const userColumns = "id, username, email, email_verified, name, claims, password_hash, created_at, updated_at"

func scanUser(r row) (*valet.User, error) {
	var u valet.User
	if err := r.Scan(&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.Name, obj(&u.Claims), &u.PasswordHash,
		at(&u.CreatedAt), at(&u.UpdatedAt)); err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *users) Create(ctx context.Context, u *valet.User) error {
	const op = "create user"
	claims, err := object(u.Claims)
	if err != nil {
		return fmt.Errorf("%s: claims: %w", op, err)
	}
	_, err = s.db.exec(ctx, s.db.ws, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.Email, u.EmailVerified, u.Name, claims, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt))
	return wrap(op, err)
}

func (s *users) Get(ctx context.Context, id string) (*valet.User, error) {
	u, err := scanUser(s.db.queryRow(ctx, s.db.rs, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, wrap("get user", err)
}

func (s *users) GetByUsername(ctx context.Context, username string) (*valet.User, error) {
	u, err := scanUser(s.db.queryRow(ctx, s.db.rs, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	return u, wrap("get user by username", err)
}

func (s *users) List(ctx context.Context) ([]*valet.User, error) {
	rows, err := s.db.query(ctx, s.db.rs, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []*valet.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, wrap("list users", rows.Err())
}

func (s *users) Update(ctx context.Context, id string, fn func(*valet.User) error) error {
	const op = "update user"
	return s.db.tx(ctx, op, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, s.db.q(`SELECT `+userColumns+` FROM users WHERE id = ?`+s.db.forUpdate), id))
		if err != nil {
			return wrap(op, err)
		}
		if err := fn(u); err != nil {
			return err
		}
		if u.ID != id {
			return errors.New("update user: the user ID cannot change")
		}
		claims, err := object(u.Claims)
		if err != nil {
			return fmt.Errorf("%s: claims: %w", op, err)
		}
		_, err = tx.ExecContext(ctx, s.db.q(`UPDATE users SET username = ?, email = ?, email_verified = ?, name = ?, claims = ?,
			password_hash = ?, created_at = ?, updated_at = ? WHERE id = ?`),
			u.Username, u.Email, u.EmailVerified, u.Name, claims, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt), id)
		return wrap(op, err) // ErrExists when the new username is taken
	})
}

// Delete removes the user; the database cascades to their sessions,
// consents, codes and refresh tokens.
func (s *users) Delete(ctx context.Context, id string) error {
	n, err := affected(s.db.exec(ctx, s.db.ws, `DELETE FROM users WHERE id = ?`, id))
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return wrap("delete user", err)
}
