// Package mail is the API of the note's story: a small mail service that
// keeps each person's contacts and messages and lets apps read them only
// with an access token from the authorization server, checked by
// github.com/valetauth/valet/bearer.
//
//	GET /contacts                              needs scope contacts.read
//	GET /messages                              needs scope mail.read
//	GET /.well-known/oauth-protected-resource  RFC 9728 metadata, public
//
// A token is accepted only if Valet signed it, it names this API in "aud",
// it has not expired, and it carries the scope the endpoint needs; a valid
// token without that scope gets 403 insufficient_scope. The mailbox
// returned is the one of the person the token speaks for ("sub").
//
// It is written as an outside API would be: it imports only bearer and the
// standard library. Copy it as the starting point of your own API.
package mail
