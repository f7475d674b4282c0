package validation

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// Bundle rules beyond the invariants bdl-1…bdl-12 (which the walker already evaluates:
// request, response and search per bundle type, unique fullUrl+versionId, the first resource
// of documents and messages, document identifier and timestamp). Wording follows the
// reference validator where it has a message for the rule.

// bundleScope is one Bundle being walked: its entries, indexed for reference resolution.
type bundleScope struct {
	typ     string
	path    string
	entries []*fhir.Node
	// fullURLs maps each entry's fullUrl to the indexes of the entries that carry it.
	fullURLs map[string][]int
	// typeIDs maps "Type/id" of each entry's resource to the entries that hold it.
	typeIDs map[string][]int
	// byRoot finds the entry of a resource root (an entry's resource).
	byRoot map[*fhir.Node]int
	// links holds, per entry, the entries its references resolve to.
	links map[int][]int
}

// Bundle types whose entries need no fullUrl: a create has no identity yet, and the
// references of a transaction or batch resolve on the server.
var fullURLOptional = map[string]bool{
	"transaction": true, "transaction-response": true, "batch": true, "batch-response": true,
}

var (
	uuidURN = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	oidURN  = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	scheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:.`)
	// restURL is a RESTful resource URL: a base, a type and an id (bundle.html#references).
	restURL = regexp.MustCompile(`^(https?://(?:[A-Za-z0-9\-\\.:%$_~@]*/)+)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$`)
	// relRef is a relative reference "Type/id", optionally version-specific.
	relRef = regexp.MustCompile(`^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/([A-Za-z0-9\-.]{1,64}))?$`)
)

// splitREST returns the base ("http://x/fhir/") and "Type/id" of a RESTful URL whose type is
// a resource type; ok is false for anything else.
func (w *walker) splitREST(url string) (base, typeID string, ok bool) {
	m := restURL.FindStringSubmatch(url)
	if m == nil || !w.v.reg.IsResource(m[2]) {
		return "", "", false
	}
	return m[1], m[2] + "/" + m[3], true
}

// bundle checks the entries of a Bundle and returns the scope its references resolve in.
func (w *walker) bundle(n *fhir.Node, path string) *bundleScope {
	b := &bundleScope{typ: n.Text("type"), path: path, entries: n.Child("entry"),
		fullURLs: map[string][]int{}, typeIDs: map[string][]int{}, byRoot: map[*fhir.Node]int{}}
	for i, e := range b.entries {
		ep := path + ".entry[" + strconv.Itoa(i) + "]"
		res := e.First("resource")
		full := e.Text("fullUrl")
		if full != "" {
			b.fullURLs[full] = append(b.fullURLs[full], i)
			w.fullURL(full, res, ep)
		} else if res != nil && !fullURLOptional[b.typ] && e.First("search").Text("mode") != "outcome" {
			// An OperationOutcome about the search is not an identified resource.
			w.add(fhir.SeverityError, fhir.IssueInvalid, ep,
				"Except for transactions and batches, each entry in a Bundle must have a fullUrl which is the identity of the resource in the entry")
		}
		if res != nil {
			b.byRoot[res] = i
			if id := res.Text("id"); id != "" {
				k := res.Type + "/" + id
				b.typeIDs[k] = append(b.typeIDs[k], i)
			}
		}
	}
	w.linkRelations(n, path, b.typ)
	// bdl-11 and bdl-12 hold vacuously for a bundle without entries (and bdl-5 catches a
	// first entry without a resource).
	if (b.typ == "document" || b.typ == "message") && len(b.entries) == 0 {
		w.add(fhir.SeverityError, fhir.IssueInvalid, path, "Documents or Messages must contain at least one entry")
	}
	return b
}

// fullURL checks one entry's fullUrl: absolute, a well-formed UUID or OID when it is one,
// and, when it has the shape of a RESTful URL, ending in the type and id of its resource
// (the fullUrl SHALL NOT disagree with the resource's id).
func (w *walker) fullURL(full string, res *fhir.Node, path string) {
	switch {
	case !scheme.MatchString(full):
		w.add(fhir.SeverityError, fhir.IssueInvalid, path, "The fullUrl must be an absolute URL (not '%s')", full)
	case strings.HasPrefix(full, "urn:uuid:"):
		if !uuidURN.MatchString(full) {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path+".fullUrl", "UUIDs must be valid and lowercase (%s)", full)
		}
	case strings.HasPrefix(full, "urn:oid:"):
		if !oidURN.MatchString(full) {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path+".fullUrl", "OIDs must be valid (%s)", full)
		}
	case res != nil:
		if _, _, ok := w.splitREST(full); !ok {
			return
		}
		id := res.Text("id")
		if id == "" {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path,
				"The fullUrl '%s' looks like a RESTful server URL, but the resource has no id", full)
		} else if !strings.HasSuffix(full, "/"+res.Type+"/"+id) {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path,
				"The fullUrl '%s' looks like a RESTful server URL, so it must end with the correct type and id (/%s/%s)", full, res.Type, id)
		}
	}
}

