// Package storetest is the conformance suite every store.Store backend must pass, and the
// write benchmark they share. Backends call Run and BenchPut from their own tests with a
// function that opens an empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// Opener returns an empty store and arranges (t.Cleanup) for it to be closed and removed.
type Opener func(t *testing.T) store.Store

// Run runs every conformance test, each on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateRead", testCreateRead},
		{"UpdateArchivesVersion", testUpdateArchivesVersion},
		{"MetaStamped", testMetaStamped},
		{"LastUpdatedIncreases", testLastUpdatedIncreases},
		{"CreateOnly", testCreateOnly},
		{"IfMatch", testIfMatch},
		{"Delete", testDelete},
		{"RecreateAfterDelete", testRecreateAfterDelete},
		{"SameResourceTwiceInTx", testSameResourceTwiceInTx},
		{"History", testHistory},
		{"HistoryPaging", testHistoryPaging},
		{"Rollback", testRollback},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
		{"MatchSeesOwnWrites", testMatchSeesOwnWrites},
		{"SearchFilters", testSearchFilters},
		{"IndexFollowsVersions", testIndexFollowsVersions},
		{"Includes", testIncludes},
		{"SearchPaging", testSearchPaging},
		{"BadCursor", testBadCursor},
		{"Sort", testSort},
		{"ConcurrentFailures", testConcurrentFailures},
		{"PatientDateSort", testPatientDateSort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Fixtures.

func parse(t testing.TB, js string) *fhir.Resource {
	t.Helper()
	r, err := fhir.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return r
}

func patient(t testing.TB, id, family string) *store.Put {
	r := parse(t, fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":%q}]}`, id, family))
	return &store.Put{Resource: r, Index: &search.Index{
		Strings:  []search.StringRow{{Param: search.ParamID("Patient", "family"), Norm: family, Exact: family}},
		Tokens:   []search.TokenRow{{Param: search.ParamID("Patient", "_id"), Code: id}},
		Patients: []string{id},
	}}
}

const loinc = "http://loinc.org"

// observation has code system|code and references subject (a Patient) and, if set, a
// performer (a Practitioner).
func observation(t testing.TB, id, code, subject, performer string) *store.Put {
	js := fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":%q,"code":%q}]},"subject":{"reference":"Patient/%s"}`, id, loinc, code, subject)
	ix := &search.Index{
		Tokens: []search.TokenRow{
			{Param: search.ParamID("Observation", "code"), System: loinc, Code: code},
			{Param: search.ParamID("Observation", "status"), System: "http://hl7.org/fhir/observation-status", Code: "final"},
		},
		References: []search.ReferenceRow{
			{Param: search.ParamID("Observation", "subject"), TargetType: "Patient", TargetID: subject},
			{Param: search.ParamID("Observation", "patient"), TargetType: "Patient", TargetID: subject},
		},
		Patients: []string{subject},
	}
	if performer != "" {
		js += fmt.Sprintf(`,"performer":[{"reference":"Practitioner/%s"}]`, performer)
		ix.References = append(ix.References, search.ReferenceRow{Param: search.ParamID("Observation", "performer"), TargetType: "Practitioner", TargetID: performer})
	}
	return &store.Put{Resource: parse(t, js+"}"), Index: ix}
}

func practitioner(t testing.TB, id string) *store.Put {
	return &store.Put{Resource: parse(t, fmt.Sprintf(`{"resourceType":"Practitioner","id":%q}`, id)), Index: &search.Index{}}
}

func param(t testing.TB, typ, code string) *definitions.SearchParam {
	t.Helper()
	p := definitions.R4().SearchParam(typ, code)
	if p == nil {
		t.Fatalf("no search parameter %s.%s", typ, code)
	}
	return p
}

func idFilter(t testing.TB, typ string, ids ...string) *search.Filter {
	f := &search.Filter{Param: param(t, typ, "_id"), ResourceType: typ}
	for _, id := range ids {
		f.Values = append(f.Values, search.Value{Raw: id, Code: id})
	}
	return f
}

// tokenFilter matches system|code, or code in any system when system is "".
func tokenFilter(t testing.TB, typ, code, system, value string) *search.Filter {
	raw := value
	if system != "" {
		raw = system + "|" + value
	}
	return &search.Filter{Param: param(t, typ, code), ResourceType: typ,
		Values: []search.Value{{Raw: raw, System: system, Code: value, HasSystem: system != ""}}}
}

// codeSetFilter is Observation.code with a terminology modifier, resolved to codes.
func codeSetFilter(t testing.TB, modifier string, codes map[string][]string) *search.Filter {
	return &search.Filter{Param: param(t, "Observation", "code"), ResourceType: "Observation", Modifier: modifier,
		Values: []search.Value{{Raw: "http://example.org/vs", Codes: codes}}}
}

// manyCodes is n codes that match nothing, with the given ones among them.
func manyCodes(n int, codes ...string) []string {
	out := append([]string(nil), codes...)
	for i := range n {
		out = append(out, fmt.Sprintf("x%d", i))
	}
	return out
}

func refFilter(t testing.TB, typ, code, refType, refID string) *search.Filter {
	return &search.Filter{Param: param(t, typ, code), ResourceType: typ,
		Values: []search.Value{{Raw: refType + "/" + refID, RefType: refType, RefID: refID}}}
}

// Helpers.

func put(t testing.TB, s store.Store, puts ...*store.Put) []*store.Record {
	t.Helper()
	var out []*store.Record
	err := s.Update(context.Background(), func(tx store.Tx) error {
		out = out[:0]
		for _, p := range puts {
			r, err := tx.Put(context.Background(), p)
			if err != nil {
				return fmt.Errorf("put %s/%s: %w", p.Resource.Type, p.Resource.ID, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func del(t testing.TB, s store.Store, typ, id string) *store.Record {
	t.Helper()
	var rec *store.Record
	err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		rec, err = tx.Delete(context.Background(), typ, id, 0)
		return err
	})
	if err != nil {
		t.Fatalf("delete %s/%s: %v", typ, id, err)
	}
	return rec
}

// tryPut runs one Put in its own transaction and returns its error.
func tryPut(s store.Store, p *store.Put) (*store.Record, error) {
	var rec *store.Record
	err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		rec, err = tx.Put(context.Background(), p)
		return err
	})
	return rec, err
}

func sameRecord(t testing.TB, what string, got, want *store.Record) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	if got.Type != want.Type || got.ID != want.ID || got.Version != want.Version ||
		!got.LastUpdated.Equal(want.LastUpdated) || got.Deleted != want.Deleted || !bytes.Equal(got.Body, want.Body) {
		t.Errorf("%s:\n got %s/%s v%d %s deleted=%v %s\nwant %s/%s v%d %s deleted=%v %s", what,
			got.Type, got.ID, got.Version, got.LastUpdated.Format(time.RFC3339Nano), got.Deleted, got.Body,
			want.Type, want.ID, want.Version, want.LastUpdated.Format(time.RFC3339Nano), want.Deleted, want.Body)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func search1(t testing.TB, s store.Store, q *search.Query) *store.Result {
	t.Helper()
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	return res
}

func ids(recs []*store.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Type+"/"+r.ID)
	}
	return out
}

func sortedIDs(recs []*store.Record) []string {
	out := ids(recs)
	sort.Strings(out)
	return out
}

func sameStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// Tests.

func testCreateRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := put(t, s, patient(t, "p1", "Smith"))[0]
	if rec.Type != "Patient" || rec.ID != "p1" || rec.Version != 1 || rec.Deleted || rec.LastUpdated.IsZero() {
		t.Fatalf("put returned %+v", rec)
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "read", got, rec)
	got, err = s.VRead(ctx, "Patient", "p1", 1)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "vread 1", got, rec)
	for _, c := range []struct {
		typ, id string
		version int64
	}{{"Patient", "nope", 0}, {"Observation", "p1", 0}, {"Patient", "p1", 2}, {"Patient", "nope", 1}} {
		var err error
		if c.version == 0 {
			_, err = s.Read(ctx, c.typ, c.id)
		} else {
			_, err = s.VRead(ctx, c.typ, c.id, c.version)
		}
		wantErr(t, fmt.Sprintf("read %s/%s v%d", c.typ, c.id, c.version), err, store.ErrNotFound)
	}
}

func testUpdateArchivesVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1 := put(t, s, patient(t, "p1", "Smith"))[0]
	v2 := put(t, s, patient(t, "p1", "Jones"))[0]
	if v2.Version != 2 {
		t.Fatalf("second write made version %d", v2.Version)
	}
	if !bytes.Contains(v2.Body, []byte("Jones")) || !bytes.Contains(v1.Body, []byte("Smith")) {
		t.Fatalf("bodies: v1 %s v2 %s", v1.Body, v2.Body)
	}
	cur, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "read", cur, v2)
	for _, want := range []*store.Record{v1, v2} {
		got, err := s.VRead(ctx, "Patient", "p1", want.Version)
		if err != nil {
			t.Fatalf("vread %d: %v", want.Version, err)
		}
		sameRecord(t, fmt.Sprintf("vread %d", want.Version), got, want)
	}
	_, err = s.VRead(ctx, "Patient", "p1", 3)
	wantErr(t, "vread 3", err, store.ErrNotFound)
}

