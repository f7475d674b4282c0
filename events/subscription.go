package events

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
)

// Payload is what a rest-hook notification carries.
type Payload int

const (
	// PayloadNone: an empty POST (channel.payload absent); the receiver reads what changed.
	PayloadNone Payload = iota
	// PayloadIDOnly: an empty POST whose Content-Location names the version that matched
	// (channel.payload with the Subscriptions Backport extension backport-payload-content
	// "id-only").
	PayloadIDOnly
	// PayloadFull: the matching version itself, as application/fhir+json.
	PayloadFull
)

func (p Payload) String() string {
	return [...]string{"empty", "id-only", "full-resource"}[p]
}

// payloadContentURL is the Subscriptions R5 Backport IG extension on channel.payload that
// says how much of the resource a notification carries.
const payloadContentURL = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"

// Subscription is a Subscription resource as the dispatcher uses it.
type Subscription struct {
	ID      string
	Version int64
	// Status is the resource's status: requested, active, error or off.
	Status string
	// Criteria as written, and the resource type and search parameters it names (without
	// the parameters that shape results, which do not affect matching).
	Criteria string
	Type     string
	Params   url.Values
	Query    *search.Query
	Endpoint string
	// End is when the subscription ends (Subscription.end; zero when open-ended): the
	// dispatcher then sets it off.
	End time.Time
	// Headers are channel.header, each "Name: value".
	Headers http.Header
	Payload Payload
}

// subscriptionJSON is the part of a Subscription resource the dispatcher reads.
type subscriptionJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Status       string `json:"status"`
	Criteria     string `json:"criteria"`
	Error        string `json:"error"`
	End          string `json:"end"`
	Channel      struct {
		Type     string   `json:"type"`
		Endpoint string   `json:"endpoint"`
		Payload  string   `json:"payload"`
		Header   []string `json:"header"`
		PayloadX *struct {
			Extension []struct {
				URL       string `json:"url"`
				ValueCode string `json:"valueCode"`
			} `json:"extension"`
		} `json:"_payload"`
	} `json:"channel"`
}

// resultParams shape a search's results and say nothing about which resources match; they
// are dropped from criteria.
var resultParams = map[string]bool{"_sort": true, "_count": true, "_include": true, "_revinclude": true,
	"_summary": true, "_elements": true, "_total": true, search.PageParam: true, "_format": true, "_pretty": true}

// ParseSubscription reads a stored Subscription resource (JSON) and checks that this server
// can serve it: criteria that parse as a search of one resource type with this server's
// parameters (strictly: an unknown parameter is an error), a rest-hook channel whose
// endpoint is https (http only to a loopback host), and a payload of none or FHIR JSON. The
// Subscription is returned even when invalid (with the error), so that its status can be
// set to error with the reason.
func ParseSubscription(reg *definitions.Registry, body []byte) (*Subscription, error) {
	var js subscriptionJSON
	if err := json.Unmarshal(body, &js); err != nil {
		return nil, fmt.Errorf("not a Subscription: %v", err)
	}
	if js.ResourceType != "Subscription" {
		return nil, fmt.Errorf("not a Subscription but a %s", js.ResourceType)
	}
	s := &Subscription{ID: js.ID, Status: js.Status, Criteria: js.Criteria, Endpoint: js.Channel.Endpoint, Headers: http.Header{}}
	if js.End != "" {
		// An instant, as fhir.Parse has checked (with seconds and a zone).
		end, err := time.Parse(time.RFC3339Nano, js.End)
		if err != nil {
			return s, fmt.Errorf("end %q is not an instant", js.End)
		}
		s.End = end
	}
	return s, s.check(reg, &js)
}

