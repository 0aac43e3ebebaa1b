package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseFormResources(t *testing.T) {
	for _, c := range []struct {
		name, body string
		resources  []string
		status     int // 0: accepted
	}{
		{"none", "grant_type=client_credentials", nil, 0},
		{"one", "grant_type=x&resource=https%3A%2F%2Fa.example", []string{"https://a.example"}, 0},
		{"several, in order", "resource=https%3A%2F%2Fb.example&grant_type=x&resource=https%3A%2F%2Fa.example",
			[]string{"https://b.example", "https://a.example"}, 0},
		{"empty ones dropped", "resource=&resource=https%3A%2F%2Fa.example&resource=", []string{"https://a.example"}, 0},
		{"only empty", "resource=&grant_type=x", nil, 0},
		{"another repeat", "resource=https%3A%2F%2Fa.example&scope=a&scope=b", nil, 400},
		{"grant_type repeated", "grant_type=a&grant_type=a&resource=x", nil, 400},
		{"malformed", "resource=%zz&resource=x", nil, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			form, res, err := ParseFormResources(httptest.NewRecorder(), formRequest("POST", "/token", formType, c.body), 0)
			if c.status != 0 {
				if err == nil || From(err).Status() != c.status || From(err).Code != InvalidRequest {
					t.Fatalf("got %v, want %d invalid_request", err, c.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res, c.resources) {
				t.Errorf("resources %q, want %q", res, c.resources)
			}
			if _, ok := form[ResourceParam]; ok {
				t.Errorf("the form still holds resource: %v", form)
			}
			for k, vs := range form {
				if len(vs) != 1 {
					t.Errorf("%s has %d values", k, len(vs))
				}
			}
		})
	}
	// ParseForm keeps refusing a repeated resource: the exception is only
	// for the callers that ask for it.
	if _, err := ParseForm(httptest.NewRecorder(), formRequest("POST", "/token", formType, "resource=a&resource=b"), 0); err == nil {
		t.Error("ParseForm accepted a repeated resource")
	}
	// And every other rule of ParseForm holds.
	r := formRequest("GET", "/token", formType, "")
	if _, _, err := ParseFormResources(httptest.NewRecorder(), r, 0); From(err).Status() != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v", err)
	}
	r = formRequest("POST", "/token", formType, "resource="+strings.Repeat("a", MaxFormBytes))
	if _, _, err := ParseFormResources(httptest.NewRecorder(), r, 0); From(err).Status() != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %v", err)
	}
}

func TestParseResources(t *testing.T) {
	for _, c := range []struct {
		in, want []string
		bad      bool
	}{
		{nil, nil, false},
		{[]string{"https://b.example", "https://a.example/x?y=1", "https://b.example"}, []string{"https://a.example/x?y=1", "https://b.example"}, false},
		{[]string{"urn:example:api"}, []string{"urn:example:api"}, false},
		{[]string{"/relative"}, nil, true},
		{[]string{"https://a.example#frag"}, nil, true},
		{[]string{"https://a.example", "api.example"}, nil, true},
		{[]string{"https://a.example/ x"}, nil, true},
		{[]string{"https://a.example/\u00e9"}, nil, true},
		{[]string{"https://a.example/" + strings.Repeat("x", 2000)}, nil, true},
	} {
		got, err := ParseResources(c.in)
		if c.bad {
			if err == nil || From(err).Code != InvalidTarget || From(err).Status() != http.StatusBadRequest {
				t.Errorf("%q: %v, want invalid_target", c.in, err)
			}
			if err != nil && strings.Contains(err.Error(), c.in[len(c.in)-1]) {
				t.Errorf("%q: the value is echoed: %v", c.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	var many []string
	for i := range MaxResources + 1 {
		many = append(many, "https://a.example/"+string(rune('a'+i)))
	}
	if _, err := ParseResources(many); err == nil || From(err).Code != InvalidTarget {
		t.Errorf("%d resources: %v, want invalid_target", len(many), err)
	}
	if got, err := ParseResources(append(many[:MaxResources:MaxResources], many[0])); err != nil || len(got) != MaxResources {
		t.Errorf("%d distinct resources: %d, %v", MaxResources, len(got), err)
	}
}

// FuzzParseFormResources: whatever the body, an accepted form has one value
// per name and no resource; the resources are exactly the non-empty
// resource values, in order; any other repeated name is refused.
func FuzzParseFormResources(f *testing.F) {
	f.Add("resource=a&resource=b&x=1")
	f.Add("resource=&resource=a")
	f.Add("x=1&x=2&resource=a")
	f.Add("resource=%zz")
	f.Fuzz(func(t *testing.T, body string) {
		form, res, err := ParseFormResources(httptest.NewRecorder(), formRequest("POST", "/token", formType, body), 1024)
		want, perr := url.ParseQuery(body)
		if err != nil {
			if From(err).Code != InvalidRequest {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if len(body) > 1024 || perr != nil {
			t.Fatalf("accepted %q (%d bytes; url.ParseQuery: %v)", body, len(body), perr)
		}
		wantRes := slices.DeleteFunc(want[ResourceParam], func(s string) bool { return s == "" })
		if !slices.Equal(res, wantRes) {
			t.Fatalf("%q: resources %q, want %q", body, res, wantRes)
		}
		for k, vs := range want {
			if k != ResourceParam && len(vs) > 1 {
				t.Fatalf("accepted %q with %q repeated", body, k)
			}
		}
		if _, ok := form[ResourceParam]; ok {
			t.Fatalf("%q: the form holds resource", body)
		}
	})
}