// compositionRefs are the references of a document's Composition whose targets the
// document must hold (documents.html), by definition path.
var compositionRefs = map[string]bool{
	"Composition.subject": true, "Composition.author": true, "Composition.encounter": true,
	"Composition.custodian": true, "Composition.attester.party": true, "Composition.event.detail": true,
	"Composition.section.author": true, "Composition.section.focus": true, "Composition.section.entry": true,
}

// bundleReference resolves a Reference found inside the Bundle b (in entry resource root)
// by the rules of bundle.html#references, and reports what the bundle type requires.
func (w *walker) bundleReference(b *bundleScope, n *fhir.Node, path string, res, root *fhir.Node) {
	ref := n.Text("reference")
	if ref == "" || strings.HasPrefix(ref, "#") {
		return
	}
	entry, inEntry := b.byRoot[root]
	source := ""
	if inEntry {
		source = b.entries[entry].Text("fullUrl")
		// A RESTful fullUrl that disagrees with its resource (reported above) is no base to
		// resolve against.
		if _, _, rest := w.splitREST(source); rest && (root.Text("id") == "" || !strings.HasSuffix(source, "/"+root.Type+"/"+root.Text("id"))) {
			source = ""
		}
	}
	target, version := b.target(w, ref, source)
	var matches []int
	if target != "" {
		for _, i := range b.fullURLs[target] {
			if version == "" || b.version(i) == version {
				matches = append(matches, i)
			}
		}
	}
	if len(matches) == 1 {
		if inEntry {
			b.link(entry, matches[0])
		}
		return
	}
	docOrMsg := b.typ == "document" || b.typ == "message"
	// what the reference is for, in messages: the Composition or MessageHeader element
	// whose target the bundle must hold, or the reference's own path.
	what, required := path, false
	if inEntry && entry == 0 && res == root && n.Def != nil {
		switch {
		case b.typ == "document" && root.Type == "Composition" && compositionRefs[n.Def.Path]:
			what, required = n.Def.Path, true
		case b.typ == "message" && root.Type == "MessageHeader" && n.Def.Path == "MessageHeader.focus":
			what, required = n.Def.Path, true
		}
	}
	if len(matches) > 1 {
		if docOrMsg {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path, "Found %d matches for '%s' in the bundle (%s)", len(matches), ref, what)
		}
		return
	}
	// No match. Bundles often give a resource the fullUrl urn:uuid:<id> and refer to it as
	// Type/<id>; an entry found that way must hold the type the reference names.
	if m := relRef.FindStringSubmatch(ref); m != nil {
		for _, prefix := range []string{"urn:uuid:", "urn:oid:"} {
			for _, i := range b.fullURLs[prefix+m[2]] {
				if r := b.entries[i].First("resource"); r != nil && r.Type != m[1] {
					w.add(fhir.SeverityError, fhir.IssueRequired, path,
						"Matching reference for reference %s has resourceType %s", ref, r.Type)
					return
				}
			}
		}
	}
	// A relative reference whose Type/id is in the bundle under a fullUrl the resolution
	// rules do not reach is most likely a mistake in the fullUrls.
	if m := relRef.FindStringSubmatch(ref); m != nil && len(b.typeIDs[m[1]+"/"+m[2]]) > 0 {
		i := b.typeIDs[m[1]+"/"+m[2]][0]
		full := b.entries[i].Text("fullUrl")
		switch {
		case required:
			must := target
			if must == "" {
				must = "a RESTful fullUrl on the referring entry"
			}
			w.add(fhir.SeverityError, fhir.IssueInvalid, path,
				"Can't find '%s' in the bundle (%s). Note that there is a resource in the bundle with the same type and id, but it does not match because of the fullUrl based rules around matching relative references (must be '%s', found '%s')",
				ref, what, must, full)
		case !fullURLOptional[b.typ]:
			// Outside what a document or message must hold, the likely mistake is worth a
			// warning: the reference may well be meant for a server.
			must := "nowhere: the referring entry has no RESTful fullUrl to resolve it against"
			if target != "" {
				must = "to " + target
			}
			w.add(fhir.SeverityWarning, fhir.IssueRequired, path,
				"Entry %d matches the reference %s by type and id but its fullUrl %s is not where the Bundle resolution rules lead (they lead %s)",
				i, ref, full, must)
		}
		return
	}
	switch {
	case required:
		w.add(fhir.SeverityError, fhir.IssueInvalid, path, "Can't find '%s' in the bundle (%s)", ref, what)
	case strings.HasPrefix(ref, "urn:"):
		w.add(fhir.SeverityWarning, fhir.IssueRequired, path, "URN reference is not locally contained within the bundle %s", ref)
	case docOrMsg:
		w.add(fhir.SeverityInformation, fhir.IssueNotFound, path, "Can't find '%s' in the bundle (%s)", ref, what)
	}
}

