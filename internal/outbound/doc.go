// Package outbound owns every HTTP request Valet makes to a URL that someone
// else chose: back-channel logout notifications today, jwks_uri,
// sector_identifier_uri and request_uri fetches later. They all go through
// one hardened Client so that a client registration cannot turn the server
// into a proxy into its own network (server-side request forgery, catalogue
// SS-01 and SS-02).
//
// The defence sits in the dialer, not in URL string checks: the address
// actually being connected to is checked just before connect(2), for every
// address a name resolves to, so DNS rebinding and odd host spellings
// (2130706433, 0x7f.1, ::ffff:127.0.0.1) meet the same rule as a plain
// 127.0.0.1. Refusals are *BlockedError values, for the caller to log as
// security events.
//
// Caching and rate limiting of fetches (one jwks_uri fetch per client per
// 60 s, DS-03c; no fetch at registration, DS-03d) are the callers' policy;
// this package only makes each request safe and bounded.
package outbound
