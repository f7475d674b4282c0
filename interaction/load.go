package interaction

import (
	"context"
	"net/url"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// LoadItem is one resource of a bulk load, optionally with the request a Bundle gave it.
type LoadItem struct {
	FullURL  string
	Resource *fhir.Resource
	// Method and URL as in Bundle.entry.request; empty means: PUT Type/id when the resource
	// has an id (so loading the same data twice changes nothing), else POST.
	Method, URL string
	IfNoneExist string
}

// LoadResult counts what a load did.
type LoadResult struct {
	Created, Updated, Unchanged, Deleted int
}

// Load writes items as one transaction, resolving references between them by fullUrl as a
// transaction Bundle would. It is the bulk import path: no HTTP, no response bodies.
func (s *Service) Load(ctx context.Context, items []LoadItem) (*LoadResult, error) {
	entries := make([]*entry, 0, len(items))
	for i, it := range items {
		res := it.Resource
		if res == nil {
			continue
		}
		res.Root.Name, res.Root.Def = res.Type, nil
		e := &entry{index: i, fullURL: it.FullURL, res: res, method: it.Method, url: it.URL, ifNoneExist: it.IfNoneExist}
		if e.method == "POST" && res.ID != "" && e.ifNoneExist == "" {
			// A POST of a resource that carries an id is loaded under that id: bulk loads
			// must be repeatable.
			e.method = ""
		}
		if e.method == "" {
			if res.ID != "" {
				e.method, e.url = "PUT", res.Type+"/"+res.ID
			} else {
				e.method, e.url = "POST", res.Type
			}
		}
		if e.url == "" {
			e.url = res.Type
		}
		p, rawQ, _ := strings.Cut(e.url, "?")
		e.path = splitPath(p)
		q, err := url.ParseQuery(rawQ)
		if err != nil {
			return nil, e.fail(400, fhir.IssueInvalid, "invalid request url %q", e.url)
		}
		e.query = q
		if len(e.path) == 0 || !s.reg.IsResource(e.path[0]) || (e.method != "DELETE" && e.path[0] != res.Type) {
			return nil, e.fail(400, fhir.IssueInvalid, "request url %q does not fit a %s", e.url, res.Type)
		}
		entries = append(entries, e)
	}
	if err := s.runTransaction(ctx, &Request{Prefer: Prefer{Return: "minimal"}, Source: SourceImport, createFirst: true}, entries); err != nil {
		return nil, err
	}
	r := &LoadResult{}
	for _, e := range entries {
		switch {
		case e.resp == nil:
		case e.method == "DELETE":
			r.Deleted++
		case e.resp.Status == 201:
			r.Created++
		case e.resp.unchanged:
			r.Unchanged++
		default:
			r.Updated++
		}
	}
	return r, nil
}

// BundleItems unpacks a Bundle for Load: transaction and batch entries keep their request
// (reads are dropped), entries of other Bundle types are loaded by their resource's id.
func BundleItems(b *fhir.Resource) []LoadItem {
	typ := b.Root.Text("type")
	var items []LoadItem
	for _, e := range b.Root.Child("entry") {
		it := LoadItem{FullURL: e.Text("fullUrl")}
		if r := e.First("resource"); r != nil {
			it.Resource = &fhir.Resource{Type: r.Type, ID: r.Text("id"), Root: r}
		}
		if rq := e.First("request"); rq != nil && (typ == "transaction" || typ == "batch") {
			it.Method, it.URL, it.IfNoneExist = strings.ToUpper(rq.Text("method")), rq.Text("url"), rq.Text("ifNoneExist")
			if it.Method == "GET" || it.Method == "HEAD" {
				continue
			}
		}
		if it.Resource == nil && it.Method != "DELETE" {
			continue
		}
		items = append(items, it)
	}
	return items
}
