package web

import "net/http"

// formPost answers with the page of OAuth 2.0 Form Post Response Mode §2:
// params, as hidden fields of a form whose action is a's validated redirect
// URI, "auto-submitted in the User Agent" by /static/form_post.js. The
// script is allowed by the page's CSP ('self' and the response's nonce);
// the CSP sets no form-action, which would block the post to the client
// (catalogue §3.1). Without JavaScript the person presses Continue.
//
// html/template escapes every value as an HTML attribute (catalogue AZ-03d,
// HD-03), and its URL filter passes only http(s) actions; responseModeOf
// allows form_post only for such redirect URIs.
func (h *Handler) formPost(w http.ResponseWriter, a *authorization, params []string) {
	fields := make([]formField, 0, len(params)/2)
	for i := 0; i+1 < len(params); i += 2 {
		fields = append(fields, formField{Name: params[i], Value: params[i+1]})
	}
	name := a.client.Name
	if name == "" {
		name = a.client.ID
	}
	h.pages.formPost(w, formPostPage{ClientName: name, Action: a.redirect, Fields: fields})
}
