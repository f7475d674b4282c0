package interaction_test

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store/sqlite"
)

// A Patient breaking pat-1 (a contact needs a name, telecom, address or organization).
const invalidPatient = `{"resourceType":"Patient","id":"p1","contact":[{"gender":"male"}]}`
const validPatient = `{"resourceType":"Patient","id":"p1","gender":"female"}`

func writeCheckService(t *testing.T, def, sources string) *interaction.Service {
	t.Helper()
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.OpenFile(context.Background(), filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := interaction.New(st, reg, ix)
	p, err := interaction.ParseValidationPolicy(def, sources)
	if err != nil {
		t.Fatal(err)
	}
	svc.Validation = p
	return svc
}

func patientCount(t *testing.T, svc *interaction.Service) int {
	t.Helper()
	r := svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: "Patient", Query: url.Values{"_total": {"accurate"}}})
	var b struct{ Total int }
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b.Total
}

func outcomeHas(body []byte, key string) bool { return strings.Contains(string(body), key) }

func TestValidateOnWrite(t *testing.T) {
	transaction := func(p string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:0b6b6c4e-1111-4c1e-9c1e-000000000001","resource":{"resourceType":"Patient","gender":"male"},"request":{"method":"POST","url":"Patient"}},
		 {"resource":` + p + `,"request":{"method":"PUT","url":"Patient/p1"}}]}`
	}
	cases := []struct {
		name, mode, method, path, body, prefer string
		status                                 int
		stored                                 int    // Patients stored afterwards
		want                                   string // text the response body must contain
	}{
		{"off stores an invalid resource", "off", "PUT", "Patient/p1", invalidPatient, "", 201, 1, `"contact"`},
		{"enforce rejects create", "enforce", "POST", "Patient", invalidPatient, "", 422, 0, "pat-1"},
		{"enforce rejects update", "enforce", "PUT", "Patient/p1", invalidPatient, "", 422, 0, "pat-1"},
		{"enforce accepts a valid resource", "enforce", "PUT", "Patient/p1", validPatient, "", 201, 1, `"female"`},
		{"warn stores and reports", "warn", "POST", "Patient", invalidPatient, "OperationOutcome", 201, 1, "pat-1"},
		{"warn keeps the representation", "warn", "POST", "Patient", invalidPatient, "", 201, 1, `"resourceType":"Patient"`},
		{"enforce rejects the whole transaction", "enforce", "POST", "", transaction(invalidPatient), "", 422, 0, "Bundle.entry[1].resource.contact[0]"},
		{"warn puts issues in the entry outcome", "warn", "POST", "", transaction(invalidPatient), "", 200, 2, `"outcome":{"resourceType":"OperationOutcome"`},
		{"enforce accepts a valid transaction", "enforce", "POST", "", transaction(validPatient), "", 200, 2, "201 Created"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := writeCheckService(t, c.mode, "")
			r := svc.Do(context.Background(), &interaction.Request{Method: c.method, Path: c.path, Body: []byte(c.body),
				ContentType: "application/fhir+json", Prefer: interaction.Prefer{Return: c.prefer}})
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if !outcomeHas(r.Body, c.want) {
				t.Errorf("body lacks %q: %s", c.want, r.Body)
			}
			if n := patientCount(t, svc); n != c.stored {
				t.Errorf("%d Patients stored, want %d", n, c.stored)
			}
		})
	}
}

func TestValidateOnWritePerSource(t *testing.T) {
	svc := writeCheckService(t, "enforce", "import=off")
	res, err := fhir.Parse([]byte(invalidPatient))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(context.Background(), []interaction.LoadItem{{Resource: res}}); err != nil {
		t.Fatalf("import with validation off for its source: %v", err)
	}
	r := svc.Do(context.Background(), &interaction.Request{Method: "PUT", Path: "Patient/p2",
		Body: []byte(strings.Replace(invalidPatient, `"p1"`, `"p2"`, 1))})
	if r.Status != 422 {
		t.Fatalf("HTTP write of an invalid resource: status %d, want 422", r.Status)
	}
	// And the other way round: imports enforced, the API not.
	svc = writeCheckService(t, "off", "import=enforce")
	res, _ = fhir.Parse([]byte(invalidPatient))
	_, err = svc.Load(context.Background(), []interaction.LoadItem{{Resource: res}})
	if fe := fhir.AsError(err); fe == nil || fe.Status != 422 {
		t.Fatalf("enforced import: err %v, want a 422", err)
	}
	if n := patientCount(t, svc); n != 0 {
		t.Errorf("%d Patients stored by a rejected import", n)
	}
}

func TestParseValidationPolicy(t *testing.T) {
	cases := []struct {
		def, sources string
		ok           bool
		http, imp    interaction.ValidationMode
	}{
		{"off", "", true, "off", "off"},
		{"warn", "import=off", true, "warn", "off"},
		{"enforce", " import = warn , hl7v2/pas=enforce", true, "enforce", "warn"},
		{"strict", "", false, "", ""},
		{"off", "import", false, "", ""},
		{"off", "import=maybe", false, "", ""},
		{"off", "=warn", false, "", ""},
	}
	// A channel without a mode of its own takes its kind's, then the default.
	p, err := interaction.ParseValidationPolicy("off", "hl7v2=warn,hl7v2/pas=enforce")
	if err != nil {
		t.Fatal(err)
	}
	for source, want := range map[string]interaction.ValidationMode{"hl7v2/pas": "enforce", "hl7v2/lab": "warn", "hl7v2": "warn", "x/y": "off"} {
		if got := p.Mode(source); got != want {
			t.Errorf("Mode(%s) = %s, want %s", source, got, want)
		}
	}
	for _, c := range cases {
		p, err := interaction.ParseValidationPolicy(c.def, c.sources)
		if (err == nil) != c.ok {
			t.Errorf("%q %q: err %v", c.def, c.sources, err)
			continue
		}
		if c.ok && (p.Mode(interaction.SourceHTTP) != c.http || p.Mode(interaction.SourceImport) != c.imp) {
			t.Errorf("%q %q: http %s import %s", c.def, c.sources, p.Mode(interaction.SourceHTTP), p.Mode(interaction.SourceImport))
		}
	}
}

func TestOnCommit(t *testing.T) {
	svc := writeCheckService(t, "off", "")
	var seen []string
	svc.OnCommit("Patient", func(res *fhir.Resource) { seen = append(seen, res.ID+":"+res.Root.Text("gender")) })
	do := func(method, path, body, ifNoneExist string) int {
		r := svc.Do(context.Background(), &interaction.Request{Method: method, Path: path, Body: []byte(body), IfNoneExist: ifNoneExist})
		return r.Status
	}
	do("PUT", "Patient/a", `{"resourceType":"Patient","id":"a","gender":"male"}`, "")
	do("PUT", "Patient/a", `{"resourceType":"Patient","id":"a","gender":"male"}`, "")    // unchanged: no new version
	do("POST", "Patient", `{"resourceType":"Patient","gender":"female"}`, "gender=male") // matches Patient/a: nothing stored
	do("POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, "")
	do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Patient","id":"b","gender":"other"},"request":{"method":"PUT","url":"Patient/b"}}]}`, "")
	if strings.Join(seen, ",") != "a:male,b:other" {
		t.Errorf("hooks saw %v, want the two stored Patients", seen)
	}
}

