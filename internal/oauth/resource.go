package oauth

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/valetauth/valet"
)

// ResourceParam is the RFC 8707 resource indicator parameter: the one
// parameter of a token request that may appear more than once.
const ResourceParam = "resource"

// MaxResources is the most distinct resource indicators one request may
// name; a client registers at most as many (valet.Client.Validate).
const MaxResources = 20

// ParseFormResources is ParseForm for a token request. It keeps every rule
// of ParseForm but one: RFC 8707 §2 says the resource parameter "MAY be used
// multiple times to indicate that the requested token is intended to be used
// at multiple resources". Its values come back apart, in the order sent, with
// empty ones dropped (RFC 6749 §3.1); the returned form holds every other
// parameter exactly once and no "resource" at all, so that nobody reads only
// the first of several by accident.
func ParseFormResources(w http.ResponseWriter, r *http.Request, maxBytes int64) (url.Values, []string, error) {
	body, err := readForm(w, r, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	form, err := parseParams(body, "request body", ResourceParam)
	if err != nil {
		return nil, nil, err
	}
	resources := slices.DeleteFunc(form[ResourceParam], func(s string) bool { return s == "" })
	delete(form, ResourceParam)
	return form, resources, nil
}

// ParseResources checks resource indicators as sent (from
// ParseFormResources) and returns them distinct and sorted, nil when there
// are none. Each must be an absolute URI without a fragment (RFC 8707 §2:
// "MUST be an absolute URI ... MUST NOT include a fragment component");
// anything else is invalid_target, the error RFC 8707 §2 defines for a
// resource that is "invalid, missing, unknown, or malformed". Whether the
// client may have a token for them is the caller's decision.
func ParseResources(values []string) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	for _, v := range values {
		if valet.ValidateResource(v) != nil {
			// The value is not echoed: it is attacker-chosen.
			return nil, Errorf(InvalidTarget, "resource must be an absolute URI without a fragment (RFC 8707 section 2)")
		}
	}
	out := slices.Clone(values)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxResources {
		return nil, Errorf(InvalidTarget, "%d distinct resources requested: at most %d are allowed", len(out), MaxResources)
	}
	return slices.Clip(out), nil
}
