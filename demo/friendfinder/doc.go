// Package friendfinder is the third-party app of the note's story: a
// social app that wants to know which of a person's Mail contacts already
// use it, and that must not be able to read their mail.
//
// It is an OAuth client written with golang.org/x/oauth2, the way an
// outside app would be: the authorization code grant with PKCE (S256), a
// state bound to the browser's session, the RFC 9207 "iss" check, client
// authentication in the Authorization header (AuthStyle set explicitly
// rather than guessed), and an RFC 8707 resource naming the one API it
// wants a token for. It asks for contacts.read only, calls Mail's
// /contacts, and then tries /messages to show that Mail refuses it.
//
// Every request it sends is recorded by an explorer.Recorder, and its
// result page shows the six steps of the flow as they happened, secrets
// masked: the flow explorer. With Config.Lab set it also runs the other
// grants of the note — client credentials, password and implicit — as a
// second registered app, and shows the same view.
//
// It imports only golang.org/x/oauth2, the standard library and the
// demo's explorer.
package friendfinder
