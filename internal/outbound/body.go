package outbound

import (
	"errors"
	"io"
)

// ErrBodyTooLarge is returned by a response body read past the Client's
// MaxBodyBytes. The limit is a hard stop, never a silent truncation: a
// document cut short might still parse.
var ErrBodyTooLarge = errors.New("outbound: response body exceeds the size limit")

// limitedBody is a response body that fails once more than the limit has
// been read, and that frees the request's resources when closed.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64 // bytes still allowed
	err       error // sticky ErrBodyTooLarge
	onClose   func()
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for one byte more than allowed, to tell a body of exactly the
	// limit from a longer one.
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.remaining {
		b.remaining -= int64(n)
		return n, err
	}
	n = int(b.remaining)
	b.remaining = 0
	b.err = ErrBodyTooLarge
	return n, b.err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.onClose()
	return err
}