func testMetaStamped(t *testing.T, s store.Store) {
	// A client-supplied meta is replaced, not kept.
	p := patient(t, "p1", "Smith")
	p.Resource = parse(t, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"7","lastUpdated":"2001-01-01T00:00:00Z","source":"#a"}}`)
	for want := int64(1); want <= 2; want++ {
		rec := put(t, s, p)[0]
		body := parse(t, string(rec.Body))
		if body.ID != "p1" {
			t.Errorf("body id %q", body.ID)
		}
		vid, lu := body.Meta()
		if vid != strconv.FormatInt(want, 10) {
			t.Errorf("meta.versionId %q, want %d", vid, want)
		}
		ts, err := time.Parse(time.RFC3339Nano, lu)
		if err != nil {
			t.Fatalf("meta.lastUpdated %q: %v", lu, err)
		}
		// The body may carry the instant at a coarser precision than the record.
		if ts.After(rec.LastUpdated) || rec.LastUpdated.Sub(ts) >= time.Millisecond {
			t.Errorf("meta.lastUpdated %s, record %s", lu, rec.LastUpdated.Format(time.RFC3339Nano))
		}
		if !bytes.Contains(rec.Body, []byte(`"source":"#a"`)) {
			t.Errorf("other meta elements lost: %s", rec.Body)
		}
	}
}

func testLastUpdatedIncreases(t *testing.T, s store.Store) {
	var all []*store.Record
	for i := range 10 {
		all = append(all, put(t, s, patient(t, "p"+strconv.Itoa(i%3), "A"))...)
	}
	var batch []*store.Put
	for i := range 20 {
		batch = append(batch, patient(t, "q"+strconv.Itoa(i), "B"))
	}
	all = append(all, put(t, s, batch...)...)
	for i := 1; i < len(all); i++ {
		if !all[i].LastUpdated.After(all[i-1].LastUpdated) {
			t.Fatalf("write %d lastUpdated %s not after %s", i, all[i].LastUpdated.Format(time.RFC3339Nano), all[i-1].LastUpdated.Format(time.RFC3339Nano))
		}
	}
}

func testCreateOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := put(t, s, patient(t, "p1", "Smith"))[0]
	p := patient(t, "p1", "Jones")
	p.CreateOnly = true
	_, err := tryPut(s, p)
	wantErr(t, "create-only over a live resource", err, store.ErrExists)
	cur, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "after refused create", cur, first)
	// A deleted resource no longer exists for create-only purposes.
	del(t, s, "Patient", "p1")
	rec, err := tryPut(s, p)
	if err != nil {
		t.Fatalf("create-only after delete: %v", err)
	}
	if rec.Version != 3 {
		t.Errorf("version %d, want 3", rec.Version)
	}
	p2 := patient(t, "p2", "New")
	p2.CreateOnly = true
	if rec, err := tryPut(s, p2); err != nil || rec.Version != 1 {
		t.Fatalf("create-only of a new id: %v %v", rec, err)
	}
}

func testIfMatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, patient(t, "p1", "Smith"))
	put(t, s, patient(t, "p1", "Jones"))
	p := patient(t, "p1", "Brown")
	p.IfMatch = 1
	_, err := tryPut(s, p)
	wantErr(t, "stale If-Match", err, store.ErrVersionConflict)
	p.IfMatch = 2
	rec, err := tryPut(s, p)
	if err != nil || rec.Version != 3 {
		t.Fatalf("current If-Match: %v %v", rec, err)
	}
	absent := patient(t, "nope", "X")
	absent.IfMatch = 1
	_, err = tryPut(s, absent)
	wantErr(t, "If-Match on an absent resource", err, store.ErrVersionConflict)
	_, err = s.Read(ctx, "Patient", "nope")
	wantErr(t, "read after refused If-Match", err, store.ErrNotFound)

	err = s.Update(ctx, func(tx store.Tx) error { _, err := tx.Delete(ctx, "Patient", "p1", 2); return err })
	wantErr(t, "stale If-Match delete", err, store.ErrVersionConflict)
	err = s.Update(ctx, func(tx store.Tx) error { _, err := tx.Delete(ctx, "Patient", "p1", 3); return err })
	if err != nil {
		t.Fatalf("current If-Match delete: %v", err)
	}
	p.IfMatch = 4
	_, err = tryPut(s, p)
	wantErr(t, "If-Match on a deleted resource", err, store.ErrVersionConflict)
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1 := put(t, s, patient(t, "p1", "Smith"))[0]
	d := del(t, s, "Patient", "p1")
	if !d.Deleted || d.Version != 2 || d.Body != nil || !d.LastUpdated.After(v1.LastUpdated) {
		t.Fatalf("delete returned %+v", d)
	}
	got, err := s.Read(ctx, "Patient", "p1")
	wantErr(t, "read deleted", err, store.ErrGone)
	sameRecord(t, "read deleted", got, d)
	got, err = s.VRead(ctx, "Patient", "p1", 2)
	wantErr(t, "vread deletion", err, store.ErrGone)
	sameRecord(t, "vread deletion", got, d)
	got, err = s.VRead(ctx, "Patient", "p1", 1)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "vread before deletion", got, v1)

	var again *store.Record
	err = s.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Current(ctx, "Patient", "p1")
		if err != nil {
			return fmt.Errorf("current: %w", err)
		}
		if !cur.Deleted || cur.Version != 2 {
			return fmt.Errorf("current of a deleted resource: %+v", cur)
		}
		again, err = tx.Delete(ctx, "Patient", "p1", 0)
		return err
	})
	wantErr(t, "delete again", err, store.ErrGone)
	if again == nil || !again.Deleted || again.Version != 2 {
		t.Errorf("delete again returned %+v", again)
	}
	err = s.Update(ctx, func(tx store.Tx) error { _, err := tx.Delete(ctx, "Patient", "nope", 0); return err })
	wantErr(t, "delete absent", err, store.ErrNotFound)
	err = s.Update(ctx, func(tx store.Tx) error { _, err := tx.Current(ctx, "Patient", "nope"); return err })
	wantErr(t, "current absent", err, store.ErrNotFound)
	// Nothing was written by the refused deletes.
	h, err := s.History(ctx, store.HistoryRequest{Type: "Patient", ID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if h.Total != 2 || len(h.Records) != 2 {
		t.Errorf("history after refused deletes: total %d, %d records", h.Total, len(h.Records))
	}
	if res := search1(t, s, &search.Query{Type: "Patient"}); len(res.Matches) != 0 || res.Total != 0 {
		t.Errorf("search finds deleted resources: %v total %d", ids(res.Matches), res.Total)
	}
}

func testRecreateAfterDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, patient(t, "p1", "Smith"))
	del(t, s, "Patient", "p1")
	rec := put(t, s, patient(t, "p1", "Jones"))[0]
	if rec.Version != 3 {
		t.Fatalf("re-create made version %d, want 3", rec.Version)
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "read re-created", got, rec)
	if _, err := s.VRead(ctx, "Patient", "p1", 2); !errors.Is(err, store.ErrGone) {
		t.Errorf("vread 2: %v, want ErrGone", err)
	}
	res := search1(t, s, &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", "p1")}})
	sameStrings(t, "search re-created", ids(res.Matches), []string{"Patient/p1"})
}

func testSameResourceTwiceInTx(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs := put(t, s, observation(t, "o1", "111", "p1", ""), observation(t, "o1", "222", "p1", ""))
	if recs[0].Version != 1 || recs[1].Version != 2 {
		t.Fatalf("versions %d, %d", recs[0].Version, recs[1].Version)
	}
	if got, err := s.VRead(ctx, "Observation", "o1", 1); err != nil {
		t.Fatal(err)
	} else {
		sameRecord(t, "vread 1", got, recs[0])
	}
	for code, want := range map[string][]string{"111": {}, "222": {"Observation/o1"}} {
		res := search1(t, s, &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, code)}})
		sameStrings(t, "code "+code, ids(res.Matches), want)
	}
}

// historyFixture writes, in order: p1 v1, p2 v1, p1 v2, o1 v1, p1 v3 (deletion), p2 v2.
func historyFixture(t *testing.T, s store.Store) []*store.Record {
	var all []*store.Record
	all = append(all, put(t, s, patient(t, "p1", "A"))...)
	all = append(all, put(t, s, patient(t, "p2", "B"))...)
	all = append(all, put(t, s, patient(t, "p1", "C"))...)
	all = append(all, put(t, s, observation(t, "o1", "111", "p1", ""))...)
	all = append(all, del(t, s, "Patient", "p1"))
	all = append(all, put(t, s, patient(t, "p2", "D"))...)
	return all
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	all := historyFixture(t, s)
	p1v1, p2v1, p1v2, o1, p1v3, p2v2 := all[0], all[1], all[2], all[3], all[4], all[5]
	tests := []struct {
		name string
		req  store.HistoryRequest
		want []*store.Record
	}{
		{"instance", store.HistoryRequest{Type: "Patient", ID: "p1"}, []*store.Record{p1v3, p1v2, p1v1}},
		{"type", store.HistoryRequest{Type: "Patient"}, []*store.Record{p2v2, p1v3, p1v2, p2v1, p1v1}},
		{"system", store.HistoryRequest{}, []*store.Record{p2v2, p1v3, o1, p1v2, p2v1, p1v1}},
		{"absent instance", store.HistoryRequest{Type: "Patient", ID: "nope"}, nil},
		{"since", store.HistoryRequest{Since: p1v2.LastUpdated}, []*store.Record{p2v2, p1v3, o1, p1v2}},
		{"instance since", store.HistoryRequest{Type: "Patient", ID: "p1", Since: o1.LastUpdated}, []*store.Record{p1v3}},
		{"at", store.HistoryRequest{At: o1.LastUpdated}, []*store.Record{o1, p1v2, p2v1}},
		{"at between", store.HistoryRequest{Type: "Patient", At: p1v3.LastUpdated.Add(time.Microsecond)}, []*store.Record{p1v3, p2v1}},
		{"at before all", store.HistoryRequest{At: p1v1.LastUpdated.Add(-time.Second)}, nil},
		{"since and at", store.HistoryRequest{Since: p2v1.LastUpdated, At: p1v2.LastUpdated}, []*store.Record{p1v2, p2v1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.History(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != len(tc.want) || len(page.Records) != len(tc.want) || page.Next != "" {
				t.Fatalf("total %d, %d records %v, next %q; want %d", page.Total, len(page.Records), ids(page.Records), page.Next, len(tc.want))
			}
			for i := range tc.want {
				sameRecord(t, fmt.Sprintf("record %d", i), page.Records[i], tc.want[i])
			}
		})
	}
}

func testHistoryPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	var written []*store.Record
	// Several versions share a transaction, so some may be close together in time.
	for i := range 7 {
		var batch []*store.Put
		for j := range 3 {
			batch = append(batch, patient(t, "p"+strconv.Itoa((i+j)%5), "N"+strconv.Itoa(i)))
		}
		written = append(written, put(t, s, batch...)...)
	}
	for _, req := range []store.HistoryRequest{{}, {Type: "Patient"}, {Type: "Patient", ID: "p2"}, {Since: written[5].LastUpdated}} {
		for _, count := range []int{1, 2, 4, 50} {
			want := map[string]bool{}
			for _, r := range written {
				if (req.ID == "" || r.ID == req.ID) && !r.LastUpdated.Before(req.Since) {
					want[r.ID+"/"+strconv.FormatInt(r.Version, 10)] = true
				}
			}
			seen := map[string]bool{}
			var prev *store.Record
			req.Count, req.Cursor = count, ""
			for pages := 0; ; pages++ {
				if pages > len(written)+1 {
					t.Fatalf("%+v: paging does not end", req)
				}
				page, err := s.History(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != len(want) {
					t.Errorf("%+v: total %d, want %d", req, page.Total, len(want))
				}
				if len(page.Records) > count {
					t.Fatalf("%+v: page of %d records", req, len(page.Records))
				}
				for _, r := range page.Records {
					k := r.ID + "/" + strconv.FormatInt(r.Version, 10)
					if seen[k] {
						t.Errorf("%+v: %s seen twice", req, k)
					}
					seen[k] = true
					if prev != nil && r.LastUpdated.After(prev.LastUpdated) {
						t.Errorf("%+v: %s is newer than the one before it", req, k)
					}
					prev = r
				}
				if page.Next == "" {
					break
				}
				req.Cursor = page.Next
			}
			if len(seen) != len(want) {
				t.Errorf("%+v: saw %d versions, want %d", req, len(seen), len(want))
			}
			for k := range want {
				if !seen[k] {
					t.Errorf("%+v: %s never seen", req, k)
				}
			}
		}
	}
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	p0 := put(t, s, observation(t, "keep", "111", "p1", ""))[0]
	gone := put(t, s, observation(t, "gone", "333", "p1", ""))[0]
	before, err := s.History(ctx, store.HistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, failAt := range []string{"fn", "put"} {
		err := s.Update(ctx, func(tx store.Tx) error {
			for _, p := range []*store.Put{observation(t, "new", "222", "p2", ""), observation(t, "keep", "222", "p2", "")} {
				if _, err := tx.Put(ctx, p); err != nil {
					return err
				}
			}
			if _, err := tx.Delete(ctx, "Observation", "gone", 0); err != nil {
				return err
			}
			// Make the buffered index rows reach the database before the failure.
			if _, err := tx.Match(ctx, &search.Query{Type: "Observation"}, 10); err != nil {
				return err
			}
			if failAt == "put" {
				exists := observation(t, "keep", "444", "p1", "")
				exists.CreateOnly = true
				_, err := tx.Put(ctx, exists)
				return err
			}
			return boom
		})
		if failAt == "fn" {
			wantErr(t, "failing fn", err, boom)
		} else {
			wantErr(t, "failing put", err, store.ErrExists)
		}
		_, err = s.Read(ctx, "Observation", "new")
		wantErr(t, "read rolled-back create", err, store.ErrNotFound)
		got, err := s.Read(ctx, "Observation", "keep")
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, "rolled-back update", got, p0)
		got, err = s.Read(ctx, "Observation", "gone")
		if err != nil {
			t.Fatalf("rolled-back delete: %v", err)
		}
		sameRecord(t, "rolled-back delete", got, gone)
		after, err := s.History(ctx, store.HistoryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		sameStrings(t, "history", ids(after.Records), ids(before.Records))
		for _, c := range []struct {
			f    *search.Filter
			want []string
		}{
			{tokenFilter(t, "Observation", "code", loinc, "111"), []string{"Observation/keep"}},
			{tokenFilter(t, "Observation", "code", loinc, "222"), []string{}},
			{tokenFilter(t, "Observation", "code", loinc, "333"), []string{"Observation/gone"}},
			{refFilter(t, "Observation", "subject", "Patient", "p2"), []string{}},
			{refFilter(t, "Observation", "subject", "Patient", "p1"), []string{"Observation/gone", "Observation/keep"}},
		} {
			res := search1(t, s, &search.Query{Type: "Observation", Filters: []*search.Filter{c.f}})
			sameStrings(t, failAt+" "+c.f.Values[0].Raw, sortedIDs(res.Matches), c.want)
		}
		res := search1(t, s, &search.Query{Type: "Patient", Compartment: &search.Compartment{Type: "Patient", ID: "p2"}})
		if len(res.Matches) != 0 {
			t.Errorf("compartment rows survived the rollback: %v", ids(res.Matches))
		}
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, writes = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*writes)
	for w := range workers {
		wg.Go(func() {
			for i := range writes {
				// Each transaction writes one resource of its own and one every worker shares.
				err := s.Update(ctx, func(tx store.Tx) error {
					own := observation(t, fmt.Sprintf("w%d-%d", w, i), "111", "p"+strconv.Itoa(w), "")
					if _, err := tx.Put(ctx, own); err != nil {
						return err
					}
					_, err := tx.Put(ctx, patient(t, "shared", "W"+strconv.Itoa(w)))
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res := search1(t, s, &search.Query{Type: "Observation", Count: 1000})
	if res.Total != workers*writes || len(res.Matches) != workers*writes {
		t.Errorf("%d observations (total %d), want %d", len(res.Matches), res.Total, workers*writes)
	}
	cur, err := s.Read(ctx, "Patient", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != workers*writes {
		t.Errorf("shared resource at version %d, want %d", cur.Version, workers*writes)
	}
	h, err := s.History(ctx, store.HistoryRequest{Type: "Patient", ID: "shared", Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range h.Records {
		if want := int64(workers*writes - i); r.Version != want {
			t.Fatalf("history record %d is version %d, want %d", i, r.Version, want)
		}
	}
}

func testConcurrentCreateSameID(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created, exists int
	var versions []int64
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			p := patient(t, "once", "W"+strconv.Itoa(w))
			p.CreateOnly = true
			_, err := tryPut(s, p)
			q := patient(t, "many", "W"+strconv.Itoa(w))
			rec, err2 := tryPut(s, q)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.Is(err, store.ErrExists):
				exists++
			default:
				t.Errorf("create-only: %v", err)
			}
			if err2 != nil {
				t.Errorf("put: %v", err2)
			} else {
				versions = append(versions, rec.Version)
			}
		})
	}
	close(start)
	wg.Wait()
	if created != 1 || exists != workers-1 {
		t.Errorf("%d creates succeeded and %d found it existing; want 1 and %d", created, exists, workers-1)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("concurrent puts of one new id made versions %v", versions)
		}
	}
	if cur, err := s.Read(ctx, "Patient", "many"); err != nil || cur.Version != workers {
		t.Errorf("read: %v %v", cur, err)
	}
}

func testMatchSeesOwnWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, observation(t, "old", "111", "p1", ""), observation(t, "doomed", "111", "p1", ""))
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, observation(t, "new", "111", "p1", "")); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, observation(t, "old", "999", "p1", "")); err != nil {
			return err
		}
		if _, err := tx.Delete(ctx, "Observation", "doomed", 0); err != nil {
			return err
		}
		got, err := tx.Match(ctx, &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "111")}}, 10)
		if err != nil {
			return err
		}
		sort.Strings(got)
		sameStrings(t, "match code 111", got, []string{"new"})
		got, err = tx.Match(ctx, &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", "", "999")}}, 10)
		if err != nil {
			return err
		}
		sameStrings(t, "match code 999", got, []string{"old"})
		got, err = tx.Match(ctx, &search.Query{Type: "Observation"}, 1)
		if err != nil {
			return err
		}
		if len(got) != 1 {
			t.Errorf("match with limit 1 returned %v", got)
		}
		cur, err := tx.Current(ctx, "Observation", "new")
		if err != nil || cur.Version != 1 {
			t.Errorf("current of own put: %v %v", cur, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSearchFilters(t *testing.T, s store.Store) {
	put(t, s,
		patient(t, "p1", "Smith"), patient(t, "p2", "Jones"), practitioner(t, "dr"),
		observation(t, "o1", "111", "p1", "dr"),
		observation(t, "o2", "222", "p1", ""),
		observation(t, "o3", "111", "p2", ""),
	)
	otherSystem := observation(t, "o4", "111", "p2", "")
	otherSystem.Index.Tokens[0].System = "http://snomed.info/sct"
	put(t, s, otherSystem)
	tests := []struct {
		name  string
		q     *search.Query
		want  []string
		total int
	}{
		{"type", &search.Query{Type: "Patient"}, []string{"Patient/p1", "Patient/p2"}, 2},
		{"_id", &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", "p2")}}, []string{"Patient/p2"}, 1},
		{"_id or", &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", "p2", "p1", "nope")}}, []string{"Patient/p1", "Patient/p2"}, 2},
		{"_id of another type", &search.Query{Type: "Observation", Filters: []*search.Filter{idFilter(t, "Observation", "p1")}}, []string{}, 0},
		{"token system|code", &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "111")}}, []string{"Observation/o1", "Observation/o3"}, 2},
		{"token code", &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", "", "111")}}, []string{"Observation/o1", "Observation/o3", "Observation/o4"}, 3},
		{"token none", &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "333")}}, []string{}, 0},
		{"reference", &search.Query{Type: "Observation", Filters: []*search.Filter{refFilter(t, "Observation", "subject", "Patient", "p1")}}, []string{"Observation/o1", "Observation/o2"}, 2},
		{"reference and token", &search.Query{Type: "Observation", Filters: []*search.Filter{
			refFilter(t, "Observation", "subject", "Patient", "p1"), tokenFilter(t, "Observation", "code", loinc, "111")}}, []string{"Observation/o1"}, 1},
		{"compartment", &search.Query{Type: "Observation", Compartment: &search.Compartment{Type: "Patient", ID: "p2"}}, []string{"Observation/o3", "Observation/o4"}, 2},
		{"system level", &search.Query{Types: []string{"Patient", "Practitioner"}}, []string{"Patient/p1", "Patient/p2", "Practitioner/dr"}, 3},
		{"_total=none", &search.Query{Type: "Observation", Total: "none", Count: 2}, []string{"Observation/o1", "Observation/o2"}, -1},
		{"code set", &search.Query{Type: "Observation", Filters: []*search.Filter{
			codeSetFilter(t, "in", map[string][]string{loinc: {"111", "999"}})}}, []string{"Observation/o1", "Observation/o3"}, 2},
		{"code set of two systems", &search.Query{Type: "Observation", Filters: []*search.Filter{
			codeSetFilter(t, "below", map[string][]string{loinc: {"222"}, "http://snomed.info/sct": {"111"}})}}, []string{"Observation/o2", "Observation/o4"}, 2},
		{"long code set", &search.Query{Type: "Observation", Filters: []*search.Filter{
			codeSetFilter(t, "in", map[string][]string{loinc: manyCodes(500, "222")})}}, []string{"Observation/o2"}, 1},
		{"code set not-in", &search.Query{Type: "Observation", Filters: []*search.Filter{
			codeSetFilter(t, "not-in", map[string][]string{loinc: manyCodes(500, "111")})}}, []string{"Observation/o2", "Observation/o4"}, 2},
		{"empty code set", &search.Query{Type: "Observation", Filters: []*search.Filter{
			codeSetFilter(t, "in", map[string][]string{})}}, []string{}, 0},
		{"code set and reference", &search.Query{Type: "Observation", Filters: []*search.Filter{
			refFilter(t, "Observation", "subject", "Patient", "p1"), codeSetFilter(t, "in", map[string][]string{loinc: manyCodes(500, "111")})}},
			[]string{"Observation/o1"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := search1(t, s, tc.q)
			sameStrings(t, "matches", sortedIDs(res.Matches), tc.want)
			if res.Total != tc.total {
				t.Errorf("total %d, want %d", res.Total, tc.total)
			}
			if len(res.Included) != 0 {
				t.Errorf("included %v without _include", ids(res.Included))
			}
			for _, m := range res.Matches {
				if m.Version != 1 || len(m.Body) == 0 || m.LastUpdated.IsZero() {
					t.Errorf("match %+v", m)
				}
			}
		})
	}
}

func testIndexFollowsVersions(t *testing.T, s store.Store) {
	code := func(c string) []string {
		res := search1(t, s, &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, c)}})
		return ids(res.Matches)
	}
	put(t, s, observation(t, "o1", "111", "p1", ""))
	sameStrings(t, "v1", code("111"), []string{"Observation/o1"})
	put(t, s, observation(t, "o1", "222", "p1", ""))
	sameStrings(t, "v2 old code", code("111"), []string{})
	sameStrings(t, "v2 new code", code("222"), []string{"Observation/o1"})
	del(t, s, "Observation", "o1")
	sameStrings(t, "deleted", code("222"), []string{})
	// A Put without index rows leaves none behind from the previous version.
	put(t, s, observation(t, "o1", "222", "p1", ""))
	put(t, s, &store.Put{Resource: parse(t, `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}`)})
	sameStrings(t, "unindexed version", code("222"), []string{})
}

func testIncludes(t *testing.T, s store.Store) {
	put(t, s,
		patient(t, "p1", "Smith"), patient(t, "p2", "Jones"), practitioner(t, "dr"),
		observation(t, "o1", "111", "p1", "dr"),
		observation(t, "o2", "222", "p1", ""),
		observation(t, "o3", "111", "p2", "dr"),
	)
	// A reference to a deleted resource includes nothing.
	put(t, s, patient(t, "p3", "Gone"), observation(t, "o5", "111", "p3", ""))
	del(t, s, "Patient", "p3")
	tests := []struct {
		name          string
		q             *search.Query
		matches, incl []string
	}{
		{"include", &search.Query{Type: "Observation", Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "111")},
			Includes: []search.Include{{SourceType: "Observation", Param: "subject"}}},
			[]string{"Observation/o1", "Observation/o3", "Observation/o5"}, []string{"Patient/p1", "Patient/p2"}},
		{"include target type", &search.Query{Type: "Observation", Filters: []*search.Filter{idFilter(t, "Observation", "o1")},
			Includes: []search.Include{{SourceType: "Observation", Param: "performer", TargetType: "Practitioner"}}},
			[]string{"Observation/o1"}, []string{"Practitioner/dr"}},
		{"include other target type", &search.Query{Type: "Observation", Filters: []*search.Filter{idFilter(t, "Observation", "o1")},
			Includes: []search.Include{{SourceType: "Observation", Param: "performer", TargetType: "Organization"}}},
			[]string{"Observation/o1"}, []string{}},
		{"include *", &search.Query{Type: "Observation", Filters: []*search.Filter{idFilter(t, "Observation", "o1")},
			Includes: []search.Include{{SourceType: "Observation", Param: "*"}}},
			[]string{"Observation/o1"}, []string{"Patient/p1", "Practitioner/dr"}},
		{"revinclude", &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", "p1")},
			Includes: []search.Include{{Reverse: true, SourceType: "Observation", Param: "subject"}}},
			[]string{"Patient/p1"}, []string{"Observation/o1", "Observation/o2"}},
		{"revinclude of deleted", &search.Query{Type: "Practitioner",
			Includes: []search.Include{{Reverse: true, SourceType: "Observation", Param: "performer"}}},
			[]string{"Practitioner/dr"}, []string{"Observation/o1", "Observation/o3"}},
		{"include and revinclude without duplicates", &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", "p1", "p2")},
			Includes: []search.Include{
				{Reverse: true, SourceType: "Observation", Param: "subject"},
				{SourceType: "Observation", Param: "performer", Iterate: true},
				{SourceType: "Observation", Param: "subject", Iterate: true}}},
			[]string{"Patient/p1", "Patient/p2"}, []string{"Observation/o1", "Observation/o2", "Observation/o3", "Practitioner/dr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := search1(t, s, tc.q)
			sameStrings(t, "matches", sortedIDs(res.Matches), tc.matches)
			sameStrings(t, "included", sortedIDs(res.Included), tc.incl)
			for _, r := range res.Included {
				if len(r.Body) == 0 || r.Version == 0 {
					t.Errorf("included %+v", r)
				}
			}
		})
	}
}

func testSearchPaging(t *testing.T, s store.Store) {
	var want []string
	var batch []*store.Put
	for i := range 23 {
		id := fmt.Sprintf("p%02d", i)
		batch = append(batch, patient(t, id, "F"))
		want = append(want, "Patient/"+id)
	}
	put(t, s, batch...)
	// Noise that the query must skip: another type, and a deleted patient in the middle.
	put(t, s, observation(t, "o1", "111", "p01", ""), patient(t, "pdel", "F"), patient(t, "p99", "F"))
	del(t, s, "Patient", "pdel")
	want = append(want, "Patient/p99")
	for _, count := range []int{1, 5, 24, 100} {
		var pages [][]string
		q := &search.Query{Type: "Patient", Count: count, Total: "accurate"}
		for {
			res := search1(t, s, q)
			if res.Total != len(want) {
				t.Errorf("count %d: total %d, want %d", count, res.Total, len(want))
			}
			if len(res.Matches) > count {
				t.Fatalf("count %d: page of %d", count, len(res.Matches))
			}
			if len(pages) == 0 && res.Prev != "" {
				t.Errorf("count %d: first page has a previous one", count)
			}
			pages = append(pages, ids(res.Matches))
			if res.Next == "" || len(pages) > len(want)+1 {
				break
			}
			q.Cursor = res.Next
		}
		var got []string
		for _, p := range pages {
			got = append(got, p...)
		}
		sameStrings(t, fmt.Sprintf("count %d forward", count), got, want)
		// Without _total the count costs nothing: known when the first page holds every
		// match, left out otherwise.
		first := search1(t, s, &search.Query{Type: "Patient", Count: count})
		if wantTotal := -1; count >= len(want) && first.Total != len(want) || count < len(want) && first.Total != wantTotal {
			t.Errorf("count %d without _total: total %d", count, first.Total)
		}
		// And back again from the last page through Prev.
		q.Cursor = ""
		last := search1(t, s, &search.Query{Type: "Patient", Count: count})
		for last.Next != "" {
			last = search1(t, s, &search.Query{Type: "Patient", Count: count, Cursor: last.Next})
		}
		cur := last
		for i := len(pages) - 1; ; i-- {
			sameStrings(t, fmt.Sprintf("count %d page %d backward", count, i), ids(cur.Matches), pages[i])
			if cur.Prev == "" {
				if i != 0 {
					t.Errorf("count %d: no previous page before page %d", count, i)
				}
				break
			}
			if i == 0 {
				t.Fatalf("count %d: a previous page before the first", count)
			}
			cur = search1(t, s, &search.Query{Type: "Patient", Count: count, Cursor: cur.Prev})
			if cur.Next == "" {
				t.Errorf("count %d: page %d has no next page", count, i-1)
			}
		}
	}
}

func testBadCursor(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, patient(t, "p1", "A"), patient(t, "p2", "B"))
	for _, c := range []string{"x", "zzz", "a", "a1x", "o5", "%%%"} {
		_, err := s.Search(ctx, &search.Query{Type: "Patient", Cursor: c})
		wantErr(t, "search cursor "+c, err, store.ErrBadCursor)
	}
	for _, c := range []string{"x", "1.2", "a.b.c"} {
		_, err := s.History(ctx, store.HistoryRequest{Cursor: c})
		wantErr(t, "history cursor "+c, err, store.ErrBadCursor)
	}
}

// testSort covers _sort: ascending keys use a resource's lowest value and descending ones its
// highest, resources without a value come last either way, ties fall back to insertion
// order, several keys combine, and offset pages walk the same order.
func testSort(t *testing.T, s store.Store) {
	year := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() }
	pat := func(id string, families []string, lo, hi int) *store.Put {
		p := patient(t, id, "F")
		p.Index.Strings = nil
		for _, f := range families {
			p.Index.Strings = append(p.Index.Strings, search.StringRow{Param: search.ParamID("Patient", "family"), Norm: f, Exact: f})
		}
		if lo != 0 {
			p.Index.Dates = []search.DateRow{{Param: search.ParamID("Patient", "birthdate"), Lo: year(lo), Hi: year(hi) - 1}}
		}
		return p
	}
	put(t, s,
		pat("p1", []string{"b"}, 1980, 1981),
		pat("p2", []string{"a"}, 1970, 1971),
		pat("p3", []string{"c"}, 0, 0),
		pat("p4", nil, 1990, 1991),
		pat("p5", []string{"aa"}, 1970, 1971),
		pat("p6", []string{"z", "a0"}, 1960, 2000),
		pat("pdel", []string{"a"}, 1950, 1951),
	)
	del(t, s, "Patient", "pdel")
	put(t, s, observation(t, "o1", "111", "p1", "")) // another type, never a match

	key := func(code string, desc bool) search.Sort {
		return search.Sort{Param: param(t, "Patient", code), Desc: desc}
	}
	for _, tc := range []struct {
		name string
		sort []search.Sort
		want string
	}{
		{"family", []search.Sort{key("family", false)}, "p2 p6 p5 p1 p3 p4"},
		{"-family", []search.Sort{key("family", true)}, "p6 p3 p1 p5 p2 p4"},
		{"birthdate", []search.Sort{key("birthdate", false)}, "p6 p2 p5 p1 p4 p3"},
		{"-birthdate", []search.Sort{key("birthdate", true)}, "p6 p4 p1 p2 p5 p3"},
		{"birthdate,-family", []search.Sort{key("birthdate", false), key("family", true)}, "p6 p5 p2 p1 p4 p3"},
		{"-_id", []search.Sort{key("_id", true)}, "p6 p5 p4 p3 p2 p1"},
		{"birthdate,-_id", []search.Sort{key("birthdate", false), key("_id", true)}, "p6 p5 p2 p1 p4 p3"},
		{"_lastUpdated", []search.Sort{key("_lastUpdated", false)}, "p1 p2 p3 p4 p5 p6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.want)
			for i := range want {
				want[i] = "Patient/" + want[i]
			}
			res := search1(t, s, &search.Query{Type: "Patient", Sort: tc.sort, Count: 10, Total: "accurate"})
			sameStrings(t, "order", ids(res.Matches), want)
			if res.Total != len(want) {
				t.Errorf("total %d, want %d", res.Total, len(want))
			}
			// The same order two at a time.
			var paged []string
			q := &search.Query{Type: "Patient", Sort: tc.sort, Count: 2, Total: "accurate"}
			for range 10 {
				res := search1(t, s, q)
				paged = append(paged, ids(res.Matches)...)
				if res.Total != len(want) {
					t.Errorf("page %q: total %d, want %d", q.Cursor, res.Total, len(want))
				}
				if res.Next == "" {
					break
				}
				q.Cursor = res.Next
			}
			sameStrings(t, "paged order", paged, want)
			// And back from the last page through the previous links.
			last := search1(t, s, &search.Query{Type: "Patient", Sort: tc.sort, Count: 2})
			for last.Next != "" {
				last = search1(t, s, &search.Query{Type: "Patient", Sort: tc.sort, Count: 2, Cursor: last.Next})
			}
			back := ids(last.Matches)
			for cur := last; cur.Prev != ""; {
				cur = search1(t, s, &search.Query{Type: "Patient", Sort: tc.sort, Count: 2, Cursor: cur.Prev})
				back = append(ids(cur.Matches), back...)
			}
			sameStrings(t, "paged backwards", back, want)
		})
	}

	// Pages are keyset ranges: a resource written between two page reads, sorting before the
	// cursor, neither repeats a row nor pushes one off the next page.
	q := &search.Query{Type: "Patient", Sort: []search.Sort{key("family", false)}, Count: 2}
	page1 := search1(t, s, q)
	put(t, s, pat("p0", []string{"a"}, 1950, 1951))
	q.Cursor = page1.Next
	page2 := search1(t, s, q)
	sameStrings(t, "page after an insert", ids(page2.Matches), []string{"Patient/p5", "Patient/p1"})
	del(t, s, "Patient", "p0")

	// A cursor is bound to its search: forged, truncated or another sort's cursors are refused.
	other := search1(t, s, &search.Query{Type: "Patient", Sort: []search.Sort{key("birthdate", true), key("family", false)}, Count: 2})
	for _, c := range []string{"s", "sx", "s" + other.Next[1:], "r!!", "o2", page1.Next[:len(page1.Next)-2], "s" + "W10"} {
		_, err := s.Search(context.Background(), &search.Query{Type: "Patient", Sort: []search.Sort{key("family", false)}, Count: 2, Cursor: c})
		wantErr(t, "sorted cursor "+c, err, store.ErrBadCursor)
	}
}

// testConcurrentFailures runs many write transactions at once, every third of which fails
// after writing: the failed ones leave nothing (not even their index rows), the others all
// commit, whatever the backend does to run them together.
func testConcurrentFailures(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	const n = 48
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				id := fmt.Sprintf("c%02d", i)
				if _, err := tx.Put(ctx, observation(t, id, "cf", "p1", "")); err != nil {
					return err
				}
				if _, err := tx.Put(ctx, patient(t, "pc"+id, "Concurrent")); err != nil {
					return err
				}
				if i%3 == 0 {
					// Reach the database with the index rows before failing.
					if _, err := tx.Match(ctx, &search.Query{Type: "Observation"}, 1); err != nil {
						return err
					}
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	var want []string
	for i, err := range errs {
		id := fmt.Sprintf("c%02d", i)
		_, rerr := s.Read(ctx, "Observation", id)
		if i%3 == 0 {
			wantErr(t, "failed transaction "+id, err, boom)
			wantErr(t, "read of rolled-back "+id, rerr, store.ErrNotFound)
			continue
		}
		if err != nil || rerr != nil {
			t.Errorf("transaction %s: %v, read: %v", id, err, rerr)
		}
		want = append(want, "Observation/"+id)
	}
	res := search1(t, s, &search.Query{Type: "Observation", Count: 100,
		Filters: []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "cf")}})
	sameStrings(t, "indexed survivors", sortedIDs(res.Matches), want)
}

// testPatientDateSort covers a patient's resources by date (Observation?patient=X&_sort=-date),
// which stores may answer from a dedicated index: the order, ties, resources without a date,
// other filters and paging in both directions must be exactly those of the same search
// sorted the general way (here forced by a second key that does not change the order, since
// ids follow insertion order).
func testPatientDateSort(t *testing.T, s store.Store) {
	year := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() }
	obs := func(id, code, patient string, dates ...[2]int) *store.Put {
		p := observation(t, id, code, patient, "")
		for _, d := range dates {
			p.Index.Dates = append(p.Index.Dates, search.DateRow{Param: search.ParamID("Observation", "date"), Lo: year(d[0]), Hi: year(d[1]) - 1})
		}
		return p
	}
	put(t, s,
		obs("o01", "a", "p1", [2]int{2010, 2011}),
		obs("o02", "b", "p1"), // no date
		obs("o03", "a", "p1", [2]int{2015, 2016}),
		obs("o04", "a", "p1", [2]int{2010, 2011}), // ties with o01
		obs("o05", "a", "p2", [2]int{2012, 2013}), // another patient
		obs("o06", "b", "p1", [2]int{2000, 2020}), // a wide period: lowest 2000, highest 2020
		obs("o07", "a", "p1"),                     // no date
		obs("o08", "a", "p1", [2]int{2013, 2014}, [2]int{2001, 2002}),
		obs("o09", "b", "p1", [2]int{2018, 2019}),
		obs("o10", "a", "p1", [2]int{2012, 2013}),
		obs("odel", "a", "p1", [2]int{2030, 2031}),
	)
	del(t, s, "Observation", "odel")
	put(t, s, obs("o03", "a", "p1", [2]int{2016, 2017})) // a new version moves it

	date := func(desc bool) search.Sort { return search.Sort{Param: param(t, "Observation", "date"), Desc: desc} }
	byID := search.Sort{Param: param(t, "Observation", "_id")}
	for _, tc := range []struct {
		name    string
		filters []*search.Filter
		desc    bool
		want    string
	}{
		{"newest first", nil, true, "o06 o09 o03 o08 o10 o01 o04 o02 o07"},
		{"oldest first", nil, false, "o06 o08 o01 o04 o10 o03 o09 o02 o07"},
		{"with a code", []*search.Filter{tokenFilter(t, "Observation", "code", loinc, "a")}, true, "o03 o08 o10 o01 o04 o07"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.want)
			for i := range want {
				want[i] = "Observation/" + want[i]
			}
			for _, sorts := range [][]search.Sort{{date(tc.desc)}, {date(tc.desc), byID}} {
				filters := append([]*search.Filter{refFilter(t, "Observation", "patient", "Patient", "p1")}, tc.filters...)
				all := search1(t, s, &search.Query{Type: "Observation", Filters: filters, Sort: sorts, Count: 20})
				sameStrings(t, fmt.Sprintf("%d keys", len(sorts)), ids(all.Matches), want)
				var paged []string
				q := &search.Query{Type: "Observation", Filters: filters, Sort: sorts, Count: 2}
				var last *store.Result
				for range 10 {
					last = search1(t, s, q)
					paged = append(paged, ids(last.Matches)...)
					if last.Next == "" {
						break
					}
					q.Cursor = last.Next
				}
				sameStrings(t, fmt.Sprintf("%d keys, paged", len(sorts)), paged, want)
				back := ids(last.Matches)
				for cur := last; cur.Prev != ""; {
					cur = search1(t, s, &search.Query{Type: "Observation", Filters: filters, Sort: sorts, Count: 2, Cursor: cur.Prev})
					back = append(ids(cur.Matches), back...)
				}
				sameStrings(t, fmt.Sprintf("%d keys, paged backwards", len(sorts)), back, want)
			}
		})
	}
}
