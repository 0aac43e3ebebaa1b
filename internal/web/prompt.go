package web

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet/internal/oauth"
)

// Sessions and prompt handling (OpenID Connect Core §3.1.2.1, §3.1.2.3):
// whether a valid request may use the browser's session, or the person must
// sign in (again) first.

// maxLoginHint bounds login_hint: it only pre-fills the username field, and
// a username is at most 64 characters (valet.User.Validate); the slack is
// for an e-mail address as a hint.
const maxLoginHint = 256

// parsePrompt reads the prompt parameter of OIDC Core §3.1.2.1: a space
// separated list of none, login, consent and select_account, where none
// stands alone.
func parsePrompt(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, v := range strings.Split(s, " ") {
		switch v {
		case "none", "login", "consent":
		case "select_account":
			v = "login"
		default:
			return nil, oauth.Errorf(oauth.InvalidRequest, "prompt may hold only none, login, consent and select_account, separated by single spaces")
		}
		out = append(out, v)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	// OIDC Core §3.1.2.1: "If this parameter contains none with any other
	// value, an error is returned."
	if slices.Contains(out, "none") && len(out) > 1 {
		return nil, oauth.Errorf(oauth.InvalidRequest, "prompt=none cannot be combined with other prompt values")
	}
	return out, nil
}

// parseMaxAge reads max_age (OIDC Core §3.1.2.1): "the allowable elapsed
// time in seconds", a non-negative decimal integer. A value too large for a
// Duration means no limit in practice and is capped, not refused.
func parseMaxAge(s string) (time.Duration, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, oauth.Errorf(oauth.InvalidRequest, "max_age must be a non-negative number of seconds")
		}
	}
	const limit = math.MaxInt64 / int64(time.Second)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > limit {
		n = limit
	}
	return time.Duration(n) * time.Second, true, nil
}

// loginHint returns login_hint when it could be a username, else "": it is
// only a hint (OIDC Core §3.1.2.1), so an unusable one is dropped, not
// refused. It is shown in the sign-in form, escaped like every value there.
func loginHint(s string) string {
	if len(s) > maxLoginHint || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return s
}

// signInReason says why the person must sign in before a can proceed, or ""
// when the browser's session si will do. With prompt=none each reason is
// login_required (OIDC Core §3.1.2.6); otherwise the sign-in page.
func (h *Handler) signInReason(a *authorization, si *signedIn) (string, error) {
	switch {
	case si == nil:
		return "the user is not signed in", nil
	case a.hasPrompt("login"):
		// OIDC Core §3.1.2.1: prompt=login "SHOULD prompt the End-User
		// for reauthentication"; select_account is read as login.
		return "prompt=login asks the user to sign in again", nil
	case a.HasMaxAge && h.now().Sub(si.session.AuthTime) > a.MaxAge:
		// OIDC Core §3.1.2.1: "If the elapsed time is greater than this
		// value, the OP MUST attempt to actively re-authenticate the
		// End-User." max_age=0 therefore always asks.
		return "the user signed in longer ago than max_age allows", nil
	}
	if a.hint != nil {
		// OIDC Core §3.1.2.1: "If the End-User identified by the ID Token
		// is logged in or is logged in by the request, then the
		// Authorization Server returns a positive response". The hint's sub
		// is the one this client was told: the user ID, or the pairwise
		// subject for the client's sector, computed again to compare.
		sub, err := h.Subjects.For(a.client, si.user.ID)
		if err != nil {
			return "", err
		}
		if sub != a.hint.Subject {
			return "the signed-in user is not the one id_token_hint names", nil
		}
	}
	return "", nil
}
