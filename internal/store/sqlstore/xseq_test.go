package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func BenchmarkXSeqWrite(b *testing.B) {
	for _, size := range []int{4, 8, 16} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			db := openTB(b, "sqlite://"+b.TempDir()+"/valet.db")
			benchClient(b, db.Store(), "bench")
			q := db.accessQ
			ms := time.Now().UnixMilli()
			seq := 0
			mk := func() *accessReq {
				seq++
				d := fmt.Sprintf("%012x.%s", ms+int64(seq/10), benchDigest("w-%d", seq))
				tok := benchToken(d, "bench")
				tok.ExpiresAt = time.UnixMilli(ms + int64(seq/10)).Add(time.Hour)
				return &accessReq{ctx: context.Background(), args: accessArgs(tok), res: make(chan error, 1)}
			}
			reqs := make([]*accessReq, size)
			fill := func(n int) {
				for i := 0; i < n; i += size {
					for j := range reqs {
						reqs[j] = mk()
					}
					q.write(reqs)
					for _, r := range reqs {
						if err := <-r.res; err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			fill(50000)
			b.ResetTimer()
			fill(b.N)
		})
	}
}