// TestWriteRule: a write rule refuses a resource whatever the validation mode, in a plain
// write and in a transaction (naming the entry), and leaves other types alone.
func TestWriteRule(t *testing.T) {
	svc := writeCheckService(t, "off", "")
	svc.AddWriteRule("Patient", func(res *fhir.Resource) *fhir.Error {
		if res.Root.Text("gender") == "unknown" {
			return fhir.Errorf(422, fhir.IssueBusinessRule, "gender must be known here")
		}
		return nil
	})
	ctx := context.Background()
	put := func(path, body string) *interaction.Response {
		return svc.Do(ctx, &interaction.Request{Method: "PUT", Path: path, Body: []byte(body)})
	}
	if r := put("Patient/a", `{"resourceType":"Patient","id":"a","gender":"unknown"}`); r.Status != 422 {
		t.Fatalf("refused write: %d %s", r.Status, r.Body)
	}
	if r := put("Patient/b", `{"resourceType":"Patient","id":"b","gender":"female"}`); r.Status != 201 {
		t.Fatalf("allowed write: %d %s", r.Status, r.Body)
	}
	r := svc.Do(ctx, &interaction.Request{Method: "POST", Body: []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"}},"request":{"method":"POST","url":"Observation"}},
		{"resource":{"resourceType":"Patient","gender":"unknown"},"request":{"method":"POST","url":"Patient"}}]}`)})
	if r.Status != 422 || !strings.Contains(string(r.Body), "Bundle.entry[1]") {
		t.Fatalf("transaction: %d %s", r.Status, r.Body)
	}
	if n := patientCount(t, svc); n != 1 {
		t.Errorf("%d patients, want 1", n)
	}
}