// target works out the fullUrl a reference points to from an entry whose fullUrl is source,
// and the version it asks for: an absolute reference is its own target; a relative one
// resolves against the base of a RESTful source and has no target in the bundle otherwise.
func (b *bundleScope) target(w *walker, ref, source string) (target, version string) {
	if scheme.MatchString(ref) {
		if base, typeID, ok := w.splitREST(ref); ok {
			if i := strings.Index(ref, "/_history/"); i >= 0 {
				return base + typeID, ref[i+len("/_history/"):]
			}
		}
		return ref, ""
	}
	m := relRef.FindStringSubmatch(ref)
	if m == nil {
		return "", ""
	}
	base, _, ok := w.splitREST(source)
	if !ok {
		return "", ""
	}
	return base + m[1] + "/" + m[2], m[4]
}

// version returns meta.versionId of entry i's resource.
func (b *bundleScope) version(i int) string {
	res := b.entries[i].First("resource")
	if res == nil {
		return ""
	}
	return res.First("meta").Text("versionId")
}

// containedIDs checks that the contained resources of a resource have distinct ids: a local
// reference "#id" must designate one resource.
func (w *walker) containedIDs(n *fhir.Node, path string) {
	var seen map[string]bool
	idx := 0
	for _, c := range n.Children {
		if c.Name != "contained" {
			continue
		}
		id := c.Text("id")
		if id != "" && seen[id] {
			w.add(fhir.SeverityError, fhir.IssueInvalid, path+".contained["+strconv.Itoa(idx)+"]",
				"Duplicate id '%s' among the contained resources: a local reference cannot tell them apart", id)
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[id] = true
		idx++
	}
}

// narrativeLink finds the local targets ("#id") of links and images in a narrative.
var narrativeLink = regexp.MustCompile(`(?:href|src)\s*=\s*["']#([^"']+)["']`)

// containedUnreferenced returns the ids of the contained resources of n that nothing points
// to: dom-3 asks that each be referenced from elsewhere in the resource with "#id", or refer
// to its container with "#". Beyond the published expression, a link or image in a
// narrative counts as a reference, as it does for the reference validator.
func containedUnreferenced(n *fhir.Node) []string {
	var contained []*fhir.Node
	for _, c := range n.Children {
		if c.Name == "contained" {
			contained = append(contained, c)
		}
	}
	if len(contained) == 0 {
		return nil
	}
	local := map[string]bool{}
	n.Walk(func(x *fhir.Node) bool {
		switch x.Type {
		case "xhtml":
			for _, m := range narrativeLink.FindAllStringSubmatch(x.String(), -1) {
				local[m[1]] = true
			}
		case "string", "uri", "url", "canonical":
			if x.Type != "string" || x.Name == "reference" {
				if s := x.String(); strings.HasPrefix(s, "#") {
					local[s[1:]] = true
				}
			}
		}
		return true
	})
	var out []string
	for _, c := range contained {
		id := c.Text("id")
		if id == "" || local[id] || refersBack(c) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// refersBack reports whether a contained resource references its container ("#").
func refersBack(c *fhir.Node) bool {
	back := false
	c.Walk(func(x *fhir.Node) bool {
		if x.Name == "reference" && x.String() == "#" {
			back = true
		}
		return !back
	})
	return back
}

// linkRelations checks Bundle.link: paging relations belong to searches and histories, and
// in any bundle a paging relation or "self" occurs at most once.
func (w *walker) linkRelations(n *fhir.Node, path, typ string) {
	seen := map[string]bool{}
	for i, l := range n.Child("link") {
		rel := l.Text("relation")
		lp := path + ".link[" + strconv.Itoa(i) + "]"
		paging := rel == "first" || rel == "previous" || rel == "next" || rel == "last"
		if paging && typ != "searchset" && typ != "history" {
			w.add(fhir.SeverityError, fhir.IssueInvalid, lp,
				"The link relationship type '%s' is only allowed on searchset and history bundles, not %s", rel, typ)
		}
		if (paging || rel == "self") && seen[rel] {
			w.add(fhir.SeverityError, fhir.IssueInvalid, lp, "The link relationship type '%s' can only occur once", rel)
		}
		seen[rel] = true
		// A document's stylesheet given as "Binary/id" travels inside the document.
		if url := l.Text("url"); rel == "stylesheet" && typ == "document" && url != "" && !scheme.MatchString(url) && !hasTypeID(n, url) {
			w.add(fhir.SeverityError, fhir.IssueNotFound, lp+".url", "The stylesheet reference '%s' could not be resolved in this bundle", url)
		}
	}
}

func (b *bundleScope) link(from, to int) {
	if b.links == nil {
		b.links = map[int][]int{}
	}
	b.links[from] = append(b.links[from], to)
}

// bundleURI records a uri, url or canonical value of an entry that names another entry by
// its fullUrl (an attachment's url, a narrative's stylesheet): such links hold a document
// together as references do.
func (w *walker) bundleURI(b *bundleScope, n, root *fhir.Node) {
	from, ok := b.byRoot[root]
	if !ok {
		return
	}
	if to := b.fullURLs[n.String()]; len(to) == 1 {
		b.link(from, to[0])
	}
}

// reachability checks, once a document or message has been walked, that every entry is
// reachable from the first by following links forwards (documents.html, messaging.html).
// A Provenance may point at what it is about instead; any other entry reached only
// backwards is reported. An entry nothing connects is an error in a document and a warning
// in a message, where it may still be needed to process the message.
func (w *walker) reachability(n *fhir.Node, b *bundleScope) {
	if b.typ != "document" && b.typ != "message" || len(b.entries) == 0 {
		return
	}
	first := map[string]string{"document": "Composition", "message": "MessageHeader"}[b.typ]
	seen := make([]bool, len(b.entries))
	var visit func(i int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, t := range b.links[i] {
			visit(t)
		}
	}
	visit(0)
	for _, l := range n.Child("link") {
		if l.Text("relation") == "stylesheet" {
			for _, i := range b.typeIDs[l.Text("url")] {
				visit(i)
			}
		}
	}
	for grew := true; grew; {
		grew = false
		for i, e := range b.entries {
			if seen[i] || e.First("resource") == nil {
				continue
			}
			for _, t := range b.links[i] {
				if !seen[t] {
					continue
				}
				if e.First("resource").Type != "Provenance" {
					w.add(fhir.SeverityWarning, fhir.IssueInvalid, b.path+".entry["+strconv.Itoa(i)+"]",
						"Entry '%s' isn't reachable by traversing forwards from the %s. Only Provenance is approved to be used this way", e.Text("fullUrl"), first)
				}
				visit(i)
				grew = true
				break
			}
		}
	}
	for i, e := range b.entries {
		if seen[i] || e.First("resource") == nil {
			continue
		}
		if b.typ == "document" {
			w.add(fhir.SeverityError, fhir.IssueInvalid, b.path+".entry["+strconv.Itoa(i)+"]",
				"Entry '%s' isn't reachable by traversing links (forward or backward) from the Composition", e.Text("fullUrl"))
		} else {
			w.add(fhir.SeverityWarning, fhir.IssueInformation, b.path+".entry["+strconv.Itoa(i)+"]",
				"Entry '%s' isn't reachable by traversing links (forward or backward) from the MessageHeader, so its presence should be reviewed", e.Text("fullUrl"))
		}
	}
}

// hasTypeID reports whether a Bundle holds a resource with the given "Type/id".
func hasTypeID(bundle *fhir.Node, typeID string) bool {
	for _, e := range bundle.Child("entry") {
		if r := e.First("resource"); r != nil && r.Type+"/"+r.Text("id") == typeID {
			return true
		}
	}
	return false
}
