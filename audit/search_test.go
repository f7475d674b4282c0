package audit

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
)

func TestSearch(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg Config) {
		l := open(t, cfg)
		ctx := context.Background()
		// 30 reads: users u0..u2, organisations ORG0/ORG1, patients p0..p4, a second apart.
		appendN(t, l, 30)
		// A search that returned three patients is found by each of them.
		multi := &Event{Time: epoch.Add(time.Hour), UserID: "u9", Organization: "ORG9", Interaction: SearchType,
			Patients: []Patient{{ID: "p1"}, {ID: "p2"}, {ID: "p3"}}, Query: "Patient?name=smith"}
		if err := l.Append(ctx, multi); err != nil {
			t.Fatal(err)
		}

		// all pages through the results count at a time.
		all := func(q Query) []int64 {
			t.Helper()
			var seqs []int64
			for pages := 0; ; pages++ {
				got, next, err := l.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if pages > 50 {
					t.Fatal("paging does not end")
				}
				for _, e := range got {
					seqs = append(seqs, e.Seq)
					res, err := fhir.Parse(e.JSON)
					if err != nil {
						t.Fatalf("entry %d: %v", e.Seq, err)
					}
					if res.ID != fmt.Sprint(e.Seq) {
						t.Fatalf("entry %d has id %q", e.Seq, res.ID)
					}
				}
				if next == "" {
					return seqs
				}
				q.Cursor = next
			}
		}
		// want lists the sequence numbers matching f, newest first.
		want := func(f func(i int) bool) []int64 {
			var seqs []int64
			for i := 29; i >= 0; i-- {
				if f(i) {
					seqs = append(seqs, int64(i+1))
				}
			}
			return seqs
		}
		check := func(name string, q Query, w []int64) {
			t.Helper()
			if got := all(q); !slices.Equal(got, w) {
				t.Errorf("%s: got %v, want %v", name, got, w)
			}
		}
		check("patient p1", Query{Patient: "p1", Count: 2}, append([]int64{31}, want(func(i int) bool { return i%5 == 1 })...))
		check("patient p4", Query{Patient: "p4", Count: 4}, want(func(i int) bool { return i%5 == 4 }))
		check("user u2", Query{User: "u2", Count: 3}, want(func(i int) bool { return i%3 == 2 }))
		check("organisation ORG1", Query{Organization: "ORG1", Count: 7}, want(func(i int) bool { return i%2 == 1 }))
		check("patient and user", Query{Patient: "p0", User: "u0", Count: 1}, want(func(i int) bool { return i%5 == 0 && i%3 == 0 }))
		check("since and until", Query{Since: epoch.Add(10 * time.Second), Until: epoch.Add(20 * time.Second), Count: 4},
			want(func(i int) bool { return i >= 10 && i < 20 }))
		check("patient since", Query{Patient: "p2", Since: epoch.Add(15 * time.Second)},
			append([]int64{31}, want(func(i int) bool { return i%5 == 2 && i >= 15 })...))
		check("everything", Query{Count: 1000}, append([]int64{31}, want(func(int) bool { return true })...))
		check("nobody", Query{User: "nobody"}, nil)

		// The first page holds 20 by default.
		got, next, err := l.Search(ctx, Query{})
		if err != nil || len(got) != 20 || next == "" {
			t.Fatalf("default page: %d entries, next %q, %v", len(got), next, err)
		}
		// Entries appended after a page was served do not shift the next page.
		appendN(t, l, 3)
		rest, _, err := l.Search(ctx, Query{Cursor: next, Count: 100})
		if err != nil || len(rest) != 11 || rest[0].Seq != got[19].Seq-1 {
			t.Fatalf("next page after appends: %d entries, %v", len(rest), err)
		}
		if _, _, err := l.Search(ctx, Query{Cursor: "not-a-cursor"}); err == nil {
			t.Fatal("bad cursor: no error")
		}
	})
}
