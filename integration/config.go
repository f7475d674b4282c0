// Package integration runs Concord's HL7 v2 feeds: channels that take messages over MLLP,
// store each durably before acknowledging it (the inbox), map it to FHIR and apply it to the
// record in the same transaction that marks it applied, so that a crash at any point loses
// nothing and applies nothing twice. Messages that cannot be applied become dead letters
// with the reason, for replay once the cause is fixed.
package integration

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/v2fhir"
	"go.yaml.in/yaml/v3"
)

// Config is the channels file: one channel per feed (sender).
//
//	channels:
//	  - name: royal-infirmary-pas
//	    sending_application: PAS      # MSH-3.1; "" matches any
//	    sending_facility: RXA01       # MSH-4.1; "" matches any
//	    organization: RXA             # ODS code of the sending organisation
//	    message_types: [ADT^A01, ADT^A04, ADT^A08, ADT^A03, ADT^A40]
//	    mrn_system: https://fhir.rxa.nhs.uk/Id/mrn
//	    visit_system: https://fhir.rxa.nhs.uk/Id/visit
//	    validate: warn                # off | warn | enforce (default: the server's)
type Config struct {
	Channels []*Channel `yaml:"channels"`
}

// Channel is one feed's configuration.
type Channel struct {
	// Name identifies the channel in the inbox, metrics and commands.
	Name string `yaml:"name"`
	// SendingApplication and SendingFacility (MSH-3.1 and MSH-4.1) route a message to the
	// channel; empty matches any. The most specific matching channel wins.
	SendingApplication string `yaml:"sending_application"`
	SendingFacility    string `yaml:"sending_facility"`
	// Organization is the ODS code of the sending organisation.
	Organization string `yaml:"organization"`
	// MessageTypes are the message types accepted ("ADT^A01"; "ADT" for every event);
	// empty accepts every type Concord maps.
	MessageTypes []string `yaml:"message_types"`
	// MRNSystem and VisitSystem are the identifier systems of the sender's local patient
	// and visit numbers (derived from Organization when empty).
	MRNSystem   string `yaml:"mrn_system"`
	VisitSystem string `yaml:"visit_system"`
	// Validate overrides the server's validation mode for this channel's writes.
	Validate string `yaml:"validate"`
}

// DefaultChannel is the channel of a server started without a channels file: every sender,
// every supported message type.
func DefaultChannel() *Channel { return &Channel{Name: "default"} }

var (
	channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	messageType = regexp.MustCompile(`^[A-Z0-9]{3}(\^[A-Z0-9]{3})?$`)
)

// LoadConfig reads a channels file.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig reads a channels file's content, refusing unknown keys and checking every
// channel.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("channels: %w", err)
	}
	if len(c.Channels) == 0 {
		return nil, errors.New("channels: the file names no channel")
	}
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		if ch == nil {
			return nil, fmt.Errorf("channels: entry %d is empty", i+1)
		}
		if !channelName.MatchString(ch.Name) {
			return nil, fmt.Errorf("channels: entry %d: name %q must be lower-case letters, digits, '.', '_' or '-'", i+1, ch.Name)
		}
		if seen[ch.Name] {
			return nil, fmt.Errorf("channels: channel %q is named twice", ch.Name)
		}
		seen[ch.Name] = true
		switch ch.Validate {
		case "", "off", "warn", "enforce":
		default:
			return nil, fmt.Errorf("channels: %s: validate %q is not off, warn or enforce", ch.Name, ch.Validate)
		}
		for _, t := range ch.MessageTypes {
			if !messageType.MatchString(t) {
				return nil, fmt.Errorf("channels: %s: message type %q is not like ADT or ADT^A01", ch.Name, t)
			}
		}
	}
	for i, a := range c.Channels {
		for _, b := range c.Channels[i+1:] {
			if a.SendingApplication == b.SendingApplication && a.SendingFacility == b.SendingFacility {
				return nil, fmt.Errorf("channels: %s and %s take the same senders", a.Name, b.Name)
			}
		}
	}
	return &c, nil
}

// route finds the channel of a sender: the one matching both application and facility,
// else one matching either with the other open, else a catch-all; nil when none does.
func (c *Config) route(app, facility string) *Channel {
	var best *Channel
	score := -1
	for _, ch := range c.Channels {
		if ch.SendingApplication != "" && !strings.EqualFold(ch.SendingApplication, app) ||
			ch.SendingFacility != "" && !strings.EqualFold(ch.SendingFacility, facility) {
			continue
		}
		s := 0
		if ch.SendingApplication != "" {
			s++
		}
		if ch.SendingFacility != "" {
			s += 2 // a facility names a site; an application may be shared by many
		}
		if s > score {
			best, score = ch, s
		}
	}
	return best
}

// accepts reports whether the channel takes a message type (code^event).
func (ch *Channel) accepts(code, event string) bool {
	if len(ch.MessageTypes) == 0 {
		return true
	}
	return slices.Contains(ch.MessageTypes, code) || slices.Contains(ch.MessageTypes, code+"^"+event)
}

// mapping is the channel's configuration as the v2-to-FHIR mapping takes it. A channel
// that names no organisation (the default channel) takes the sending facility (MSH-4) as
// the organisation's code, so that each sender's local identifiers stay apart.
func (ch *Channel) mapping(msg *hl7v2.Message) v2fhir.Options {
	org := ch.Organization
	if org == "" {
		org = strings.ToUpper(msg.SendingFacility().Namespace)
	}
	return v2fhir.Options{Organization: org, MRNSystem: ch.MRNSystem, VisitSystem: ch.VisitSystem}
}

// Channel returns the channel of that name.
func (c *Config) Channel(name string) *Channel {
	for _, ch := range c.Channels {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}