func (s *Subscription) check(reg *definitions.Registry, js *subscriptionJSON) error {
	if err := s.parseCriteria(reg); err != nil {
		return err
	}
	if js.Channel.Type != "rest-hook" {
		return fmt.Errorf("channel type %q is not supported (rest-hook is)", js.Channel.Type)
	}
	if err := checkEndpoint(s.Endpoint); err != nil {
		return err
	}
	for _, h := range js.Channel.Header {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("channel.header %q is not \"Name: value\"", h)
		}
		s.Headers.Add(name, strings.TrimSpace(value))
	}
	switch js.Channel.Payload {
	case "":
		s.Payload = PayloadNone
	case "application/fhir+json", "application/json", "application/json+fhir":
		s.Payload = PayloadFull
		if js.Channel.PayloadX != nil {
			for _, ext := range js.Channel.PayloadX.Extension {
				if ext.URL != payloadContentURL {
					continue
				}
				switch ext.ValueCode {
				case "empty":
					s.Payload = PayloadNone
				case "id-only":
					s.Payload = PayloadIDOnly
				case "full-resource":
				default:
					return fmt.Errorf("payload content %q is not empty, id-only or full-resource", ext.ValueCode)
				}
			}
		}
	default:
		return fmt.Errorf("channel.payload %q is not supported (application/fhir+json is, or none)", js.Channel.Payload)
	}
	return nil
}

// parseCriteria reads criteria "Type?params" (a path relative to the FHIR base) through the
// server's search parser.
func (s *Subscription) parseCriteria(reg *definitions.Registry) error {
	c := strings.TrimSpace(s.Criteria)
	if c == "" {
		return fmt.Errorf("criteria are missing")
	}
	typ, rawQ, _ := strings.Cut(strings.TrimPrefix(c, "/"), "?")
	if strings.Contains(typ, ":") {
		return fmt.Errorf("criteria %q must be relative to this server (Type?parameters)", s.Criteria)
	}
	if !reg.IsResource(typ) {
		return fmt.Errorf("criteria %q do not start with a resource type", s.Criteria)
	}
	params, err := url.ParseQuery(rawQ)
	if err != nil {
		return fmt.Errorf("criteria %q: %v", s.Criteria, err)
	}
	for k := range params {
		if name, _, _ := strings.Cut(k, ":"); resultParams[name] {
			delete(params, k)
		}
	}
	q, _, err := search.Parse(reg, typ, params, true)
	if err != nil {
		return fmt.Errorf("criteria %q: %v", s.Criteria, err)
	}
	s.Type, s.Params, s.Query = typ, params, q
	return nil
}

// checkEndpoint requires an absolute https URL, or http to a loopback host.
func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("channel.endpoint is missing")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("channel.endpoint %q is not an absolute URL", endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("channel.endpoint %q must use https (http is allowed only to a loopback host)", endpoint)
	}
	return fmt.Errorf("channel.endpoint %q must be an https URL", endpoint)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckSubscription validates a Subscription about to be written, as ParseSubscription
// does, and reports a problem as a 422 OperationOutcome naming the element at fault; nil
// when the dispatcher can serve it (or when it is off or in error, which it does not
// serve). It suits a validation hook that refuses such writes; the dispatcher itself sets
// a stored Subscription it cannot serve to status error, with the reason in
// Subscription.error.
func CheckSubscription(reg *definitions.Registry, res *fhir.Resource) *fhir.Error {
	if res == nil || res.Type != "Subscription" {
		return nil
	}
	s, err := ParseSubscription(reg, res.Bytes())
	if s != nil && (s.Status == "off" || s.Status == "error") {
		return nil
	}
	if err != nil {
		return &fhir.Error{Status: 422, Issues: []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.IssueInvalid,
			Diagnostics: err.Error(), Expression: []string{errorElement(err.Error())}}}}
	}
	return nil
}

// errorElement names the element a ParseSubscription error is about.
func errorElement(msg string) string {
	switch {
	case strings.HasPrefix(msg, "criteria"):
		return "Subscription.criteria"
	case strings.HasPrefix(msg, "channel.endpoint"):
		return "Subscription.channel.endpoint"
	case strings.HasPrefix(msg, "channel.header"):
		return "Subscription.channel.header"
	case strings.HasPrefix(msg, "channel.payload"), strings.HasPrefix(msg, "payload"):
		return "Subscription.channel.payload"
	case strings.HasPrefix(msg, "channel type"):
		return "Subscription.channel.type"
	}
	return "Subscription"
}
