package validation

import (
	"fmt"
	"strings"
	"sync"

	"github.com/concord-health/concord/fhir"
)

// CanonicalResolver finds a resource by its canonical URL, "url" or "url|version". The
// validator uses it for the definitions a resource points to that are neither profiles nor
// terminology: the Questionnaire of a QuestionnaireResponse.
type CanonicalResolver interface {
	// Resolve returns the resource, or nil when it is not known.
	Resolve(canonical string) *fhir.Resource
}

// CanonicalStore is an in-memory CanonicalResolver, safe for concurrent use.
type CanonicalStore struct {
	mu    sync.RWMutex
	byURL map[string][]*fhir.Resource // in the order added; the last is the current one
	// byTail indexes absolute urls by their last two segments ("Questionnaire/gcs"), for
	// canonicals written relative to a server base.
	byTail map[string]string
}

// NewCanonicalStore returns an empty store.
func NewCanonicalStore() *CanonicalStore {
	return &CanonicalStore{byURL: map[string][]*fhir.Resource{}, byTail: map[string]string{}}
}

// Add indexes res under its url (and version). A resource with the same url and version as
// one already held replaces it; one without a url is refused.
func (s *CanonicalStore) Add(res *fhir.Resource) error {
	if res == nil || res.Root == nil {
		return fmt.Errorf("validation: no resource")
	}
	url := res.Root.Text("url")
	if url == "" {
		return fmt.Errorf("validation: %s %s has no url", res.Type, res.ID)
	}
	version := res.Root.Text("version")
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byURL[url]
	for i, r := range list {
		if r.Type == res.Type && r.Root.Text("version") == version {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	s.byURL[url] = append(list, res)
	if tail := urlTail(url); tail != "" && tail != url {
		s.byTail[tail] = url
	}
	return nil
}

// Resolve returns the resource with the canonical: with "|version", that version; without,
// the one added last.
func (s *CanonicalStore) Resolve(canonical string) *fhir.Resource {
	url, version, versioned := strings.Cut(canonical, "|")
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.byURL[url]
	if len(list) == 0 && !strings.Contains(url, ":") {
		list = s.byURL[s.byTail[url]]
	}
	if !versioned {
		if len(list) == 0 {
			return nil
		}
		return list[len(list)-1]
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Root.Text("version") == version {
			return list[i]
		}
	}
	return nil
}

// urlTail returns the last two path segments of an absolute url, or "".
func urlTail(url string) string {
	if !strings.Contains(url, "://") {
		return ""
	}
	parts := strings.Split(strings.TrimSuffix(url, "/"), "/")
	if len(parts) < 5 { // scheme, "", host and two segments
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}
