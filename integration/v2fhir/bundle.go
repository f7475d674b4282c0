package v2fhir

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// obj is a JSON object being built; encoding/json writes its keys sorted, and
// fhir.Parse puts them in definition order.
type obj = map[string]any

// entry is one Bundle entry.
type entry struct {
	fullURL     string
	resource    obj
	method, url string
	ifNoneExist string
}

// bundle collects the entries of one transaction. Entries are keyed by the
// identity they are written under, so a practitioner named twice in a message
// is one entry: two conditional creates of the same identifier in one
// transaction would both find nothing and create two.
type bundle struct {
	seed    string // makes fullUrls unique to the message
	entries []*entry
	byKey   map[string]*entry
}

func newBundle(seed string) *bundle {
	return &bundle{seed: seed, byKey: map[string]*entry{}}
}

// uuid derives a name-based (version 5 style) UUID from the message and key, so
// mapping the same message twice gives the same Bundle.
func (b *bundle) uuid(key string) string {
	h := sha1.Sum([]byte(b.seed + "\x00" + key))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return "urn:uuid:" + s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// searchValue escapes a token value for a search URL (FHIR escapes \ , $ |).
func searchValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `$`, `\$`, `|`, `\|`)
	return r.Replace(s)
}

// identifierQuery is "identifier=system|value" (OR-ed when several), URL-encoded.
func identifierQuery(ids ...[2]string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, searchValue(id[0])+"|"+searchValue(id[1]))
	}
	return "identifier=" + url.QueryEscape(strings.Join(parts, ","))
}

// upsert adds a conditional update of res found by query; it returns the
// reference other entries use. A second upsert of the same key returns the
// first entry's reference.
func (b *bundle) upsert(typ, key, query string, res obj) obj {
	return b.add(typ, key, res, "PUT", typ+"?"+query, "")
}

// ensure adds a conditional create: res is written only when nothing matches query.
func (b *bundle) ensure(typ, key, query string, res obj) obj {
	return b.add(typ, key, res, "POST", typ, query)
}

func (b *bundle) add(typ, key string, res obj, method, u, ifNoneExist string) obj {
	k := typ + "|" + key
	if e, ok := b.byKey[k]; ok {
		return obj{"reference": e.fullURL}
	}
	res["resourceType"] = typ
	e := &entry{fullURL: b.uuid(k), resource: res, method: method, url: u, ifNoneExist: ifNoneExist}
	b.byKey[k] = e
	b.entries = append(b.entries, e)
	return obj{"reference": e.fullURL}
}

// prune drops nil values and empty objects and arrays, which FHIR JSON does
// not allow, so builders can set optional parts without checking each.
func prune(v any) any {
	switch x := v.(type) {
	case obj:
		for k, c := range x {
			if c = prune(c); c == nil {
				delete(x, k)
			} else {
				x[k] = c
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		out := x[:0]
		for _, c := range x {
			if c = prune(c); c != nil {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}

func (b *bundle) marshal() ([]byte, error) {
	var entries []any
	for _, e := range b.entries {
		prune(e.resource)
		req := obj{"method": e.method, "url": e.url}
		if e.ifNoneExist != "" {
			req["ifNoneExist"] = e.ifNoneExist
		}
		entries = append(entries, obj{"fullUrl": e.fullURL, "resource": e.resource, "request": req})
	}
	return json.Marshal(obj{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}
